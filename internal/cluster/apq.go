package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
)

const apqNS = "apq"

// APQOptions configure NewAPQ.
type APQOptions struct {
	// LocalSize is how many queries each replica keeps in memory
	// (default 1,000).
	LocalSize int
	// MaxQueryBytes is the longest query stored (default 32 KiB); a longer
	// one is not registered, locally or in Redis.
	MaxQueryBytes int
	// TTL is how long a query stays in Redis after its last registration
	// (default 24h).
	TTL time.Duration
}

// APQ is gqlgen's automatic persisted query cache shared by the cluster:
// a query registered on one replica is found by its hash on every other.
// Queries are not secret (the operation text, never its variables), so
// they are stored unsealed. Each replica keeps an LRU in front. When Redis
// is unavailable it works as the local LRU alone. Safe for concurrent use.
type APQ struct {
	s     *Store
	o     APQOptions
	local *lru.Cache[string, string]
}

var _ graphql.Cache[string] = (*APQ)(nil)

// NewAPQ returns the cache; s may be nil (local only).
func NewAPQ(s *Store, o APQOptions) (*APQ, error) {
	if o.LocalSize < 0 || o.MaxQueryBytes < 0 || o.TTL < 0 {
		return nil, errors.New("cluster: apq: sizes and TTL must not be negative")
	}
	if o.LocalSize == 0 {
		o.LocalSize = 1000
	}
	if o.MaxQueryBytes == 0 {
		o.MaxQueryBytes = 32 << 10
	}
	if o.TTL == 0 {
		o.TTL = 24 * time.Hour
	}
	local, err := lru.New[string, string](o.LocalSize)
	if err != nil {
		return nil, err
	}
	return &APQ{s: s, o: o, local: local}, nil
}

// maxHashLen bounds the client-chosen hash used in a key name (a SHA-256
// is 64 hex digits).
const maxHashLen = 128

// Get implements graphql.Cache: the local LRU, then Redis (one GET).
func (a *APQ) Get(ctx context.Context, hash string) (string, bool) {
	if q, ok := a.local.Get(hash); ok {
		return q, true
	}
	if len(hash) == 0 || len(hash) > maxHashLen {
		return "", false
	}
	var q string
	err := a.s.do(ctx, "GET", func(ctx context.Context) error {
		var err error
		q, err = a.s.rdb.Get(ctx, a.s.key(apqNS, hash)).Result()
		return err
	})
	if err != nil || len(q) > a.o.MaxQueryBytes {
		return "", false
	}
	a.local.Add(hash, q)
	return q, true
}

// Add implements graphql.Cache. gqlgen calls it after checking that the
// hash is the query's SHA-256. Failure to reach Redis leaves the query
// registered on this replica only.
func (a *APQ) Add(ctx context.Context, hash, query string) {
	if len(query) > a.o.MaxQueryBytes || len(hash) == 0 || len(hash) > maxHashLen {
		return
	}
	a.local.Add(hash, query)
	_ = a.s.do(ctx, "SET", func(ctx context.Context) error {
		return a.s.rdb.Set(ctx, a.s.key(apqNS, hash), query, a.o.TTL).Err()
	})
}
