package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/secret"
)

// fakeUsers implements Users with function fields (the interface is ours).
type fakeUsers struct {
	user   func(ctx context.Context, id string) (*auth0.User, error)
	search func(ctx context.Context, ids []string) ([]*auth0.User, error)
}

func (f *fakeUsers) User(ctx context.Context, id string) (*auth0.User, error) {
	return f.user(ctx, id)
}

func (f *fakeUsers) SearchUsers(ctx context.Context, ids []string) ([]*auth0.User, error) {
	return f.search(ctx, ids)
}

// directory is an in-memory user store behind a fakeUsers that counts calls.
type directory struct {
	mu        sync.Mutex
	users     map[string]*auth0.User
	unindexed map[string]bool // ids user search does not return yet
	searchErr error
	searched  [][]string // ids of each search call

	byID, searches atomic.Int64
}

func newDirectory(users ...*auth0.User) *directory {
	d := &directory{users: map[string]*auth0.User{}, unindexed: map[string]bool{}}
	for _, u := range users {
		d.users[u.UserID] = u
	}
	return d
}

func (d *directory) put(u *auth0.User) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.users[u.UserID] = u
}

func (d *directory) calls() int64 { return d.byID.Load() + d.searches.Load() }

func (d *directory) fake() *fakeUsers {
	return &fakeUsers{
		user: func(ctx context.Context, id string) (*auth0.User, error) {
			d.byID.Add(1)
			if err := ctx.Err(); err != nil { // as an HTTP client would
				return nil, err
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			u, ok := d.users[id]
			if !ok {
				return nil, fmt.Errorf("auth0: get user: %w", auth0.ErrNotFound)
			}
			return u, nil
		},
		search: func(ctx context.Context, ids []string) ([]*auth0.User, error) {
			d.searches.Add(1)
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			d.searched = append(d.searched, slices.Clone(ids))
			if d.searchErr != nil {
				return nil, d.searchErr
			}
			if len(ids) > 100 {
				return nil, errors.New("auth0: search: too many ids")
			}
			var out []*auth0.User
			for _, id := range ids {
				if u, ok := d.users[id]; ok && !d.unindexed[id] {
					out = append(out, u)
				}
			}
			return out, nil
		},
	}
}

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func user(id string, expiresIn ...int) *auth0.User {
	u := &auth0.User{UserID: id, Name: "name of " + id}
	for i, e := range expiresIn {
		u.Identities = append(u.Identities, auth0.Identity{
			Provider:    "github",
			Connection:  "github",
			UserID:      auth0.FlexString(fmt.Sprint(1000 + i)),
			IsSocial:    true,
			AccessToken: secret.New(fmt.Sprintf("gho_identitytest_%s_%d", id, i)),
			ExpiresIn:   e,
		})
	}
	return u
}

func userIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("github|%d", 5000+i)
	}
	return ids
}

// pairConfig makes every batch exactly two keys: the window never closes on
// time, only on MaxBatch.
func pairConfig(c *clock) Config {
	return Config{Wait: time.Hour, MaxBatch: 2, Now: c.Now}
}

type loadResult struct {
	p   *Profile
	err error
}

// loadAll loads ids concurrently and returns the results in ids' order.
func loadAll(ctx context.Context, l *Loader, ids ...string) []loadResult {
	out := make([]loadResult, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			p, err := l.Load(ctx, id)
			out[i] = loadResult{p, err}
		})
	}
	wg.Wait()
	return out
}

// within fails the test if ch does not deliver before a generous deadline;
// it guards against hangs and asserts nothing about timing.
func within[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: still waiting after 10s", what)
		panic("unreachable")
	}
}

