package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

func TestRefreshThenList(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.fake.ExpireAccessToken(aliceAccess)
	q := week
	q.Page.Size = 10
	_, err := e.client.ListEvents(ctx, secret.New(aliceAccess), q)
	if k, _ := providers.KindOf(err); k != providers.ReauthRequired {
		t.Fatalf("ListEvents(expired) = %v; want ReauthRequired", err)
	}

	tok, err := e.client.Refresh(ctx, secret.New(aliceRefresh))
	if err != nil {
		t.Fatalf("Refresh() error: %v", err)
	}
	if !strings.HasPrefix(tok.AccessToken.Reveal(), "ya29.fakegoogle-") || tok.AccessToken.Equal(secret.New(aliceAccess)) {
		t.Errorf("Refresh() access token is not a new token from the fake")
	}
	if !tok.RefreshToken.IsZero() {
		t.Errorf("Refresh() RefreshToken set; want empty (Google does not rotate)")
	}
	if want := clock.Add(3599 * time.Second); !tok.Expiry.Equal(want) {
		t.Errorf("Refresh() Expiry = %v; want %v", tok.Expiry, want)
	}
	if got := e.fake.Refreshes(); got != 1 {
		t.Errorf("Refreshes() = %d; want 1", got)
	}
	if s := fmt.Sprintf("%v %+v %#v", tok, tok, tok); strings.Contains(s, tok.AccessToken.Reveal()) {
		t.Errorf("printing the Token shows the access token: %s", s)
	}

	got, err := e.client.ListEvents(ctx, tok.AccessToken, q)
	if err != nil || ids(got.Items) != "spanning,standup,offsite,untitled" {
		t.Errorf("ListEvents(refreshed) = [%s], %v; want the four events of the week", ids(got.Items), err)
	}
}

func TestRefreshErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		arrange    func(*testing.T, *env) *Client
		refresh    string
		kind       providers.Kind
		retryAfter time.Duration
		calls      int // requests the token endpoint should see
	}{
		{"unknown refresh token", nil, "1//FAKEGOOGLE_unknown", providers.ReauthRequired, 0, 1},
		{"revoked grant", func(t *testing.T, e *env) *Client { e.fake.Revoke(aliceAccess); return e.client }, aliceRefresh, providers.ReauthRequired, 0, 1},
		{"no client configured", func(t *testing.T, e *env) *Client { return e.newClient(t, "", "") }, aliceRefresh, providers.ReauthRequired, 0, 0},
		{"empty refresh token", nil, "", providers.ReauthRequired, 0, 0},
		{"wrong client secret", func(t *testing.T, e *env) *Client { return e.newClient(t, clientID, "GOCSPX-wrong") }, aliceRefresh, providers.Unavailable, 0, 1},
		{"unknown client", func(t *testing.T, e *env) *Client { return e.newClient(t, "other.apps.googleusercontent.com", "x") }, aliceRefresh, providers.Unavailable, 0, 1},
		{"500", func(t *testing.T, e *env) *Client { e.fake.FailNextRefresh(1, 500); return e.client }, aliceRefresh, providers.Unavailable, 0, 1},
		{"503", func(t *testing.T, e *env) *Client { e.fake.FailNextRefresh(1, 503); return e.client }, aliceRefresh, providers.Unavailable, 0, 1},
		{"429", func(t *testing.T, e *env) *Client { e.fake.FailNextRefresh(1, 429); return e.client }, aliceRefresh, providers.RateLimited, 0, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			c := e.client
			if tc.arrange != nil {
				c = tc.arrange(t, e)
			}
			tok, err := c.Refresh(context.Background(), secret.New(tc.refresh))
			if err == nil {
				t.Fatalf("Refresh() = %v, nil; want %v", tok, tc.kind)
			}
			pe := asError(t, err)
			if pe.Kind != tc.kind || pe.RetryAfter != tc.retryAfter || pe.Provider != "google-oauth2" {
				t.Errorf("Refresh() = %v (kind %v, retry after %v); want kind %v, retry after %v", err, pe.Kind, pe.RetryAfter, tc.kind, tc.retryAfter)
			}
			if pe.Kind == providers.ReauthRequired && !strings.Contains(pe.Message, "sign in with Google again") {
				t.Errorf("Refresh() message = %q; want it to tell the user to sign in again", pe.Message)
			}
			if got := e.fake.Refreshes(); got != tc.calls {
				t.Errorf("Refreshes() = %d; want %d", got, tc.calls)
			}
			extra := []string{"GOCSPX-wrong", "The OAuth client was not found", `"invalid_client"`}
			if tc.refresh != "" {
				extra = append(extra, tc.refresh)
			}
			checkNoLeak(t, err, extra...)
		})
	}
}

