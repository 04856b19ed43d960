package oauthrefresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const (
	refreshRaw = "rt-OAUTHREFRESH-SEEKRIT-1"
	rotatedRaw = "rt-OAUTHREFRESH-ROTATED-2"
	accessRaw  = "at-OAUTHREFRESH-ACCESS-3"
	secretRaw  = "cs-OAUTHREFRESH-CLIENTSECRET-4"
	bodyMarker = "BODY-MARKER-must-not-leak"
)

var epoch = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)

type endpoint struct {
	calls   atomic.Int32
	handler func(w http.ResponseWriter, r *http.Request)
}

func newEndpoint(t *testing.T, h func(w http.ResponseWriter, r *http.Request)) (*endpoint, *httptest.Server) {
	t.Helper()
	e := &endpoint{handler: h}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		e.handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return e, srv
}

func newClient(srv *httptest.Server, basic bool) *Client {
	return &Client{
		HTTP:         srv.Client(),
		TokenURL:     srv.URL + "/oauth/token",
		Provider:     "testprov",
		ClientID:     "client-1",
		ClientSecret: secret.New(secretRaw),
		BasicAuth:    basic,
		Now:          func() time.Time { return epoch },
	}
}

func jsonAnswer(status int, body string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func assertNoLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{refreshRaw, rotatedRaw, accessRaw, secretRaw, bodyMarker} {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), s) {
			t.Errorf("error %q leaks %q", err, s)
		}
	}
}

func TestRefreshSendsTheGrant(t *testing.T) {
	for _, basic := range []bool{false, true} {
		t.Run(fmt.Sprintf("basic=%v", basic), func(t *testing.T) {
			var got struct {
				method, ctype, grant, rt, scope, formID, formSecret, user, pass string
				hasBasic                                                        bool
			}
			_, srv := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				got.method, got.ctype = r.Method, r.Header.Get("Content-Type")
				if err := r.ParseForm(); err != nil {
					t.Errorf("ParseForm() = %v", err)
				}
				got.grant, got.rt, got.scope = r.PostForm.Get("grant_type"), r.PostForm.Get("refresh_token"), r.PostForm.Get("scope")
				got.formID, got.formSecret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
				got.user, got.pass, got.hasBasic = r.BasicAuth()
				jsonAnswer(200, `{"access_token":"`+accessRaw+`","token_type":"Bearer","expires_in":3600,"refresh_token":"`+rotatedRaw+`"}`)(w, r)
			})
			c := newClient(srv, basic)
			c.Scope = "offline_access Calendars.Read"
			tok, err := c.Refresh(context.Background(), secret.New(refreshRaw))
			if err != nil {
				t.Fatalf("Refresh() = %v; want nil", err)
			}
			if got.method != http.MethodPost || got.ctype != "application/x-www-form-urlencoded" {
				t.Errorf("request = %s %s; want POST form", got.method, got.ctype)
			}
			if got.grant != "refresh_token" || got.rt != refreshRaw || got.scope != "offline_access Calendars.Read" {
				t.Errorf("form = grant %q, scope %q (refresh token sent: %v); want refresh_token grant with scope", got.grant, got.scope, got.rt == refreshRaw)
			}
			if basic {
				if !got.hasBasic || got.user != "client-1" || got.pass != secretRaw || got.formID != "" || got.formSecret != "" {
					t.Errorf("basic auth = %v user %q, form client_id %q; want credentials in the header only", got.hasBasic, got.user, got.formID)
				}
			} else {
				if got.hasBasic || got.formID != "client-1" || got.formSecret != secretRaw {
					t.Errorf("form client_id = %q, basic = %v; want credentials in the body only", got.formID, got.hasBasic)
				}
			}
			if tok.AccessToken.Reveal() != accessRaw || tok.RefreshToken.Reveal() != rotatedRaw {
				t.Errorf("Refresh() tokens differ from the new access and rotated refresh token (access ok %v, refresh ok %v)", tok.AccessToken.Reveal() == accessRaw, tok.RefreshToken.Reveal() == rotatedRaw)
			}
			if want := epoch.Add(time.Hour); !tok.Expiry.Equal(want) {
				t.Errorf("Refresh() expiry = %v; want %v", tok.Expiry, want)
			}
		})
	}
}

