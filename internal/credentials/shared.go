package credentials

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/providers"
)

// SharedStore is the Store of a cluster of replicas: pairs (sealed), spent
// refresh tokens (by SHA-256) and refresh leases live in Redis through
// cluster.Tokens, so one refresh per identity runs in the whole cluster
// and a rotated refresh token is never presented twice.
//
// Every call falls back to the in-process MemoryStore when Redis cannot be
// asked (down, slow, garbage): the broker's singleflight then gives one
// refresh per identity per replica, as with one replica. The memory store
// also mirrors what this replica read or wrote in Redis, so a pair kept
// only there (Redis restarted empty, or down) is still found, and spent
// refresh tokens are remembered in both. Safe for concurrent use.
type SharedStore struct {
	t     *cluster.Tokens
	local *MemoryStore
	fresh *expirable.LRU[string, freshPair] // first level of Get

	// pending are the pairs this replica refreshed while Redis could not
	// be asked: kept only here, they are written to Redis once it is
	// back, so that the other replicas find them instead of presenting
	// the refresh token this replica's exchange rotated away.
	mu       sync.Mutex
	pending  map[string]pendingSwap
	npending atomic.Int32
}

// pendingSwap is a swap the memory store made in Redis's stead: Redis
// should go from old (none when !hadOld) to next.
type pendingSwap struct {
	old    Pair
	hadOld bool
	next   Pair
}

// maxPending bounds the pairs awaiting Redis; past it, a new one stays
// local only (as before this existed).
const maxPending = 10_000

// freshPair is what Redis answered for a key a moment ago (found false:
// no pair), served by Get without a round trip for FreshTTL.
type freshPair struct {
	p     Pair
	found bool
}

// DefaultFreshTTL is how long Get answers from its first level. A pair
// another replica stored meanwhile is found at the latest when this
// replica's copy is rejected or expires: the broker's refresh takes the
// lease, which drops the first level, and reads Redis.
const DefaultFreshTTL = 5 * time.Second

var _ Store = (*SharedStore)(nil)

// NewSharedStore returns a Store over t with local behind it; local nil
// means NewMemoryStore(0). freshTTL is the life of Get's first level
// (0: DefaultFreshTTL; negative: none, every Get asks Redis).
func NewSharedStore(t *cluster.Tokens, local *MemoryStore, freshTTL time.Duration) *SharedStore {
	if local == nil {
		local = NewMemoryStore(0)
	}
	if freshTTL == 0 {
		freshTTL = DefaultFreshTTL
	}
	s := &SharedStore{t: t, local: local, pending: map[string]pendingSwap{}}
	if freshTTL > 0 {
		s.fresh = expirable.NewLRU[string, freshPair](10_000, nil, freshTTL)
	}
	t.OnRecover(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.flush(ctx)
	})
	return s
}

// keepPending records that the memory store swapped key from old to
// next while Redis could not be asked. A second swap of the same key
// keeps the first old: that is what Redis may still hold.
func (s *SharedStore) keepPending(key string, old Pair, hadOld bool, next Pair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prev, ok := s.pending[key]; ok {
		old, hadOld = prev.old, prev.hadOld
	} else if len(s.pending) >= maxPending {
		return
	}
	s.pending[key] = pendingSwap{old: old, hadOld: hadOld, next: next}
	s.npending.Store(int32(len(s.pending)))
}

func (s *SharedStore) dropPending(key string, only *Pair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.pending[key]; ok && (only == nil || samePairs(p.next, *only)) {
		delete(s.pending, key)
		s.npending.Store(int32(len(s.pending)))
	}
}

func samePairs(a, b Pair) bool {
	return a.AccessToken.Equal(b.AccessToken) && a.RefreshToken.Equal(b.RefreshToken)
}

// flush writes the pending pairs to Redis, each fenced on what Redis
// holds: from the pair it replaced, or into an empty key (Redis restarted
// empty). A key where Redis holds another pair was refreshed by another
// replica meanwhile: that one is kept and this replica reads it. Stops
// at the first call Redis fails (still unavailable; the next contact
// retries).
func (s *SharedStore) flush(ctx context.Context) {
	s.mu.Lock()
	work := make(map[string]pendingSwap, len(s.pending))
	for k, p := range s.pending {
		work[k] = p
	}
	s.mu.Unlock()
	for key, p := range work {
		var oldTok *providers.Token
		if p.hadOld {
			t := toToken(p.old)
			oldTok = &t
		}
		swapped, err := s.t.CompareAndSwap(ctx, key, oldTok, toToken(p.next))
		if err == nil && !swapped {
			var cur providers.Token
			var found bool
			cur, found, err = s.t.Get(ctx, key)
			switch {
			case err != nil:
			case !found:
				_, err = s.t.CompareAndSwap(ctx, key, nil, toToken(p.next))
			case samePairs(toPair(cur), p.next):
			default:
				// Another replica's newer pair: ours is dropped locally
				// unless it is the one this replica still uses.
			}
		}
		if err != nil {
			return
		}
		s.forget(key)
		s.dropPending(key, &p.next)
	}
}

func (s *SharedStore) remember(key string, p Pair, found bool) {
	if s.fresh != nil {
		s.fresh.Add(key, freshPair{p: p, found: found})
	}
}

func (s *SharedStore) forget(key string) {
	if s.fresh != nil {
		s.fresh.Remove(key)
	}
}

func toToken(p Pair) providers.Token {
	return providers.Token{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, Expiry: p.Expiry}
}

func toPair(t providers.Token) Pair {
	return Pair{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, Expiry: t.Expiry}
}

// put mirrors p into the memory store unconditionally.
func (m *MemoryStore) put(key string, p Pair) {
	m.mu.Lock()
	m.pairs.Add(key, p)
	m.mu.Unlock()
}

