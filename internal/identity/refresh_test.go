package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakebitbucket"
	"github.com/idpgate/idpgate/internal/sandbox/fakegoogle"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/bitbucket"
	"github.com/idpgate/idpgate/providers/google"
)

// Tokens is tested against the Google and Bitbucket adapters talking to
// their emulators' token endpoints over HTTP, and with function-field
// refreshers where the test needs to hold an exchange or see what it was
// given.

// refreshSecret marks every credential these tests seed, so errors and
// logs can be searched for it.
const refreshSecret = "REFRESHTEST-SECRET"

const refreshKey = "auth0|ada\x00google-oauth2|1"

// refreshEnv is one provider emulator, the adapter pointed at it and the
// Tokens under test.
type refreshEnv struct {
	clock     *clock
	logs      *syncBuffer
	tokens    *Tokens
	refresher providers.Refresher
	// access and refresh are the tokens Auth0 holds for the identity.
	access, refresh secret.String
	// secrets are every credential seeded (tokens, client secret).
	secrets []string

	google    *fakegoogle.Server
	bitbucket *fakebitbucket.Server
}

func newTokensUnderTest(c *clock) (*Tokens, *syncBuffer) {
	logs := &syncBuffer{}
	return NewTokens(TokensConfig{Now: c.Now, Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}), logs
}

// newGoogleEnv serves a fakegoogle (which keeps the refresh token) whose
// answers take latency.
func newGoogleEnv(t *testing.T, latency time.Duration) *refreshEnv {
	t.Helper()
	c := newClock()
	at, rt, cs := refreshSecret+"-ya29-old", refreshSecret+"-google-rt", refreshSecret+"-google-client"
	fake := &fakegoogle.Server{ClientID: "refresh-test-client", ClientSecret: cs, Latency: latency}
	fake.AddUser(at, rt, nil)
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	client, err := google.New(google.Config{BaseURL: srv.URL + "/", TokenURL: srv.URL + "/token", ClientID: "refresh-test-client", ClientSecret: secret.New(cs), Now: c.Now}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tk, logs := newTokensUnderTest(c)
	return &refreshEnv{clock: c, logs: logs, tokens: tk, refresher: client, access: secret.New(at), refresh: secret.New(rt), secrets: []string{at, rt, cs}, google: fake}
}

// newBitbucketEnv serves a fakebitbucket, which rotates the refresh token
// on every use, whose answers take latency.
func newBitbucketEnv(t *testing.T, latency time.Duration) *refreshEnv {
	t.Helper()
	c := newClock()
	at, rt, cs := refreshSecret+"-bb-old", refreshSecret+"-bb-rt", refreshSecret+"-bb-client"
	fake := &fakebitbucket.Server{ClientID: "refresh-test-consumer", ClientSecret: cs, Latency: latency}
	fake.AddUser(at, rt, []fakebitbucket.Repo{{FullName: "ada/engine"}})
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	t.Cleanup(fake.Close)
	client, err := bitbucket.New(bitbucket.Config{BaseURL: srv.URL + "/", TokenURL: srv.URL + "/site/oauth2/access_token", ClientID: "refresh-test-consumer", ClientSecret: secret.New(cs), Now: c.Now}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	tk, logs := newTokensUnderTest(c)
	return &refreshEnv{clock: c, logs: logs, tokens: tk, refresher: client, access: secret.New(at), refresh: secret.New(rt), secrets: []string{at, rt, cs}, bitbucket: fake}
}

// exchanges is how many requests the emulator's token endpoint received.
func (e *refreshEnv) exchanges() int {
	if e.google != nil {
		return e.google.Refreshes()
	}
	return e.bitbucket.Refreshes()
}

// noSecret fails when err or the logs hold a seeded credential or one the
// provider issued.
func (e *refreshEnv) noSecret(t *testing.T, err error, issued ...providers.Token) {
	t.Helper()
	secrets := append([]string(nil), e.secrets...)
	for _, tok := range issued {
		secrets = append(secrets, tok.AccessToken.Reveal(), tok.RefreshToken.Reveal())
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if err != nil && (strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s)) {
			t.Errorf("error %q holds a credential", err)
		}
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("logs hold a credential: %s", e.logs.String())
		}
	}
}

func wantKind(t *testing.T, what string, err error, want providers.Kind) {
	t.Helper()
	if k, ok := providers.KindOf(err); !ok || k != want {
		t.Fatalf("%s error = %v; want a *providers.Error of kind %v", what, err, want)
	}
}

