package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// refresherFunc is a providers.Refresher made of a function.
type refresherFunc func(ctx context.Context, rt secret.String) (providers.Token, error)

func (f refresherFunc) Refresh(ctx context.Context, rt secret.String) (providers.Token, error) {
	return f(ctx, rt)
}

// fixedNow is the fake clock's time: the store's expiries are relative
// to it.
var fixedNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// world is one test's upstream: the tokens the provider accepts, the
// refresh tokens the token endpoint accepts (and what each yields), the
// grant a re-read by id finds. It records every call.
type world struct {
	mu        sync.Mutex
	accepted  map[string]bool
	refreshes map[string]providers.Token // by refresh token; absent: invalid_grant
	refreshFn func(rt string) error      // optional failure before the lookup
	reread    *Grant                     // nil: the identity is unchanged
	sent      []string                   // access tokens the provider saw
	presented []string                   // refresh tokens the endpoint saw
	rereads   int
}

func (w *world) call(_ context.Context, tok secret.String) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sent = append(w.sent, tok.Reveal())
	if w.accepted[tok.Reveal()] {
		return nil
	}
	return &providers.Error{Kind: providers.ReauthRequired, Message: "rejected"}
}

func (w *world) refresher() providers.Refresher {
	return refresherFunc(func(_ context.Context, rt secret.String) (providers.Token, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.presented = append(w.presented, rt.Reveal())
		if w.refreshFn != nil {
			if err := w.refreshFn(rt.Reveal()); err != nil {
				return providers.Token{}, err
			}
		}
		tok, ok := w.refreshes[rt.Reveal()]
		if !ok {
			return providers.Token{}, &providers.Error{Kind: providers.ReauthRequired, Message: "invalid_grant"}
		}
		delete(w.refreshes, rt.Reveal()) // each refresh token works once
		w.accepted[tok.AccessToken.Reveal()] = true
		return tok, nil
	})
}

func (w *world) rereader() func(context.Context) (Grant, bool, error) {
	return func(context.Context) (Grant, bool, error) {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.rereads++
		if w.reread == nil {
			return Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")}, true, nil
		}
		return *w.reread, true, nil
	}
}

func tok(at, rt string, exp time.Duration) providers.Token {
	t := providers.Token{AccessToken: secret.New(at), RefreshToken: secret.New(rt)}
	if exp != 0 {
		t.Expiry = fixedNow.Add(exp)
	}
	return t
}

