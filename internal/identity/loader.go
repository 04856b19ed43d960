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
	"github.com/idpgate/idpgate/internal/credentials"
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
	// ReloadInterval is each user's budget for Reload: at most one
	// Management API re-read per user per interval (default 30s). A Reload
	// within it answers the profile the gateway holds. Negative: no
	// per-user interval.
	ReloadInterval time.Duration
	// ReconsentTTL is how long a Reload remembers the tokens it read (per
	// identity): while the profile still carries exactly those tokens, a
	// provider rejecting them again means the user must sign in again, and
	// another Reload answers without a Management API call (default 5m).
	// A profile with another token, or the end of the period, ends it.
	// Negative: nothing is remembered.
	ReconsentTTL time.Duration
	// IssuedAt returns when the caller's bearer token was issued (its iat,
	// authn.IssuedAt). A Reload whose caller's token was issued after the
	// token of the caller whose Reload made the last re-read ends both
	// budgets at once: the user signed in again, so Auth0 likely holds new
	// provider tokens. Nil: no caller is ever newer.
	IssuedAt func(context.Context) (time.Time, bool)
	Now      func() time.Time // default time.Now
	Logger   *slog.Logger     // default discards
	// Observe receives what the loader does (metrics, traces); nil fields
	// observe nothing.
	Observe Observer

	// Shared, when set, is a second cache level shared by the replicas
	// (see shared.go); this Loader's own cache then keeps a profile for at
	// most Shared.LocalTTL. Nil: the in-process cache alone.
	Shared SharedCache
}