// eventually polls cond until it holds or a generous deadline passes; it
// waits for the emulator, it does not time the code under test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestTokensRefreshOnceForConcurrentCallers(t *testing.T) {
	// The exchange takes 100ms, so the callers pile up behind it.
	e := newGoogleEnv(t, 100*time.Millisecond)
	const n = 20
	toks := make([]providers.Token, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			toks[i], errs[i] = e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		}()
	}
	close(start)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Refresh() #%d error = %v; want nil", i, errs[i])
		}
		if toks[i].AccessToken.IsZero() || toks[i].AccessToken.Equal(e.access) || !toks[i].AccessToken.Equal(toks[0].AccessToken) {
			t.Errorf("Refresh() #%d returned a different or no new access token", i)
		}
	}
	if got := e.exchanges(); got != 1 {
		t.Errorf("token endpoint requests for %d concurrent Refresh calls = %d; want 1", n, got)
	}
	if got := e.tokens.Refreshes(); got != 1 {
		t.Errorf("Refreshes() = %d; want 1", got)
	}
	kept, ok := e.tokens.Current(refreshKey)
	if !ok || !kept.AccessToken.Equal(toks[0].AccessToken) || !kept.RefreshToken.Equal(e.refresh) {
		t.Errorf("Current() = (_, %v); want the new access token with Google's unrotated refresh token", ok)
	}
	if want := e.clock.Now().Add(fakegoogle.AccessTokenLifetime); !kept.Expiry.Equal(want) {
		t.Errorf("Current().Expiry = %v; want %v", kept.Expiry, want)
	}
	e.noSecret(t, nil, toks[0])
}

func TestTokensRotatedRefreshTokenIsUsedNext(t *testing.T) {
	e := newBitbucketEnv(t, 0)
	rejected := e.access
	var issued []providers.Token
	for round := 1; round <= 3; round++ {
		// The caller always passes what Auth0 holds; Tokens must send the
		// rotated one it kept instead.
		tok, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, rejected, e.refresh)
		if err != nil {
			t.Fatalf("round %d: Refresh() error = %v; want nil", round, err)
		}
		if tok.AccessToken.Equal(rejected) || tok.RefreshToken.IsZero() || tok.RefreshToken.Equal(e.refresh) {
			t.Fatalf("round %d: Refresh() did not return a new access token and a rotated refresh token", round)
		}
		for _, prev := range issued {
			if tok.RefreshToken.Equal(prev.RefreshToken) {
				t.Fatalf("round %d: refresh token did not rotate", round)
			}
		}
		issued = append(issued, tok)
		if got := e.bitbucket.Refreshes(); got != round {
			t.Errorf("round %d: token endpoint requests = %d; want %d", round, got, round)
		}
		if got := e.bitbucket.SpentRefreshTokenUses(); got != 0 {
			t.Fatalf("round %d: exchanges of a spent refresh token = %d; want 0", round, got)
		}
		if kept, ok := e.tokens.Current(refreshKey); !ok || !kept.RefreshToken.Equal(tok.RefreshToken) {
			t.Errorf("round %d: Current() does not hold the rotated refresh token", round)
		}
		rejected = tok.AccessToken
	}
	// The last access token is a real one.
	client := e.refresher.(*bitbucket.Client)
	page, err := client.ListRepos(context.Background(), rejected, providers.PageRequest{Size: 10})
	if err != nil || len(page.Items) != 1 {
		t.Errorf("ListRepos(refreshed token) = %d repos, %v; want 1, nil", len(page.Items), err)
	}
	e.noSecret(t, nil, issued...)
}

