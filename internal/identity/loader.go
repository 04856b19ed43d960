package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/graph-gophers/dataloader/v7"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/idpgate/idpgate/internal/auth0"
)

// Users is what the loader needs from the Management API. *auth0.Client
// satisfies it.
type Users interface {
	// User reads one profile by id (GET /api/v2/users/{id}). It returns an
	// error wrapping auth0.ErrNotFound when the user does not exist.
	User(ctx context.Context, id string) (*auth0.User, error)
	// SearchUsers reads several profiles with one user search
	// (GET /api/v2/users?q=user_id:(…)). The index is eventually consistent,
	// so ids may be missing from the answer.
	SearchUsers(ctx context.Context, ids []string) ([]*auth0.User, error)
}

var _ Users = (*auth0.Client)(nil)

// Config tunes a Loader. A zero field takes the default shown.
type Config struct {
	Wait       time.Duration // dataloader batch window (default 2ms)
	MaxBatch   int           // most keys in one batch (default 100, Auth0's search page size)
	Timeout    time.Duration // the batch's own timeout, detached from the callers (default 10s)
	MaxEntries int           // bounded cache size (default 50_000)
	MaxTTL     time.Duration // upper bound on a cached profile's life (default 5m)
	// MinTTL: a profile whose computed lifetime is shorter than this is not
	// cached at all (default 5s).
	MinTTL time.Duration
	// ExpiryMargin is subtracted from the shortest identities[].expires_in
	// when computing a profile's lifetime (default 30s).
	ExpiryMargin time.Duration
	Now          func() time.Time // default time.Now
	Logger       *slog.Logger     // default discards

	// Shared, when set, is a second cache level shared by the replicas
	// (see shared.go); this Loader's own cache then keeps a profile for at
	// most Shared.LocalTTL. Nil: the in-process cache alone.
	Shared SharedCache
}