func TestRefreshResponses(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		body        string
		header      map[string]string
		reauthCodes []string
		wantKind    providers.Kind
		wantErr     bool
		wantRotated bool
		wantExpiry  time.Duration
		wantRetry   time.Duration
	}{
		{name: "same refresh token is no rotation", status: 200, body: `{"access_token":"` + accessRaw + `","refresh_token":"` + refreshRaw + `","expires_in":7200}`, wantExpiry: 2 * time.Hour},
		{name: "no refresh token", status: 200, body: `{"access_token":"` + accessRaw + `","token_type":"bearer"}`},
		{name: "expires_in as string", status: 200, body: `{"access_token":"` + accessRaw + `","expires_in":"3599","refresh_token":"` + rotatedRaw + `"}`, wantRotated: true, wantExpiry: 3599 * time.Second},
		{name: "invalid_grant", status: 400, body: `{"error":"invalid_grant","error_description":"` + bodyMarker + ` ` + refreshRaw + `"}`, wantErr: true, wantKind: providers.ReauthRequired},
		{name: "interaction_required", status: 400, body: `{"error":"interaction_required","error_description":"` + bodyMarker + `"}`, wantErr: true, wantKind: providers.ReauthRequired},
		{name: "extra reauth code", status: 400, body: `{"error":"invalid_request","error_description":"Invalid refresh_token"}`, reauthCodes: []string{"invalid_request"}, wantErr: true, wantKind: providers.ReauthRequired},
		{name: "invalid_request without extra codes", status: 400, body: `{"error":"invalid_request"}`, wantErr: true, wantKind: providers.Unavailable},
		{name: "invalid_scope", status: 400, body: `{"error":"invalid_scope"}`, wantErr: true, wantKind: providers.Forbidden},
		{name: "invalid_client", status: 401, body: `{"error":"invalid_client","error_description":"` + bodyMarker + `"}`, wantErr: true, wantKind: providers.Unavailable},
		{name: "rate limited", status: 429, body: `{"error":"` + bodyMarker + `"}`, header: map[string]string{"Retry-After": "17"}, wantErr: true, wantKind: providers.RateLimited, wantRetry: 17 * time.Second},
		{name: "503 with retry-after", status: 503, body: bodyMarker, header: map[string]string{"Retry-After": "5"}, wantErr: true, wantKind: providers.Unavailable, wantRetry: 5 * time.Second},
		{name: "500 html", status: 500, body: "<html>" + bodyMarker + "</html>", wantErr: true, wantKind: providers.Unavailable},
		{name: "malformed JSON", status: 200, body: `{"access_token":` + bodyMarker, wantErr: true, wantKind: providers.Unavailable},
		{name: "no access token", status: 200, body: `{"token_type":"bearer","refresh_token":"` + rotatedRaw + `"}`, wantErr: true, wantKind: providers.Unavailable},
		{name: "error in a 200", status: 200, body: `{"error":"invalid_grant"}`, wantErr: true, wantKind: providers.ReauthRequired},
		{name: "unexpected token type", status: 200, body: `{"access_token":"` + accessRaw + `","token_type":"mac"}`, wantErr: true, wantKind: providers.Unavailable},
		{name: "hostile error code", status: 400, body: `{"error":"` + refreshRaw + `\u0000"}`, wantErr: true, wantKind: providers.Unavailable},
		{name: "redirect is not followed", status: 307, body: "", header: map[string]string{"Location": "/elsewhere"}, wantErr: true, wantKind: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep, srv := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				jsonAnswer(tt.status, tt.body)(w, r)
			})
			c := newClient(srv, false)
			c.ReauthCodes = tt.reauthCodes
			tok, err := c.Refresh(context.Background(), secret.New(refreshRaw))
			assertNoLeak(t, err)
			if tt.name == "redirect is not followed" && ep.calls.Load() != 1 {
				t.Errorf("token endpoint calls = %d; want 1 (redirect followed)", ep.calls.Load())
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("Refresh() = %v; want nil", err)
				}
				if got := !tok.RefreshToken.IsZero(); got != tt.wantRotated {
					t.Errorf("Refresh() rotated = %v; want %v", got, tt.wantRotated)
				}
				var wantExp time.Time
				if tt.wantExpiry != 0 {
					wantExp = epoch.Add(tt.wantExpiry)
				}
				if !tok.Expiry.Equal(wantExp) {
					t.Errorf("Refresh() expiry = %v; want %v", tok.Expiry, wantExp)
				}
				return
			}
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Refresh() = %v; want *providers.Error", err)
			}
			if pe.Kind != tt.wantKind || pe.Provider != "testprov" || pe.RetryAfter != tt.wantRetry {
				t.Errorf("Refresh() = kind %v provider %q retry %v; want %v testprov %v", pe.Kind, pe.Provider, pe.RetryAfter, tt.wantKind, tt.wantRetry)
			}
		})
	}
}

