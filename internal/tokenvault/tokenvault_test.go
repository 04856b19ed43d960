package tokenvault

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const (
	vaultID     = "api-client"
	vaultSecret = "vault-client-secret-1234"
)

// clock is a settable clock shared by the tenant and the client.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// setup serves a tenant emulator with the vault client and Hedy's
// connected Google account, and returns a Client for it.
func setup(t *testing.T, secretSent string) (*fakeauth0.Tenant, *Client, *clock, *logBuffer) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	tenant := &fakeauth0.Tenant{Now: clk.Now}
	srv := httptest.NewServer(tenant)
	t.Cleanup(srv.Close)
	tenant.SetBaseURL(srv.URL)
	tenant.SetTokenVaultClient(vaultID, vaultSecret, "")
	n := 0
	tenant.ConnectAccount("auth0|hedy", "google-oauth2", "openid calendar", func() (string, time.Duration) {
		n++
		return "ya29-vault-" + strings.Repeat("x", n), time.Hour
	})
	logs := &logBuffer{}
	c, err := New(Config{BaseURL: srv.URL, ClientID: vaultID, ClientSecret: secret.New(secretSent),
		Setting: "AUTH0_TOKEN_VAULT_CLIENT_ID/AUTH0_TOKEN_VAULT_CLIENT_SECRET", HTTP: srv.Client(), Now: clk.Now,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return tenant, c, clk, logs
}

func TestExchange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		secret      string
		setup       func(tenant *fakeauth0.Tenant)
		subject     func(tenant *fakeauth0.Tenant) string
		connection  string
		wantToken   string
		wantKind    providers.Kind
		wantConnect bool
		wantRetry   time.Duration
		wantInMsg   string
	}{
		{name: "exchanged", wantToken: "ya29-vault-x"},
		{name: "no connected account", connection: "github", wantKind: providers.ReauthRequired, wantConnect: true},
		{name: "wrong client secret", secret: "wrong-secret", wantKind: providers.Unavailable, wantInMsg: "AUTH0_TOKEN_VAULT_CLIENT_ID"},
		{name: "client of another API", setup: func(tn *fakeauth0.Tenant) { tn.SetTokenVaultClient(vaultID, vaultSecret, "https://other.example.com") },
			wantKind: providers.Unavailable, wantInMsg: "AUTH0_TOKEN_VAULT_CLIENT_ID"},
		{name: "rate limited", setup: func(tn *fakeauth0.Tenant) { tn.RateLimitVaultNext(1, 30*time.Second) },
			wantKind: providers.RateLimited, wantRetry: 30 * time.Second},
		{name: "subject for another audience", subject: func(tn *fakeauth0.Tenant) string {
			return tn.Mint(fakeauth0.TokenSpec{Subject: "auth0|hedy", Audience: "https://other.example.com"})
		}, wantKind: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sec := tt.secret
			if sec == "" {
				sec = vaultSecret
			}
			tenant, c, clk, logs := setup(t, sec)
			if tt.setup != nil {
				tt.setup(tenant)
			}
			subject := tenant.Mint(fakeauth0.TokenSpec{Subject: "auth0|hedy"})
			if tt.subject != nil {
				subject = tt.subject(tenant)
			}
			conn := tt.connection
			if conn == "" {
				conn = "google-oauth2"
			}
			tok, err := c.Exchange(context.Background(), secret.New(subject), conn, "")
			if tt.wantToken != "" {
				if err != nil || tok.AccessToken.Reveal() != tt.wantToken || !tok.Expiry.Equal(clk.Now().Add(time.Hour)) {
					t.Fatalf("Exchange(): token as wanted %v, expiry %v, err %v; want %s expiring in 1h", tok.AccessToken.Reveal() == tt.wantToken, tok.Expiry, err, tt.name)
				}
				return
			}
			pe, ok := err.(*providers.Error)
			if !ok || pe.Kind != tt.wantKind || pe.ConnectAccount != tt.wantConnect || pe.RetryAfter < tt.wantRetry || pe.RetryAfter > tt.wantRetry+time.Second {
				t.Fatalf("Exchange() error = %#v; want kind %v, connectAccount %v, retryAfter %v", err, tt.wantKind, tt.wantConnect, tt.wantRetry)
			}
			if !strings.Contains(pe.Message, tt.wantInMsg) {
				t.Errorf("message %q; want it to name %q", pe.Message, tt.wantInMsg)
			}
			for _, text := range []string{err.Error(), logs.String()} {
				if strings.Contains(text, subject) || strings.Contains(text, sec) {
					t.Errorf("%q holds the subject token or the client secret", text)
				}
			}
		})
	}
}