func (c Config) withDefaults() Config {
	if c.Wait <= 0 {
		c.Wait = 2 * time.Millisecond
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 100
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxEntries <= 0 {
		c.MaxEntries = 50_000
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 5 * time.Minute
	}
	if c.MinTTL <= 0 {
		c.MinTTL = 5 * time.Second
	}
	if c.ExpiryMargin <= 0 {
		c.ExpiryMargin = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Profile is a user's Auth0 profile as the loader read it. A Profile may be
// shared between callers and with the cache: treat it, and the User it points
// to, as read-only.
type Profile struct {
	User      *auth0.User
	FetchedAt time.Time
	// FromSearch is true when the profile came from user search, whose index
	// may lag behind: if a provider rejects one of its tokens, Reload it.
	FromSearch bool
}

// Stats counts what a Loader did since it was made.
type Stats struct {
	Hits        int64 // Load answered from the cache
	Misses      int64 // Load not answered from the cache
	Batches     int64 // batch function runs
	KeysLoaded  int64 // distinct keys those batches asked for
	SearchCalls int64 // Users.SearchUsers calls
	ByIDCalls   int64 // Users.User calls, including Reload's
	Reloads     int64 // Reload calls
	Entries     int   // profiles in the cache now (expired ones included until touched)
}

// Loader loads profiles through one batching dataloader shared by all
// callers, with a bounded cache in front of it. Make it with New; the zero
// value is not usable. It is safe for concurrent use.
type Loader struct {
	cfg   Config
	users Users
	dl    *dataloader.Loader[string, *Profile]
	group singleflight.Group

	mu       sync.Mutex
	cache    *simplelru.LRU[string, entry]
	inflight map[string]*flight // Load fetches under way, by key

	seq atomic.Uint64 // orders fetches: a newer fetch's result wins

	nHits, nMisses, nBatches, nKeys, nSearches, nByID, nReloads atomic.Int64

	// queued, when set (by tests), is called once a Load's key sits in the
	// dataloader's current batch.
	queued func(key string)
}

// entry is a cached profile.
type entry struct {
	p       *Profile
	expires time.Time
	seq     uint64 // the seq at which the fetch that produced p started
}

// flight is one Load fetch under way. Invalidate marks it stale so that what
// it read before the invalidation is not cached after it.
type flight struct {
	stale bool // guarded by Loader.mu
}

// New returns a Loader that reads profiles from users.
func New(cfg Config, users Users) *Loader {
	cfg = cfg.withDefaults()
	l := &Loader{
		cfg:      cfg,
		users:    users,
		inflight: make(map[string]*flight),
	}
	cache, err := simplelru.NewLRU[string, entry](cfg.MaxEntries, nil)
	if err != nil { // only for a size <= 0, which withDefaults rules out
		panic("identity: " + err.Error())
	}
	l.cache = cache
	l.dl = dataloader.NewBatchedLoader(l.batch,
		// The library's default cache is an unbounded map that keeps failed
		// thunks forever; the loader batches only and l.cache caches.
		dataloader.WithCache[string, *Profile](&dataloader.NoCache[string, *Profile]{}),
		dataloader.WithWait[string, *Profile](cfg.Wait),
		dataloader.WithBatchCapacity[string, *Profile](cfg.MaxBatch),
		dataloader.WithInputCapacity[string, *Profile](cfg.MaxBatch),
	)
	return l
}

// Load returns userID's profile from the cache or, on a miss, through the
// shared batch. Concurrent misses of the same user share one fetch. When ctx
// is done first, Load returns ctx.Err() at once; the fetch goes on for the
// other callers and still fills the cache. Errors are never cached. A user
// Auth0 does not know yields an error wrapping auth0.ErrNotFound.
func (l *Loader) Load(ctx context.Context, userID string) (*Profile, error) {
	if userID == "" {
		return nil, errors.New("identity: empty user id")
	}
	if p, ok := l.cached(userID); ok {
		l.nHits.Add(1)
		return p, nil
	}
	l.nMisses.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The fetch must not inherit the caller's cancellation: other callers
	// may join it through the singleflight group.
	detached := context.WithoutCancel(ctx)
	ch := l.group.DoChan(loadKey(userID), func() (any, error) {
		return l.fetch(detached, userID)
	})
	return wait(ctx, ch)
}

// fetch loads userID through the dataloader and caches the result.
func (l *Loader) fetch(ctx context.Context, userID string) (*Profile, error) {
	// A fetch that finished between our cache miss and this call has
	// already answered.
	if p, ok := l.cached(userID); ok {
		return p, nil
	}
	seq := l.seq.Add(1)
	if p, ok := l.fromShared(ctx, userID, seq); ok {
		return p, nil
	}
	f := &flight{}
	l.mu.Lock()
	l.inflight[userID] = f
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.inflight[userID] == f {
			delete(l.inflight, userID)
		}
		l.mu.Unlock()
	}()

	thunk := l.dl.Load(ctx, userID)
	if l.queued != nil {
		l.queued(userID)
	}
	p, err := thunk()
	if err != nil {
		return nil, err
	}
	l.store(userID, p, seq, f)
	return p, nil
}

// Reload reads userID's profile by id, bypassing the cache and user search,
// and replaces the cached entry with it. Use it once when a provider rejects
// a token from a profile with FromSearch set. Concurrent Reloads of one user
// share one call. On error the cached entry is dropped, so the next Load
// fetches again. Like Load, it returns ctx.Err() as soon as ctx is done.
func (l *Loader) Reload(ctx context.Context, userID string) (*Profile, error) {
	if userID == "" {
		return nil, errors.New("identity: empty user id")
	}
	l.nReloads.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	detached := context.WithoutCancel(ctx)
	ch := l.group.DoChan(reloadKey(userID), func() (any, error) {
		seq := l.seq.Add(1)
		ctx, cancel := context.WithTimeout(detached, l.cfg.Timeout)
		defer cancel()
		fetched := l.cfg.Now()
		u, err := l.byID(ctx, userID)
		if err != nil {
			l.mu.Lock()
			if e, ok := l.cache.Peek(userID); ok && e.seq <= seq {
				l.cache.Remove(userID)
			}
			l.mu.Unlock()
			return nil, err
		}
		p := &Profile{User: u, FetchedAt: fetched}
		l.store(userID, p, seq, nil)
		return p, nil
	})
	return wait(ctx, ch)
}

// Invalidate drops userID's cached profile. A Load fetch already under way
// for that user still answers its callers but is not cached, and later Loads
// start a new fetch.
func (l *Loader) Invalidate(userID string) {
	l.mu.Lock()
	l.cache.Remove(userID)
	if f := l.inflight[userID]; f != nil {
		f.stale = true
	}
	l.mu.Unlock()
	l.group.Forget(loadKey(userID))
	l.dropShared(userID)
}

// Stats returns the loader's counters.
func (l *Loader) Stats() Stats {
	l.mu.Lock()
	n := l.cache.Len()
	l.mu.Unlock()
	return Stats{
		Hits:        l.nHits.Load(),
		Misses:      l.nMisses.Load(),
		Batches:     l.nBatches.Load(),
		KeysLoaded:  l.nKeys.Load(),
		SearchCalls: l.nSearches.Load(),
		ByIDCalls:   l.nByID.Load(),
		Reloads:     l.nReloads.Load(),
		Entries:     n,
	}
}

func loadKey(id string) string   { return "load\x00" + id }
func reloadKey(id string) string { return "reload\x00" + id }

// wait returns the singleflight result, or ctx.Err() if ctx ends first.
func wait(ctx context.Context, ch <-chan singleflight.Result) (*Profile, error) {
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*Profile), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// cached returns userID's unexpired cached profile.
func (l *Loader) cached(userID string) (*Profile, bool) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.cache.Get(userID)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		l.cache.Remove(userID)
		return nil, false
	}
	return e.p, true
}