func TestBrokerDo(t *testing.T) {
	t.Parallel()
	const key = "auth0|ada\x00gitlab\x00oauth2|gitlab|1"
	tests := []struct {
		name         string
		kept         *Pair // in the store before the call
		fromSearch   bool
		noRefresher  bool
		noRefreshTok bool
		setup        func(w *world)
		wantKind     providers.Kind // checked when wantErr
		wantErr      bool
		wantSent     []string // access tokens the provider saw, in order
		wantPresent  []string // refresh tokens the endpoint saw
		wantRereads  int
		wantKept     *Pair // nil: nothing kept after the call
		wantSpent    []string
	}{
		{
			name:     "Auth0's token works",
			setup:    func(w *world) { w.accepted["at-auth0"] = true },
			wantSent: []string{"at-auth0"},
		},
		{
			name:     "kept token valid",
			kept:     &Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept"), Expiry: fixedNow.Add(time.Hour)},
			setup:    func(w *world) { w.accepted["at-kept"] = true },
			wantSent: []string{"at-kept"},
			wantKept: &Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept")},
		},
		{
			name: "kept token near expiry is refreshed before use",
			kept: &Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept"), Expiry: fixedNow.Add(10 * time.Second)},
			setup: func(w *world) {
				w.accepted["at-kept"] = true // would still work: it must not be sent
				w.refreshes["rt-kept"] = tok("at-new", "rt-new", 2*time.Hour)
			},
			wantSent:    []string{"at-new"},
			wantPresent: []string{"rt-kept"},
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-new")},
			wantSpent:   []string{"rt-kept"},
		},
		{
			name:       "rejected search token: re-read finds a newer one that works",
			fromSearch: true,
			setup: func(w *world) {
				w.reread = &Grant{AccessToken: secret.New("at-resigned"), RefreshToken: secret.New("rt-resigned")}
				w.accepted["at-resigned"] = true
				w.refreshes["rt-auth0"] = tok("at-new", "", time.Hour)
			},
			wantSent:    []string{"at-auth0", "at-resigned"},
			wantRereads: 1,
		},
		{
			name:        "refresh, not rotated",
			setup:       func(w *world) { w.refreshes["rt-auth0"] = tok("at-new", "", time.Hour) },
			wantSent:    []string{"at-auth0", "at-new"},
			wantPresent: []string{"rt-auth0"},
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-auth0")},
		},
		{
			name:        "refresh rotated: the old refresh token is spent",
			setup:       func(w *world) { w.refreshes["rt-auth0"] = tok("at-new", "rt-new", time.Hour) },
			wantSent:    []string{"at-auth0", "at-new"},
			wantPresent: []string{"rt-auth0"},
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-new")},
			wantSpent:   []string{"rt-auth0"},
		},
		{
			name:        "refresh answers the same refresh token: not rotated",
			setup:       func(w *world) { w.refreshes["rt-auth0"] = tok("at-new", "rt-auth0", time.Hour) },
			wantSent:    []string{"at-auth0", "at-new"},
			wantPresent: []string{"rt-auth0"},
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-auth0")},
		},
		{
			name:        "kept refresh token wins over Auth0's",
			kept:        &Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept"), Expiry: fixedNow.Add(time.Hour)},
			setup:       func(w *world) { w.refreshes["rt-kept"] = tok("at-new", "rt-new", time.Hour) },
			wantSent:    []string{"at-kept", "at-new"},
			wantPresent: []string{"rt-kept"},
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-new")},
			wantSpent:   []string{"rt-kept"},
		},
		{
			name:        "invalid_grant: reauth, refresh token spent, last re-read",
			wantErr:     true,
			wantKind:    providers.ReauthRequired,
			wantSent:    []string{"at-auth0"},
			wantPresent: []string{"rt-auth0"},
			wantRereads: 1,
			wantSpent:   []string{"rt-auth0"},
		},
		{
			name:     "invalid_grant drops the kept pair",
			kept:     &Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept"), Expiry: fixedNow.Add(time.Hour)},
			wantErr:  true,
			wantKind: providers.ReauthRequired,
			// Auth0's refresh token is not tried after the kept one died:
			// one exchange per call.
			wantSent:    []string{"at-kept"},
			wantPresent: []string{"rt-kept"},
			wantRereads: 1,
			wantSpent:   []string{"rt-kept"},
		},
		{
			name: "last re-read finds a new sign-in",
			setup: func(w *world) {
				w.reread = &Grant{AccessToken: secret.New("at-resigned"), RefreshToken: secret.New("rt-resigned")}
				w.accepted["at-resigned"] = true
			},
			wantSent:    []string{"at-auth0", "at-resigned"},
			wantPresent: []string{"rt-auth0"},
			wantRereads: 1,
			wantSpent:   []string{"rt-auth0"},
		},
		{
			name: "new sign-in's token rejected too: its own refresh token is refreshed",
			setup: func(w *world) {
				w.reread = &Grant{AccessToken: secret.New("at-resigned"), RefreshToken: secret.New("rt-resigned")}
				w.refreshes["rt-resigned"] = tok("at-new", "", time.Hour)
			},
			wantSent:    []string{"at-auth0", "at-resigned", "at-new"},
			wantPresent: []string{"rt-auth0", "rt-resigned"},
			wantRereads: 1,
			wantKept:    &Pair{AccessToken: secret.New("at-new"), RefreshToken: secret.New("rt-resigned")},
			wantSpent:   []string{"rt-auth0"},
		},
		{
			name:         "no refresh token: reauth without an exchange",
			noRefreshTok: true,
			wantErr:      true,
			wantKind:     providers.ReauthRequired,
			wantSent:     []string{"at-auth0"},
			wantRereads:  1,
		},
		{
			name:        "no refresher: the provider's rejection after the last re-read",
			noRefresher: true,
			wantErr:     true,
			wantKind:    providers.ReauthRequired,
			wantSent:    []string{"at-auth0"},
			wantRereads: 1,
		},
		{
			name: "token endpoint unavailable: passed through, nothing spent",
			setup: func(w *world) {
				w.refreshFn = func(string) error { return &providers.Error{Kind: providers.Unavailable, Message: "down"} }
			},
			wantErr:     true,
			wantKind:    providers.Unavailable,
			wantSent:    []string{"at-auth0"},
			wantPresent: []string{"rt-auth0"},
		},
		{
			name:        "answer without an access token is unavailable",
			setup:       func(w *world) { w.refreshes["rt-auth0"] = providers.Token{RefreshToken: secret.New("rt-new")} },
			wantErr:     true,
			wantKind:    providers.Unavailable,
			wantSent:    []string{"at-auth0"},
			wantPresent: []string{"rt-auth0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := &world{accepted: map[string]bool{}, refreshes: map[string]providers.Token{}}
			if tc.setup != nil {
				tc.setup(w)
			}
			store := NewMemoryStore(10)
			if tc.kept != nil {
				if ok, _ := store.CompareAndSwap(context.Background(), key, Pair{}, false, *tc.kept); !ok {
					t.Fatal("seeding the store failed")
				}
			}
			b := New(Config{Store: store, Now: func() time.Time { return fixedNow }})
			req := Request{
				UserID: "auth0|ada", Connection: "gitlab", IdentityID: "oauth2|gitlab|1", Provider: "oauth2",
				Grant:      Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")},
				FromSearch: tc.fromSearch,
				Reread:     w.rereader(),
				Refresher:  w.refresher(),
			}
			if tc.noRefresher {
				req.Refresher = nil
			}
			if tc.noRefreshTok {
				req.Grant.RefreshToken = secret.String{}
			}
			err := b.Do(context.Background(), req, w.call)
			if tc.wantErr {
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Kind != tc.wantKind || pe.Provider != "oauth2" {
					t.Errorf("Do() = %v; want a %v *providers.Error naming oauth2", err, tc.wantKind)
				}
			} else if err != nil {
				t.Errorf("Do() = %v; want nil", err)
			}
			if fmt.Sprint(w.sent) != fmt.Sprint(tc.wantSent) {
				t.Errorf("access tokens sent = %v; want %v", w.sent, tc.wantSent)
			}
			if fmt.Sprint(w.presented) != fmt.Sprint(tc.wantPresent) {
				t.Errorf("refresh tokens presented = %v; want %v", w.presented, tc.wantPresent)
			}
			if w.rereads != tc.wantRereads {
				t.Errorf("re-reads by id = %d; want %d", w.rereads, tc.wantRereads)
			}
			got, ok, _ := store.Get(context.Background(), key)
			switch {
			case tc.wantKept == nil && ok:
				t.Error("a pair is kept after Do; want none")
			case tc.wantKept != nil && (!ok || !got.same(*tc.wantKept)):
				accessOK, refreshOK := got.AccessToken.Equal(tc.wantKept.AccessToken), got.RefreshToken.Equal(tc.wantKept.RefreshToken)
				t.Errorf("kept pair after Do: present %v, access half as wanted %v, refresh half as wanted %v; want both as in the case", ok, accessOK, refreshOK)
			}
			for _, rt := range []string{"rt-auth0", "rt-kept", "rt-new", "rt-resigned"} {
				spent, _ := store.IsSpent(context.Background(), FingerprintOf(secret.New(rt)))
				want := false
				for _, s := range tc.wantSpent {
					want = want || s == rt
				}
				if spent != want {
					t.Errorf("IsSpent(%s) = %v; want %v", rt, spent, want)
				}
			}
		})
	}
}