func TestLoadBatchesConcurrentUsers(t *testing.T) {
	ids := userIDs(200)
	d := newDirectory()
	for _, id := range ids {
		d.put(user(id, 28800))
	}
	// A generous window so that 200 goroutines on a busy machine land in
	// few batches; MaxBatch still splits them.
	var batches, keys atomic.Int64
	observe := Observer{Batch: func(ctx context.Context, ids []string) (context.Context, func()) {
		batches.Add(1)
		keys.Add(int64(len(ids)))
		return ctx, func() {}
	}}
	l := New(Config{Wait: 100 * time.Millisecond, Now: newClock().Now, Observe: observe}, d.fake())

	res := loadAll(t.Context(), l, ids...)

	for i, r := range res {
		if r.err != nil {
			t.Fatalf("Load(%q) error = %v; want nil", ids[i], r.err)
		}
		if r.p.User.UserID != ids[i] {
			t.Errorf("Load(%q).User.UserID = %q; want %q", ids[i], r.p.User.UserID, ids[i])
		}
	}
	if got := d.calls(); got > 20 {
		t.Errorf("upstream calls for 200 concurrent Loads = %d; want at most 20", got)
	}
	if b, k := batches.Load(), keys.Load(); b < 2 || k != 200 {
		t.Errorf("%d batches for %d keys; want at least 2 (MaxBatch 100) for 200", b, k)
	}
	d.mu.Lock()
	for _, s := range d.searched {
		if len(s) > 100 {
			t.Errorf("search with %d ids; want at most MaxBatch 100", len(s))
		}
	}
	d.mu.Unlock()

	// All of them are now cached.
	before := d.calls()
	loadAll(t.Context(), l, ids...)
	if got := d.calls() - before; got != 0 {
		t.Errorf("upstream calls for 200 cached Loads = %d; want 0", got)
	}
}

func TestLoadCachesWithinTTL(t *testing.T) {
	c := newClock()
	d := newDirectory(user("auth0|alice", 3600))
	var hits, misses atomic.Int64
	observe := Observer{Cache: func(hit bool) {
		if hit {
			hits.Add(1)
		} else {
			misses.Add(1)
		}
	}}
	l := New(Config{Now: c.Now, Observe: observe}, d.fake())

	first, err := l.Load(t.Context(), "auth0|alice")
	if err != nil {
		t.Fatalf("Load(%q) error = %v; want nil", "auth0|alice", err)
	}
	for range 10 {
		c.Advance(10 * time.Second)
		p, err := l.Load(t.Context(), "auth0|alice")
		if err != nil || p != first {
			t.Fatalf("Load(%q) = %p, %v; want the cached %p, nil", "auth0|alice", p, err, first)
		}
	}
	if got := d.calls(); got != 1 {
		t.Errorf("upstream calls = %d; want 1", got)
	}
	if h, m, b := hits.Load(), misses.Load(), d.byID.Load(); h != 10 || m != 1 || b != 1 {
		t.Errorf("cache hits %d, misses %d, by-id calls %d; want 10, 1, 1", h, m, b)
	}
}

func TestLoadExpiry(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn []int // identities[].expires_in
		maxTTL    time.Duration
		fresh     time.Duration // still cached this long after the fetch
		stale     time.Duration // fetched again this long after
	}{
		{"no expires_in: MaxTTL", nil, 5 * time.Minute, 5*time.Minute - time.Second, 5 * time.Minute},
		{"zero expires_in: MaxTTL", []int{0}, 5 * time.Minute, 5*time.Minute - time.Second, 5 * time.Minute},
		{"expires_in beyond MaxTTL", []int{3600}, 5 * time.Minute, 5*time.Minute - time.Second, 5 * time.Minute},
		{"short MaxTTL", []int{3600}, 20 * time.Second, 19 * time.Second, 20 * time.Second},
		{"expires_in minus margin", []int{120}, 5 * time.Minute, 89 * time.Second, 90 * time.Second},
		{"shortest positive expires_in", []int{0, 600, 120, 3600}, 5 * time.Minute, 89 * time.Second, 90 * time.Second},
		{"below MinTTL: not cached", []int{34}, 5 * time.Minute, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			d := newDirectory(user("auth0|bob", tt.expiresIn...))
			l := New(Config{MaxTTL: tt.maxTTL, Now: c.Now}, d.fake())
			ctx := t.Context()

			if _, err := l.Load(ctx, "auth0|bob"); err != nil {
				t.Fatalf("Load(%q) error = %v; want nil", "auth0|bob", err)
			}
			if tt.stale == 0 {
				if _, err := l.Load(ctx, "auth0|bob"); err != nil {
					t.Fatalf("Load(%q) error = %v; want nil", "auth0|bob", err)
				}
				if got := d.calls(); got != 2 {
					t.Errorf("upstream calls after two Loads = %d; want 2 (not cached)", got)
				}
				return
			}
			c.Advance(tt.fresh)
			if _, err := l.Load(ctx, "auth0|bob"); err != nil {
				t.Fatalf("Load(%q) error = %v; want nil", "auth0|bob", err)
			}
			if got := d.calls(); got != 1 {
				t.Errorf("upstream calls %v after the fetch = %d; want 1 (cached)", tt.fresh, got)
			}
			c.Advance(tt.stale - tt.fresh)
			if _, err := l.Load(ctx, "auth0|bob"); err != nil {
				t.Fatalf("Load(%q) error = %v; want nil", "auth0|bob", err)
			}
			if got := d.calls(); got != 2 {
				t.Errorf("upstream calls %v after the fetch = %d; want 2 (expired)", tt.stale, got)
			}
		})
	}
}

