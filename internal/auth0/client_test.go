package auth0

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/secret"
)

// Seeded IdP tokens: distinctive, so a leak is easy to find.
const (
	githubToken   = "gho_SEEDED_GITHUB_ACCESS_0001"
	googleToken   = "ya29.SEEDED_GOOGLE_ACCESS_0002"
	googleRefresh = "1//SEEDED_GOOGLE_REFRESH_0003"
	bodySecret    = "BODY_SECRET_0004"
)

var epoch = time.Unix(1_700_000_000, 0)

// fakeClock is the injected clock. Sleep records the wait and advances
// time instead of waiting.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	sleeps []time.Duration
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.t = c.t.Add(d)
	return ctx.Err()
}

// TakeSleeps returns the waits requested since the last call.
func (c *fakeClock) TakeSleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.sleeps
	c.sleeps = nil
	return s
}

// harness is a fakeauth0 tenant served under a base path (so a client
// using absolute paths fails), with a recorder of what reached the API.
type harness struct {
	tenant *fakeauth0.Tenant
	srv    *httptest.Server
	clock  *fakeClock
	base   string

	intercept atomic.Pointer[http.HandlerFunc] // answers API calls instead of the tenant

	mu      sync.Mutex
	bearers []string // Authorization values sent to the API
	queries []string // raw queries of API calls
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{clock: &fakeClock{t: epoch}}
	h.tenant = &fakeauth0.Tenant{Now: h.clock.Now}
	tenant := http.StripPrefix("/tenant", h.tenant)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/tenant/") {
			http.Error(w, "outside the base path", http.StatusTeapot)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/tenant/api/") {
			h.mu.Lock()
			h.bearers = append(h.bearers, r.Header.Get("Authorization"))
			h.queries = append(h.queries, r.URL.RawQuery)
			h.mu.Unlock()
			if f := h.intercept.Load(); f != nil {
				(*f)(w, r)
				return
			}
		}
		tenant.ServeHTTP(w, r)
	}))
	t.Cleanup(h.srv.Close)
	h.base = h.srv.URL + "/tenant"
	h.tenant.SetBaseURL(h.base)
	h.tenant.AddUser(fakeauth0.User{
		UserID: "github|123", Name: "Octo Cat", Nickname: "octocat", Email: "octo@example.com", Picture: "https://example.com/octo.png",
		Identities: []fakeauth0.Identity{{Provider: "github", Connection: "github", UserID: 123, IsSocial: true, AccessToken: githubToken}},
	})
	h.tenant.AddUser(fakeauth0.User{
		UserID: "google-oauth2|104", Name: "Goo Gle",
		Identities: []fakeauth0.Identity{{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "104", IsSocial: true,
			AccessToken: googleToken, RefreshToken: googleRefresh, ExpiresIn: 3599}},
	})
	for _, id := range []string{"auth0|a/b%c", `auth0|q"uote`, `auth0|back\slash`, "auth0|x y+z"} {
		h.tenant.AddUser(fakeauth0.User{UserID: id, Identities: []fakeauth0.Identity{{Provider: "auth0", Connection: "Username-Password-Authentication", UserID: strings.TrimPrefix(id, "auth0|")}}})
	}
	return h
}

func (h *harness) setIntercept(f http.HandlerFunc) {
	if f == nil {
		h.intercept.Store(nil)
		return
	}
	h.intercept.Store(&f)
}

