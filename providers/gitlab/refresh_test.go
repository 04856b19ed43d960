package gitlab

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakegitlab"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const (
	refreshRaw      = "glrt-REFRESH-SEEKRIT"
	clientSecretRaw = "gloas-CLIENT-SEEKRIT"
)

// refreshSetup serves a fakegitlab with one OAuth application under a
// self-hosted prefix, and a Client whose TokenURL defaults from BaseURL.
func refreshSetup(t *testing.T, id, sec string) (*fakegitlab.Server, *Client) {
	t.Helper()
	fake := &fakegitlab.Server{Now: func() time.Time { return epoch }, ClientID: "gl-app", ClientSecret: clientSecretRaw}
	fake.AddUser(accessRaw, seedProjects)
	fake.AddRefreshToken(accessRaw, refreshRaw)
	mux := http.NewServeMux()
	mux.Handle("/gitlab/", http.StripPrefix("/gitlab", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/gitlab/", ClientID: id, ClientSecret: secret.New(sec), Setting: "GITLAB_CLIENT_ID/GITLAB_CLIENT_SECRET", Now: func() time.Time { return epoch }}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return fake, c
}

// TestRefreshRotates: a refresh at {instance}/oauth/token returns a new
// access token valid two hours and a new refresh token; the old refresh
// token then answers invalid_grant, which is ReauthRequired.
func TestRefreshRotates(t *testing.T) {
	fake, c := refreshSetup(t, "gl-app", clientSecretRaw)
	tok, err := c.Refresh(context.Background(), secret.New(refreshRaw))
	if err != nil {
		t.Fatalf("Refresh() = %v; want nil", err)
	}
	if tok.RefreshToken.IsZero() || tok.RefreshToken.Reveal() == refreshRaw {
		t.Error("Refresh() did not return the rotated refresh token")
	}
	if want := epoch.Add(2 * time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Refresh() expiry = %v; want %v", tok.Expiry, want)
	}
	if _, err := c.ListRepos(context.Background(), tok.AccessToken, providers.PageRequest{Size: 2}); err != nil {
		t.Errorf("ListRepos(new token) = %v; want nil", err)
	}
	_, err = c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 2})
	wantKind(t, "ListRepos(rotated-away token)", err, providers.ReauthRequired)

	_, err = c.Refresh(context.Background(), secret.New(refreshRaw))
	wantKind(t, "Refresh(spent refresh token)", err, providers.ReauthRequired)
	if got := fake.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
}

// TestRefreshWithWrongClient: invalid_client is the operator's problem:
// Unavailable naming the setting, and the refresh token is not burnt.
func TestRefreshWithWrongClient(t *testing.T) {
	fake, c := refreshSetup(t, "gl-app", "wrong-secret")
	_, err := c.Refresh(context.Background(), secret.New(refreshRaw))
	pe := wantKind(t, "Refresh(wrong client secret)", err, providers.Unavailable)
	if !strings.Contains(pe.Message, "GITLAB_CLIENT_ID") {
		t.Errorf("message %q does not name the setting", pe.Message)
	}
	for _, s := range []string{refreshRaw, clientSecretRaw, "wrong-secret", "Client authentication failed"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
	// Remembered: no second call in the period.
	_, _ = c.Refresh(context.Background(), secret.New(refreshRaw))
	if got := fake.Refreshes(); got != 1 {
		t.Errorf("token endpoint calls = %d; want 1", got)
	}
}

// TestRefreshNotConfigured: without a client, nothing is sent.
func TestRefreshNotConfigured(t *testing.T) {
	fake, c := refreshSetup(t, "", "")
	_, err := c.Refresh(context.Background(), secret.New(refreshRaw))
	wantKind(t, "Refresh(no client)", err, providers.ReauthRequired)
	if got := fake.Refreshes(); got != 0 {
		t.Errorf("token endpoint calls = %d; want 0", got)
	}
}
