package gitlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakegitlab"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const accessRaw = "glat-SEEKRIT-ACCESS-5d0e"

var epoch = time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC)

func ptr(s string) *string { return &s }

var seedProjects = []fakegitlab.Project{
	{ID: 101, Name: "Old Public", PathWithNamespace: "acme/old-public", Description: ptr("public one"), Visibility: "public", StarCount: 12, LastActivityAt: epoch.Add(-48 * time.Hour)},
	{ID: 102, Name: "Internal", PathWithNamespace: "acme/sub/internal", Description: nil, Visibility: "internal", StarCount: 0, LastActivityAt: epoch.Add(-2 * time.Hour)},
	{ID: 9007199254740993, Name: "Private", PathWithNamespace: "acme/private", Description: ptr(""), Visibility: "private", StarCount: 3, LastActivityAt: epoch.Add(-30 * time.Minute), WebURL: "https://gitlab.example.com/gitlab/acme/private"},
}

// setup mounts the fake like a self-hosted instance under /gitlab/ on a mux
// that answers anything else 404.
func setup(t *testing.T) (*fakegitlab.Server, *Client, string) {
	t.Helper()
	fake := &fakegitlab.Server{Now: func() time.Time { return epoch }}
	fake.AddUser(accessRaw, seedProjects)
	mux := http.NewServeMux()
	mux.Handle("/gitlab/", http.StripPrefix("/gitlab", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/gitlab/", Now: func() time.Time { return epoch }}, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return fake, c, srv.URL
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
	for _, s := range []string{accessRaw, "Unauthorized", "insufficient_scope", "Retry later", "Token is expired"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("%s error %q contains %q", what, err, s)
		}
	}
	return pe
}

func TestListReposMapsFields(t *testing.T) {
	_, c, srvURL := setup(t)
	page, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 100})
	if err != nil {
		t.Fatalf("ListRepos() = %v; want nil", err)
	}
	want := []providers.Repository{
		{ID: "9007199254740993", Name: "Private", FullName: "acme/private", URL: "https://gitlab.example.com/gitlab/acme/private", Private: true, Description: "", Stars: 3, UpdatedAt: epoch.Add(-30 * time.Minute)},
		{ID: "102", Name: "Internal", FullName: "acme/sub/internal", URL: srvURL + "/gitlab/acme/sub/internal", Private: true, Description: "", Stars: 0, UpdatedAt: epoch.Add(-2 * time.Hour)},
		{ID: "101", Name: "Old Public", FullName: "acme/old-public", URL: srvURL + "/gitlab/acme/old-public", Private: false, Description: "public one", Stars: 12, UpdatedAt: epoch.Add(-48 * time.Hour)},
	}
	if len(page.Items) != len(want) {
		t.Fatalf("ListRepos() returned %d projects; want %d", len(page.Items), len(want))
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
	fake, c, _ := setup(t)
	ctx, tok := context.Background(), secret.New(accessRaw)
	p1, err := c.ListRepos(ctx, tok, providers.PageRequest{Size: 2})
	if err != nil {
		t.Fatalf("ListRepos(page 1) = %v", err)
	}
	if len(p1.Items) != 2 || p1.Items[0].ID != "9007199254740993" || p1.Items[1].ID != "102" || p1.Next != "2" {
		t.Fatalf("ListRepos(page 1) = %+v next %q; want projects 9007199254740993, 102 and next %q", p1.Items, p1.Next, "2")
	}
	p2, err := c.ListRepos(ctx, tok, providers.PageRequest{Size: 2, Token: p1.Next})
	if err != nil {
		t.Fatalf("ListRepos(page 2) = %v", err)
	}
	if len(p2.Items) != 1 || p2.Items[0].ID != "101" || p2.Next != "" {
		t.Errorf("ListRepos(page 2) = %+v next %q; want project 101 and no next", p2.Items, p2.Next)
	}
	if got := fake.Calls(); got != 2 {
		t.Errorf("fake calls = %d; want 2", got)
	}
}

func TestListReposRejectsInputWithoutCalling(t *testing.T) {
	fake, c, _ := setup(t)
	tests := []providers.PageRequest{
		{Size: 0}, {Size: -5}, {Size: MaxPageSize + 1},
		{Size: 10, Token: "0"}, {Size: 10, Token: "-2"}, {Size: 10, Token: "007"},
		{Size: 10, Token: "2&membership=false"}, {Size: 10, Token: "http://evil.example/api/v4/projects"},
		{Size: 10, Token: "2 "}, {Size: 10, Token: "1234567890"}, {Size: 10, Token: "0x10"}, {Size: 10, Token: "%32"},
	}
	for _, pr := range tests {
		_, err := c.ListRepos(context.Background(), secret.New(accessRaw), pr)
		wantKind(t, fmt.Sprintf("ListRepos(%+v)", pr), err, providers.BadInput)
	}
	if got := fake.Calls(); got != 0 {
		t.Errorf("fake calls = %d; want 0", got)
	}
	for _, size := range []int{1, MaxPageSize} {
		if _, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: size}); err != nil {
			t.Errorf("ListRepos(size %d) = %v; want nil", size, err)
		}
	}
}