// client returns a Client of the tenant with the injected clock; mod
// adjusts its Config.
func (h *harness) client(t *testing.T, mod func(*Config)) (*Client, *syncBuffer) {
	t.Helper()
	id, sec := h.tenant.Credentials()
	logs := &syncBuffer{}
	cfg := Config{
		BaseURL:      h.base,
		ClientID:     id,
		ClientSecret: secret.New(sec),
		HTTPClient:   &http.Client{Timeout: 5 * time.Second},
		Now:          h.clock.Now,
		Sleep:        h.clock.Sleep,
		Rand:         func() float64 { return 0.5 }, // half of each backoff ceiling
		Logger:       slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.clock.TakeSleeps()
	h.tenant.Reset()
	return c, logs
}

// secrets returns every credential the test run has put on the wire.
func (h *harness) secrets() []string {
	_, sec := h.tenant.Credentials()
	s := []string{sec, githubToken, googleToken, googleRefresh, bodySecret}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, b := range h.bearers {
		if tok := strings.TrimPrefix(b, "Bearer "); len(tok) > 20 {
			s = append(s, tok)
		}
	}
	return s
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestNew(t *testing.T) {
	ok := Config{BaseURL: "https://acme.us.auth0.com", ClientID: "id", ClientSecret: secret.New("s")}
	tests := []struct {
		name     string
		mod      func(*Config)
		wantBase string // "" means New fails
	}{
		{"full URL", func(*Config) {}, "https://acme.us.auth0.com/"},
		{"bare domain", func(c *Config) { c.BaseURL = "acme.us.auth0.com" }, "https://acme.us.auth0.com/"},
		{"loopback with port and slash", func(c *Config) { c.BaseURL = "http://127.0.0.1:9000/" }, "http://127.0.0.1:9000/"},
		{"base path", func(c *Config) { c.BaseURL = "http://127.0.0.1:9000/tenant" }, "http://127.0.0.1:9000/tenant/"},
		{"no base", func(c *Config) { c.BaseURL = "" }, ""},
		{"ftp", func(c *Config) { c.BaseURL = "ftp://acme" }, ""},
		{"credentials in URL", func(c *Config) { c.BaseURL = "https://u:p@acme" }, ""},
		{"query", func(c *Config) { c.BaseURL = "https://acme/?x=1" }, ""},
		{"no client id", func(c *Config) { c.ClientID = "" }, ""},
		{"no secret", func(c *Config) { c.ClientSecret = secret.String{} }, ""},
		{"negative RPS", func(c *Config) { c.RPS = -1 }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			if tt.wantBase == "" {
				if err == nil {
					t.Fatalf("New(%+v) = %v, nil; want an error", cfg, c)
				}
				if !strings.HasPrefix(err.Error(), "auth0: ") || strings.Contains(err.Error(), "u:p") {
					t.Errorf("New error = %q; want an auth0: prefix and no credentials", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v) = %v; want nil", cfg, err)
			}
			if got := c.base.String(); got != tt.wantBase {
				t.Errorf("base = %q; want %q", got, tt.wantBase)
			}
		})
	}
}

func TestUser(t *testing.T) {
	h := newHarness(t)
	c, _ := h.client(t, nil)

	t.Run("github fields", func(t *testing.T) {
		u, err := c.User(context.Background(), "github|123")
		if err != nil {
			t.Fatalf("User(%q) = %v; want nil", "github|123", err)
		}
		checks := []struct{ field, got, want string }{
			{"UserID", u.UserID, "github|123"},
			{"Name", u.Name, "Octo Cat"},
			{"Nickname", u.Nickname, "octocat"},
			{"Email", u.Email, "octo@example.com"},
			{"Picture", u.Picture, "https://example.com/octo.png"},
		}
		for _, ch := range checks {
			if ch.got != ch.want {
				t.Errorf("User.%s = %q; want %q", ch.field, ch.got, ch.want)
			}
		}
		if len(u.Identities) != 1 {
			t.Fatalf("len(Identities) = %d; want 1", len(u.Identities))
		}
		id := u.Identities[0]
		if id.Provider != "github" || id.Connection != "github" || id.UserID != "123" || !id.IsSocial ||
			id.AccessToken.Reveal() != githubToken || !id.RefreshToken.IsZero() || id.ExpiresIn != 0 {
			t.Errorf("Identity = {%q %q %q %v access %t refresh %t %d}; want {github github 123 true access true refresh false 0}",
				id.Provider, id.Connection, id.UserID, id.IsSocial, id.AccessToken.Reveal() == githubToken, !id.RefreshToken.IsZero(), id.ExpiresIn)
		}
	})

	t.Run("google tokens", func(t *testing.T) {
		u, err := c.User(context.Background(), "google-oauth2|104")
		if err != nil {
			t.Fatalf("User(%q) = %v; want nil", "google-oauth2|104", err)
		}
		id := u.Identities[0]
		if id.UserID != "104" || id.AccessToken.Reveal() != googleToken || id.RefreshToken.Reveal() != googleRefresh || id.ExpiresIn != 3599 {
			t.Errorf("Identity = {%q access %t refresh %t %d}; want {104 true true 3599}",
				id.UserID, id.AccessToken.Reveal() == googleToken, id.RefreshToken.Reveal() == googleRefresh, id.ExpiresIn)
		}
	})

	tests := []struct {
		id        string
		wantErr   error
		wantCode  string
		wantCalls int
	}{
		{"github|123", nil, "", 1},
		{"auth0|a/b%c", nil, "", 1},
		{"auth0|x y+z", nil, "", 1},
		{`auth0|q"uote`, nil, "", 1},
		{"auth0|missing", ErrNotFound, "inexistent_user", 1},
		{"github|123/../../x", ErrNotFound, "inexistent_user", 1},
		{"", ErrNotFound, "", 0},
		{"..", ErrNotFound, "", 0},
	}
	for _, tt := range tests {
		t.Run("id "+tt.id, func(t *testing.T) {
			h.tenant.Reset()
			u, err := c.User(context.Background(), tt.id)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("User(%q) = %v; want %v", tt.id, err, tt.wantErr)
			}
			if err == nil && u.UserID != tt.id {
				t.Errorf("User(%q).UserID = %q; want %q", tt.id, u.UserID, tt.id)
			}
			if tt.wantCode != "" {
				var ae *APIError
				if !errors.As(err, &ae) || ae.StatusCode != 404 || ae.ErrorCode != tt.wantCode {
					t.Errorf("User(%q) = %#v; want *APIError{404, %q}", tt.id, err, tt.wantCode)
				}
			}
			if got := h.tenant.Calls().UserByID; got != tt.wantCalls {
				t.Errorf("User(%q): tenant saw %d calls; want %d", tt.id, got, tt.wantCalls)
			}
		})
	}
}

func TestRetries(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name        string
		arrange     func()
		wantErr     error // nil: success
		wantRL      bool  // the error is a *RateLimitError
		wantStatus  int   // the error is an *APIError with this status
		wantSleeps  []time.Duration
		wantCalls   int64
		wantFetches int64
	}{
		{
			name:       "429 then success after reset",
			arrange:    func() { h.tenant.RateLimitNext(1, 3*time.Second) },
			wantSleeps: []time.Duration{3 * time.Second},
			wantCalls:  2, wantFetches: 1,
		},
		{
			name:    "429 with reset beyond MaxRetryWait",
			arrange: func() { h.tenant.RateLimitNext(1, time.Minute) },
			wantRL:  true, wantCalls: 1, wantFetches: 1,
		},
		{
			name:       "429 until retries are used up",
			arrange:    func() { h.tenant.RateLimitNext(5, time.Second) },
			wantRL:     true,
			wantSleeps: []time.Duration{time.Second, time.Second},
			wantCalls:  3, wantFetches: 1,
		},
		{
			name:       "500 then success",
			arrange:    func() { h.tenant.FailNext(1, 500) },
			wantSleeps: []time.Duration{125 * time.Millisecond},
			wantCalls:  2, wantFetches: 1,
		},
		{
			name:       "500 persisting",
			arrange:    func() { h.tenant.FailNext(5, 500) },
			wantErr:    ErrUnavailable,
			wantStatus: 500,
			wantSleeps: []time.Duration{125 * time.Millisecond, 250 * time.Millisecond},
			wantCalls:  3, wantFetches: 1,
		},
		{
			name:      "401 drops the token and retries once",
			arrange:   func() { h.tenant.FailNext(1, 401) },
			wantCalls: 2, wantFetches: 2,
		},
		{
			name:       "401 persisting",
			arrange:    func() { h.tenant.FailNext(2, 401) },
			wantErr:    ErrUnauthorized,
			wantStatus: 401,
			wantCalls:  2, wantFetches: 2,
		},
		{
			name:       "403 insufficient scope is not retried",
			arrange:    func() { h.tenant.FailNext(1, 403) },
			wantErr:    ErrUnauthorized,
			wantStatus: 403,
			wantCalls:  1, wantFetches: 1,
		},
		{
			name:      "keys rotated: the old token is refused, a new one works",
			arrange:   func() { h.tenant.RotateKeys() },
			wantCalls: 2, wantFetches: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := h.client(t, nil)
			if err := c.Ping(context.Background()); err != nil { // cache a token first
				t.Fatalf("Ping = %v; want nil", err)
			}
			tt.arrange()
			start := h.clock.Now()
			u, err := c.User(context.Background(), "github|123")
			switch {
			case tt.wantRL:
				var rl *RateLimitError
				if !errors.As(err, &rl) {
					t.Fatalf("User = %v; want *RateLimitError", err)
				}
				if rl.Limit != 1000 || rl.Remaining != 0 || rl.Reset.Before(start) {
					t.Errorf("RateLimitError = %+v; want Limit 1000, Remaining 0, Reset after %v", rl, start)
				}
			case tt.wantErr != nil:
				var ae *APIError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &ae) || ae.StatusCode != tt.wantStatus {
					t.Fatalf("User = %v; want %v with status %d", err, tt.wantErr, tt.wantStatus)
				}
			default:
				if err != nil || u.UserID != "github|123" {
					t.Fatalf("User = %v, %v; want github|123, nil", u, err)
				}
			}
			if got := h.clock.TakeSleeps(); !slices.Equal(got, tt.wantSleeps) {
				t.Errorf("sleeps = %v; want %v", got, tt.wantSleeps)
			}
			if got := h.tenant.Calls(); int64(got.UserByID) != tt.wantCalls || int64(got.Token) != tt.wantFetches {
				t.Errorf("tenant saw %d calls and %d token requests; want %d and %d", got.UserByID, got.Token, tt.wantCalls, tt.wantFetches)
			}
		})
	}

	t.Run("reset header is honoured exactly", func(t *testing.T) {
		c, _ := h.client(t, nil)
		// Mid-second, so the whole-second reset header differs from now+2s.
		now := h.clock.Now()
		h.clock.Advance(now.Truncate(time.Second).Add(1400 * time.Millisecond).Sub(now))
		h.tenant.RateLimitNext(1, 2*time.Second)
		if _, err := c.User(context.Background(), "github|123"); err != nil {
			t.Fatalf("User = %v; want nil", err)
		}
		// X-RateLimit-Reset = ceil(now+2s) = the whole second 2.6 s later.
		want := 2600 * time.Millisecond
		got := h.clock.TakeSleeps()
		if len(got) != 1 || got[0] != want {
			t.Errorf("sleeps = %v; want [%v]", got, want)
		}
		if got := h.tenant.Calls().UserByID; got != 2 {
			t.Errorf("tenant saw %d calls; want 2 (the 429, then one retry)", got)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		c, _ := h.client(t, nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.User(ctx, "github|123"); !errors.Is(err, context.Canceled) {
			t.Errorf("User(cancelled ctx) = %v; want context.Canceled", err)
		}
	})

	t.Run("transport failure", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		rt := &countingTransport{}
		c, _ := h.client(t, func(cfg *Config) {
			cfg.BaseURL = dead.URL
			cfg.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: rt}
		})
		err := c.Ping(context.Background())
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("Ping(dead tenant) = %v; want ErrUnavailable", err)
		}
		_, err = c.User(context.Background(), "github|123")
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("User(dead tenant) = %v; want ErrUnavailable", err)
		}
		if got, want := h.clock.TakeSleeps(), []time.Duration{125 * time.Millisecond, 250 * time.Millisecond}; !slices.Equal(got, want) {
			t.Errorf("sleeps = %v; want %v", got, want)
		}
		if token, api := rt.token.Load(), rt.api.Load(); token != 4 || api != 0 {
			t.Errorf("requests sent: %d to the token endpoint, %d to the API; want 4 (ping + 3 attempts) and none", token, api)
		}
	})
}

