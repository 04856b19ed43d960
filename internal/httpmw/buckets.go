package httpmw

import (
	"sync"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// Buckets holds one token bucket (golang.org/x/time/rate) per key, at most
// maxKeys of them (an LRU: a key evicted and seen again starts with a full
// bucket). RateLimit and connlimit.Middleware keep their buckets in it.
type Buckets struct {
	mu    sync.Mutex // makes get-or-create atomic
	cache *lru.Cache[string, *rate.Limiter]
	rps   rate.Limit
	burst int
}

// NewBuckets returns Buckets of rps and burst; maxKeys must be positive.
func NewBuckets(maxKeys int, rps float64, burst int) (*Buckets, error) {
	cache, err := lru.New[string, *rate.Limiter](maxKeys)
	if err != nil {
		return nil, err
	}
	return &Buckets{cache: cache, rps: rate.Limit(rps), burst: burst}, nil
}

// Get returns the bucket of key, creating a full one if there is none.
func (b *Buckets) Get(key string) *rate.Limiter {
	b.mu.Lock()
	defer b.mu.Unlock()
	l, ok := b.cache.Get(key)
	if !ok {
		l = rate.NewLimiter(b.rps, b.burst)
		b.cache.Add(key, l)
	}
	return l
}