func TestTokensNeverResendSpentRefreshToken(t *testing.T) {
	t.Run("rotated away", func(t *testing.T) {
		e := newBitbucketEnv(t, 0)
		first, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		if err != nil {
			t.Fatal(err)
		}
		// The kept token is lost (evicted, or forgotten); Auth0 still holds
		// the refresh token Bitbucket rotated away.
		e.tokens.Forget(refreshKey)
		_, err = e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		wantKind(t, "Refresh(spent refresh token)", err, providers.ReauthRequired)
		if got := e.bitbucket.Refreshes(); got != 1 {
			t.Errorf("token endpoint requests = %d; want 1 (the spent token is not sent)", got)
		}
		if got := e.bitbucket.SpentRefreshTokenUses(); got != 0 {
			t.Errorf("exchanges of a spent refresh token = %d; want 0", got)
		}
		e.noSecret(t, err, first)
	})
	t.Run("refused by the provider", func(t *testing.T) {
		e := newBitbucketEnv(t, 0)
		e.bitbucket.Revoke(e.refresh.Reveal())
		for i := 1; i <= 2; i++ {
			_, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
			wantKind(t, fmt.Sprintf("Refresh() #%d", i), err, providers.ReauthRequired)
			e.noSecret(t, err)
		}
		if got := e.bitbucket.Refreshes(); got != 1 {
			t.Errorf("token endpoint requests = %d; want 1 (a refused refresh token is not sent again)", got)
		}
		if _, ok := e.tokens.Current(refreshKey); ok {
			t.Errorf("Current() = _, true; want nothing kept after invalid_grant")
		}
	})
}

func TestTokensCancelledCallerDoesNotAbortTheExchange(t *testing.T) {
	t.Run("another caller waits", func(t *testing.T) {
		e := newBitbucketEnv(t, 300*time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		errA := make(chan error, 1)
		go func() {
			_, err := e.tokens.Refresh(ctx, refreshKey, e.refresher, e.access, e.refresh)
			errA <- err
		}()
		eventually(t, "the exchange reaches the token endpoint", func() bool { return e.bitbucket.InFlight() == 1 })
		type result struct {
			tok providers.Token
			err error
		}
		resB := make(chan result, 1)
		go func() {
			tok, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
			resB <- result{tok, err}
		}()
		cancel()
		if err := <-errA; !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled caller: Refresh() error = %v; want context.Canceled", err)
		}
		b := <-resB
		if b.err != nil || b.tok.AccessToken.IsZero() {
			t.Fatalf("other caller: Refresh() error = %v; want the new token", b.err)
		}
		if got := e.bitbucket.Refreshes(); got != 1 {
			t.Errorf("token endpoint requests = %d; want 1", got)
		}
		if kept, ok := e.tokens.Current(refreshKey); !ok || !kept.RefreshToken.Equal(b.tok.RefreshToken) {
			t.Errorf("Current() does not hold the rotated refresh token")
		}
		e.noSecret(t, nil, b.tok)
	})
	t.Run("alone", func(t *testing.T) {
		e := newBitbucketEnv(t, 300*time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		errA := make(chan error, 1)
		go func() {
			_, err := e.tokens.Refresh(ctx, refreshKey, e.refresher, e.access, e.refresh)
			errA <- err
		}()
		eventually(t, "the exchange reaches the token endpoint", func() bool { return e.bitbucket.InFlight() == 1 })
		cancel()
		if err := <-errA; !errors.Is(err, context.Canceled) {
			t.Errorf("Refresh() error = %v; want context.Canceled", err)
		}
		// The exchange finishes without its caller and its rotated refresh
		// token is kept: Bitbucket has already spent the old one.
		eventually(t, "the abandoned exchange is kept", func() bool { _, ok := e.tokens.Current(refreshKey); return ok })
		tok, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		if err != nil {
			t.Fatalf("next Refresh() error = %v; want the kept token", err)
		}
		if got := e.bitbucket.Refreshes(); got != 1 {
			t.Errorf("token endpoint requests = %d; want 1 (the next caller gets the kept token)", got)
		}
		if got := e.bitbucket.SpentRefreshTokenUses(); got != 0 {
			t.Errorf("exchanges of a spent refresh token = %d; want 0", got)
		}
		e.noSecret(t, nil, tok)
	})
	t.Run("the exchange has its own deadline", func(t *testing.T) {
		c := newClock()
		tk := NewTokens(TokensConfig{Now: c.Now, Timeout: 50 * time.Millisecond})
		var sawDeadline atomic.Bool
		r := refresherFunc(func(ctx context.Context, _ secret.String) (providers.Token, error) {
			dl, ok := ctx.Deadline()
			sawDeadline.Store(ok && time.Until(dl) <= 50*time.Millisecond)
			<-ctx.Done()
			return providers.Token{}, &providers.Error{Kind: providers.Unavailable, Err: ctx.Err()}
		})
		_, err := tk.Refresh(context.Background(), refreshKey, r, secret.New("at"), secret.New("rt"))
		wantKind(t, "Refresh(hanging endpoint)", err, providers.Unavailable)
		if !sawDeadline.Load() {
			t.Errorf("the exchange's context had no deadline within TokensConfig.Timeout")
		}
	})
}

// refresherFunc is a providers.Refresher made of a function.
type refresherFunc func(ctx context.Context, refreshToken secret.String) (providers.Token, error)

func (f refresherFunc) Refresh(ctx context.Context, rt secret.String) (providers.Token, error) {
	return f(ctx, rt)
}

// countingRefresher issues "at-N" access tokens valid for an hour of c,
// rotating the refresh token to "rt-N", and records what it was sent.
type countingRefresher struct {
	c    *clock
	mu   sync.Mutex
	sent []string
}

func (r *countingRefresher) Refresh(_ context.Context, rt secret.String) (providers.Token, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, rt.Reveal())
	n := len(r.sent)
	return providers.Token{
		AccessToken:  secret.New(fmt.Sprintf("at-%d", n)),
		RefreshToken: secret.New(fmt.Sprintf("rt-%d", n)),
		Expiry:       r.c.Now().Add(time.Hour),
	}, nil
}