func TestCredentialsRejected(t *testing.T) {
	h := newHarness(t)
	c, _ := h.client(t, nil)
	h.tenant.RejectClientCredentials(true)
	_, err := c.User(context.Background(), "github|123")
	if !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("User = %v; want ErrUnauthorized", err)
	}
	if strings.Contains(err.Error(), "access_denied") {
		t.Errorf("User error = %q; repeats the token endpoint's body", err)
	}
	if err := c.Ping(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("Ping = %v; want ErrUnauthorized", err)
	}
	if got := h.tenant.Calls(); got.Token != 2 || got.UserByID != 0 {
		t.Errorf("tenant calls = %+v; want 2 token requests (no retries) and no API call", got)
	}

	h.tenant.RejectClientCredentials(false)
	if err := c.Ping(context.Background()); err != nil {
		t.Errorf("Ping after un-rejecting = %v; want nil", err)
	}
	if _, err := c.User(context.Background(), "github|123"); err != nil {
		t.Errorf("User after un-rejecting = %v; want nil", err)
	}
	if got := h.tenant.Calls().Token; got != 3 {
		t.Errorf("token requests = %d; want 3 (two refused, one cached)", got)
	}
}

func TestTokenReuse(t *testing.T) {
	h := newHarness(t)

	t.Run("one fetch for 100 concurrent calls", func(t *testing.T) {
		c, _ := h.client(t, nil)
		h.tenant.SetLatency(20 * time.Millisecond) // keep callers waiting on the first fetch
		defer h.tenant.SetLatency(0)
		var wg sync.WaitGroup
		errs := make(chan error, 100)
		for range 100 {
			wg.Go(func() {
				if _, err := c.User(context.Background(), "github|123"); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("User = %v; want nil", err)
		}
		if got := h.tenant.Calls(); got.Token != 1 || got.UserByID != 100 {
			t.Errorf("tenant saw %d token requests and %d calls; want 1 and 100", got.Token, got.UserByID)
		}
	})

	t.Run("refetched near expiry", func(t *testing.T) {
		c, _ := h.client(t, nil)
		steps := []struct {
			advance     time.Duration
			wantFetches int64
		}{
			{0, 1},
			{23*time.Hour + 50*time.Minute, 1}, // 10 min left of 24 h: reused
			{6 * time.Minute, 2},               // 4 min left: replaced
			{time.Hour, 2},                     // the new one is fresh
		}
		for _, s := range steps {
			h.clock.Advance(s.advance)
			if _, err := c.User(context.Background(), "github|123"); err != nil {
				t.Fatalf("User after +%v = %v; want nil", s.advance, err)
			}
			if got := int64(h.tenant.Calls().Token); got != s.wantFetches {
				t.Errorf("after +%v TokenFetches = %d; want %d", s.advance, got, s.wantFetches)
			}
		}
		if got := h.tenant.Calls().UserByID; got != len(steps) {
			t.Errorf("Calls = %d; want %d (no 401 retries)", got, len(steps))
		}
	})
}

func TestRateShaping(t *testing.T) {
	h := newHarness(t)
	c, _ := h.client(t, func(cfg *Config) { cfg.RPS, cfg.Burst = 2, 2 })
	for i := range 6 {
		if _, err := c.User(context.Background(), "github|123"); err != nil {
			t.Fatalf("User #%d = %v; want nil", i, err)
		}
	}
	// A burst of 2, then one call every 500 ms on the injected clock.
	want := []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	if got := h.clock.TakeSleeps(); !slices.Equal(got, want) {
		t.Errorf("sleeps = %v; want %v", got, want)
	}
	if got := h.tenant.Calls().UserByID; got != 6 {
		t.Errorf("tenant saw %d calls; want 6", got)
	}
}

func TestSearchUsers(t *testing.T) {
	h := newHarness(t)
	c, _ := h.client(t, nil)
	many := make([]string, 0, 120)
	for i := range 118 {
		many = append(many, fmt.Sprintf("auth0|missing-%d", i))
	}
	many = append(many, "github|123", "google-oauth2|104")

	tests := []struct {
		name         string
		ids          []string
		want         []string
		wantPerPages []string
	}{
		{"none", nil, nil, nil},
		{"one", []string{"github|123"}, []string{"github|123"}, []string{"1"}},
		{"quoting and missing",
			[]string{`auth0|q"uote`, `auth0|back\slash`, "auth0|a/b%c", "auth0|x y+z", "auth0|missing", "github|123", "github|123", ""},
			[]string{"auth0|a/b%c", `auth0|back\slash`, `auth0|q"uote`, "auth0|x y+z", "github|123"},
			[]string{"6"}},
		{"chunks of 50", many, []string{"github|123", "google-oauth2|104"}, []string{"50", "50", "20"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.mu.Lock()
			h.queries = nil
			h.mu.Unlock()
			users, err := c.SearchUsers(context.Background(), tt.ids)
			if err != nil {
				t.Fatalf("SearchUsers(%q) = %v; want nil", tt.ids, err)
			}
			var got []string
			for _, u := range users {
				got = append(got, u.UserID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.want) {
				t.Errorf("SearchUsers(%q) = %q; want %q", tt.ids, got, tt.want)
			}
			h.mu.Lock()
			var perPages []string
			for _, q := range h.queries {
				v, _ := url.ParseQuery(q)
				if v.Get("search_engine") != "v3" || !strings.HasPrefix(v.Get("q"), "user_id:(") {
					t.Errorf("query %q; want search_engine=v3 and q=user_id:(…)", q)
				}
				perPages = append(perPages, v.Get("per_page"))
			}
			h.mu.Unlock()
			if !slices.Equal(perPages, tt.wantPerPages) {
				t.Errorf("per_page values = %q; want %q", perPages, tt.wantPerPages)
			}
		})
	}

	t.Run("tokens decoded", func(t *testing.T) {
		users, err := c.SearchUsers(context.Background(), []string{"google-oauth2|104"})
		if err != nil || len(users) != 1 {
			t.Fatalf("SearchUsers = %v, %v; want one user", users, err)
		}
		if id := users[0].Identities[0]; id.AccessToken.Reveal() != googleToken || id.RefreshToken.Reveal() != googleRefresh {
			t.Errorf("search identity tokens not decoded")
		}
	})

	t.Run("eventual consistency", func(t *testing.T) {
		h.tenant.SetSearchIndexLag(time.Minute)
		defer h.tenant.SetSearchIndexLag(0)
		h.tenant.AddUser(fakeauth0.User{UserID: "auth0|new"})
		users, err := c.SearchUsers(context.Background(), []string{"auth0|new"})
		if err != nil || len(users) != 0 {
			t.Errorf("SearchUsers(new user) = %d users, %v; want none yet", len(users), err)
		}
		if _, err := c.User(context.Background(), "auth0|new"); err != nil {
			t.Errorf("User(new user) = %v; want nil", err)
		}
	})

	t.Run("error", func(t *testing.T) {
		h.tenant.FailNext(1, 403)
		if _, err := c.SearchUsers(context.Background(), []string{"github|123"}); !errors.Is(err, ErrUnauthorized) {
			t.Errorf("SearchUsers = %v; want ErrUnauthorized", err)
		}
	})
}

// TestNoLeaks drives failures and checks that no error, print or log
// line holds a token, the client secret or a response body.
func TestNoLeaks(t *testing.T) {
	h := newHarness(t)
	c, logs := h.client(t, func(cfg *Config) { cfg.MaxRetries = -1 })
	if _, err := c.User(context.Background(), "github|123"); err != nil { // a token on the wire
		t.Fatal(err)
	}
	bodyWith := func(status int, body string) func() {
		return func() {
			h.setIntercept(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				fmt.Fprint(w, body)
			})
		}
	}
	huge := `{"user_id":"github|123","name":"` + strings.Repeat(bodySecret, (5<<20)/len(bodySecret)) + `"}`
	tests := []struct {
		name    string
		arrange func()
		wantErr error
	}{
		{"not found", func() {}, ErrNotFound},
		{"429", func() { h.tenant.RateLimitNext(1, time.Hour) }, nil},
		{"500 body", bodyWith(500, `{"statusCode":500,"message":"`+bodySecret+` `+githubToken+`"}`), ErrUnavailable},
		{"400 with odd errorCode", bodyWith(400, `{"statusCode":400,"errorCode":"`+bodySecret+`"}`), nil},
		{"malformed JSON", bodyWith(200, `{"user_id":"`+bodySecret+`", "identities": [{"access_token": 12`), ErrUnavailable},
		{"wrong JSON types", bodyWith(200, `{"user_id":"x","identities":[{"access_token":{"v":"`+bodySecret+`"}}]}`), ErrUnavailable},
		{"too large", bodyWith(200, huge), ErrUnavailable},
		{"credentials rejected", func() { h.tenant.RotateKeys(); h.tenant.RejectClientCredentials(true) }, ErrUnauthorized},
	}
	var texts []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.arrange()
			defer h.setIntercept(nil)
			u, err := c.User(context.Background(), "auth0|missing")
			if err == nil {
				t.Fatalf("User = %+v; want an error", u)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("User = %v; want %v", err, tt.wantErr)
			}
			texts = append(texts, err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err))
		})
	}
	h.tenant.RejectClientCredentials(false)
	u, err := c.User(context.Background(), "google-oauth2|104")
	if err != nil {
		t.Fatal(err)
	}
	texts = append(texts, fmt.Sprintf("%v %+v %#v", u, u, *u), fmt.Sprintf("%v %+v", c, c), logs.String())

	secrets := h.secrets()
	if len(secrets) < 7 {
		t.Fatalf("only %d secrets recorded; the test would prove nothing", len(secrets))
	}
	bodies := []string{"The user does not exist.", "Global limit has been reached", "Unauthorized", "access_denied", "Invalid token."}
	for _, text := range texts {
		for _, s := range append(secrets, bodies...) {
			if strings.Contains(text, s) {
				t.Errorf("output %.200q… contains %.20q", text, s)
			}
		}
	}
	if !strings.Contains(logs.String(), `"path":"api/v2/users/{id}"`) || !strings.Contains(logs.String(), `"path":"oauth/token","status":401`) {
		t.Errorf("logs = %.300q; want debug lines with the path template", logs.String())
	}
}