// TestBrokerNeverResendsSpentRefreshToken: after invalid_grant, a later
// call with the same (Auth0-held) refresh token answers ReauthRequired
// without presenting it again.
func TestBrokerNeverResendsSpentRefreshToken(t *testing.T) {
	t.Parallel()
	w := &world{accepted: map[string]bool{}, refreshes: map[string]providers.Token{}}
	b := New(Config{Now: func() time.Time { return fixedNow }})
	req := Request{UserID: "u", Connection: "c", IdentityID: "p|1", Provider: "p",
		Grant: Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")}, Refresher: w.refresher()}
	for i := range 3 {
		err := b.Do(context.Background(), req, w.call)
		if k, _ := providers.KindOf(err); err == nil || k != providers.ReauthRequired {
			t.Fatalf("Do() #%d = %v; want ReauthRequired", i, err)
		}
	}
	if len(w.presented) != 1 {
		t.Errorf("refresh tokens presented over 3 calls = %v; want the dead one once", w.presented)
	}
}

// TestBrokerRotationChain: each refresh presents the refresh token the
// previous one returned, never Auth0's stale copy again.
func TestBrokerRotationChain(t *testing.T) {
	t.Parallel()
	var now atomic.Int64
	now.Store(fixedNow.Unix())
	clock := func() time.Time { return time.Unix(now.Load(), 0) }
	w := &world{accepted: map[string]bool{}, refreshes: map[string]providers.Token{}}
	for i := range 3 {
		prev := "rt-auth0"
		if i > 0 {
			prev = fmt.Sprintf("rt-%d", i)
		}
		w.refreshes[prev] = providers.Token{AccessToken: secret.New(fmt.Sprintf("at-%d", i+1)), RefreshToken: secret.New(fmt.Sprintf("rt-%d", i+1)), Expiry: fixedNow.Add(time.Duration(i+1) * 2 * time.Hour)}
	}
	b := New(Config{Now: clock})
	req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "oauth2",
		Grant: Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")}, Refresher: w.refresher()}
	for i := range 3 {
		if err := b.Do(context.Background(), req, w.call); err != nil {
			t.Fatalf("round %d: Do() = %v; want nil", i, err)
		}
		now.Add(int64((2 * time.Hour).Seconds())) // the new token expires
	}
	want := "[rt-auth0 rt-1 rt-2]"
	if got := fmt.Sprint(w.presented); got != want {
		t.Errorf("refresh tokens presented = %s; want %s", got, want)
	}
}

// TestBrokerConcurrentCallersShareOneRefresh: 40 callers meet the same
// rejected token; one exchange serves them all.
func TestBrokerConcurrentCallersShareOneRefresh(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var exchanges atomic.Int32
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			exchanges.Add(1)
			<-release
			return tok("at-new", "rt-new", time.Hour), nil
		})
		b := New(Config{Now: time.Now})
		req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "oauth2",
			Grant: Grant{AccessToken: secret.New("at-old"), RefreshToken: secret.New("rt-old")}, Refresher: r}
		call := func(_ context.Context, tok secret.String) error {
			if tok.Reveal() == "at-new" {
				return nil
			}
			return &providers.Error{Kind: providers.ReauthRequired}
		}
		const n = 40
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { errs[i] = b.Do(context.Background(), req, call) })
		}
		synctest.Wait() // every caller waits for the one exchange
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Do() #%d = %v; want nil", i, err)
			}
		}
		if got := exchanges.Load(); got != 1 {
			t.Errorf("exchanges for %d concurrent callers = %d; want 1", n, got)
		}
	})
}

