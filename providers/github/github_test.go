package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Distinctive tokens: no error string may contain them.
const (
	aliceToken = "gho_FAKEGITHUB_alice_7Qz1yX9w"
	bobToken   = "gho_FAKEGITHUB_bob_R4nd0mStr1ng"
)

var clock = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedNow() time.Time { return clock }

func ptr[T any](v T) *T { return &v }

// aliceRepos are three repositories; sorted by updated_at descending they
// come as api, web, dotfiles.
func aliceRepos() []fakegithub.Repo {
	return []fakegithub.Repo{
		{
			ID: 1296269, Name: "dotfiles", FullName: "alice/dotfiles", Owner: fakegithub.Owner{Login: "alice", ID: 1, Type: "User"},
			HTMLURL: "https://github.com/alice/dotfiles", Description: nil, StargazersCount: 0,
			UpdatedAt: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC),
		},
		{
			ID: 9007199254740993, Name: "api", FullName: "alice/api", Owner: fakegithub.Owner{Login: "alice", ID: 1, Type: "User"},
			Private: true, HTMLURL: "https://github.com/alice/api", Description: ptr("Private API — ünïcode"), StargazersCount: 42,
			UpdatedAt: time.Date(2025, 2, 1, 10, 0, 0, 0, time.UTC),
		},
		{
			ID: 77, Name: "web", FullName: "acme/web", Owner: fakegithub.Owner{Login: "acme", ID: 2, Type: "Organization"},
			HTMLURL: "https://github.com/acme/web", Description: ptr(""), StargazersCount: 1234,
			UpdatedAt: time.Date(2024, 6, 30, 23, 59, 59, 0, time.UTC),
		},
	}
}

type env struct {
	fake   *fakegithub.Server
	client *Client
	srv    *httptest.Server

	mu      sync.Mutex
	headers []http.Header // request headers the fake saw
}

// setup mounts the fake under /api/v3/ like GitHub Enterprise Server, so a
// request with an absolute path misses it.
func setup(t *testing.T) *env {
	t.Helper()
	e := &env{fake: &fakegithub.Server{Now: fixedNow}}
	e.fake.AddUser(aliceToken, aliceRepos())
	e.fake.AddUser(bobToken, nil)
	mux := http.NewServeMux()
	strip := http.StripPrefix("/api/v3", e.fake)
	mux.Handle("/api/v3/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.headers = append(e.headers, r.Header.Clone())
		e.mu.Unlock()
		strip.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.fake.Close) // release hung requests before the server closes
	c, err := New(Config{BaseURL: e.srv.URL + "/api/v3/", Now: fixedNow}, e.srv.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.client = c
	return e
}

// checkNoLeak fails when err's text or its %+v form holds a token.
func checkNoLeak(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, tok := range []string{aliceToken, bobToken} {
			if strings.Contains(s, tok) {
				t.Errorf("error %q contains a token", s)
			}
		}
	}
}

func kindOf(t *testing.T, err error) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	return pe
}

func TestListReposFieldMapping(t *testing.T) {
	e := setup(t)
	got, err := e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10})
	if err != nil {
		t.Fatalf("ListRepos() error: %v", err)
	}
	want := []providers.Repository{
		{ID: "9007199254740993", Name: "api", FullName: "alice/api", URL: "https://github.com/alice/api", Private: true,
			Description: "Private API — ünïcode", Stars: 42, UpdatedAt: time.Date(2025, 2, 1, 10, 0, 0, 0, time.UTC)},
		{ID: "77", Name: "web", FullName: "acme/web", URL: "https://github.com/acme/web",
			Description: "", Stars: 1234, UpdatedAt: time.Date(2024, 6, 30, 23, 59, 59, 0, time.UTC)},
		{ID: "1296269", Name: "dotfiles", FullName: "alice/dotfiles", URL: "https://github.com/alice/dotfiles",
			Description: "", Stars: 0, UpdatedAt: time.Date(2023, 1, 2, 3, 4, 5, 0, time.UTC)},
	}
	if len(got.Items) != len(want) {
		t.Fatalf("ListRepos() returned %d items; want %d", len(got.Items), len(want))
	}
	for i, w := range want {
		g := got.Items[i]
		if !g.UpdatedAt.Equal(w.UpdatedAt) {
			t.Errorf("item %d UpdatedAt = %v; want %v", i, g.UpdatedAt, w.UpdatedAt)
		}
		g.UpdatedAt, w.UpdatedAt = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("item %d = %+v; want %+v", i, g, w)
		}
	}
	if got.Next != "" {
		t.Errorf("Next = %q; want \"\"", got.Next)
	}
}