// store caches p unless its fetch f was invalidated meanwhile or the cache
// already holds the result of a fetch that started later.
func (l *Loader) store(userID string, p *Profile, seq uint64, f *flight) {
	ttl := l.ttl(p)
	if !l.storeLocal(userID, p, ttl, seq, f) {
		return
	}
	l.toShared(userID, p, ttl)
}

// storeLocal is store's decision and its in-process part; it reports
// whether p was cached.
func (l *Loader) storeLocal(userID string, p *Profile, ttl time.Duration, seq uint64, f *flight) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f != nil && f.stale {
		return false
	}
	if e, ok := l.cache.Peek(userID); ok && e.seq > seq {
		return false
	}
	if ttl < l.cfg.MinTTL {
		// Too short-lived to be worth caching; an older entry is staler
		// still.
		l.cache.Remove(userID)
		return false
	}
	l.cache.Add(userID, entry{p: p, expires: l.localExpiry(p, ttl), seq: seq})
	return true
}

// ttl is how long p may be cached: MaxTTL, shortened to the shortest
// positive identities[].expires_in minus ExpiryMargin. Auth0 reports
// expires_in as the token's lifetime at sign-in, not what is left of it, so
// this bounds a cached profile to one token lifetime rather than predicting
// the token's expiry; a token a provider rejects earlier is handled by Reload
// and refresh.
func (l *Loader) ttl(p *Profile) time.Duration {
	ttl := l.cfg.MaxTTL
	if p.User == nil {
		return ttl
	}
	for _, id := range p.User.Identities {
		if id.ExpiresIn <= 0 {
			continue
		}
		if d := time.Duration(id.ExpiresIn)*time.Second - l.cfg.ExpiryMargin; d < ttl {
			ttl = d
		}
	}
	return ttl
}

// byID reads one profile by id.
func (l *Loader) byID(ctx context.Context, userID string) (*auth0.User, error) {
	l.nByID.Add(1)
	u, err := l.users.User(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("identity: read user %q: %w", userID, err)
	}
	if u == nil {
		return nil, fmt.Errorf("identity: read user %q: empty answer", userID)
	}
	return u, nil
}