func TestUserIDQuery(t *testing.T) {
	tests := []struct {
		ids  []string
		want string
	}{
		{[]string{"a"}, `user_id:("a")`},
		{[]string{"github|1", "auth0|2"}, `user_id:("github|1" OR "auth0|2")`},
		{[]string{`q"t`, `b\s`}, `user_id:("q\"t" OR "b\\s")`},
	}
	for _, tt := range tests {
		if got := userIDQuery(tt.ids); got != tt.want {
			t.Errorf("userIDQuery(%q) = %q; want %q", tt.ids, got, tt.want)
		}
	}
}

func TestErrorTypes(t *testing.T) {
	tests := []struct {
		err  error
		is   []error
		isnt []error
	}{
		{&APIError{StatusCode: 404, ErrorCode: "inexistent_user"}, []error{ErrNotFound}, []error{ErrUnauthorized, ErrUnavailable}},
		{&APIError{StatusCode: 401}, []error{ErrUnauthorized}, []error{ErrNotFound, ErrUnavailable}},
		{&APIError{StatusCode: 403, ErrorCode: "insufficient_scope"}, []error{ErrUnauthorized}, []error{ErrNotFound}},
		{&APIError{StatusCode: 503}, []error{ErrUnavailable}, []error{ErrUnauthorized}},
		{&APIError{StatusCode: 400}, nil, []error{ErrNotFound, ErrUnauthorized, ErrUnavailable}},
		{&opError{op: "x", kind: ErrUnavailable, detail: "transport", err: context.DeadlineExceeded}, []error{ErrUnavailable, context.DeadlineExceeded}, []error{ErrNotFound}},
	}
	for _, tt := range tests {
		for _, target := range tt.is {
			if !errors.Is(tt.err, target) {
				t.Errorf("errors.Is(%v, %v) = false; want true", tt.err, target)
			}
		}
		for _, target := range tt.isnt {
			if errors.Is(tt.err, target) {
				t.Errorf("errors.Is(%v, %v) = true; want false", tt.err, target)
			}
		}
	}
	rl := &RateLimitError{Reset: epoch, op: "GET api/v2/users"}
	if got, want := rl.Error(), "auth0: GET api/v2/users: rate limited until 2023-11-14T22:13:20Z"; got != want {
		t.Errorf("RateLimitError.Error() = %q; want %q", got, want)
	}
}