func TestLoadDoesNotCacheErrors(t *testing.T) {
	tests := []struct {
		name    string
		failure error
	}{
		{"upstream failure", errors.New("auth0: get user: status 503")},
		{"not found", fmt.Errorf("auth0: get user: %w", auth0.ErrNotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirectory(user("auth0|carol"))
			fake := d.fake()
			var calls atomic.Int64
			ok := fake.user
			fake.user = func(ctx context.Context, id string) (*auth0.User, error) {
				if calls.Add(1) == 1 {
					return nil, tt.failure
				}
				return ok(ctx, id)
			}
			l := New(Config{Now: newClock().Now}, fake)

			if _, err := l.Load(t.Context(), "auth0|carol"); !errors.Is(err, tt.failure) {
				t.Fatalf("first Load(%q) error = %v; want %v", "auth0|carol", err, tt.failure)
			}
			p, err := l.Load(t.Context(), "auth0|carol")
			if err != nil || p.User.UserID != "auth0|carol" {
				t.Fatalf("second Load(%q) = %+v, %v; want the profile", "auth0|carol", p, err)
			}
			if got := calls.Load(); got != 2 {
				t.Errorf("upstream calls = %d; want 2 (the error was not cached)", got)
			}
		})
	}
}

type callerKey struct{}

// In a synctest bubble: synctest.Wait returns once the first Load sits in
// the dataloader's batch window (its goroutines durably blocked on the
// batch timer), so the order of the two callers is certain.
func TestLoadCancelledCallerFailsNoOther(t *testing.T) {
	synctest.Test(t, testLoadCancelledCallerFailsNoOther)
}

func testLoadCancelledCallerFailsNoOther(t *testing.T) {
	c := newClock()
	d := newDirectory(user("auth0|first", 3600), user("auth0|second", 3600))
	fake := d.fake()
	entered := make(chan struct{})
	release := make(chan struct{})
	var batchCaller any
	var batchCtxErr error
	search := fake.search
	fake.search = func(ctx context.Context, ids []string) ([]*auth0.User, error) {
		batchCaller = ctx.Value(callerKey{})
		close(entered)
		<-release
		batchCtxErr = ctx.Err()
		return search(ctx, ids)
	}
	l := New(pairConfig(c), fake)

	// "first" opens the batch window, so the batch function gets its ctx.
	firstCtx, cancelFirst := context.WithCancel(context.WithValue(t.Context(), callerKey{}, "first"))
	defer cancelFirst()
	firstDone := make(chan error, 1)
	go func() {
		_, err := l.Load(firstCtx, "auth0|first")
		firstDone <- err
	}()
	synctest.Wait() // "first" waits in the batch window

	secondDone := make(chan loadResult, 1)
	go func() {
		p, err := l.Load(context.WithValue(t.Context(), callerKey{}, "second"), "auth0|second")
		secondDone <- loadResult{p, err}
	}()
	within(t, entered, "batch started")

	cancelFirst()
	// The cancelled caller returns while the batch is still blocked.
	if err := within(t, firstDone, "cancelled Load"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled ctx) error = %v; want %v", err, context.Canceled)
	}
	close(release)

	r := within(t, secondDone, "second Load")
	if r.err != nil || r.p.User.UserID != "auth0|second" {
		t.Errorf("Load(%q) = %+v, %v; want the profile", "auth0|second", r.p, r.err)
	}
	if batchCaller != "first" {
		t.Errorf("batch ctx caller = %v; want %q (the test meant the cancelled caller to open the batch)", batchCaller, "first")
	}
	if batchCtxErr != nil {
		t.Errorf("batch ctx error after the first caller cancelled = %v; want nil", batchCtxErr)
	}

	// The cancelled caller's profile was still fetched and cached.
	if _, err := l.Load(t.Context(), "auth0|first"); err != nil {
		t.Fatalf("Load(%q) error = %v; want nil", "auth0|first", err)
	}
	if got := d.calls(); got != 1 {
		t.Errorf("upstream calls = %d; want 1 (the cancelled caller's profile was cached)", got)
	}
}

