package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/secret"
)

// newTenantClient serves a tenant emulator on the clock c and returns it with
// a Management API client of it.
func newTenantClient(t *testing.T, c func() time.Time) (*fakeauth0.Tenant, *auth0.Client) {
	t.Helper()
	tenant := &fakeauth0.Tenant{Now: c}
	srv := httptest.NewServer(tenant)
	t.Cleanup(srv.Close)
	tenant.SetBaseURL(srv.URL)
	clientID, clientSecret := tenant.Credentials()
	client, err := auth0.New(auth0.Config{BaseURL: srv.URL, ClientID: clientID, ClientSecret: secret.New(clientSecret), HTTPClient: srv.Client(), Now: c})
	if err != nil {
		t.Fatalf("auth0.New() error = %v; want nil", err)
	}
	return tenant, client
}

// TestReloadBudget reproduces issue 10.3's first half: a user whose provider
// token is dead makes the resolvers Reload on every request. Each step below
// is a request of that user; byID is the Management API by-id reads the
// tenant has seen after it.
func TestReloadBudget(t *testing.T) {
	c := newClock()
	tenant, client := newTenantClient(t, c.Now)
	id := addGitHubUser(tenant, 4242, seedPrefix+"DEAD")
	// A cached profile lives maxTTL: a Load after that reads the tokens
	// Auth0 holds now, as a request does once the profile expired.
	const maxTTL = 20 * time.Second
	l := New(Config{Now: c.Now, MaxTTL: maxTTL}, client)
	if _, err := l.Load(t.Context(), id); err != nil {
		t.Fatalf("Load() error = %v; want nil", err)
	}
	load := func() {
		c.Advance(maxTTL + time.Second)
		if _, err := l.Load(t.Context(), id); err != nil {
			t.Fatalf("Load() error = %v; want nil", err)
		}
	}
	reconsent := func(tok string) func() {
		return func() {
			tenant.UpdateIdentity(id, "github", func(i *fakeauth0.Identity) { i.AccessToken = tok })
			load()
		}
	}
	steps := []struct {
		name    string
		before  func()
		reloads int
		calls   int // by-id reads the tenant sees during the reloads
		token   string
	}{
		{"first rejection re-reads once", nil, 1, 1, "DEAD"},
		{"the same dead token again: no call", nil, 20, 0, "DEAD"},
		{"after the per-user interval, same token: still no call", func() { c.Advance(31 * time.Second) }, 5, 0, "DEAD"},
		{"re-consent: the profile has a new token, one call", reconsent(seedPrefix + "NEW"), 3, 1, "NEW"},
		{"another new token within the per-user interval: no call", func() { c.Advance(5 * time.Second); reconsent(seedPrefix + "NEWER")() }, 4, 0, "NEWER"},
		{"the per-user interval passed: one call", func() { c.Advance(10 * time.Second) }, 4, 1, "NEWER"},
		{"the re-consent memory expired: one call", func() { c.Advance(5*time.Minute + time.Second) }, 3, 1, "NEWER"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		before := tenant.Calls().UserByID
		for range st.reloads {
			p, err := l.Reload(t.Context(), id)
			if err != nil {
				t.Fatalf("%s: Reload() error = %v; want nil", st.name, err)
			}
			if got, want := p.User.Identities[0].AccessToken.Reveal(), seedPrefix+st.token; got != want {
				t.Errorf("%s: Reload() token = %q; want %q", st.name, got, want)
			}
		}
		if got := tenant.Calls().UserByID - before; got != st.calls {
			t.Errorf("%s: %d Reloads made %d by-id reads; want %d", st.name, st.reloads, got, st.calls)
		}
	}
}

// countingUsers records the calls a Scheduler makes, in order, and holds
// each until release is closed (nil: not held).
type countingUsers struct {
	mu    sync.Mutex
	calls []string
	users map[string]*auth0.User
}

func (f *countingUsers) User(ctx context.Context, id string) (*auth0.User, error) {
	f.mu.Lock()
	f.calls = append(f.calls, "byid:"+id)
	u := f.users[id]
	f.mu.Unlock()
	if u == nil {
		return nil, fmt.Errorf("no user %q: %w", id, auth0.ErrNotFound)
	}
	return u, nil
}

func (f *countingUsers) SearchUsers(ctx context.Context, ids []string) ([]*auth0.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("search:%d", len(ids)))
	var out []*auth0.User
	for _, id := range ids {
		if u := f.users[id]; u != nil {
			out = append(out, u)
		}
	}
	return out, nil
}

func (f *countingUsers) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

// TestSchedulerOrder: while a token is awaited, cold searches from several
// batches merge into one call of at most MaxSearch users, cold loads go
// before re-reads, and re-reads take turns per user.
func TestSchedulerOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &countingUsers{users: map[string]*auth0.User{}}
		for i := range 120 {
			id := fmt.Sprintf("u%03d", i)
			f.users[id] = &auth0.User{UserID: id}
		}
		s := NewScheduler(SchedulerConfig{RPS: 2, Burst: 1, MaxSearch: 50}, f)
		// Spend the one token so that everything below queues.
		if _, err := s.User(t.Context(), "u000"); err != nil {
			t.Fatalf("User() error = %v", err)
		}
		var wg sync.WaitGroup
		reread := asReread(t.Context())
		// One hostile user queues 5 re-reads, two others one each.
		for range 5 {
			wg.Go(func() { s.User(reread, "u001") })
			synctest.Wait()
		}
		wg.Go(func() { s.User(reread, "u002") })
		synctest.Wait()
		wg.Go(func() { s.User(reread, "u003") })
		synctest.Wait()
		// Then 12 cold batches of 10 users each (fragmented batches).
		for b := range 12 {
			ids := make([]string, 10)
			for i := range ids {
				ids[i] = fmt.Sprintf("u%03d", b*10+i)
			}
			wg.Go(func() {
				found, err := s.SearchUsers(t.Context(), ids)
				if err != nil || len(found) != 10 {
					t.Errorf("SearchUsers(batch %d) = %d users, %v; want 10, nil", b, len(found), err)
				}
			})
		}
		synctest.Wait()
		wg.Wait()
		want := []string{"byid:u000", "search:50", "search:50", "search:20", "byid:u001", "byid:u002", "byid:u003", "byid:u001", "byid:u001", "byid:u001", "byid:u001"}
		got := f.log()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("calls = %v\nwant    %v", got, want)
		}
	})
}

