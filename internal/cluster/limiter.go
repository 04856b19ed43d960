package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"
)

const rateNS = "rate"

// gcraScript is the generic cell rate algorithm (GCRA) in one round trip,
// equivalent to a token bucket of ARGV[2] tokens refilled one per
// ARGV[1] µs. KEYS[1] holds the theoretical arrival time (TAT) in µs on
// Redis's own clock (TIME), so replicas with skewed clocks agree. A
// rejected request changes nothing. Returns {allowed, retry after µs}.
// Numbers are written with string.format: redis.call would print them with
// %.14g and lose the low digits of a µs timestamp.
var gcraScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newtat = tat + interval
local allow_at = newtat - interval * burst
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%.0f', newtat), 'PX', string.format('%.0f', math.ceil((newtat - now) / 1000) + 1))
return {1, 0}
`)

// Decision is the answer of a rate limiter.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // when not allowed: how long until one request is
}

// Allow takes one request from the bucket key (rps per second, burst at
// once) shared by every replica, in one round trip.
func (s *Store) Allow(ctx context.Context, key string, rps float64, burst int) (Decision, error) {
	if !(rps > 0) || math.IsInf(rps, 0) || burst < 1 {
		return Decision{}, fmt.Errorf("cluster: rate limit: rps %v, burst %d; want both positive", rps, burst)
	}
	interval := int64(math.Ceil(1e6 / rps))
	var res []int64
	err := s.do(ctx, "EVALSHA", func(ctx context.Context) error {
		var err error
		res, err = gcraScript.Run(ctx, s.rdb, []string{s.key(rateNS, key)}, interval, burst).Int64Slice()
		return err
	})
	if err != nil {
		return Decision{}, err
	}
	if len(res) != 2 {
		return Decision{}, &Error{Op: "EVALSHA", Cause: "protocol"}
	}
	return Decision{Allowed: res[0] == 1, RetryAfter: time.Duration(res[1]) * time.Microsecond}, nil
}

// LimiterOptions configure NewLimiter.
type LimiterOptions struct {
	RPS   float64 // sustained rate per key (> 0)
	Burst int     // requests at once (>= 1)
	// MaxKeys bounds the local buckets used while Redis is unavailable
	// (default 10,000).
	MaxKeys int
	// Now is the clock of the local buckets (default time.Now).
	Now func() time.Time
}

// Limiter is a per-key rate limit shared by the cluster through Store,
// with a local token bucket per key when Redis cannot be asked: then each
// replica limits on its own (the cluster-wide limit is looser by the
// number of replicas until Redis is back), and no request waits for Redis.
// It is safe for concurrent use.
type Limiter struct {
	s    *Store
	o    LimiterOptions
	mu   sync.Mutex
	keys *lru.Cache[string, *rate.Limiter]
}

// NewLimiter returns a Limiter; s may be nil (local only).
func NewLimiter(s *Store, o LimiterOptions) (*Limiter, error) {
	if !(o.RPS > 0) || math.IsInf(o.RPS, 0) || o.Burst < 1 || o.MaxKeys < 0 {
		return nil, errors.New("cluster: limiter: RPS and Burst must be positive, MaxKeys 0 or more")
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	keys, err := lru.New[string, *rate.Limiter](o.MaxKeys)
	if err != nil {
		return nil, fmt.Errorf("cluster: limiter: %w", err)
	}
	return &Limiter{s: s, o: o, keys: keys}, nil
}

// Allow decides for one request of key: in Redis when it answers, else
// locally. It never fails and never waits longer than the Store timeout.
func (l *Limiter) Allow(ctx context.Context, key string) Decision {
	if d, err := l.s.Allow(ctx, key, l.o.RPS, l.o.Burst); err == nil {
		return d
	}
	return l.local(key)
}

func (l *Limiter) local(key string) Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.keys.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.o.RPS), l.o.Burst)
		l.keys.Add(key, b)
	}
	now := l.o.Now()
	if b.AllowN(now, 1) {
		return Decision{Allowed: true}
	}
	missing := 1 - b.TokensAt(now)
	return Decision{RetryAfter: time.Duration(math.Ceil(missing / l.o.RPS * float64(time.Second)))}
}
