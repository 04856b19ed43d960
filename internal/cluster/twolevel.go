package cluster

import (
	"context"
	"errors"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
)

// TwoLevelOptions configure NewTwoLevel.
type TwoLevelOptions[V any] struct {
	// Namespace names the values in Redis ("profile").
	Namespace string
	// LocalTTL caps how long a replica serves a value from memory without
	// asking Redis (default 5s): a delete on another replica reaches this
	// one within LocalTTL.
	LocalTTL time.Duration
	// LocalSize bounds the values kept in memory (default 10,000).
	LocalSize int
	// Encode and Decode turn a value into the bytes sealed in Redis and
	// back (required). A value Decode refuses is a miss.
	Encode func(V) ([]byte, error)
	Decode func([]byte) (V, error)
	// Now is the clock of the first level (default time.Now).
	Now func() time.Time
}

// TwoLevel is a cache with an in-process first level and a sealed Redis
// second level shared by the cluster. A hit in the first level costs no
// round trip; a miss costs one (GET and PTTL pipelined, for any number of
// ids), after which the value is kept locally until the earlier of
// LocalTTL and its Redis expiry. Values are sealed whole: the profile of a
// user holds the user's provider tokens. When Redis is unavailable it
// works as the first level alone. Safe for concurrent use.
type TwoLevel[V any] struct {
	s     *Store
	o     TwoLevelOptions[V]
	local *lru.Cache[string, localEntry[V]]
}

type localEntry[V any] struct {
	v       V
	expires time.Time
}

// NewTwoLevel returns the cache; s may be nil (first level only).
func NewTwoLevel[V any](s *Store, o TwoLevelOptions[V]) (*TwoLevel[V], error) {
	if o.Namespace == "" || o.Encode == nil || o.Decode == nil {
		return nil, errors.New("cluster: two-level cache: Namespace, Encode and Decode are required")
	}
	if o.LocalTTL < 0 || o.LocalSize < 0 {
		return nil, errors.New("cluster: two-level cache: LocalTTL and LocalSize must not be negative")
	}
	if o.LocalTTL == 0 {
		o.LocalTTL = 5 * time.Second
	}
	if o.LocalSize == 0 {
		o.LocalSize = 10_000
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	local, err := lru.New[string, localEntry[V]](o.LocalSize)
	if err != nil {
		return nil, err
	}
	return &TwoLevel[V]{s: s, o: o, local: local}, nil
}

// Get returns the value of id.
func (c *TwoLevel[V]) Get(ctx context.Context, id string) (V, bool) {
	got := c.GetMany(ctx, []string{id})
	v, ok := got[id]
	return v, ok
}

// GetMany returns the values found for ids: first level, then one
// pipelined round trip for the rest. Errors are misses.
func (c *TwoLevel[V]) GetMany(ctx context.Context, ids []string) map[string]V {
	found := make(map[string]V, len(ids))
	var missing []string
	now := c.o.Now()
	for _, id := range ids {
		if e, ok := c.local.Get(id); ok {
			if now.Before(e.expires) {
				found[id] = e.v
				continue
			}
			c.local.Remove(id)
		}
		missing = append(missing, id)
	}
	if len(missing) == 0 || c.s == nil {
		return found
	}
	type pair struct {
		get  *redis.StringCmd
		pttl *redis.DurationCmd
	}
	cmds := make([]pair, len(missing))
	err := c.s.do(ctx, "PIPELINE", func(ctx context.Context) error {
		_, err := c.s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range missing {
				k := c.s.key(c.o.Namespace, id)
				cmds[i] = pair{get: p.Get(ctx, k), pttl: p.PTTL(ctx, k)}
			}
			return nil
		})
		if errors.Is(err, redis.Nil) { // some ids missing: not a failure
			err = nil
		}
		return err
	})
	if err != nil {
		return found
	}
	for i, id := range missing {
		raw, err := cmds[i].get.Bytes()
		if err != nil {
			continue
		}
		plain, ok := c.s.open(c.o.Namespace, id, raw)
		if !ok {
			continue
		}
		v, err := c.o.Decode(plain)
		if err != nil {
			c.s.unopenable.Add(1)
			continue
		}
		found[id] = v
		life := c.o.LocalTTL
		if ttl, err := cmds[i].pttl.Result(); err == nil && ttl > 0 && ttl < life {
			life = ttl
		}
		c.local.Add(id, localEntry[V]{v: v, expires: now.Add(life)})
	}
	return found
}

// Set keeps v for ttl: in memory for at most LocalTTL, sealed in Redis for
// ttl. Failing to reach Redis leaves it in memory only.
func (c *TwoLevel[V]) Set(ctx context.Context, id string, v V, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	c.local.Add(id, localEntry[V]{v: v, expires: c.o.Now().Add(min(ttl, c.o.LocalTTL))})
	if c.s == nil {
		return
	}
	b, err := c.o.Encode(v)
	if err != nil {
		return
	}
	_ = c.s.SetSealed(ctx, c.o.Namespace, id, b, ttl)
}