// TestBrokerCallerCancelsWhileRefreshFinishes: the caller hangs up during
// the exchange; the exchange completes and keeps the rotated pair, which
// the next caller uses without another exchange.
func TestBrokerCallerCancelsWhileRefreshFinishes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var exchanges atomic.Int32
		var exchangeCtxErr error
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			exchanges.Add(1)
			<-release
			exchangeCtxErr = ctx.Err()
			return tok("at-new", "rt-new", time.Hour), nil
		})
		store := NewMemoryStore(10)
		b := New(Config{Store: store, Now: time.Now})
		req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "oauth2",
			Grant: Grant{AccessToken: secret.New("at-old"), RefreshToken: secret.New("rt-old")}, Refresher: r}
		var sent []string
		call := func(_ context.Context, tok secret.String) error {
			sent = append(sent, tok.Reveal())
			if tok.Reveal() == "at-new" {
				return nil
			}
			return &providers.Error{Kind: providers.ReauthRequired}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- b.Do(ctx, req, call) }()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled Do() = %v; want context.Canceled", err)
		}
		close(release)
		synctest.Wait()
		if exchangeCtxErr != nil {
			t.Errorf("exchange context error = %v; want nil (detached from the caller)", exchangeCtxErr)
		}
		if err := b.Do(context.Background(), req, call); err != nil {
			t.Fatalf("next Do() = %v; want nil", err)
		}
		if got := exchanges.Load(); got != 1 {
			t.Errorf("exchanges = %d; want 1", got)
		}
		if got := fmt.Sprint(sent); got != "[at-old at-new]" {
			t.Errorf("access tokens sent = %s; want [at-old at-new] (the next caller uses the kept token)", got)
		}
		spent, _ := store.IsSpent(context.Background(), FingerprintOf(secret.New("rt-old")))
		if !spent {
			t.Error("rotated-away refresh token not marked spent")
		}
	})
}