// TestExchangeMisconfiguredOncePerPeriod: a rejected client costs one
// request per period, logged once; after the period one request probes.
func TestExchangeMisconfiguredOncePerPeriod(t *testing.T) {
	t.Parallel()
	tenant, c, clk, logs := setup(t, "wrong-secret")
	subject := secret.New(tenant.Mint(fakeauth0.TokenSpec{Subject: "auth0|hedy"}))
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { _, _ = c.Exchange(context.Background(), subject, "google-oauth2", "") })
	}
	wg.Wait()
	if got := tenant.VaultExchanges(); got != 1 {
		t.Errorf("exchanges = %d; want 1 per period", got)
	}
	if n := strings.Count(logs.String(), "rejected the Token Vault client"); n != 1 {
		t.Errorf("log lines = %d; want 1", n)
	}
	clk.Advance(time.Minute + time.Second)
	_, _ = c.Exchange(context.Background(), subject, "google-oauth2", "")
	if got := tenant.VaultExchanges(); got != 2 {
		t.Errorf("exchanges after the period = %d; want 2", got)
	}
}

// TestExchangeHonoursRateLimit: after a 429 the client answers
// RateLimited without a request until the reset, then exchanges again.
func TestExchangeHonoursRateLimit(t *testing.T) {
	t.Parallel()
	tenant, c, clk, _ := setup(t, vaultSecret)
	tenant.RateLimitVaultNext(1, 30*time.Second)
	subject := secret.New(tenant.Mint(fakeauth0.TokenSpec{Subject: "auth0|hedy"}))
	for i, want := range []time.Duration{30 * time.Second, 20 * time.Second} {
		_, err := c.Exchange(context.Background(), subject, "google-oauth2", "")
		pe, ok := err.(*providers.Error)
		if !ok || pe.Kind != providers.RateLimited || pe.RetryAfter < want || pe.RetryAfter > want+time.Second {
			t.Fatalf("Exchange() %d = %v; want RateLimited, retryAfter %v", i, err, want)
		}
		clk.Advance(10 * time.Second)
	}
	if got := tenant.VaultExchanges(); got != 1 {
		t.Errorf("exchanges while rate limited = %d; want 1", got)
	}
	clk.Advance(25 * time.Second)
	if _, err := c.Exchange(context.Background(), subject, "google-oauth2", ""); err != nil {
		t.Errorf("Exchange() after the reset = %v; want a token", err)
	}
}

// TestExchangeGoesOnlyToTheTenant: a redirect from the token endpoint is
// not followed, so the caller's token never reaches another host.
func TestExchangeGoesOnlyToTheTenant(t *testing.T) {
	t.Parallel()
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { elsewhere.Add(1) }))
	t.Cleanup(other.Close)
	var form atomic.Value
	tenant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		form.Store(r.URL.Path + "?" + r.PostForm.Encode())
		http.Redirect(w, r, other.URL+"/oauth/token", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(tenant.Close)
	c, err := New(Config{BaseURL: tenant.URL, ClientID: vaultID, ClientSecret: secret.New(vaultSecret)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exchange(context.Background(), secret.New("the-bearer"), "google-oauth2", "hedy@example.com")
	if k, _ := providers.KindOf(err); k != providers.Unavailable || elsewhere.Load() != 0 {
		t.Errorf("Exchange() = %v, requests elsewhere %d; want Unavailable, 0", err, elsewhere.Load())
	}
	got, _ := form.Load().(string)
	for _, want := range []string{
		"/oauth/token?", "grant_type=urn%3Aauth0%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange%3Afederated-connection-access-token",
		"subject_token=the-bearer", "subject_token_type=urn%3Aietf%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token",
		"requested_token_type=http%3A%2F%2Fauth0.com%2Foauth%2Ftoken-type%2Ffederated-connection-access-token",
		"connection=google-oauth2", "login_hint=hedy%40example.com", "client_id=api-client",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("request %q lacks %q", got, want)
		}
	}
}

func TestNewRejectsBadSettings(t *testing.T) {
	t.Parallel()
	for _, cfg := range []Config{
		{BaseURL: "acme.auth0.com", ClientID: "id", ClientSecret: secret.New("s")},
		{BaseURL: "https://user:pw@acme.auth0.com", ClientID: "id", ClientSecret: secret.New("s")},
		{BaseURL: "https://acme.auth0.com", ClientID: "id"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%q) = nil error; want one", cfg.BaseURL)
		}
	}
}
