package credentials

import (
	"context"
	"crypto/sha256"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/idpgate/idpgate/internal/secret"
)

// Pair is the token pair the gateway keeps for an identity after a
// refresh. Expiry is zero when the provider did not say.
type Pair struct {
	AccessToken  secret.String
	RefreshToken secret.String
	Expiry       time.Time
}

// same reports whether p and o hold the same tokens (the CompareAndSwap
// equality).
func (p Pair) same(o Pair) bool {
	return p.AccessToken.Equal(o.AccessToken) && p.RefreshToken.Equal(o.RefreshToken)
}

// Fingerprint identifies a refresh token in the spent set without holding
// it: its SHA-256.
type Fingerprint [32]byte

// FingerprintOf returns the Fingerprint of a token.
func FingerprintOf(s secret.String) Fingerprint { return sha256.Sum256([]byte(s.Reveal())) }

// Store keeps the broker's state. Implementations must be safe for
// concurrent use; see the package documentation for what a shared
// implementation must guarantee.
type Store interface {
	// Get returns the pair kept for key.
	Get(ctx context.Context, key string) (Pair, bool, error)
	// CompareAndSwap stores next for key if the kept pair is old (when
	// hadOld) or if nothing is kept (when !hadOld). It reports whether it
	// stored.
	CompareAndSwap(ctx context.Context, key string, old Pair, hadOld bool, next Pair) (bool, error)
	// CompareAndDelete removes key's pair if it is still old.
	CompareAndDelete(ctx context.Context, key string, old Pair) (bool, error)
	// MarkSpent remembers that a refresh token must never be sent again.
	MarkSpent(ctx context.Context, fp Fingerprint) error
	// IsSpent reports whether MarkSpent saw fp.
	IsSpent(ctx context.Context, fp Fingerprint) (bool, error)
	// Lease waits until the caller is the only holder of key's refresh
	// lease (or ctx ends) and returns the function that releases it. A
	// shared implementation gives the lease a TTL of at least ttl.
	Lease(ctx context.Context, key string, ttl time.Duration) (release func(), err error)
}

// MemoryStore is the in-process Store: pairs and spent fingerprints in
// bounded LRU caches, leases as per-key mutexes. It serves one replica.
// Use NewMemoryStore; it is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex // makes the compare-and-swaps atomic
	pairs   *lru.Cache[string, Pair]
	spent   *lru.Cache[Fingerprint, struct{}]
	leaseMu sync.Mutex
	leases  map[string]*lease // only keys with a holder or a waiter
}

type lease struct {
	ch      chan struct{} // capacity 1: full while held
	waiters int           // holders and waiters
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store keeping at most maxEntries pairs
// and as many spent fingerprints (the least recently used go first);
// maxEntries <= 0 means 100,000.
func NewMemoryStore(maxEntries int) *MemoryStore {
	if maxEntries <= 0 {
		maxEntries = 100_000
	}
	pairs, _ := lru.New[string, Pair](maxEntries)
	spent, _ := lru.New[Fingerprint, struct{}](maxEntries)
	return &MemoryStore{pairs: pairs, spent: spent, leases: map[string]*lease{}}
}

// Get implements Store.
func (m *MemoryStore) Get(_ context.Context, key string) (Pair, bool, error) {
	p, ok := m.pairs.Get(key)
	return p, ok, nil
}

// CompareAndSwap implements Store.
func (m *MemoryStore) CompareAndSwap(_ context.Context, key string, old Pair, hadOld bool, next Pair) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.pairs.Peek(key)
	if ok != hadOld || (ok && !cur.same(old)) {
		return false, nil
	}
	m.pairs.Add(key, next)
	return true, nil
}

// CompareAndDelete implements Store.
func (m *MemoryStore) CompareAndDelete(_ context.Context, key string, old Pair) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.pairs.Peek(key)
	if !ok || !cur.same(old) {
		return false, nil
	}
	m.pairs.Remove(key)
	return true, nil
}

// MarkSpent implements Store.
func (m *MemoryStore) MarkSpent(_ context.Context, fp Fingerprint) error {
	m.spent.Add(fp, struct{}{})
	return nil
}

// IsSpent implements Store.
func (m *MemoryStore) IsSpent(_ context.Context, fp Fingerprint) (bool, error) {
	return m.spent.Contains(fp), nil
}

// Lease implements Store. In one process the broker's singleflight already
// runs one refresh per key; the lease matters when several Brokers share
// the store (tests do).
func (m *MemoryStore) Lease(ctx context.Context, key string, _ time.Duration) (func(), error) {
	m.leaseMu.Lock()
	l := m.leases[key]
	if l == nil {
		l = &lease{ch: make(chan struct{}, 1)}
		m.leases[key] = l
	}
	l.waiters++
	m.leaseMu.Unlock()
	done := func() {
		m.leaseMu.Lock()
		defer m.leaseMu.Unlock()
		if l.waiters--; l.waiters == 0 {
			delete(m.leases, key)
		}
	}
	select {
	case l.ch <- struct{}{}:
		var once sync.Once
		return func() { once.Do(func() { <-l.ch; done() }) }, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}
