package fakegithub

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "gho_FAKEGITHUB_test_token_x1"

var clock = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func repos(n int) []Repo {
	var rs []Repo
	for i := range n {
		rs = append(rs, Repo{
			ID: int64(i + 1), Name: fmt.Sprintf("r%03d", i), FullName: fmt.Sprintf("o/r%03d", i),
			UpdatedAt: clock.Add(time.Duration(i) * time.Hour), // r(n-1) is the newest
		})
	}
	return rs
}

type result struct {
	status int
	header http.Header
	body   string
	repos  []Repo
}

func get(t *testing.T, url, auth string, hdr ...string) result {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := result{status: resp.StatusCode, header: resp.Header, body: string(b)}
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &res.repos); err != nil {
			t.Fatalf("GET %s: body %q: %v", url, b, err)
		}
	}
	return res
}

func mount(t *testing.T, f *Server, prefix string) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(prefix+"/", http.StripPrefix(prefix, f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(f.Close)
	return srv.URL + prefix + "/"
}

func TestPaginationLinksKeepThePrefix(t *testing.T) {
	f := &Server{Now: func() time.Time { return clock }}
	f.AddUser(token, repos(5))
	base := mount(t, f, "/api/v3")

	res := get(t, base+"user/repos?per_page=2&sort=updated", "Bearer "+token)
	if res.status != http.StatusOK {
		t.Fatalf("GET page 1 status = %d; want 200 (%s)", res.status, res.body)
	}
	if got := names(res.repos); got != "r004,r003" {
		t.Errorf("page 1 = %s; want r004,r003", got)
	}
	want := fmt.Sprintf(`<%[1]suser/repos?page=2&per_page=2&sort=updated>; rel="next", <%[1]suser/repos?page=3&per_page=2&sort=updated>; rel="last"`, base)
	if got := res.header.Get("Link"); got != want {
		t.Errorf("page 1 Link = %q; want %q", got, want)
	}

	res = get(t, base+"user/repos?per_page=2&sort=updated&page=2", "token "+token)
	want = fmt.Sprintf(`<%[1]suser/repos?page=1&per_page=2&sort=updated>; rel="prev", <%[1]suser/repos?page=3&per_page=2&sort=updated>; rel="next", <%[1]suser/repos?page=3&per_page=2&sort=updated>; rel="last", <%[1]suser/repos?page=1&per_page=2&sort=updated>; rel="first"`, base)
	if got := res.header.Get("Link"); got != want {
		t.Errorf("page 2 Link = %q; want %q", got, want)
	}
	if got := names(res.repos); got != "r002,r001" {
		t.Errorf("page 2 = %s; want r002,r001", got)
	}

	res = get(t, base+"user/repos?per_page=2&sort=updated&page=3", "Bearer "+token)
	if got := names(res.repos); got != "r000" {
		t.Errorf("page 3 = %s; want r000", got)
	}
	if got := res.header.Get("Link"); strings.Contains(got, `rel="next"`) {
		t.Errorf("last page Link = %q; want no next", got)
	}
}

func TestBaseURLOverrides(t *testing.T) {
	for _, tc := range []struct {
		name   string
		f      *Server
		header []string
		want   string
	}{
		{"BaseURL field", &Server{BaseURL: "https://ghe.example/api/v3"}, nil, "https://ghe.example/api/v3/user/repos?"},
		{"X-Forwarded-Prefix", &Server{}, []string{"X-Forwarded-Prefix", "/gh/", "X-Forwarded-Proto", "https"}, "https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.f.AddUser(token, repos(3))
			srv := httptest.NewServer(tc.f)
			t.Cleanup(srv.Close)
			res := get(t, srv.URL+"/user/repos?per_page=1", "Bearer "+token, tc.header...)
			link := res.header.Get("Link")
			if !strings.HasPrefix(link, "<"+tc.want) {
				t.Errorf("Link = %q; want it to start with %q", link, "<"+tc.want)
			}
			if tc.name == "X-Forwarded-Prefix" && !strings.Contains(link, "/gh/user/repos?") {
				t.Errorf("Link = %q; want the /gh/ prefix", link)
			}
		})
	}
}

func TestSortAndPerPage(t *testing.T) {
	f := &Server{}
	f.AddUser(token, repos(120))
	base := mount(t, f, "/x")
	for _, tc := range []struct {
		query     string
		wantCount int
		wantFirst string
	}{
		{"", 30, "r000"},                     // full_name ascending, 30 per page
		{"per_page=500", 100, "r000"},        // capped at 100
		{"per_page=abc&page=zz", 30, "r000"}, // bad values fall back
		{"sort=updated", 30, "r119"},         // newest first
		{"sort=updated&direction=asc", 30, "r000"},
		{"sort=full_name&direction=desc&per_page=1", 1, "r119"},
		{"page=99", 0, ""},
	} {
		t.Run(tc.query, func(t *testing.T) {
			res := get(t, base+"user/repos?"+tc.query, "Bearer "+token)
			if len(res.repos) != tc.wantCount {
				t.Fatalf("GET ?%s returned %d repos; want %d", tc.query, len(res.repos), tc.wantCount)
			}
			if tc.wantCount > 0 && res.repos[0].Name != tc.wantFirst {
				t.Errorf("GET ?%s first = %s; want %s", tc.query, res.repos[0].Name, tc.wantFirst)
			}
		})
	}
}

