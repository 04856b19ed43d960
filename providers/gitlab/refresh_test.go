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
// self-hosted prefix (/gitlab/), and a Client whose TokenURL defaults from
// BaseURL: the derived endpoint (/gitlab/oauth/token) is checked to sit
// under the instance root rather than its /api/v4/ path.
func refreshSetup(t *testing.T, id, sec string) (*fakegitlab.Server, *Client) {
	t.Helper()
	fake := &fakegitlab.Server{Now: func() time.Time { return epoch }, ClientID: "gl-app", ClientSecret: clientSecretRaw}
	fake.AddUser(accessRaw, seedProjects)
	fake.AddRefreshToken(accessRaw, refreshRaw)
	mux := http.NewServeMux()
	mux.Handle("/gitlab/", http.StripPrefix("/gitlab", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/gitlab/api/v4/", ClientID: id, ClientSecret: secret.New(sec), Setting: "GITLAB_CLIENT_ID/GITLAB_CLIENT_SECRET", Now: func() time.Time { return epoch }}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return fake, c
}

func assertNoSecret(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{accessRaw, refreshRaw, clientSecretRaw, "fakegitlab-access-", "fakegitlab-refresh-"}, extra...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

// TestRefreshRotates: a refresh at {instance}/oauth/token returns a new
// access token (which lists projects) valid two hours and a new refresh
// token; the access and refresh tokens it replaced stop working
// (invalid_grant is ReauthRequired), and the rotated one refreshes again.
func TestRefreshRotates(t *testing.T) {
	fake, c := refreshSetup(t, "gl-app", clientSecretRaw)
	ctx := context.Background()
	tok, err := c.Refresh(ctx, secret.New(refreshRaw))
	if err != nil {
		t.Fatalf("Refresh() = %v; want nil", err)
	}
	if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() || tok.RefreshToken.Reveal() == refreshRaw {
		t.Fatalf("Refresh(): access set %v, rotated %v; want both", !tok.AccessToken.IsZero(), !tok.RefreshToken.IsZero())
	}
	if want := epoch.Add(2 * time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Refresh() expiry = %v; want %v", tok.Expiry, want)
	}
	if page, err := c.ListRepos(ctx, tok.AccessToken, providers.PageRequest{Size: 10}); err != nil || len(page.Items) != len(seedProjects) {
		t.Errorf("ListRepos(new token) = %d items, %v; want %d, nil", len(page.Items), err, len(seedProjects))
	}
	_, err = c.ListRepos(ctx, secret.New(accessRaw), providers.PageRequest{Size: 2})
	wantKind(t, "ListRepos(rotated-away token)", err, providers.ReauthRequired)

	_, err = c.Refresh(ctx, secret.New(refreshRaw))
	wantKind(t, "Refresh(spent refresh token)", err, providers.ReauthRequired)
	assertNoSecret(t, err, tok.RefreshToken.Reveal(), tok.AccessToken.Reveal())
	if got := fake.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	if _, err := c.Refresh(ctx, tok.RefreshToken); err != nil {
		t.Errorf("Refresh(rotated) = %v; want nil", err)
	}
	if got := fake.Refreshes(); got != 3 {
		t.Errorf("Refreshes() = %d; want 3", got)
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
	assertNoSecret(t, err, "wrong-secret", "Client authentication failed")
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

// TestRefreshRevokedGrant: revoking the authorization kills its refresh
// token: ReauthRequired, without a secret in the error.
func TestRefreshRevokedGrant(t *testing.T) {
	fake, c := refreshSetup(t, "gl-app", clientSecretRaw)
	fake.Revoke(accessRaw)
	_, err := c.Refresh(context.Background(), secret.New(refreshRaw))
	wantKind(t, "Refresh(revoked grant)", err, providers.ReauthRequired)
	assertNoSecret(t, err)
}

func TestTokenURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://gitlab.com/":             "https://gitlab.com/oauth/token",
		"https://gitlab.acme.com/api/v4/": "https://gitlab.acme.com/oauth/token",
		"https://acme.com/gitlab/api/v4":  "https://acme.com/gitlab/oauth/token",
		"http://127.0.0.1:9000/":          "http://127.0.0.1:9000/oauth/token",
	} {
		if got := TokenURL(in); got != want {
			t.Errorf("TokenURL(%q) = %q; want %q", in, got, want)
		}
	}
}