func TestListReposMapsErrors(t *testing.T) {
	tests := []struct {
		name      string
		arrange   func(f *fakegitlab.Server)
		token     string
		timeout   time.Duration
		want      providers.Kind
		wantRetry time.Duration
		wantMsg   string
	}{
		{name: "401 unknown token", token: "glat-unknown", want: providers.ReauthRequired},
		{name: "401 expired", arrange: func(f *fakegitlab.Server) { f.ExpireAccessToken(accessRaw) }, want: providers.ReauthRequired},
		{name: "401 revoked", arrange: func(f *fakegitlab.Server) { f.Revoke(accessRaw) }, want: providers.ReauthRequired},
		{name: "403 insufficient scope", arrange: func(f *fakegitlab.Server) { f.DenyScope(accessRaw) }, want: providers.Forbidden, wantMsg: "consent"},
		{name: "429 retry-after", arrange: func(f *fakegitlab.Server) { f.RateLimitNext(1, 17*time.Second) }, want: providers.RateLimited, wantRetry: 17 * time.Second},
		// Without Retry-After, RateLimit-Reset (the end of the current
		// minute, 09:01:00) tells how long to wait.
		{name: "429 ratelimit-reset", arrange: func(f *fakegitlab.Server) { f.RateLimitNext(1, 0) }, want: providers.RateLimited, wantRetry: time.Minute},
		{name: "400", arrange: func(f *fakegitlab.Server) { f.FailNext(1, 400) }, want: providers.BadInput},
		{name: "404", arrange: func(f *fakegitlab.Server) { f.FailNext(1, 404) }, want: providers.Unavailable},
		{name: "500", arrange: func(f *fakegitlab.Server) { f.FailNext(1, 500) }, want: providers.Unavailable},
		{name: "502", arrange: func(f *fakegitlab.Server) { f.FailNext(1, 502) }, want: providers.Unavailable},
		{name: "malformed JSON", arrange: func(f *fakegitlab.Server) { f.MalformedNext(1) }, want: providers.Unavailable},
		{name: "timeout", arrange: func(f *fakegitlab.Server) { f.Hang(1) }, timeout: 50 * time.Millisecond, want: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, c, _ := setup(t)
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
			if pe.RetryAfter != tt.wantRetry {
				t.Errorf("ListRepos() retry after = %v; want %v", pe.RetryAfter, tt.wantRetry)
			}
			if tt.wantMsg != "" && !strings.Contains(pe.Message, tt.wantMsg) {
				t.Errorf("ListRepos() message = %q; want it to mention %q", pe.Message, tt.wantMsg)
			}
		})
	}
}

func TestListReposMalformedResponses(t *testing.T) {
	tests := []struct {
		name, body, nextPage string
	}{
		{name: "not JSON", body: "<html>" + accessRaw},
		{name: "object instead of list", body: `{"message":"x"}`},
		{name: "fractional id", body: `[{"id":1.5}]`},
		{name: "quoted id", body: `[{"id":"12"}]`},
		{name: "null id", body: `[{"id":null,"name":"x"}]`},
		{name: "missing id", body: `[{"name":"x"}]`},
		{name: "bad next page", body: `[]`, nextPage: "2; rel=evil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Next-Page", tt.nextPage)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL + "/gitlab/"}, srv.Client())
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			_, err = c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 10})
			wantKind(t, "ListRepos()", err, providers.Unavailable)
		})
	}
}

func TestNewBaseURL(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Path
		io.WriteString(w, "[]")
	}))
	defer srv.Close()
	tests := []struct {
		base, wantPath string
	}{
		{srv.URL, "/api/v4/projects"},
		{srv.URL + "/gitlab", "/gitlab/api/v4/projects"},
		{srv.URL + "/gitlab/api/v4/", "/gitlab/api/v4/projects"},
		{srv.URL + "/myapi/v4/", "/myapi/v4/api/v4/projects"},
	}
	for _, tt := range tests {
		got = ""
		c, err := New(Config{BaseURL: tt.base}, srv.Client())
		if err != nil {
			t.Fatalf("New(%q) = %v", tt.base, err)
		}
		if _, err := c.ListRepos(context.Background(), secret.New(accessRaw), providers.PageRequest{Size: 1}); err != nil {
			t.Fatalf("ListRepos() with base %q = %v", tt.base, err)
		}
		if got != tt.wantPath {
			t.Errorf("request path with base %q = %q; want %q", tt.base, got, tt.wantPath)
		}
	}
	if c, err := New(Config{}, http.DefaultClient); err != nil || c.api.Base.String() != DefaultBaseURL {
		t.Errorf("New(default) base = %v, %v; want %q", c, err, DefaultBaseURL)
	}
	if c, err := New(Config{}, nil); err != nil || c.api.HTTP == nil || c.api.HTTP.Timeout == 0 {
		t.Errorf("New(nil client) = %v; want a client with a timeout", err)
	}
	if _, err := New(Config{BaseURL: "gitlab.example.com"}, http.DefaultClient); err == nil {
		t.Errorf("New(relative base) = nil; want an error")
	}
}