func (r *countingRefresher) calls() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}

func TestTokensUsable(t *testing.T) {
	auth0Access, auth0Refresh := secret.New("at-auth0"), secret.New("rt-auth0")
	cases := []struct {
		name     string
		advance  time.Duration // after the first refresh
		rejected secret.String
		want     string   // access token returned
		sent     []string // refresh tokens sent, the first refresh included
	}{
		{"another request already refreshed", 0, auth0Access, "at-1", []string{"rt-auth0"}},
		{"the kept token was rejected", 0, secret.New("at-1"), "at-2", []string{"rt-auth0", "rt-1"}},
		{"the kept token expired", time.Hour, auth0Access, "at-2", []string{"rt-auth0", "rt-1"}},
		{"the kept token is valid a moment longer", time.Hour - time.Second, auth0Access, "at-1", []string{"rt-auth0"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newClock()
			tk := NewTokens(TokensConfig{Now: c.Now})
			r := &countingRefresher{c: c}
			if _, err := tk.Refresh(context.Background(), refreshKey, r, auth0Access, auth0Refresh); err != nil {
				t.Fatal(err)
			}
			c.Advance(tc.advance)
			got, err := tk.Refresh(context.Background(), refreshKey, r, tc.rejected, auth0Refresh)
			if err != nil || got.AccessToken.Reveal() != tc.want {
				// Failure messages name no token, not even a fixture's.
				t.Errorf("Refresh() = a different access token than the case wants, err %v; want the case's token, nil", err)
			}
			if sent := r.calls(); strings.Join(sent, ",") != strings.Join(tc.sent, ",") {
				t.Errorf("refresh tokens sent = %q; want %q", sent, tc.sent)
			}
		})
	}
}

func TestTokensKeysRefreshIndependently(t *testing.T) {
	// Each exchange waits until both are under way: if Tokens ran the
	// two identities' refreshes one after the other, neither would finish.
	var inside sync.WaitGroup
	inside.Add(2)
	both := make(chan struct{})
	go func() { inside.Wait(); close(both) }()
	var calls atomic.Int32
	r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
		calls.Add(1)
		inside.Done()
		select {
		case <-both:
			return providers.Token{AccessToken: secret.New("new-" + rt.Reveal())}, nil
		case <-ctx.Done():
			return providers.Token{}, &providers.Error{Kind: providers.Unavailable, Err: ctx.Err()}
		}
	})
	tk := NewTokens(TokensConfig{Now: newClock().Now, Timeout: 5 * time.Second})
	var wg sync.WaitGroup
	got := make([]providers.Token, 2)
	errs := make([]error, 2)
	for i, key := range []string{"auth0|ada\x00google-oauth2|1", "auth0|grace\x00google-oauth2|2"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = tk.Refresh(context.Background(), key, r, secret.New("old"), secret.New(fmt.Sprintf("rt-%d", i)))
		}()
	}
	wg.Wait()
	for i := range 2 {
		if want := fmt.Sprintf("new-rt-%d", i); errs[i] != nil || got[i].AccessToken.Reveal() != want {
			t.Errorf("Refresh(key %d) = another key's or no access token, err %v; want its own, nil", i, errs[i])
		}
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("exchanges = %d; want 2", n)
	}
}

