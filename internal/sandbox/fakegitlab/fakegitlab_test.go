package fakegitlab

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "fgl-test-access"

var epoch = time.Date(2026, 11, 29, 9, 0, 30, 0, time.UTC)

func serve(t *testing.T, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/gitlab/", http.StripPrefix("/gitlab", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/gitlab/"
}

func get(t *testing.T, ctx context.Context, rawURL, bearer string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func seeded(t *testing.T, n int) (*Server, string) {
	s := &Server{Now: func() time.Time { return epoch }}
	var ps []Project
	for i := range n {
		ps = append(ps, Project{ID: int64(i + 1), PathWithNamespace: "g/p" + strconv.Itoa(i+1), LastActivityAt: epoch.Add(time.Duration(i) * time.Hour)})
	}
	s.AddUser(token, ps)
	return s, serve(t, s)
}

func TestZeroValueServes(t *testing.T) {
	var s Server
	base := serve(t, &s)
	resp, body := get(t, context.Background(), base+"api/v4/nothing", "")
	if resp.StatusCode != 404 || strings.TrimSpace(string(body)) != `{"error":"404 Not Found"}` {
		t.Errorf("GET unknown route = %d %s; want 404 {\"error\":\"404 Not Found\"}", resp.StatusCode, body)
	}
	resp, body = get(t, context.Background(), base+"api/v4/projects?membership=true", "")
	if resp.StatusCode != 401 || strings.TrimSpace(string(body)) != `{"message":"401 Unauthorized"}` {
		t.Errorf("GET without token = %d %s; want 401 {\"message\":\"401 Unauthorized\"}", resp.StatusCode, body)
	}
}

func TestPaginationHeaders(t *testing.T) {
	_, base := seeded(t, 5)
	resp, body := get(t, context.Background(), base+"api/v4/projects?membership=true&per_page=2&page=2&order_by=last_activity_at&simple=false", token)
	if resp.StatusCode != 200 {
		t.Fatalf("GET page 2 = %d %s", resp.StatusCode, body)
	}
	want := map[string]string{"X-Page": "2", "X-Per-Page": "2", "X-Next-Page": "3", "X-Prev-Page": "1", "X-Total": "5", "X-Total-Pages": "3"}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	link := resp.Header.Get("Link")
	for _, rel := range []string{`rel="next"`, `rel="prev"`, `rel="first"`, `rel="last"`} {
		if !strings.Contains(link, rel) {
			t.Errorf("Link = %q; want %s", link, rel)
		}
	}
	if !strings.Contains(link, "<"+base+"api/v4/projects?") || !strings.Contains(link, "membership=true") {
		t.Errorf("Link = %q; want absolute links under %q keeping the query", link, base)
	}
	var ps []map[string]any
	if err := json.Unmarshal(body, &ps); err != nil || len(ps) != 2 || ps[0]["id"] != float64(3) || ps[0]["visibility"] != "private" || ps[0]["web_url"] != base+"g/p3" {
		t.Errorf("page 2 body = %s; want projects 3 and 2 (most recently active first)", body)
	}

	resp, _ = get(t, context.Background(), base+"api/v4/projects?membership=true&per_page=2&page=3", token)
	if resp.Header.Get("X-Next-Page") != "" || strings.Contains(resp.Header.Get("Link"), `rel="next"`) {
		t.Errorf("last page X-Next-Page = %q, Link %q; want no next", resp.Header.Get("X-Next-Page"), resp.Header.Get("Link"))
	}
	resp, _ = get(t, context.Background(), base+"api/v4/projects?membership=true&per_page=500", token)
	if resp.Header.Get("X-Per-Page") != "100" {
		t.Errorf("per_page=500 gives X-Per-Page %q; want 100 (GitLab clamps)", resp.Header.Get("X-Per-Page"))
	}
	resp, body = get(t, context.Background(), base+"api/v4/projects?membership=true&simple=true", token)
	if strings.Contains(string(body), "visibility") {
		t.Errorf("simple=true body = %s; want no visibility", body)
	}
}

func TestRejectsWhatItDoesNotEmulate(t *testing.T) {
	_, base := seeded(t, 1)
	for _, q := range []string{"", "membership=false", "membership=true&page=x", "membership=true&order_by=nope", "membership=true&sort=up"} {
		if resp, body := get(t, context.Background(), base+"api/v4/projects?"+q, token); resp.StatusCode != 400 || !strings.Contains(string(body), `"error"`) {
			t.Errorf("GET ?%s = %d %s; want 400 with an error", q, resp.StatusCode, body)
		}
	}
}

func TestRateLimitHeaders(t *testing.T) {
	s, base := seeded(t, 1)
	resp, _ := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
	reset := strconv.FormatInt(time.Date(2026, 11, 29, 9, 1, 0, 0, time.UTC).Unix(), 10)
	if resp.Header.Get("RateLimit-Limit") != strconv.Itoa(RateLimit) || resp.Header.Get("RateLimit-Observed") != "1" ||
		resp.Header.Get("RateLimit-Remaining") != strconv.Itoa(RateLimit-1) || resp.Header.Get("RateLimit-Reset") != reset {
		t.Errorf("RateLimit headers = %v; want limit %d, observed 1, reset %s", resp.Header, RateLimit, reset)
	}
	s.RateLimitNext(1, 20*time.Second)
	resp, body := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "20" || resp.Header.Get("RateLimit-Remaining") != "0" || string(body) != "Retry later\n" {
		t.Errorf("rate limited = %d Retry-After %q remaining %q %q; want 429, 20, 0, Retry later", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("RateLimit-Remaining"), body)
	}
}

func TestTokenStates(t *testing.T) {
	tests := []struct {
		name   string
		arr    func(s *Server)
		status int
		body   string
	}{
		{"expired", func(s *Server) { s.ExpireAccessToken(token) }, 401, `"error":"invalid_token"`},
		{"revoked", func(s *Server) { s.Revoke(token) }, 401, "Token was revoked"},
		{"scope", func(s *Server) { s.DenyScope(token) }, 403, `"error":"insufficient_scope"`},
		{"fail next", func(s *Server) { s.FailNext(1, 500) }, 500, `"message":"500 Internal Server Error"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, base := seeded(t, 1)
			tt.arr(s)
			resp, body := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("GET = %d %s; want %d with %s", resp.StatusCode, body, tt.status, tt.body)
			}
			if s.Calls() != 1 || s.Refreshes() != 0 {
				t.Errorf("Calls() = %d, Refreshes() = %d; want 1, 0", s.Calls(), s.Refreshes())
			}
		})
	}
}

func TestHangCountsInFlight(t *testing.T) {
	s, base := seeded(t, 1)
	s.Hang(3)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if resp, _ := get(t, ctx, base+"api/v4/projects?membership=true", token); resp != nil {
				t.Errorf("hung request answered %d", resp.StatusCode)
			}
		}()
	}
	for i := 0; s.InFlight() != 3; i++ {
		if i > 2000 {
			t.Fatalf("InFlight() = %d; want 3", s.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	wg.Wait()
	if got := s.MaxInFlight(); got != 3 {
		t.Errorf("MaxInFlight() = %d; want 3", got)
	}
}

func TestCloseReleasesHungRequestsAndMalformed(t *testing.T) {
	s, base := seeded(t, 1)
	s.Hang(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		get(t, context.Background(), base+"api/v4/projects?membership=true", token)
	}()
	for i := 0; s.InFlight() != 1; i++ {
		if i > 2000 {
			t.Fatalf("InFlight() = %d; want 1", s.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	<-done
	s.Close()
	s.MalformedNext(1)
	resp, body := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
	if resp.StatusCode != 200 || json.Valid(body) {
		t.Errorf("after MalformedNext = %d %q; want 200 with invalid JSON", resp.StatusCode, body)
	}
}
