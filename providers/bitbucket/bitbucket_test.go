package bitbucket

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakebitbucket"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const (
	accessRaw  = "bbat-SEEKRIT-ACCESS-7f3a"
	refreshRaw = "bbrt-SEEKRIT-REFRESH-91c2"
	clientSec  = "bbcs-SEEKRIT-CLIENT-SECRET"
)

var epoch = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

var seedRepos = []fakebitbucket.Repo{
	{UUID: "{11111111-0000-0000-0000-000000000001}", FullName: "acme/oldest", Name: "Oldest", Description: "first", UpdatedOn: epoch.Add(-72 * time.Hour), HTMLURL: "https://bitbucket.org/acme/oldest"},
	{UUID: "{11111111-0000-0000-0000-000000000002}", FullName: "acme/newest", Name: "Newest", Private: true, Description: "", UpdatedOn: epoch.Add(-1 * time.Hour), HTMLURL: "https://bitbucket.org/acme/newest"},
	{UUID: "{11111111-0000-0000-0000-000000000003}", FullName: "acme/middle", Name: "Middle", Description: "in between", UpdatedOn: epoch.Add(-24*time.Hour + 123456*time.Microsecond), HTMLURL: "https://bitbucket.org/acme/middle"},
}

// setup mounts the fake under /bb/ on a mux that answers anything else 404,
// so a request that ignores the base path fails.
func setup(t *testing.T) (*fakebitbucket.Server, *Client) {
	t.Helper()
	fake := &fakebitbucket.Server{ClientID: "bb-client", ClientSecret: clientSec}
	fake.AddUser(accessRaw, refreshRaw, seedRepos)
	mux := http.NewServeMux()
	mux.Handle("/bb/", http.StripPrefix("/bb", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{
		BaseURL:      srv.URL + "/bb/",
		TokenURL:     srv.URL + "/bb/site/oauth2/access_token",
		ClientID:     "bb-client",
		ClientSecret: secret.New(clientSec),
		Now:          func() time.Time { return epoch },
	}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return fake, c
}

func assertNoLeak(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{accessRaw, refreshRaw, clientSec, "fakebitbucket-access-", "fakebitbucket-refresh-", "Access token expired", "privilege scopes"}, extra...) {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", err), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func wantKind(t *testing.T, what string, err error, want providers.Kind) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s = %v; want *providers.Error of kind %v", what, err, want)
	}
	if pe.Kind != want || pe.Provider != Provider {
		t.Errorf("%s = %v (kind %v, provider %q); want kind %v, provider %q", what, err, pe.Kind, pe.Provider, want, Provider)
	}
	assertNoLeak(t, err)
	return pe
}

func TestListReposMapsFields(t *testing.T) {
	_, c := setup(t)
	page, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 100})
	if err != nil {
		t.Fatalf("ListRepos() = %v; want nil", err)
	}
	want := []providers.Repository{
		{ID: "{11111111-0000-0000-0000-000000000002}", Name: "Newest", FullName: "acme/newest", URL: "https://bitbucket.org/acme/newest", Private: true, Description: "", Stars: 0, UpdatedAt: epoch.Add(-time.Hour)},
		{ID: "{11111111-0000-0000-0000-000000000003}", Name: "Middle", FullName: "acme/middle", URL: "https://bitbucket.org/acme/middle", Private: false, Description: "in between", UpdatedAt: epoch.Add(-24*time.Hour + 123456*time.Microsecond)},
		{ID: "{11111111-0000-0000-0000-000000000001}", Name: "Oldest", FullName: "acme/oldest", URL: "https://bitbucket.org/acme/oldest", Description: "first", UpdatedAt: epoch.Add(-72 * time.Hour)},
	}
	if len(page.Items) != len(want) {
		t.Fatalf("ListRepos() returned %d repos; want %d", len(page.Items), len(want))
	}
	for i, got := range page.Items {
		w := want[i]
		if got.ID != w.ID || got.Name != w.Name || got.FullName != w.FullName || got.URL != w.URL ||
			got.Private != w.Private || got.Description != w.Description || got.Stars != w.Stars || !got.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("ListRepos() item %d = %+v; want %+v", i, got, w)
		}
	}
	if page.Next != "" {
		t.Errorf("ListRepos() next = %q; want none", page.Next)
	}
}