func TestTokensRefreshFailureIsNotKept(t *testing.T) {
	t.Run("token endpoint 500", func(t *testing.T) {
		e := newGoogleEnv(t, 0)
		e.google.FailNextRefresh(1, 500)
		_, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		wantKind(t, "Refresh(500)", err, providers.Unavailable)
		e.noSecret(t, err)
		if _, ok := e.tokens.Current(refreshKey); ok {
			t.Errorf("Current() after a failed refresh = _, true; want nothing kept")
		}
		tok, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
		if err != nil || tok.AccessToken.IsZero() {
			t.Fatalf("second Refresh() error = %v; want a new token (the failure is not kept, the refresh token not spent)", err)
		}
		if got := e.google.Refreshes(); got != 2 {
			t.Errorf("token endpoint requests = %d; want 2", got)
		}
	})
	failures := []struct {
		name string
		tok  providers.Token
		err  error
		want providers.Kind
	}{
		{"no access token in the answer", providers.Token{RefreshToken: secret.New("rt-new")}, nil, providers.Unavailable},
		{"rate limited", providers.Token{}, &providers.Error{Kind: providers.RateLimited, RetryAfter: time.Minute}, providers.RateLimited},
		{"unavailable", providers.Token{}, &providers.Error{Kind: providers.Unavailable}, providers.Unavailable},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			var sent []string
			var mu sync.Mutex
			fail := true
			r := refresherFunc(func(_ context.Context, rt secret.String) (providers.Token, error) {
				mu.Lock()
				defer mu.Unlock()
				sent = append(sent, rt.Reveal())
				if fail {
					fail = false
					return tc.tok, tc.err
				}
				return providers.Token{AccessToken: secret.New("at-ok")}, nil
			})
			tk := NewTokens(TokensConfig{Now: newClock().Now})
			_, err := tk.Refresh(context.Background(), refreshKey, r, secret.New("at-old"), secret.New("rt-auth0"))
			wantKind(t, "Refresh()", err, tc.want)
			if _, ok := tk.Current(refreshKey); ok {
				t.Errorf("Current() after a failed refresh = _, true; want nothing kept")
			}
			tok, err := tk.Refresh(context.Background(), refreshKey, r, secret.New("at-old"), secret.New("rt-auth0"))
			if err != nil || tok.AccessToken.Reveal() != "at-ok" {
				t.Errorf("second Refresh() = not the token of the successful exchange, err %v; want it, nil", err)
			}
			if strings.Join(sent, ",") != "rt-auth0,rt-auth0" {
				t.Errorf("refresh tokens sent = %q; want Auth0's twice (not spent by a transient failure)", sent)
			}
		})
	}
}

func TestTokensReauthWithoutExchange(t *testing.T) {
	var calls atomic.Int32
	r := refresherFunc(func(context.Context, secret.String) (providers.Token, error) {
		calls.Add(1)
		return providers.Token{AccessToken: secret.New("at-new")}, nil
	})
	tk := NewTokens(TokensConfig{Now: newClock().Now})
	_, err := tk.Refresh(context.Background(), refreshKey, r, secret.New("at-old"), secret.String{})
	wantKind(t, "Refresh(no refresh token)", err, providers.ReauthRequired)
	if n := calls.Load(); n != 0 {
		t.Errorf("exchanges = %d; want 0", n)
	}
}

// TestTokensErrorsHoldNoSecret drives each way a refresh through the
// Google adapter fails and checks that neither the error nor the logs
// carry a token or the client secret.
func TestTokensErrorsHoldNoSecret(t *testing.T) {
	cases := []struct {
		name  string
		setup func(e *refreshEnv)
		want  providers.Kind
	}{
		{"grant revoked (invalid_grant)", func(e *refreshEnv) { e.google.Revoke(e.refresh.Reveal()) }, providers.ReauthRequired},
		{"token endpoint 500", func(e *refreshEnv) { e.google.FailNextRefresh(1, 500) }, providers.Unavailable},
		{"token endpoint 400", func(e *refreshEnv) { e.google.FailNextRefresh(1, 400) }, providers.Unavailable},
		{"token endpoint 429", func(e *refreshEnv) { e.google.FailNextRefresh(1, 429) }, providers.RateLimited},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newGoogleEnv(t, 0)
			tc.setup(e)
			_, err := e.tokens.Refresh(context.Background(), refreshKey, e.refresher, e.access, e.refresh)
			wantKind(t, "Refresh()", err, tc.want)
			e.noSecret(t, err)
		})
	}
}