func TestAuthAndErrors(t *testing.T) {
	f := &Server{Now: func() time.Time { return clock }}
	f.AddUser(token, repos(1))
	f.AddUser("gho_revoked", repos(1))
	f.Revoke("gho_revoked")
	base := mount(t, f, "/api/v3")
	for _, tc := range []struct {
		name, path, auth string
		status           int
		message          string
	}{
		{"no header", "user/repos", "", 401, "Requires authentication"},
		{"unknown token", "user/repos", "Bearer gho_nope", 401, "Bad credentials"},
		{"revoked token", "user/repos", "Bearer gho_revoked", 401, "Bad credentials"},
		{"basic scheme", "user/repos", "Basic " + token, 401, "Requires authentication"},
		{"unknown path", "user/orgs", "Bearer " + token, 404, "Not Found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, base+tc.path, tc.auth)
			if res.status != tc.status {
				t.Fatalf("GET %s status = %d; want %d", tc.path, res.status, tc.status)
			}
			var body struct{ Message, Documentation_URL, Status string }
			if err := json.Unmarshal([]byte(res.body), &body); err != nil {
				t.Fatalf("error body %q: %v", res.body, err)
			}
			if body.Message != tc.message || body.Status != fmt.Sprint(tc.status) || body.Documentation_URL == "" {
				t.Errorf("error body = %+v; want message %q, status %q and a documentation_url", body, tc.message, fmt.Sprint(tc.status))
			}
		})
	}
	if got := f.Calls(); got != 4 {
		t.Errorf("Calls() = %d; want 4 (404s are not API calls)", got)
	}
}

func TestRateLimitHeadersAndKnobs(t *testing.T) {
	f := &Server{Now: func() time.Time { return clock }, RateLimit: 3}
	f.AddUser(token, repos(1))
	base := mount(t, f, "/api/v3")
	u := base + "user/repos"
	auth := "Bearer " + token

	res := get(t, u, auth)
	reset := fmt.Sprint(clock.Add(time.Hour).Unix())
	for k, want := range map[string]string{
		"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2", "X-RateLimit-Used": "1",
		"X-RateLimit-Reset": reset, "X-RateLimit-Resource": "core",
	} {
		if got := res.header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}

	f.RateLimitNext(1, 42*time.Second)
	res = get(t, u, auth)
	if res.status != 403 || res.header.Get("X-RateLimit-Remaining") != "0" || res.header.Get("X-RateLimit-Reset") != fmt.Sprint(clock.Add(42*time.Second).Unix()) {
		t.Errorf("primary limit = %d, remaining %q, reset %q; want 403, 0, now+42s", res.status, res.header.Get("X-RateLimit-Remaining"), res.header.Get("X-RateLimit-Reset"))
	}

	f.SecondaryRateLimitNext(1, 7*time.Second)
	res = get(t, u, auth)
	if res.status != 429 || res.header.Get("Retry-After") != "7" || !strings.Contains(res.body, "secondary rate limit") {
		t.Errorf("secondary limit = %d, Retry-After %q, body %q; want 429, 7, a secondary-limit message", res.status, res.header.Get("Retry-After"), res.body)
	}

	f.FailNext(2, 503)
	for i := range 2 {
		if res = get(t, u, auth); res.status != 503 {
			t.Errorf("FailNext request %d status = %d; want 503", i, res.status)
		}
	}

	f.MalformedNext(1)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if json.Valid(b) {
		t.Errorf("MalformedNext body %q is valid JSON", b)
	}

	// One counted request so far; two more exhaust the limit of 3.
	for i := range 2 {
		if res = get(t, u, auth); res.status != 200 {
			t.Fatalf("counted request %d status = %d; want 200", i+2, res.status)
		}
	}
	res = get(t, u, auth)
	if res.status != 403 || res.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("over the limit = %d, remaining %q; want 403, 0", res.status, res.header.Get("X-RateLimit-Remaining"))
	}
	if got := f.Calls(); got != 9 {
		t.Errorf("Calls() = %d; want 9", got)
	}
}

func TestHangAndInFlight(t *testing.T) {
	f := &Server{}
	f.AddUser(token, repos(1))
	base := mount(t, f, "/api/v3")
	f.Hang(3)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"user/repos", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		})
	}
	// Wait (by polling the counter, not the clock) until all three hang.
	for f.InFlight() < 3 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err == nil {
			t.Errorf("hung request returned without error; want a cancelled request")
		}
	}
	for f.InFlight() != 0 {
		time.Sleep(time.Millisecond)
	}
	if got := f.MaxInFlight(); got != 3 {
		t.Errorf("MaxInFlight() = %d; want 3", got)
	}
	// The hang budget is used up: the next request answers.
	if res := get(t, base+"user/repos", "Bearer "+token); res.status != 200 {
		t.Errorf("after Hang(3) status = %d; want 200", res.status)
	}
}

func TestZeroValueCloseReleasesHung(t *testing.T) {
	var f Server
	f.Hang(1)
	srv := httptest.NewServer(&f)
	defer srv.Close()
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/user/repos", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for f.InFlight() < 1 {
		time.Sleep(time.Millisecond)
	}
	f.Close()
	if got := <-done; got != http.StatusOK {
		t.Errorf("released request status = %d; want 200 (an empty hang response)", got)
	}
}

func names(rs []Repo) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Name)
	}
	return strings.Join(s, ",")
}