func TestListReposSendsGitHubHeaders(t *testing.T) {
	e := setup(t)
	if _, err := e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 5}); err != nil {
		t.Fatalf("ListRepos() error: %v", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.headers) != 1 {
		t.Fatalf("fake saw %d requests; want 1", len(e.headers))
	}
	h := e.headers[0]
	for k, want := range map[string]string{
		"Accept":               "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28",
		"Authorization":        "Bearer " + aliceToken,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("header %s = %q; want %q", k, got, want)
		}
	}
}

func TestListReposPagination(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tok := secret.New(aliceToken)
	p1, err := e.client.ListRepos(ctx, tok, providers.PageRequest{Size: 2})
	if err != nil {
		t.Fatalf("ListRepos(page 1) error: %v", err)
	}
	if got := names(p1.Items); got != "api,web" {
		t.Errorf("page 1 = %s; want api,web", got)
	}
	if p1.Next != "2" {
		t.Fatalf("page 1 Next = %q; want %q", p1.Next, "2")
	}
	p2, err := e.client.ListRepos(ctx, tok, providers.PageRequest{Size: 2, Token: p1.Next})
	if err != nil {
		t.Fatalf("ListRepos(page 2) error: %v", err)
	}
	if got := names(p2.Items); got != "dotfiles" {
		t.Errorf("page 2 = %s; want dotfiles", got)
	}
	if p2.Next != "" {
		t.Errorf("page 2 Next = %q; want \"\"", p2.Next)
	}
	// Beyond the end GitHub answers an empty list.
	p9, err := e.client.ListRepos(ctx, tok, providers.PageRequest{Size: 2, Token: "9"})
	if err != nil || len(p9.Items) != 0 || p9.Next != "" {
		t.Errorf("ListRepos(page 9) = %+v, %v; want empty page", p9, err)
	}
	// A user without repositories gets an empty, non-nil list.
	empty, err := e.client.ListRepos(ctx, secret.New(bobToken), providers.PageRequest{Size: 2})
	if err != nil || empty.Items == nil || len(empty.Items) != 0 {
		t.Errorf("ListRepos(bob) = %#v, %v; want an empty non-nil page", empty.Items, err)
	}
}

func names(rs []providers.Repository) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}

func TestListReposPageSize(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		size int
		ok   bool
	}{{-1, false}, {0, false}, {1, true}, {100, true}, {101, false}, {1 << 20, false}} {
		t.Run(fmt.Sprint(tc.size), func(t *testing.T) {
			before := e.fake.Calls()
			_, err := e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: tc.size})
			calls := e.fake.Calls() - before
			if tc.ok {
				if err != nil || calls != 1 {
					t.Errorf("ListRepos(size %d) = %v with %d calls; want success with 1 call", tc.size, err, calls)
				}
				return
			}
			if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput || calls != 0 {
				t.Errorf("ListRepos(size %d) = %v (%v) with %d calls; want BadInput with 0 calls", tc.size, err, k, calls)
			}
		})
	}
}

func TestListReposHostilePageTokens(t *testing.T) {
	e := setup(t)
	for _, tok := range []string{
		"0", "-1", "+2", "02", "1e3", "2.0", " 2", "2 ", "0x10", "abc", "9999999999",
		"https://evil.example/user/repos?page=2", "/user/repos?page=2", "2&per_page=100", "2%00", "２",
	} {
		t.Run(tok, func(t *testing.T) {
			before := e.fake.Calls()
			_, err := e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10, Token: tok})
			if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput {
				t.Errorf("ListRepos(token %q) = %v; want BadInput", tok, err)
			}
			if n := e.fake.Calls() - before; n != 0 {
				t.Errorf("ListRepos(token %q) made %d upstream calls; want 0", tok, n)
			}
			checkNoLeak(t, err)
		})
	}
}

func TestListReposErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		token      string
		arrange    func(*fakegithub.Server)
		kind       providers.Kind
		retryAfter time.Duration
	}{
		{"unknown token", "gho_FAKEGITHUB_nobody", nil, providers.ReauthRequired, 0},
		{"revoked token", aliceToken, func(f *fakegithub.Server) { f.Revoke(aliceToken) }, providers.ReauthRequired, 0},
		{"primary rate limit", aliceToken, func(f *fakegithub.Server) { f.RateLimitNext(1, 90*time.Second) }, providers.RateLimited, 90 * time.Second},
		{"secondary rate limit with Retry-After", aliceToken, func(f *fakegithub.Server) { f.SecondaryRateLimitNext(1, 30*time.Second) }, providers.RateLimited, 30 * time.Second},
		{"secondary rate limit without Retry-After", aliceToken, func(f *fakegithub.Server) { f.SecondaryRateLimitNext(1, 0) }, providers.RateLimited, time.Minute},
		{"exhausted hourly limit", aliceToken, func(f *fakegithub.Server) { f.RateLimit = 1 }, providers.RateLimited, time.Hour},
		{"403 forbidden", aliceToken, func(f *fakegithub.Server) { f.FailNext(1, http.StatusForbidden) }, providers.Forbidden, 0},
		{"404 wrong base", aliceToken, func(f *fakegithub.Server) { f.FailNext(1, http.StatusNotFound) }, providers.Unavailable, 0},
		{"422", aliceToken, func(f *fakegithub.Server) { f.FailNext(1, http.StatusUnprocessableEntity) }, providers.BadInput, 0},
		{"500", aliceToken, func(f *fakegithub.Server) { f.FailNext(1, http.StatusInternalServerError) }, providers.Unavailable, 0},
		{"502", aliceToken, func(f *fakegithub.Server) { f.FailNext(1, http.StatusBadGateway) }, providers.Unavailable, 0},
		{"malformed JSON", aliceToken, func(f *fakegithub.Server) { f.MalformedNext(1) }, providers.Unavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			if tc.arrange != nil {
				tc.arrange(e.fake)
			}
			if tc.name == "exhausted hourly limit" {
				// Use up the one request of the window.
				if _, err := e.client.ListRepos(context.Background(), secret.New(tc.token), providers.PageRequest{Size: 1}); err != nil {
					t.Fatalf("first ListRepos() error: %v", err)
				}
			}
			_, err := e.client.ListRepos(context.Background(), secret.New(tc.token), providers.PageRequest{Size: 10})
			if err == nil {
				t.Fatalf("ListRepos() = nil error; want %v", tc.kind)
			}
			pe := kindOf(t, err)
			if pe.Kind != tc.kind || pe.RetryAfter != tc.retryAfter || pe.Provider != "github" {
				t.Errorf("ListRepos() = %v (kind %v, retry after %v, provider %q); want kind %v, retry after %v, provider github",
					err, pe.Kind, pe.RetryAfter, pe.Provider, tc.kind, tc.retryAfter)
			}
			checkNoLeak(t, err)
			for _, body := range []string{"Bad credentials", "rate limit exceeded for user", "trunc", "documentation_url"} {
				if strings.Contains(err.Error(), body) {
					t.Errorf("error %q echoes the upstream body (%q)", err, body)
				}
			}
		})
	}
}

func TestListReposTimeout(t *testing.T) {
	e := setup(t)
	e.fake.Hang(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.client.ListRepos(ctx, secret.New(aliceToken), providers.PageRequest{Size: 10})
	if k, ok := providers.KindOf(err); !ok || k != providers.Unavailable {
		t.Errorf("ListRepos(hung) = %v; want Unavailable", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListRepos(hung) = %v; want it to wrap context.DeadlineExceeded", err)
	}
	checkNoLeak(t, err)
}

// custom serves handler under /api/v3/ and returns a client for it.
func custom(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/api/v3/", handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/api/v3", Now: fixedNow}, srv.Client()) // no trailing slash: New adds it
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func TestListReposUpstreamOddities(t *testing.T) {
	for _, tc := range []struct {
		name       string
		handler    http.HandlerFunc
		kind       providers.Kind
		retryAfter time.Duration
	}{
		{"secondary limit as 403 with message only", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "4000")
			w.Header().Set("X-RateLimit-Reset", fmt.Sprint(clock.Add(time.Hour).Unix()))
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, `{"message":"You have exceeded a secondary rate limit. Please wait a few minutes before you try again.","documentation_url":"https://docs.github.com"}`)
		}, providers.RateLimited, time.Minute},
		{"secondary limit as 403 with Retry-After", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "17")
			w.WriteHeader(http.StatusForbidden)
		}, providers.RateLimited, 17 * time.Second},
		{"primary limit as 429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", fmt.Sprint(clock.Add(5*time.Minute).Unix()))
			w.WriteHeader(http.StatusTooManyRequests)
		}, providers.RateLimited, 5 * time.Minute},
		{"oversized body", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("["))
			chunk := []byte(strings.Repeat(`{"id":1,"name":"x"},`, 1024))
			for written := 0; written <= 9<<20; written += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, providers.Unavailable, 0},
		{"object instead of array", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"message":"hello `+aliceToken+`"}`)
		}, providers.Unavailable, 0},
		{"id of the wrong type", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `[{"id":"`+aliceToken+`"}]`)
		}, providers.Unavailable, 0},
		{"next link without a page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<https://api.github.com/user/repos?after=abc>; rel="next"`)
			fmt.Fprint(w, `[]`)
		}, providers.Unavailable, 0},
		{"next link going backwards", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", `<https://api.github.com/user/repos?page=1>; rel="next"`)
			fmt.Fprint(w, `[]`)
		}, providers.Unavailable, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := custom(t, tc.handler)
			_, err := c.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10})
			if err == nil {
				t.Fatalf("ListRepos() = nil error; want %v", tc.kind)
			}
			pe := kindOf(t, err)
			if pe.Kind != tc.kind || pe.RetryAfter != tc.retryAfter {
				t.Errorf("ListRepos() = %v (kind %v, retry after %v); want kind %v, retry after %v", err, pe.Kind, pe.RetryAfter, tc.kind, tc.retryAfter)
			}
			checkNoLeak(t, err)
		})
	}
}