// Observer is the callbacks of a Loader's telemetry. Each nil field is
// skipped.
type Observer struct {
	// Cache follows each cache lookup of Load.
	Cache func(hit bool)
	// Joined is called when the request of ctx starts waiting for userID's
	// profile (a cache miss), before the batch that loads it runs.
	Joined func(ctx context.Context, userID string)
	// Batch wraps each batch of distinct ids: it returns the context the
	// batch runs in and a func called when it ends.
	Batch func(ctx context.Context, ids []string) (context.Context, func())
	// SharedCache follows each lookup of the shared cache (Config.Shared).
	SharedCache func(hit bool)
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
	if c.ReloadInterval == 0 {
		c.ReloadInterval = 30 * time.Second
	}
	if c.ReconsentTTL == 0 {
		c.ReconsentTTL = 5 * time.Minute
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

// Loader loads profiles through one batching dataloader shared by all
// callers, with a bounded cache in front of it. Make it with New; the zero
// value is not usable. It is safe for concurrent use.
type Loader struct {
	cfg   Config
	users Users
	dl    *dataloader.Loader[string, *Profile]
	group singleflight.Group

	mu    sync.Mutex
	cache *simplelru.LRU[string, entry]
	notes *simplelru.LRU[string, reloadNote] // what each user's last Reload read

	seq atomic.Uint64 // orders fetches: a newer fetch's result wins
}

// entry is a cached profile.
type entry struct {
	p       *Profile
	expires time.Time
	seq     uint64 // the seq at which the fetch that produced p started
}

// New returns a Loader that reads profiles from users.
func New(cfg Config, users Users) *Loader {
	cfg = cfg.withDefaults()
	l := &Loader{
		cfg:   cfg,
		users: users,
	}
	cache, err := simplelru.NewLRU[string, entry](cfg.MaxEntries, nil)
	if err != nil { // only for a size <= 0, which withDefaults rules out
		panic("identity: " + err.Error())
	}
	l.cache = cache
	l.notes, _ = simplelru.NewLRU[string, reloadNote](cfg.MaxEntries, nil)
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
		l.observeCache(ctx, userID, true)
		return p, nil
	}
	l.observeCache(ctx, userID, false)
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
	p, err := l.dl.Load(ctx, userID)()
	if err != nil {
		return nil, err
	}
	l.store(userID, p, seq)
	return p, nil
}

// Reload reads userID's profile by id, bypassing the cache and user search,
// and replaces the cached entry with it. Use it when a provider rejects a
// token: Auth0 may hold a newer one. Concurrent Reloads of one user share one
// call. Like Load, it returns ctx.Err() as soon as ctx is done.
//
// Reload is budgeted, because a user whose provider token is dead would
// otherwise re-read on every request and spend the Management API budget
// every user shares: within ReloadInterval of the user's last re-read it
// makes no call, and within ReconsentTTL it makes none while the profile
// still carries exactly the tokens that re-read saw (the identity needs
// re-consent; only a new sign-in changes them). Either way it answers the
// profile the gateway holds. Its calls wait behind cold loads when users is
// a *Scheduler. On error the cached entry is dropped, so the next Load
// fetches again, unless the error is the call's own timeout.
func (l *Loader) Reload(ctx context.Context, userID string) (*Profile, error) {
	if userID == "" {
		return nil, errors.New("identity: empty user id")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var issued time.Time
	if l.cfg.IssuedAt != nil {
		issued, _ = l.cfg.IssuedAt(ctx)
	}
	if p, err, ok := l.spare(userID, issued); ok {
		return p, err
	}
	detached := asReread(context.WithoutCancel(ctx))
	ch := l.group.DoChan(reloadKey(userID), func() (any, error) {
		if p, err, ok := l.spare(userID, issued); ok { // another Reload just read it
			return p, err
		}
		seq := l.seq.Add(1)
		ctx, cancel := context.WithTimeout(detached, l.cfg.Timeout)
		defer cancel()
		fetched := l.cfg.Now()
		u, err := l.byID(ctx, userID)
		if err != nil {
			l.mu.Lock()
			if e, ok := l.cache.Peek(userID); ok && e.seq <= seq && ctx.Err() == nil {
				l.cache.Remove(userID)
			}
			l.notes.Add(userID, reloadNote{at: fetched, by: issued, err: err})
			l.mu.Unlock()
			return nil, err
		}
		p := &Profile{User: u, FetchedAt: fetched}
		l.store(userID, p, seq)
		l.mu.Lock()
		l.notes.Add(userID, reloadNote{at: fetched, by: issued, p: p, seen: tokenMarks(u)})
		l.mu.Unlock()
		return p, nil
	})
	return wait(ctx, ch)
}

// reloadNote is what a user's last Reload read: when, when the bearer
// token of the caller that made it was issued (zero: unknown), the profile
// (or the error) and, per identity, a fingerprint of the access token it
// carried.
type reloadNote struct {
	at   time.Time
	by   time.Time
	p    *Profile
	err  error
	seen map[string]credentials.Fingerprint
}

// spare answers a Reload without a call when the budget says so (see
// Reload): ok is false when a call is due. issued is when the caller's
// bearer token was issued (zero: unknown); a token issued after the one
// whose request made the last re-read (after the re-read itself when that
// one is unknown) ends the budget early: signing in again gives the client
// a new token. iat has whole seconds; the token that caused the re-read,
// and any older one, never ends it.
func (l *Loader) spare(userID string, issued time.Time) (p *Profile, err error, ok bool) {
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cfg.ReloadInterval < 0 && l.cfg.ReconsentTTL < 0 {
		return nil, nil, false // no budget: every Reload calls
	}
	n, found := l.notes.Get(userID)
	if !found {
		return nil, nil, false
	}
	age := now.Sub(n.at)
	held := n.p
	if e, ok := l.cache.Peek(userID); ok && now.Before(e.expires) {
		held = e.p
	}
	switch {
	case age < 0 || age >= max(l.cfg.ReconsentTTL, l.cfg.ReloadInterval),
		n.newerCaller(issued):
		l.notes.Remove(userID)
		return nil, nil, false
	case age < l.cfg.ReloadInterval && held != nil:
		return held, nil, true
	case age < l.cfg.ReloadInterval:
		return nil, n.err, true
	case age < l.cfg.ReconsentTTL && held != nil && n.p != nil && sameMarks(tokenMarks(held.User), n.seen):
		return held, nil, true
	}
	return nil, nil, false
}

// newerCaller reports whether a caller's bearer token issued at issued
// came after the note was made (see spare).
func (n reloadNote) newerCaller(issued time.Time) bool {
	if issued.IsZero() {
		return false
	}
	ref := n.by
	if ref.IsZero() {
		ref = n.at
	}
	return issued.Unix() > ref.Unix()
}

// tokenMarks fingerprints each identity's access token, keyed by
// "<provider>|<user_id>".
func tokenMarks(u *auth0.User) map[string]credentials.Fingerprint {
	if u == nil {
		return nil
	}
	m := make(map[string]credentials.Fingerprint, len(u.Identities))
	for _, idn := range u.Identities {
		m[idn.Provider+"|"+string(idn.UserID)] = credentials.FingerprintOf(idn.AccessToken)
	}
	return m
}

func sameMarks(a, b map[string]credentials.Fingerprint) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
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

// observeCache reports a cache lookup, and a miss's wait for the batch.
func (l *Loader) observeCache(ctx context.Context, userID string, hit bool) {
	if o := l.cfg.Observe; o.Cache != nil {
		o.Cache(hit)
	}
	if o := l.cfg.Observe; !hit && o.Joined != nil {
		o.Joined(ctx, userID)
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

// store caches p unless the cache already holds the result of a fetch that
// started later.
func (l *Loader) store(userID string, p *Profile, seq uint64) {
	ttl := l.ttl(p)
	if !l.storeLocal(userID, p, ttl, seq) {
		return
	}
	l.toShared(userID, p, ttl)
}

// storeLocal is store's decision and its in-process part; it reports
// whether p was cached.
func (l *Loader) storeLocal(userID string, p *Profile, ttl time.Duration, seq uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
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
	u, err := l.users.User(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("identity: read user %q: %w", userID, err)
	}
	if u == nil {
		return nil, fmt.Errorf("identity: read user %q: empty answer", userID)
	}
	return u, nil
}