func TestLoadBatchTimeout(t *testing.T) {
	fake := &fakeUsers{
		user: func(ctx context.Context, id string) (*auth0.User, error) {
			<-ctx.Done()
			return nil, fmt.Errorf("auth0: get user: %w", ctx.Err())
		},
	}
	l := New(Config{Timeout: 20 * time.Millisecond, Now: newClock().Now}, fake)
	// The caller's own ctx never ends: only the batch's timeout can.
	_, err := l.Load(context.Background(), "auth0|slow")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Load(%q) error = %v; want %v", "auth0|slow", err, context.DeadlineExceeded)
	}
}

func TestLoadCancelledBeforeStart(t *testing.T) {
	d := newDirectory(user("auth0|dave"))
	l := New(Config{Now: newClock().Now}, d.fake())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := l.Load(ctx, "auth0|dave"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load(cancelled ctx) error = %v; want %v", err, context.Canceled)
	}
	if got := d.calls(); got != 0 {
		t.Errorf("upstream calls = %d; want 0", got)
	}
}

func TestLoadEmptyID(t *testing.T) {
	d := newDirectory()
	l := New(Config{Now: newClock().Now}, d.fake())
	if _, err := l.Load(t.Context(), ""); err == nil {
		t.Errorf("Load(%q) error = nil; want an error", "")
	}
	if _, err := l.Reload(t.Context(), ""); err == nil {
		t.Errorf("Reload(%q) error = nil; want an error", "")
	}
	if got := d.calls(); got != 0 {
		t.Errorf("upstream calls = %d; want 0", got)
	}
}

func TestLoadCoalescesConcurrentMisses(t *testing.T) {
	d := newDirectory(user("auth0|erin", 3600))
	fake := d.fake()
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	get := fake.user
	fake.user = func(ctx context.Context, id string) (*auth0.User, error) {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-release
		return get(ctx, id)
	}
	missed := make(chan struct{}, 50)
	l := New(Config{Now: newClock().Now, Observe: Observer{Cache: func(hit bool) {
		if !hit {
			missed <- struct{}{}
		}
	}}}, fake)

	first := make(chan loadResult, 1)
	go func() {
		p, err := l.Load(t.Context(), "auth0|erin")
		first <- loadResult{p, err}
	}()
	// The first fetch's batch is already out; later misses of the same user
	// must join it rather than start another batch.
	within(t, entered, "first fetch")
	rest := make(chan []loadResult, 1)
	go func() { rest <- loadAll(t.Context(), l, slices.Repeat([]string{"auth0|erin"}, 49)...) }()
	for range 50 { // every caller missed the cache and waits for the fetch
		within(t, missed, "cache miss")
	}
	close(release)
	res := append(within(t, rest, "49 Loads"), within(t, first, "first Load"))

	for _, r := range res {
		if r.err != nil || r.p != res[0].p {
			t.Fatalf("Load(%q) = %p, %v; want the shared %p, nil", "auth0|erin", r.p, r.err, res[0].p)
		}
	}
	if got := d.calls(); got != 1 {
		t.Errorf("upstream calls for 50 concurrent Loads of one user = %d; want 1", got)
	}
}