func TestListReposPaginates(t *testing.T) {
	fake, c := setup(t)
	ctx, tok := context.Background(), secret.New(accessRaw)
	p1, err := c.ListRepos(ctx, tok, providers.PageRequest{Size: 2})
	if err != nil {
		t.Fatalf("ListRepos(page 1) = %v", err)
	}
	if len(p1.Items) != 2 || p1.Items[0].FullName != "acme/newest" || p1.Items[1].FullName != "acme/middle" {
		t.Errorf("ListRepos(page 1) = %+v; want newest, middle", p1.Items)
	}
	if p1.Next != "acme/2" {
		t.Fatalf("ListRepos(page 1).Next = %q; want %q", p1.Next, "acme/2")
	}
	p2, err := c.ListRepos(ctx, tok, providers.PageRequest{Size: 2, Token: p1.Next})
	if err != nil {
		t.Fatalf("ListRepos(page 2) = %v", err)
	}
	if len(p2.Items) != 1 || p2.Items[0].FullName != "acme/oldest" || p2.Next != "" || p2.Partial {
		t.Errorf("ListRepos(page 2) = %+v next %q partial %v; want oldest, no next, complete", p2.Items, p2.Next, p2.Partial)
	}
	// Page 1 reads the workspaces and one repository page; page 2 reads
	// its repository page and, the workspace being done, the workspaces.
	if got, gotWS, gone := fake.Calls(), fake.WorkspaceCalls(), fake.GoneCalls(); got != 2 || gotWS != 2 || gone != 0 {
		t.Errorf("fake calls = %d repositories, %d workspaces, %d removed; want 2, 2, 0", got, gotWS, gone)
	}
}

// TestListReposAcrossWorkspaces pages a user in four workspaces (one with
// none of their repositories) to the end: every repository exactly once,
// no page mixing workspaces, workspaces in slug order.
func TestListReposAcrossWorkspaces(t *testing.T) {
	fake := &fakebitbucket.Server{}
	var repos []fakebitbucket.Repo
	for i, ws := range []string{"zeta", "acme", "zeta", "mid-co", "acme", "zeta", "acme"} {
		repos = append(repos, fakebitbucket.Repo{FullName: fmt.Sprintf("%s/r%d", ws, i), UpdatedOn: epoch.Add(-time.Duration(i) * time.Hour)})
	}
	fake.AddUser(accessRaw, "", repos)
	fake.JoinWorkspaces(accessRaw, "empty-ws")
	srv := httptest.NewServer(http.StripPrefix("/bb", fake))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/bb/"}, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	var order []string
	tok := ""
	for pages := 0; ; pages++ {
		if pages > 20 {
			t.Fatal("no end after 20 pages")
		}
		p, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 2, Token: tok})
		if err != nil {
			t.Fatalf("ListRepos(%q) = %v", tok, err)
		}
		if len(p.Items) == 0 {
			t.Fatalf("ListRepos(%q) = empty page (next %q); want items", tok, p.Next)
		}
		ws, _, _ := strings.Cut(p.Items[0].FullName, "/")
		for _, it := range p.Items {
			seen[it.FullName]++
			if w, _, _ := strings.Cut(it.FullName, "/"); w != ws {
				t.Errorf("page %q mixes workspaces %s and %s", tok, ws, w)
			}
		}
		if len(order) == 0 || order[len(order)-1] != ws {
			order = append(order, ws)
		}
		if tok = p.Next; tok == "" {
			break
		}
	}
	for _, r := range repos {
		if seen[r.FullName] != 1 {
			t.Errorf("%s listed %d times; want once", r.FullName, seen[r.FullName])
		}
	}
	if want := []string{"acme", "mid-co", "zeta"}; !slices.Equal(order, want) {
		t.Errorf("workspace order = %v; want %v", order, want)
	}
	if fake.GoneCalls() != 0 {
		t.Errorf("the adapter called a removed endpoint %d times", fake.GoneCalls())
	}
}

// TestListReposGivesUpOnManyEmptyWorkspaces: an empty page never claims a
// continuation; after maxEmptyWorkspaces it stops and says it is partial.
func TestListReposGivesUpOnManyEmptyWorkspaces(t *testing.T) {
	fake, c := setup(t)
	var empty []string
	for i := range maxEmptyWorkspaces + 5 {
		empty = append(empty, fmt.Sprintf("b-empty-%02d", i))
	}
	fake.JoinWorkspaces(accessRaw, empty...)
	p, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 10, Token: "b-empty-00/1"})
	if err != nil {
		t.Fatalf("ListRepos() = %v", err)
	}
	if len(p.Items) != 0 || p.Next != "" || !p.Partial || p.PartialReason == "" {
		t.Errorf("ListRepos() = %d items, next %q, partial %v %q; want an empty, final, partial page", len(p.Items), p.Next, p.Partial, p.PartialReason)
	}
}