// TestBrokerRefreshTimeout: a hanging token endpoint is cut off by
// Config.Timeout, not by the (patient) caller.
func TestBrokerRefreshTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			<-ctx.Done()
			return providers.Token{}, &providers.Error{Kind: providers.Unavailable, Err: ctx.Err()}
		})
		b := New(Config{Timeout: 5 * time.Second})
		req := Request{UserID: "u", Connection: "c", IdentityID: "p|1", Provider: "p",
			Grant: Grant{AccessToken: secret.New("at"), RefreshToken: secret.New("rt")}, Refresher: r}
		start := time.Now()
		err := b.Do(context.Background(), req, func(context.Context, secret.String) error {
			return &providers.Error{Kind: providers.ReauthRequired}
		})
		if k, _ := providers.KindOf(err); err == nil || k != providers.Unavailable {
			t.Errorf("Do() = %v; want Unavailable", err)
		}
		if d := time.Since(start); d != 5*time.Second {
			t.Errorf("Do() took %v; want the 5s Timeout", d)
		}
	})
}

// TestBrokerKeysRefreshIndependently: two identities refresh at the same
// time; neither waits for the other's exchange.
func TestBrokerKeysRefreshIndependently(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, most atomic.Int32
		gate := make(chan struct{})
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			n := inFlight.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
			<-gate
			inFlight.Add(-1)
			return tok("at-"+rt.Reveal(), "", time.Hour), nil
		})
		b := New(Config{})
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b"} {
			wg.Go(func() {
				req := Request{UserID: "u", Connection: "c", IdentityID: id, Provider: "p",
					Grant: Grant{AccessToken: secret.New("old"), RefreshToken: secret.New(id)}, Refresher: r}
				_ = b.Do(context.Background(), req, func(_ context.Context, tok secret.String) error {
					if tok.Reveal() == "at-"+id {
						return nil
					}
					return &providers.Error{Kind: providers.ReauthRequired}
				})
			})
		}
		synctest.Wait()
		close(gate)
		wg.Wait()
		if got := most.Load(); got != 2 {
			t.Errorf("exchanges in flight at once = %d; want 2", got)
		}
	})
}

// TestMemoryStoreLeaseExcludes: a second holder waits for the first's
// release, and a waiter whose context ends gives up.
func TestMemoryStoreLeaseExcludes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := NewMemoryStore(1)
		rel, err := s.Lease(context.Background(), "k", time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got := make(chan struct{})
		go func() {
			r2, err := s.Lease(context.Background(), "k", time.Second)
			if err == nil {
				r2()
			}
			close(got)
		}()
		synctest.Wait()
		select {
		case <-got:
			t.Fatal("second Lease acquired while the first was held")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := s.Lease(ctx, "k", time.Second); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Lease with an expiring context = %v; want DeadlineExceeded", err)
		}
		rel()
		<-got
		if n := len(s.leases); n != 0 {
			t.Errorf("lease entries after all released = %d; want 0", n)
		}
	})
}

// lostRaceStore is a MemoryStore whose kept pair vanishes between the
// broker's read and its first compare-and-swap, as an LRU eviction would
// do; getErr makes every Get fail instead.
type lostRaceStore struct {
	*MemoryStore
	evictOnce atomic.Bool
	getErr    error
}