func TestBatch(t *testing.T) {
	tests := []struct {
		name      string
		keys      []string
		unindexed []string // in the directory, missing from search
		missing   []string // not in the directory at all
		searchErr error
		// want
		searched     [][]string
		byID         int64
		fromSearch   []bool
		wantNotFound []bool
		failAll      bool // every key fails with searchErr
	}{
		{
			name:       "one key reads by id",
			keys:       []string{"a"},
			searched:   nil,
			byID:       1,
			fromSearch: []bool{false},
		},
		{
			name:       "several keys search",
			keys:       []string{"a", "b", "c"},
			searched:   [][]string{{"a", "b", "c"}},
			byID:       0,
			fromSearch: []bool{true, true, true},
		},
		{
			name:       "duplicate keys coalesced, every position answered",
			keys:       []string{"a", "b", "a", "a"},
			searched:   [][]string{{"a", "b"}},
			byID:       0,
			fromSearch: []bool{true, true, true, true},
		},
		{
			name:       "duplicates of one key read by id once",
			keys:       []string{"a", "a", "a"},
			searched:   nil,
			byID:       1,
			fromSearch: []bool{false, false, false},
		},
		{
			name:       "search misses fall back to by id",
			keys:       []string{"a", "b", "c", "d"},
			unindexed:  []string{"b", "d"},
			searched:   [][]string{{"a", "b", "c", "d"}},
			byID:       2,
			fromSearch: []bool{true, false, true, false},
		},
		{
			name:       "search failure falls back to by id for all",
			keys:       []string{"a", "b", "c"},
			searchErr:  errors.New("auth0: search users: status 503"),
			searched:   [][]string{{"a", "b", "c"}},
			byID:       3,
			fromSearch: []bool{false, false, false},
		},
		{
			name:       "rate-limited search fails the batch without by-id reads",
			keys:       []string{"a", "b", "c"},
			searchErr:  &auth0.RateLimitError{Limit: 2},
			searched:   [][]string{{"a", "b", "c"}},
			byID:       0,
			fromSearch: []bool{false, false, false},
			failAll:    true,
		},
		{
			name:       "search out of time fails the batch without by-id reads",
			keys:       []string{"a", "b"},
			searchErr:  fmt.Errorf("identity: waiting for the search: %w", context.DeadlineExceeded),
			searched:   [][]string{{"a", "b"}},
			byID:       0,
			fromSearch: []bool{false, false},
			failAll:    true,
		},
		{
			name:         "not found for one key leaves the others",
			keys:         []string{"a", "gone", "c"},
			missing:      []string{"gone"},
			searched:     [][]string{{"a", "gone", "c"}},
			byID:         1,
			fromSearch:   []bool{true, false, true},
			wantNotFound: []bool{false, true, false},
		},
		{
			name:         "not found alone",
			keys:         []string{"gone"},
			missing:      []string{"gone"},
			byID:         1,
			fromSearch:   []bool{false},
			wantNotFound: []bool{true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDirectory()
			for _, k := range tt.keys {
				if !slices.Contains(tt.missing, k) {
					d.put(user(k, 3600))
				}
			}
			for _, k := range tt.unindexed {
				d.unindexed[k] = true
			}
			d.searchErr = tt.searchErr
			l := New(Config{Now: newClock().Now}, d.fake())

			// A cancelled ctx, as if the caller that opened the window left.
			ctx, cancel := context.WithCancel(t.Context())
			cancel()
			res := l.batch(ctx, tt.keys)

			if len(res) != len(tt.keys) {
				t.Fatalf("batch(%q) returned %d results; want %d", tt.keys, len(res), len(tt.keys))
			}
			for i, k := range tt.keys {
				r := res[i]
				if tt.failAll {
					if !errors.Is(r.Error, tt.searchErr) {
						t.Errorf("batch(%q)[%d] error = %v; want %v", tt.keys, i, r.Error, tt.searchErr)
					}
					continue
				}
				if tt.wantNotFound != nil && tt.wantNotFound[i] {
					if !errors.Is(r.Error, auth0.ErrNotFound) {
						t.Errorf("batch(%q)[%d] error = %v; want %v", tt.keys, i, r.Error, auth0.ErrNotFound)
					}
					continue
				}
				if r.Error != nil {
					t.Errorf("batch(%q)[%d] error = %v; want nil", tt.keys, i, r.Error)
					continue
				}
				if r.Data.User.UserID != k {
					t.Errorf("batch(%q)[%d].User.UserID = %q; want %q", tt.keys, i, r.Data.User.UserID, k)
				}
				if r.Data.FromSearch != tt.fromSearch[i] {
					t.Errorf("batch(%q)[%d].FromSearch = %v; want %v", tt.keys, i, r.Data.FromSearch, tt.fromSearch[i])
				}
			}
			if !slices.EqualFunc(d.searched, tt.searched, slices.Equal) {
				t.Errorf("search calls = %q; want %q", d.searched, tt.searched)
			}
			if got := d.byID.Load(); got != tt.byID {
				t.Errorf("by-id calls = %d; want %d", got, tt.byID)
			}
		})
	}
}