func TestListReposNextFromLinkOnly(t *testing.T) {
	// The next page number comes from the Link URL, even on a foreign host:
	// the URL itself is never followed.
	c := custom(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.URL.Query().Get("page"); got != "3" {
			t.Errorf("page = %q; want 3", got)
		}
		w.Header().Set("Link", `<https://ghe.example/api/v3/user/repos?per_page=10&sort=updated&page=2>; rel="prev", <https://ghe.example/api/v3/user/repos?per_page=10&sort=updated&page=4>; rel="next", <https://ghe.example/api/v3/user/repos?per_page=10&sort=updated&page=9>; rel="last"`)
		fmt.Fprint(w, `[{"id":5,"name":"r","full_name":"o/r","html_url":"https://ghe.example/o/r","private":false,"description":null,"stargazers_count":3,"updated_at":"2020-01-01T00:00:00Z"}]`)
	})
	got, err := c.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10, Token: "3"})
	if err != nil {
		t.Fatalf("ListRepos() error: %v", err)
	}
	if got.Next != "4" || len(got.Items) != 1 {
		t.Errorf("ListRepos() = %d items, Next %q; want 1 item, Next \"4\"", len(got.Items), got.Next)
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		base    string
		want    string
		wantErr bool
	}{
		{"", DefaultBaseURL, false},
		{"https://ghe.example/api/v3", "https://ghe.example/api/v3/", false},
		{"https://ghe.example/api/v3/", "https://ghe.example/api/v3/", false},
		{"ghe.example/api/v3", "", true},
		{"ftp://ghe.example/", "", true},
	} {
		t.Run(tc.base, func(t *testing.T) {
			c, err := New(Config{BaseURL: tc.base}, nil)
			if tc.wantErr {
				if err == nil {
					t.Errorf("New(%q) = nil error; want an error", tc.base)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%q) error: %v", tc.base, err)
			}
			if got := c.up.Base.String(); got != tc.want {
				t.Errorf("New(%q) base = %q; want %q", tc.base, got, tc.want)
			}
			if c.up.HTTP == nil || c.up.HTTP.Timeout == 0 {
				t.Errorf("New(%q, nil) HTTP client has no timeout", tc.base)
			}
		})
	}
}

// TestListReposSSOPartialResults: X-GitHub-SSO partial-results makes the
// page partial, not an error; other values of the header do not.
func TestListReposSSOPartialResults(t *testing.T) {
	e := setup(t)
	page, err := e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10})
	if err != nil || page.Partial || page.PartialReason != "" {
		t.Fatalf("ListRepos() = partial %v %q, %v; want a complete page", page.Partial, page.PartialReason, err)
	}
	e.fake.WithholdSSO(aliceToken, 21955855, 20582480)
	page, err = e.client.ListRepos(context.Background(), secret.New(aliceToken), providers.PageRequest{Size: 10})
	if err != nil {
		t.Fatalf("ListRepos() = %v; want the partial page", err)
	}
	if !page.Partial || !strings.Contains(page.PartialReason, "2 organization(s)") || !strings.Contains(page.PartialReason, "SAML") || len(page.Items) != 3 {
		t.Errorf("ListRepos() = %d items, partial %v %q; want 3 items, partial naming 2 SAML organizations", len(page.Items), page.Partial, page.PartialReason)
	}

	for _, tc := range []struct {
		header  string
		orgs    int
		partial bool
	}{
		{"partial-results; organizations=1", 1, true},
		{"Partial-Results;organizations=1,2,3", 3, true},
		{"partial-results", 0, true},
		{"required; url=https://github.com/orgs/acme/sso?authorization_request=x", 0, false},
		{"", 0, false},
	} {
		h := http.Header{}
		if tc.header != "" {
			h.Set("X-GitHub-SSO", tc.header)
		}
		if orgs, partial := ssoPartial(h); orgs != tc.orgs || partial != tc.partial {
			t.Errorf("ssoPartial(%q) = %d, %v; want %d, %v", tc.header, orgs, partial, tc.orgs, tc.partial)
		}
	}
}