func (s *lostRaceStore) Get(ctx context.Context, key string) (Pair, bool, error) {
	if s.getErr != nil {
		return Pair{}, false, s.getErr
	}
	return s.MemoryStore.Get(ctx, key)
}

func (s *lostRaceStore) CompareAndSwap(ctx context.Context, key string, old Pair, hadOld bool, next Pair) (bool, error) {
	if s.evictOnce.CompareAndSwap(true, false) {
		s.MemoryStore.pairs.Remove(key)
	}
	return s.MemoryStore.CompareAndSwap(ctx, key, old, hadOld, next)
}

// TestBrokerStoreTrouble: a kept pair evicted during the exchange does not
// lose the rotated refresh token; a store that cannot be read falls back
// to Auth0's tokens.
func TestBrokerStoreTrouble(t *testing.T) {
	t.Parallel()
	t.Run("evicted during the exchange", func(t *testing.T) {
		t.Parallel()
		store := &lostRaceStore{MemoryStore: NewMemoryStore(10)}
		key := Key("u", "gitlab", "oauth2|1")
		_, _ = store.MemoryStore.CompareAndSwap(context.Background(), key, Pair{}, false, Pair{AccessToken: secret.New("at-kept"), RefreshToken: secret.New("rt-kept")})
		store.evictOnce.Store(true)
		w := &world{accepted: map[string]bool{}, refreshes: map[string]providers.Token{"rt-kept": tok("at-new", "rt-new", time.Hour)}}
		b := New(Config{Store: store, Now: func() time.Time { return fixedNow }})
		req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "oauth2",
			Grant: Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")}, Refresher: w.refresher()}
		if err := b.Do(context.Background(), req, w.call); err != nil {
			t.Fatalf("Do() = %v; want nil", err)
		}
		got, ok, _ := store.Get(context.Background(), key)
		rotated := got.RefreshToken.Reveal() == "rt-new" // compared here; only the outcome is printed
		if !ok || !rotated {
			t.Errorf("kept pair present %v, holds the rotated one %v; want the rotated rt-new", ok, rotated)
		}
	})
	t.Run("unreadable store", func(t *testing.T) {
		t.Parallel()
		store := &lostRaceStore{MemoryStore: NewMemoryStore(10), getErr: errors.New("store down")}
		w := &world{accepted: map[string]bool{"at-auth0": true}, refreshes: map[string]providers.Token{}}
		b := New(Config{Store: store})
		req := Request{UserID: "u", Connection: "c", IdentityID: "p|1", Provider: "p",
			Grant: Grant{AccessToken: secret.New("at-auth0"), RefreshToken: secret.New("rt-auth0")}, Refresher: w.refresher()}
		if err := b.Do(context.Background(), req, w.call); err != nil || fmt.Sprint(w.sent) != "[at-auth0]" {
			t.Errorf("Do() = %v, sent %v; want nil, [at-auth0]", err, w.sent)
		}
	})
}

// TestBrokersSharingAStoreRefreshOnce: two Brokers (two replicas) over one
// Store meet the same rejected token; the lease lets one exchange run, and
// the other, after acquiring the lease, finds the new pair and uses it.
func TestBrokersSharingAStoreRefreshOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		var exchanges atomic.Int32
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			exchanges.Add(1)
			<-release
			return tok("at-new", "rt-new", time.Hour), nil
		})
		store := NewMemoryStore(10)
		replicas := []*Broker{New(Config{Store: store}), New(Config{Store: store})}
		req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "oauth2",
			Grant: Grant{AccessToken: secret.New("at-old"), RefreshToken: secret.New("rt-old")}, Refresher: r}
		call := func(_ context.Context, tok secret.String) error {
			if tok.Reveal() == "at-new" {
				return nil
			}
			return &providers.Error{Kind: providers.ReauthRequired}
		}
		errs := make([]error, len(replicas))
		var wg sync.WaitGroup
		for i, b := range replicas {
			wg.Go(func() { errs[i] = b.Do(context.Background(), req, call) })
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("replica %d Do() = %v; want nil", i, err)
			}
		}
		if got := exchanges.Load(); got != 1 {
			t.Errorf("exchanges across two replicas = %d; want 1", got)
		}
	})
}