// TestSchedulerAbandoned: a caller that gives up before its turn costs no
// call.
func TestSchedulerAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &countingUsers{users: map[string]*auth0.User{"a": {UserID: "a"}, "b": {UserID: "b"}}}
		s := NewScheduler(SchedulerConfig{RPS: 1}, f)
		s.User(t.Context(), "a") // spends the token
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		if _, err := s.User(asReread(ctx), "b"); err == nil {
			t.Fatalf("User() error = nil; want the context's")
		}
		time.Sleep(2 * time.Second) // fake time: let the token come
		synctest.Wait()
		if got := f.log(); len(got) != 1 {
			t.Errorf("calls = %v; want only the first", got)
		}
	})
}

// TestSchedulerMergesSingles: users loaded alone are read by id when alone,
// and share one search when several queue while a token is awaited; one the
// search misses is then read by id.
func TestSchedulerMergesSingles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &countingUsers{users: map[string]*auth0.User{"a": {UserID: "a"}, "b": {UserID: "b"}, "c": {UserID: "c"}}}
		s := NewScheduler(SchedulerConfig{RPS: 1}, f)
		if _, err := s.User(mergeable(t.Context()), "a"); err != nil { // alone: by id
			t.Fatalf("User(a) error = %v", err)
		}
		var wg sync.WaitGroup
		for _, id := range []string{"b", "c", "new"} {
			wg.Go(func() {
				u, err := s.User(mergeable(t.Context()), id)
				if id == "new" { // unknown: the search misses it, by id says so
					if !errors.Is(err, auth0.ErrNotFound) {
						t.Errorf("User(new) error = %v; want ErrNotFound", err)
					}
					return
				}
				if err != nil || u.UserID != id {
					t.Errorf("User(%s) = %v, %v; want the user", id, u, err)
				}
			})
			synctest.Wait()
		}
		wg.Wait()
		want := []string{"byid:a", "search:3", "byid:new"}
		if got := f.log(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("calls = %v; want %v", got, want)
		}
	})
}

// bearerIssued is the test's stand-in for authn.IssuedAt: the caller's
// bearer token iat, carried in the context.
type bearerIssued struct{}

func issuedAt(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(bearerIssued{}).(time.Time)
	return t, ok
}

// TestReloadBudgetEndsForANewerBearer: a caller whose bearer token was
// issued after the one whose request made the last re-read (the user
// signed in again) ends both budgets at once; the old bearer, an older one
// and one issued within the same second never do.
func TestReloadBudgetEndsForANewerBearer(t *testing.T) {
	c := newClock()
	tenant, client := newTenantClient(t, c.Now)
	id := addGitHubUser(tenant, 4343, seedPrefix+"DEAD")
	l := New(Config{Now: c.Now, MaxTTL: time.Hour, IssuedAt: issuedAt}, client)
	if _, err := l.Load(t.Context(), id); err != nil {
		t.Fatalf("Load() error = %v; want nil", err)
	}
	signedIn := c.Now().Truncate(time.Second).Add(-time.Minute)
	steps := []struct {
		name   string
		before func()
		iat    time.Time // zero: no bearer in the context
		calls  int
		token  string
	}{
		{"first rejection re-reads once", nil, signedIn, 1, "DEAD"},
		{"the same bearer: no call", nil, signedIn, 0, "DEAD"},
		{"an older bearer: no call", nil, signedIn.Add(-time.Hour), 0, "DEAD"},
		{"no bearer known: no call", nil, time.Time{}, 0, "DEAD"},
		{"signed in again, still the old bearer: no call", func() {
			tenant.UpdateIdentity(id, "github", func(i *fakeauth0.Identity) { i.AccessToken = seedPrefix + "NEW" })
		}, signedIn, 0, "DEAD"},
		{"a bearer of the same second: no call", nil, signedIn.Add(999 * time.Millisecond), 0, "DEAD"},
		{"the new bearer: one call, the new token", nil, signedIn.Add(time.Minute), 1, "NEW"},
		{"the new bearer again: no call", nil, signedIn.Add(time.Minute), 0, "NEW"},
		{"the old bearer after it: no call, the new token", nil, signedIn, 0, "NEW"},
	}
	for _, st := range steps {
		if st.before != nil {
			st.before()
		}
		ctx := t.Context()
		if !st.iat.IsZero() {
			ctx = context.WithValue(ctx, bearerIssued{}, st.iat)
		}
		before := tenant.Calls().UserByID
		p, err := l.Reload(ctx, id)
		if err != nil {
			t.Fatalf("%s: Reload() error = %v; want nil", st.name, err)
		}
		if got, want := p.User.Identities[0].AccessToken.Reveal(), seedPrefix+st.token; got != want {
			t.Errorf("%s: Reload() token = %q; want %q", st.name, got, want)
		}
		if got := tenant.Calls().UserByID - before; got != st.calls {
			t.Errorf("%s: by-id reads = %d; want %d", st.name, got, st.calls)
		}
	}
}