// In a synctest bubble: synctest.Wait returns once every goroutine the
// batch started is blocked, so the peak is exact, with no spinning.
func TestBatchBoundsByIDConcurrency(t *testing.T) {
	synctest.Test(t, testBatchBoundsByIDConcurrency)
}

func testBatchBoundsByIDConcurrency(t *testing.T) {
	var cur, peak atomic.Int64
	gate := make(chan struct{})
	fake := &fakeUsers{
		search: func(ctx context.Context, ids []string) ([]*auth0.User, error) {
			return nil, nil // the index knows nobody yet
		},
		user: func(ctx context.Context, id string) (*auth0.User, error) {
			n := cur.Add(1)
			defer cur.Add(-1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-gate
			return user(id), nil
		},
	}
	l := New(Config{Now: newClock().Now}, fake)
	done := make(chan struct{})
	go func() {
		l.batch(t.Context(), userIDs(30))
		close(done)
	}()
	synctest.Wait() // every by-id call allowed to start waits at the gate
	if got := cur.Load(); got != byIDConcurrency {
		t.Errorf("by-id calls waiting = %d; want %d", got, byIDConcurrency)
	}
	close(gate)
	within(t, done, "batch")
	if got := peak.Load(); got > byIDConcurrency {
		t.Errorf("concurrent by-id calls = %d; want at most %d", got, byIDConcurrency)
	}
}

func TestLoadThroughBatchMarksSearch(t *testing.T) {
	c := newClock()
	d := newDirectory(user("auth0|a", 3600), user("auth0|b", 3600))
	d.unindexed["auth0|b"] = true
	l := New(pairConfig(c), d.fake())

	res := loadAll(t.Context(), l, "auth0|a", "auth0|b")

	for i, want := range []bool{true, false} {
		if res[i].err != nil {
			t.Fatalf("Load #%d error = %v; want nil", i, res[i].err)
		}
		if res[i].p.FromSearch != want {
			t.Errorf("Load(%q).FromSearch = %v; want %v", res[i].p.User.UserID, res[i].p.FromSearch, want)
		}
	}
	if s, b := d.searches.Load(), d.byID.Load(); s != 1 || b != 1 {
		t.Errorf("search, by-id calls = %d, %d; want 1, 1", s, b)
	}
}

func TestCacheEvictsBeyondMaxEntries(t *testing.T) {
	ids := userIDs(4)
	d := newDirectory()
	for _, id := range ids {
		d.put(user(id, 3600))
	}
	l := New(Config{MaxEntries: 3, Now: newClock().Now}, d.fake())
	for _, id := range ids {
		if _, err := l.Load(t.Context(), id); err != nil {
			t.Fatalf("Load(%q) error = %v; want nil", id, err)
		}
	}
	// The three most recent are cached; the first was evicted.
	for _, id := range ids[1:] {
		if _, err := l.Load(t.Context(), id); err != nil {
			t.Fatalf("Load(%q) error = %v; want nil", id, err)
		}
	}
	if got := d.calls(); got != 4 {
		t.Errorf("upstream calls = %d; want 4 (last three cached)", got)
	}
	if _, err := l.Load(t.Context(), ids[0]); err != nil {
		t.Fatalf("Load(%q) error = %v; want nil", ids[0], err)
	}
	if got := d.calls(); got != 5 {
		t.Errorf("upstream calls = %d; want 5 (%q was evicted)", got, ids[0])
	}
}

func TestReload(t *testing.T) {
	c := newClock()
	d := newDirectory(user("auth0|a", 3600), user("auth0|b", 3600))
	l := New(pairConfig(c), d.fake())
	res := loadAll(t.Context(), l, "auth0|a", "auth0|b")
	if res[0].err != nil || !res[0].p.FromSearch {
		t.Fatalf("Load(%q) = %+v, %v; want a profile from search", "auth0|a", res[0].p, res[0].err)
	}

	// The provider rejected the search-sourced token; Auth0 has a newer one.
	fresh := user("auth0|a", 3600)
	fresh.Name = "fresh"
	d.put(fresh)
	c.Advance(time.Second)
	before := d.calls()

	p, err := l.Reload(t.Context(), "auth0|a")
	if err != nil {
		t.Fatalf("Reload(%q) error = %v; want nil", "auth0|a", err)
	}
	if p.User.Name != "fresh" || p.FromSearch || !p.FetchedAt.Equal(c.Now()) {
		t.Errorf("Reload(%q) = %+v; want the fresh profile by id, fetched now", "auth0|a", p)
	}
	if s, b := d.searches.Load(), d.byID.Load(); d.calls()-before != 1 || b != 1 || s != 1 {
		t.Errorf("after Reload: search, by-id calls = %d, %d; want 1, 1", s, b)
	}

	// The reloaded profile replaced the cache entry.
	got, err := l.Load(t.Context(), "auth0|a")
	if err != nil || got != p {
		t.Errorf("Load(%q) after Reload = %+v, %v; want the reloaded profile", "auth0|a", got, err)
	}
	if d.calls()-before != 1 {
		t.Errorf("Load after Reload made %d upstream calls; want 0", d.calls()-before-1)
	}
}

func TestReloadErrorDropsEntry(t *testing.T) {
	d := newDirectory(user("auth0|a", 3600))
	l := New(Config{Now: newClock().Now}, d.fake())
	if _, err := l.Load(t.Context(), "auth0|a"); err != nil {
		t.Fatalf("Load(%q) error = %v; want nil", "auth0|a", err)
	}
	d.mu.Lock()
	delete(d.users, "auth0|a")
	d.mu.Unlock()

	if _, err := l.Reload(t.Context(), "auth0|a"); !errors.Is(err, auth0.ErrNotFound) {
		t.Errorf("Reload(deleted user) error = %v; want %v", err, auth0.ErrNotFound)
	}
	if _, err := l.Load(t.Context(), "auth0|a"); !errors.Is(err, auth0.ErrNotFound) {
		t.Errorf("Load(deleted user) after Reload error = %v; want %v (not the stale entry)", err, auth0.ErrNotFound)
	}
}

func TestReloadWinsOverOlderFetch(t *testing.T) {
	c := newClock()
	d := newDirectory(user("auth0|a", 3600), user("auth0|b", 3600))
	fake := d.fake()
	entered := make(chan struct{})
	release := make(chan struct{})
	search := fake.search
	fake.search = func(ctx context.Context, ids []string) ([]*auth0.User, error) {
		close(entered)
		<-release
		return search(ctx, ids)
	}
	l := New(pairConfig(c), fake)

	loads := make(chan []loadResult, 1)
	go func() { loads <- loadAll(t.Context(), l, "auth0|a", "auth0|b") }()
	within(t, entered, "search")

	// While the search (started earlier) is out, a Reload reads by id.
	reloaded, err := l.Reload(t.Context(), "auth0|a")
	if err != nil {
		t.Fatalf("Reload(%q) error = %v; want nil", "auth0|a", err)
	}
	close(release)
	res := within(t, loads, "Loads")
	if res[0].err != nil || !res[0].p.FromSearch {
		t.Fatalf("Load(%q) = %+v, %v; want the search result", "auth0|a", res[0].p, res[0].err)
	}

	// The older search result did not overwrite the newer by-id one.
	got, err := l.Load(t.Context(), "auth0|a")
	if err != nil || got != reloaded {
		t.Errorf("Load(%q) = %+v, %v; want the reloaded %+v", "auth0|a", got, err, reloaded)
	}
}