// Get implements Store: Redis's pair when it has one, else this replica's
// own copy. Never an error: Redis failing means the local copy.
func (s *SharedStore) Get(ctx context.Context, key string) (Pair, bool, error) {
	if s.fresh != nil {
		if f, ok := s.fresh.Get(key); ok {
			return f.p, f.found, nil
		}
	}
	if s.npending.Load() > 0 {
		// Redis may be back before this replica's probe said so.
		if _, pend := s.pendingFor(key); pend {
			s.flush(ctx)
		}
	}
	tok, ok, err := s.t.Get(ctx, key)
	if err == nil && ok {
		p := toPair(tok)
		s.local.put(key, p)
		s.remember(key, p, true)
		return p, true, nil
	}
	p, found, _ := s.local.Get(ctx, key)
	if err == nil && found && s.dropped(ctx, key, p) {
		p, found = Pair{}, false
	}
	if err == nil {
		s.remember(key, p, found)
	}
	return p, found, nil
}

func (s *SharedStore) pendingFor(key string) (pendingSwap, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[key]
	return p, ok
}

// dropped reports whether this replica's copy p of a pair Redis does not
// hold was deleted by another replica rather than lost with Redis: the
// broker deletes a pair only after marking its refresh token spent, so a
// copy whose refresh token is spent is forgotten, and any other is what
// Redis lost (restarted empty), still this identity's newest pair.
func (s *SharedStore) dropped(ctx context.Context, key string, p Pair) bool {
	if p.RefreshToken.IsZero() {
		return false
	}
	if spent, _ := s.IsSpent(ctx, FingerprintOf(p.RefreshToken)); !spent {
		return false
	}
	_, _ = s.local.CompareAndDelete(ctx, key, p)
	return true
}

// CompareAndSwap implements Store. In Redis the swap is fenced on the
// stored pair (cluster.Tokens.CompareAndSwap); when Redis holds nothing
// (restarted empty) while this replica's copy was the old pair, the swap
// stores next as the first pair. Redis failing: the memory store decides.
func (s *SharedStore) CompareAndSwap(ctx context.Context, key string, old Pair, hadOld bool, next Pair) (bool, error) {
	var oldTok *providers.Token
	if hadOld {
		t := toToken(old)
		oldTok = &t
	}
	swapped, err := s.t.CompareAndSwap(ctx, key, oldTok, toToken(next))
	if err == nil && !swapped && hadOld {
		// The old pair may have come from the local copy while Redis lost
		// its own: store next as the first pair then, never over another.
		if _, found, gerr := s.t.Get(ctx, key); gerr == nil && !found {
			swapped, err = s.t.CompareAndSwap(ctx, key, nil, toToken(next))
		}
	}
	if err != nil {
		swapped, err := s.local.CompareAndSwap(ctx, key, old, hadOld, next)
		if err == nil && swapped {
			s.keepPending(key, old, hadOld, next)
		}
		return swapped, err
	}
	s.dropPending(key, nil)
	if swapped {
		s.local.put(key, next)
		s.remember(key, next, true)
	} else {
		s.forget(key)
	}
	return swapped, nil
}

// CompareAndDelete implements Store, in Redis and in the local copy.
func (s *SharedStore) CompareAndDelete(ctx context.Context, key string, old Pair) (bool, error) {
	s.forget(key)
	s.dropPending(key, &old)
	localDel, _ := s.local.CompareAndDelete(ctx, key, old)
	deleted, err := s.t.Delete(ctx, key, toToken(old))
	if err != nil {
		return localDel, nil
	}
	return deleted || localDel, nil
}

// MarkSpent implements Store: remembered here and cluster-wide.
func (s *SharedStore) MarkSpent(ctx context.Context, fp Fingerprint) error {
	_ = s.local.MarkSpent(ctx, fp)
	_ = s.t.MarkSpentFingerprint(ctx, fp)
	return nil
}

// IsSpent implements Store: spent here or anywhere in the cluster.
func (s *SharedStore) IsSpent(ctx context.Context, fp Fingerprint) (bool, error) {
	if spent, _ := s.local.IsSpent(ctx, fp); spent {
		return true, nil
	}
	spent, err := s.t.IsSpentFingerprint(ctx, fp)
	if err != nil {
		return false, nil // unknown in Redis; the local set said no
	}
	if spent {
		_ = s.local.MarkSpent(ctx, fp)
	}
	return spent, nil
}

// Lease implements Store: the cluster-wide refresh lease of key. While
// another replica holds it, Lease waits (bounded, cluster.Tokens.Wait) for
// it to be released or to expire, then takes it, and the broker reads the
// holder's result. When Redis cannot be asked, or the holder takes longer
// than the wait allows, the in-process lease is taken instead: this
// replica refreshes alone rather than fail the request.
func (s *SharedStore) Lease(ctx context.Context, key string, ttl time.Duration) (func(), error) {
	// The broker reads the pair once it holds the lease: from Redis, since
	// another replica may have refreshed.
	defer s.forget(key)
	for {
		l, err := s.t.Lock(ctx, key)
		if err != nil {
			return s.local.Lease(ctx, key, ttl)
		}
		if l != nil {
			return func() { _, _ = l.Release(context.WithoutCancel(ctx)) }, nil
		}
		err = s.t.Wait(ctx, key)
		switch {
		case err == nil:
			continue // released: take it and read the holder's pair
		case ctx.Err() != nil:
			return nil, ctx.Err()
		default: // cluster.ErrWaitTimeout or cluster.ErrUnavailable
			return s.local.Lease(ctx, key, ttl)
		}
	}
}