func TestRefreshInvalidGrantCause(t *testing.T) {
	e := setup(t)
	_, err := e.client.Refresh(context.Background(), secret.New("1//FAKEGOOGLE_unknown"))
	if !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("Refresh() = %v; want the cause to name invalid_grant for the logs", err)
	}
	checkNoLeak(t, err, "1//FAKEGOOGLE_unknown")
}

func TestRefreshTransport(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		e := setup(t)
		e.fake.Latency = time.Hour // aborted when the client gives up
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := e.client.Refresh(ctx, secret.New(aliceRefresh))
		if k, _ := providers.KindOf(err); k != providers.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Refresh(slow) = %v; want Unavailable wrapping context.DeadlineExceeded", err)
		}
		checkNoLeak(t, err)
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		url := srv.URL
		srv.Close()
		c, err := New(Config{TokenURL: url + "/token", ClientID: clientID, ClientSecret: secret.New(clientSecret)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Refresh(context.Background(), secret.New(aliceRefresh))
		if k, _ := providers.KindOf(err); err == nil || k != providers.Unavailable {
			t.Errorf("Refresh(closed server) = %v; want Unavailable", err)
		}
		checkNoLeak(t, err, url)
	})
}

func TestRefreshResponses(t *testing.T) {
	for _, tc := range []struct {
		name        string
		body        string
		fail        bool // Refresh fails with Unavailable
		wantRotated bool
		wantExpiry  bool
	}{
		{"rotated refresh token", `{"access_token":"ya29.new","refresh_token":"1//rotated","expires_in":60,"token_type":"Bearer"}`, false, true, true},
		{"same refresh token echoed", `{"access_token":"ya29.new","refresh_token":"` + aliceRefresh + `","expires_in":60,"token_type":"Bearer"}`, false, false, true},
		{"no expires_in", `{"access_token":"ya29.new","token_type":"Bearer"}`, false, false, false},
		{"no access token", `{"token_type":"Bearer","expires_in":3599}`, true, false, false},
		{"not JSON", `<html>ya29.leak</html>`, true, false, false},
		{"not a bearer token", `{"access_token":"ya29.new","token_type":"MAC"}`, true, false, false},
		{"oversized", `{"access_token":"` + strings.Repeat("a", 70<<10) + `"}`, true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var form map[string]string
			c := custom(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/google/token" {
					t.Errorf("request = %s %s; want POST /google/token", r.Method, r.URL.Path)
				}
				if err := r.ParseForm(); err != nil {
					t.Errorf("ParseForm: %v", err)
				}
				form = map[string]string{}
				for k := range r.PostForm {
					form[k] = r.PostForm.Get(k)
				}
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, tc.body)
			})
			tok, err := c.Refresh(context.Background(), secret.New(aliceRefresh))
			want := map[string]string{"grant_type": "refresh_token", "refresh_token": aliceRefresh, "client_id": clientID, "client_secret": clientSecret}
			if fmt.Sprint(form) != fmt.Sprint(want) {
				t.Errorf("token request form differs from the refresh_token grant with client credentials in the body")
			}
			if tc.fail {
				if k, ok := providers.KindOf(err); !ok || k != providers.Unavailable {
					t.Errorf("Refresh() = %v; want Unavailable", err)
				}
				checkNoLeak(t, err, "ya29.leak", "<html>")
				return
			}
			if err != nil {
				t.Fatalf("Refresh() error: %v", err)
			}
			if tok.AccessToken.Reveal() != "ya29.new" {
				t.Errorf("Refresh() access token differs from the response's")
			}
			if got := !tok.RefreshToken.IsZero(); got != tc.wantRotated {
				t.Errorf("Refresh() rotated = %v; want %v", got, tc.wantRotated)
			}
			if got := !tok.Expiry.IsZero(); got != tc.wantExpiry {
				t.Errorf("Refresh() has expiry = %v; want %v", got, tc.wantExpiry)
			}
		})
	}
}
