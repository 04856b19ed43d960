package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lease is a cluster-wide lock with an expiry: whoever holds it does the
// work (a refresh, an M2M fetch) while the others wait for the result. A
// holder that dies loses it when it expires, never forever. A Lease is
// safe for concurrent use.
type Lease struct {
	s     *Store
	key   string
	owner string
}

const leaseNS = "lease"

// releaseScript deletes the lease only if it is still ours: after our
// lease expired and another replica took it, our late release must not
// free theirs.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// TryLease takes the lease name for ttl (SET NX PX with a random owner).
// It returns nil, nil when another holder has it, and an error when Redis
// could not be asked (the caller then works alone, as one process would).
func (s *Store) TryLease(ctx context.Context, name string, ttl time.Duration) (*Lease, error) {
	if s == nil {
		return nil, &Error{Op: "SET NX", Cause: "not configured"}
	}
	l := &Lease{s: s, key: s.key(leaseNS, name), owner: randomToken()}
	var ok bool
	err := s.do(ctx, "SET NX", func(ctx context.Context) error {
		var err error
		ok, err = s.rdb.SetNX(ctx, l.key, l.owner, clampTTL(ttl)).Result()
		return err
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, nil
	}
	return l, nil
}

// Release gives the lease back if it is still ours (compare-and-delete);
// it reports whether it was. Release runs detached from ctx's
// cancellation, so a caller that hung up still frees the lease at once
// instead of making the others wait for its expiry.
func (l *Lease) Release(ctx context.Context) (bool, error) {
	var n int64
	err := l.s.do(context.WithoutCancel(ctx), "EVALSHA", func(ctx context.Context) error {
		var err error
		n, err = releaseScript.Run(ctx, l.s.rdb, []string{l.key}, l.owner).Int64()
		return err
	})
	return n == 1, err
}

// ErrWaitTimeout is returned by WaitLease when the lease is still held
// after the wait allowed.
var ErrWaitTimeout = errors.New("cluster: lease still held")

// WaitLease returns nil once the lease name is free (released or
// expired), polling at PollInterval, doubling up to 4×, for at most
// maxWait. It returns ErrWaitTimeout after maxWait, ctx.Err() when ctx
// ends, and a Store error when Redis fails: in every case but nil the
// caller does the work itself.
func (s *Store) WaitLease(ctx context.Context, name string, maxWait time.Duration) error {
	if s == nil {
		return &Error{Op: "EXISTS", Cause: "not configured"}
	}
	key := s.key(leaseNS, name)
	deadline := time.NewTimer(maxWait)
	defer deadline.Stop()
	interval := s.pollInt
	tick := time.NewTimer(0)
	defer tick.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return ErrWaitTimeout
		case <-tick.C:
		}
		var n int64
		err := s.do(ctx, "EXISTS", func(ctx context.Context) error {
			var err error
			n, err = s.rdb.Exists(ctx, key).Result()
			return err
		})
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		tick.Reset(interval)
		interval = min(2*interval, 4*s.pollInt)
	}
}