func TestRefreshWithoutCallingUpstream(t *testing.T) {
	ep, srv := newEndpoint(t, jsonAnswer(200, `{"access_token":"x"}`))
	tests := []struct {
		name     string
		mutate   func(c *Client)
		refresh  string
		wantKind providers.Kind
	}{
		{name: "empty refresh token", refresh: "", wantKind: providers.ReauthRequired},
		{name: "no client id", mutate: func(c *Client) { c.ClientID = "" }, refresh: refreshRaw, wantKind: providers.ReauthRequired},
		{name: "zero client", mutate: func(c *Client) { *c = Client{Provider: "testprov"} }, refresh: refreshRaw, wantKind: providers.ReauthRequired},
		{name: "relative token URL", mutate: func(c *Client) { c.TokenURL = "/oauth/token" }, refresh: refreshRaw, wantKind: providers.Unavailable},
		{name: "token URL with userinfo", mutate: func(c *Client) { c.TokenURL = "https://u:p@example.com/token" }, refresh: refreshRaw, wantKind: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(srv, false)
			if tt.mutate != nil {
				tt.mutate(c)
			}
			_, err := c.Refresh(context.Background(), secret.New(tt.refresh))
			if k, ok := providers.KindOf(err); !ok || k != tt.wantKind {
				t.Errorf("Refresh() = %v; want kind %v", err, tt.wantKind)
			}
			assertNoLeak(t, err)
		})
	}
	if n := ep.calls.Load(); n != 0 {
		t.Errorf("token endpoint calls = %d; want 0", n)
	}
}

func TestRefreshTimeout(t *testing.T) {
	release := make(chan struct{})
	_, srv := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := newClient(srv, false)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Refresh(ctx, secret.New(refreshRaw))
	if k, ok := providers.KindOf(err); !ok || k != providers.Unavailable {
		t.Errorf("Refresh(cancelled) = %v; want unavailable", err)
	}
	assertNoLeak(t, err)
}