func TestListReposMapsErrors(t *testing.T) {
	tests := []struct {
		name      string
		arrange   func(f *fakebitbucket.Server)
		token     string
		timeout   time.Duration
		want      providers.Kind
		wantRetry time.Duration
		wantMsg   string
	}{
		{name: "401", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 401) }, want: providers.ReauthRequired},
		{name: "expired token", arrange: func(f *fakebitbucket.Server) { f.ExpireAccessToken(accessRaw) }, want: providers.ReauthRequired},
		{name: "revoked token", arrange: func(f *fakebitbucket.Server) { f.Revoke(accessRaw) }, want: providers.ReauthRequired},
		{name: "unknown token", token: "bbat-unknown", want: providers.ReauthRequired},
		{name: "missing scope", arrange: func(f *fakebitbucket.Server) { f.DenyScope(accessRaw) }, want: providers.Forbidden, wantMsg: "consent"},
		{name: "429 with retry-after", arrange: func(f *fakebitbucket.Server) { f.RateLimitNext(1, 42*time.Second) }, want: providers.RateLimited, wantRetry: 42 * time.Second},
		{name: "429 without retry-after", arrange: func(f *fakebitbucket.Server) { f.RateLimitNext(1, 0) }, want: providers.RateLimited},
		{name: "404", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 404) }, want: providers.Unavailable},
		{name: "410", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 410) }, want: providers.Unavailable, wantMsg: "410 Gone"},
		{name: "400", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 400) }, want: providers.BadInput},
		{name: "500", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 500) }, want: providers.Unavailable},
		{name: "503", arrange: func(f *fakebitbucket.Server) { f.FailNext(1, 503) }, want: providers.Unavailable},
		{name: "malformed JSON", arrange: func(f *fakebitbucket.Server) { f.MalformedNext(1) }, want: providers.Unavailable},
		{name: "timeout", arrange: func(f *fakebitbucket.Server) { f.Hang(1) }, timeout: 50 * time.Millisecond, want: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c := setup(t)
			if tt.arrange != nil {
				tt.arrange(fake)
			}
			token := accessRaw
			if tt.token != "" {
				token = tt.token
			}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := c.ListRepos(ctx, secret.New(token), providers.PageRequest{Size: 10})
			pe := wantKind(t, "ListRepos()", err, tt.want)
			if pe != nil && pe.RetryAfter != tt.wantRetry {
				t.Errorf("ListRepos() retry after = %v; want %v", pe.RetryAfter, tt.wantRetry)
			}
			if pe != nil && tt.wantMsg != "" && !strings.Contains(pe.Message, tt.wantMsg) {
				t.Errorf("ListRepos() message = %q; want it to mention %q", pe.Message, tt.wantMsg)
			}
		})
	}
}

