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
	refreshRaw = "glrt-SEEKRIT-REFRESH-77aa"
	clientSec  = "gloas-SEEKRIT-CLIENT-0b1c"
)

// setupRefresh mounts the fake as a self-hosted instance under /gitlab/, so
// the token endpoint the adapter derives (/gitlab/oauth/token) is checked to
// sit under the instance root rather than its /api/v4/ path.
func setupRefresh(t *testing.T, clientID string) (*fakegitlab.Server, *Client) {
	t.Helper()
	fake := &fakegitlab.Server{Now: func() time.Time { return epoch }, ClientID: "gl-app", ClientSecret: clientSec}
	fake.AddUser(accessRaw, seedProjects)
	fake.AddRefreshToken(refreshRaw, accessRaw)
	mux := http.NewServeMux()
	mux.Handle("/gitlab/", http.StripPrefix("/gitlab", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := Config{BaseURL: srv.URL + "/gitlab/api/v4/", Now: func() time.Time { return epoch }}
	if clientID != "" {
		cfg.ClientID, cfg.ClientSecret = clientID, secret.New(clientSec)
	}
	c, err := New(cfg, srv.Client())
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
	for _, s := range append([]string{accessRaw, refreshRaw, clientSec, "fakegitlab-access-", "fakegitlab-refresh-"}, extra...) {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a secret", err)
		}
	}
}

// TestRefreshRotates: a refresh returns a new access token (which lists
// projects) and a new refresh token, with GitLab's two-hour expiry; the
// access and refresh tokens it replaced stop working.
func TestRefreshRotates(t *testing.T) {
	fake, c := setupRefresh(t, "gl-app")
	ctx := context.Background()
	tok, err := c.Refresh(ctx, secret.New(refreshRaw))
	if err != nil {
		t.Fatalf("Refresh(seeded) = %v; want nil", err)
	}
	if tok.AccessToken.IsZero() || tok.RefreshToken.IsZero() || tok.RefreshToken.Reveal() == refreshRaw {
		t.Fatalf("Refresh(seeded): access set %v, rotated %v; want both", !tok.AccessToken.IsZero(), !tok.RefreshToken.IsZero())
	}
	if want := epoch.Add(2 * time.Hour); !tok.Expiry.Equal(want) {
		t.Errorf("Refresh(seeded).Expiry = %v; want %v", tok.Expiry, want)
	}
	if page, err := c.ListRepos(ctx, tok.AccessToken, providers.PageRequest{Size: 10}); err != nil || len(page.Items) != len(seedProjects) {
		t.Errorf("ListRepos(new token) = %d items, %v; want %d, nil", len(page.Items), err, len(seedProjects))
	}
	_, err = c.ListRepos(ctx, secret.New(accessRaw), providers.PageRequest{Size: 10})
	wantKind(t, "ListRepos(replaced token)", err, providers.ReauthRequired)

	_, err = c.Refresh(ctx, secret.New(refreshRaw))
	wantKind(t, "Refresh(spent)", err, providers.ReauthRequired)
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

// TestRefreshFailures: no client configured, a client the instance does
// not know, and a revoked grant.
func TestRefreshFailures(t *testing.T) {
	ctx := context.Background()

	_, noClient := setupRefresh(t, "")
	if _, err := noClient.Refresh(ctx, secret.New(refreshRaw)); err == nil {
		t.Error("Refresh without a client = nil; want an error")
	} else {
		wantKind(t, "Refresh without a client", err, providers.ReauthRequired)
	}

	_, wrong := setupRefresh(t, "another-app")
	_, err := wrong.Refresh(ctx, secret.New(refreshRaw))
	if k, _ := providers.KindOf(err); err == nil || k == providers.ReauthRequired {
		t.Errorf("Refresh with an unknown client = %v; want an error that is not ReauthRequired (the configuration is at fault)", err)
	}
	assertNoSecret(t, err)

	okFake, ok := setupRefresh(t, "gl-app")
	okFake.Revoke(accessRaw)
	_, err = ok.Refresh(ctx, secret.New(refreshRaw))
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