func TestCheckTokenURL(t *testing.T) {
	tests := []struct {
		raw  string
		want bool
	}{
		{"https://bitbucket.org/site/oauth2/access_token", true},
		{"http://127.0.0.1:9000/common/oauth2/v2.0/token", true},
		{"ftp://example.com/token", false},
		{"example.com/token", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := CheckTokenURL(tt.raw) == nil; got != tt.want {
			t.Errorf("CheckTokenURL(%q) ok = %v; want %v", tt.raw, got, tt.want)
		}
	}
}

// TestMisconfiguredClientIsRemembered: a token endpoint that rejects the
// client is called once per period however many refreshes ask, the
// answer names the setting to fix, and the failure is logged once per
// period.
func TestMisconfiguredClientIsRemembered(t *testing.T) {
	for _, code := range []string{"invalid_client", "unauthorized_client", "invalid_request", "unsupported_grant_type"} {
		t.Run(code, func(t *testing.T) {
			var fixed atomic.Bool
			ep, srv := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
				if fixed.Load() {
					jsonAnswer(200, `{"access_token":"`+accessRaw+`","expires_in":60}`)(w, r)
					return
				}
				jsonAnswer(401, `{"error":"`+code+`","error_description":"`+bodyMarker+`"}`)(w, r)
			})
			var now atomic.Int64
			now.Store(epoch.Unix())
			var logs strings.Builder
			var logMu sync.Mutex
			c := newClient(srv, false)
			c.Now = func() time.Time { return time.Unix(now.Load(), 0) }
			c.Setting = "CONNECTION_ACME_AZUREAD_CLIENT_ID/_CLIENT_SECRET/_TOKEN_URL"
			c.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))

			burst := func() []error {
				errs := make([]error, 40)
				var wg sync.WaitGroup
				for i := range errs {
					wg.Go(func() { _, errs[i] = c.Refresh(context.Background(), secret.New(refreshRaw)) })
				}
				wg.Wait()
				return errs
			}
			// A cold client under 40 concurrent refreshes: one probes, the
			// others wait for its answer and share it.
			for i, err := range burst() {
				assertNoLeak(t, err)
				var pe *providers.Error
				if !errors.As(err, &pe) || pe.Kind != providers.Unavailable || !strings.Contains(pe.Message, c.Setting) {
					t.Fatalf("cold Refresh() #%d = %v; want Unavailable naming %s", i, err, c.Setting)
				}
			}
			if got := ep.calls.Load(); got != 1 {
				t.Errorf("token endpoint calls for 40 cold refreshes = %d; want 1", got)
			}
			for i, err := range burst() {
				if k, _ := providers.KindOf(err); err == nil || k != providers.Unavailable {
					t.Errorf("Refresh() #%d in the period = %v; want the remembered Unavailable", i, err)
				}
			}
			if got := ep.calls.Load(); got != 1 {
				t.Errorf("token endpoint calls in one period under 80 refreshes = %d; want 1", got)
			}
			// Next period: one probe, still rejected.
			now.Add(61)
			burst()
			if got := ep.calls.Load(); got != 2 {
				t.Errorf("token endpoint calls after two periods = %d; want 2", got)
			}
			logMu.Lock()
			lines := strings.Count(logs.String(), "refreshing is suspended")
			leaked := strings.Contains(logs.String(), bodyMarker) || strings.Contains(logs.String(), secretRaw) || strings.Contains(logs.String(), refreshRaw)
			logMu.Unlock()
			if lines != 2 || leaked {
				t.Errorf("log lines = %d (leak %v); want 2, one per period, without body or secret", lines, leaked)
			}
			// Fixed configuration: the next probe succeeds and ends it.
			fixed.Store(true)
			now.Add(61)
			for i, err := range burst() {
				if err != nil {
					t.Errorf("Refresh() #%d after the client was fixed = %v; want nil", i, err)
				}
			}
			if got := ep.calls.Load(); got != 2+40 {
				t.Errorf("token endpoint calls after the fix = %d; want 42 (the probe, then everyone)", got)
			}
		})
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestProbeWaiterGivesUp: while the first exchange of a cold client is
// under way, another caller waits for it, and stops waiting when its own
// context ends; a probe without an answer (transport failure) leaves the
// client unverified, so the next exchange probes again.
func TestProbeWaiterGivesUp(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 4)
	ep, srv := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		jsonAnswer(200, `{"access_token":"`+accessRaw+`"}`)(w, r)
	})
	c := newClient(srv, false)
	done := make(chan error, 1)
	go func() {
		_, err := c.Refresh(context.Background(), secret.New(refreshRaw))
		done <- err
	}()
	<-entered // the probe is at the endpoint
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Refresh(ctx, secret.New(refreshRaw)); err == nil {
		t.Error("waiting Refresh() with a cancelled context = nil; want an error")
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("probe Refresh() = %v; want nil", err)
	}
	if got := ep.calls.Load(); got != 1 {
		t.Errorf("token endpoint calls = %d; want 1 (the waiter gave up without a request)", got)
	}

	// A transport failure: the client stays unverified.
	dead := newClient(srv, false)
	dead.TokenURL = "http://127.0.0.1:1/token"
	if _, err := dead.Refresh(context.Background(), secret.New(refreshRaw)); err == nil {
		t.Fatal("Refresh() at a closed port = nil; want an error")
	}
	verified, probing := dead.gate.Status()
	if verified || probing {
		t.Errorf("after a transport failure verified, probing = %v, %v; want false, false", verified, probing)
	}
}