func TestListReposMalformedResponses(t *testing.T) {
	tests := []struct {
		name string
		body string
	}{
		{"not JSON", "<html>" + accessRaw + "</html>"},
		{"wrong type", `{"values":[{"uuid":1}]}`},
		{"bad date", `{"values":[{"uuid":"x","updated_on":"yesterday"}]}`},
		{"next without page", `{"values":[],"next":"https://api.bitbucket.org/2.0/repositories?role=member"}`},
		{"next with hostile page", `{"values":[],"next":"https://api.bitbucket.org/2.0/repositories?page=2%26x%3D1"}`},
		{"workspace with hostile slug", `{"values":[{"workspace":{"slug":"../admin"}}]}`},
		{"workspace next elsewhere", `{"values":[{"workspace":{"slug":"acme"}}],"next":"https://evil.example/2.0/user/workspaces"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL + "/bb/"}, srv.Client())
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			_, err = c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 10})
			wantKind(t, "ListRepos()", err, providers.Unavailable)
		})
	}
}

func TestRefreshRotates(t *testing.T) {
	fake, c := setup(t)
	ctx := context.Background()

	tok1, err := c.Refresh(ctx, secret.New(refreshRaw))
	if err != nil {
		t.Fatalf("Refresh(seeded) = %v; want nil", err)
	}
	if tok1.AccessToken.IsZero() || tok1.RefreshToken.IsZero() || tok1.RefreshToken.Reveal() == refreshRaw {
		t.Fatalf("Refresh(seeded) = access set %v, rotated %v; want a new access and a rotated refresh token", !tok1.AccessToken.IsZero(), !tok1.RefreshToken.IsZero())
	}
	if want := epoch.Add(7200 * time.Second); !tok1.Expiry.Equal(want) {
		t.Errorf("Refresh(seeded).Expiry = %v; want %v", tok1.Expiry, want)
	}
	if _, err := c.ListRepos(ctx, tok1.AccessToken, providers.PageRequest{Size: 1}); err != nil {
		t.Errorf("ListRepos(refreshed token) = %v; want nil", err)
	}

	tok2, err := c.Refresh(ctx, tok1.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh(rotated) = %v; want nil", err)
	}
	if tok2.RefreshToken.IsZero() || tok2.RefreshToken.Equal(tok1.RefreshToken) {
		t.Errorf("Refresh(rotated) did not rotate the refresh token again")
	}

	_, err = c.Refresh(ctx, secret.New(refreshRaw))
	wantKind(t, "Refresh(spent)", err, providers.ReauthRequired)
	assertNoLeak(t, err, tok1.RefreshToken.Reveal(), tok2.AccessToken.Reveal())
	if got := fake.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	if got := fake.Refreshes(); got != 3 {
		t.Errorf("Refreshes() = %d; want 3", got)
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name    string
		cfg     func(c *Config)
		arrange func(f *fakebitbucket.Server)
		refresh string
		want    providers.Kind
		calls   int
	}{
		{name: "revoked refresh token", arrange: func(f *fakebitbucket.Server) { f.Revoke(refreshRaw) }, refresh: refreshRaw, want: providers.ReauthRequired, calls: 1},
		{name: "empty refresh token", refresh: "", want: providers.ReauthRequired, calls: 0},
		{name: "no client configured", cfg: func(c *Config) { c.ClientID, c.ClientSecret = "", secret.String{} }, refresh: refreshRaw, want: providers.ReauthRequired, calls: 0},
		{name: "wrong client secret", cfg: func(c *Config) { c.ClientSecret = secret.New("wrong-" + clientSec) }, refresh: refreshRaw, want: providers.Unavailable, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakebitbucket.Server{ClientID: "bb-client", ClientSecret: clientSec}
			fake.AddUser(accessRaw, refreshRaw, nil)
			if tt.arrange != nil {
				tt.arrange(fake)
			}
			mux := http.NewServeMux()
			mux.Handle("/bb/", http.StripPrefix("/bb", fake))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			cfg := Config{BaseURL: srv.URL + "/bb/", TokenURL: srv.URL + "/bb/site/oauth2/access_token", ClientID: "bb-client", ClientSecret: secret.New(clientSec)}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			c, err := New(cfg, srv.Client())
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			_, err = c.Refresh(context.Background(), secret.New(tt.refresh))
			wantKind(t, "Refresh()", err, tt.want)
			if got := fake.Refreshes(); got != tt.calls {
				t.Errorf("Refreshes() = %d; want %d", got, tt.calls)
			}
			if got := fake.SpentRefreshTokenUses(); got != 0 {
				t.Errorf("SpentRefreshTokenUses() = %d; want 0", got)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		hc   *http.Client
		ok   bool
	}{
		{"defaults", Config{}, http.DefaultClient, true},
		{"nil client gets a default", Config{}, nil, true},
		{"client ID without secret", Config{ClientID: "x"}, http.DefaultClient, false},
		{"relative base", Config{BaseURL: "/api/"}, http.DefaultClient, false},
		{"bad token url", Config{TokenURL: "bitbucket.org/token"}, http.DefaultClient, false},
	}
	for _, tt := range tests {
		_, err := New(tt.cfg, tt.hc)
		if (err == nil) != tt.ok {
			t.Errorf("New(%s) = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestListReposSkipsAWorkspaceGone: a token naming a workspace the user is
// no longer in (Bitbucket answers 404) continues with the next workspace.
func TestListReposSkipsAWorkspaceGone(t *testing.T) {
	fake, c := setup(t)
	p, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 10, Token: "aaa-left/3"})
	if err != nil {
		t.Fatalf("ListRepos() = %v; want the next workspace's repositories", err)
	}
	if len(p.Items) != 3 || !strings.HasPrefix(p.Items[0].FullName, "acme/") || p.Next != "" {
		t.Errorf("ListRepos() = %+v next %q; want acme's three repositories and no next", p.Items, p.Next)
	}
	if got := fake.Calls(); got != 2 {
		t.Errorf("repository calls = %d; want 2 (the lost workspace, then acme)", got)
	}
}