// TestSearchUsersBoundsTheURI: batches stay within MaxSearchURI as well as
// 50 ids, so long ids make smaller batches and no search meets a 414.
func TestSearchUsersBoundsTheURI(t *testing.T) {
	h := newHarness(t)
	const bound = 1024
	h.tenant.MaxRequestURI = bound // a 414 would be an extra call
	c, _ := h.client(t, func(cfg *Config) { cfg.MaxSearchURI = bound })
	var ids []string
	for i := range 30 {
		id := fmt.Sprintf("oauth2|%s-%02d", strings.Repeat("x", 60), i)
		ids = append(ids, id)
		h.tenant.AddUser(fakeauth0.User{UserID: id})
	}
	users, err := c.SearchUsers(context.Background(), ids)
	if err != nil || len(users) != len(ids) {
		t.Fatalf("SearchUsers() = %d users, %v; want %d", len(users), err, len(ids))
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.queries) < 3 {
		t.Errorf("%d searches; want several small ones", len(h.queries))
	}
	for _, q := range h.queries {
		if n := len("/tenant/api/v2/users?") + len(q); n > bound {
			t.Errorf("search request target of %d bytes; want at most %d", n, bound)
		}
	}
	if got := h.tenant.Calls(); got.Search != len(h.queries) || got.UserByID != 0 {
		t.Errorf("tenant calls = %+v; want %d searches, no reads by id", got, len(h.queries))
	}
}

// TestSearchUsersSplitsOn414: a tenant whose limit is below the client's
// bound answers 414; the batch is split in halves, recursively, with no
// read by id. Calls are counted.
func TestSearchUsersSplitsOn414(t *testing.T) {
	var ids []string
	for i := range 8 {
		ids = append(ids, fmt.Sprintf("oauth2|%s-%d", strings.Repeat("y", 40), i))
	}
	// The request target for n of these ids is about 90 + 62n bytes.
	tests := []struct {
		name      string
		tenantMax int
		wantCalls int
		wantFound int
	}{
		{"fits", 4096, 1, 8},
		{"halves fit", 400, 3, 8},    // 8 → 414; 4 + 4
		{"quarters fit", 250, 7, 8},  // 8, 4, 4 → 414; 2 × 4
		{"nothing fits", 100, 15, 0}, // down to single ids, all 414
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.tenant.MaxRequestURI = tt.tenantMax
			for _, id := range ids {
				h.tenant.AddUser(fakeauth0.User{UserID: id})
			}
			c, _ := h.client(t, func(cfg *Config) { cfg.MaxSearchURI = 1 << 20 })
			h.tenant.Reset()
			users, err := c.SearchUsers(context.Background(), ids)
			if err != nil {
				t.Fatalf("SearchUsers() = %v; want nil", err)
			}
			if len(users) != tt.wantFound {
				t.Errorf("SearchUsers() found %d; want %d", len(users), tt.wantFound)
			}
			if got := h.tenant.Calls(); got.Search != tt.wantCalls || got.UserByID != 0 {
				t.Errorf("tenant calls = %+v; want %d searches and no read by id", got, tt.wantCalls)
			}
		})
	}
}

// countingTransport counts the requests a Client sends, by endpoint, even
// to a tenant that is not there.
type countingTransport struct {
	token, api atomic.Int64
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.URL.Path, "/oauth/token") {
		c.token.Add(1)
	} else {
		c.api.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}
