package fakegitlab

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

func postToken(t *testing.T, base string, form url.Values, basic bool) (int, map[string]any) {
	t.Helper()
	if basic {
		id, sec := form.Get("client_id"), form.Get("client_secret")
		form.Del("client_id")
		form.Del("client_secret")
		defer func() { form.Set("client_id", id); form.Set("client_secret", sec) }()
		req, _ := http.NewRequest(http.MethodPost, base+"oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(id, sec)
		return doJSON(t, req)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return doJSON(t, req)
}

func doJSON(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /oauth/token: %v", err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestTokenEndpoint: GitLab's refresh grant rotates, checks the client and
// answers Doorkeeper's errors.
func TestTokenEndpoint(t *testing.T) {
	refreshForm := func(rt, id, sec string) url.Values {
		return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {id}, "client_secret": {sec}, "redirect_uri": {"https://gw.example/cb"}}
	}
	tests := []struct {
		name       string
		form       func(rt string) url.Values
		basic      bool
		wantStatus int
		wantError  string
	}{
		{"refresh in the form", func(rt string) url.Values { return refreshForm(rt, "app", "app-secret") }, false, 200, ""},
		{"refresh with Basic", func(rt string) url.Values { return refreshForm(rt, "app", "app-secret") }, true, 200, ""},
		{"wrong secret", func(rt string) url.Values { return refreshForm(rt, "app", "nope") }, false, 401, "invalid_client"},
		{"other application", func(rt string) url.Values { return refreshForm(rt, "other", "app-secret") }, false, 401, "invalid_client"},
		{"no client", func(rt string) url.Values { return refreshForm(rt, "", "") }, false, 401, "invalid_client"},
		{"unknown refresh token", func(string) url.Values { return refreshForm("nope", "app", "app-secret") }, false, 400, "invalid_grant"},
		{"other grant", func(rt string) url.Values {
			f := refreshForm(rt, "app", "app-secret")
			f.Set("grant_type", "password")
			return f
		}, false, 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, base := seeded(t, 2)
			s.ClientID, s.ClientSecret = "app", "app-secret"
			s.AddRefreshToken(token, "fgl-test-refresh")
			status, body := postToken(t, base, tc.form("fgl-test-refresh"), tc.basic)
			if status != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("POST /oauth/token = %d %v; want %d %q", status, body["error"], tc.wantStatus, tc.wantError)
			}
			if tc.wantError != "" {
				if d, _ := body["error_description"].(string); d == "" {
					t.Errorf("error body %v has no error_description", body)
				}
				if resp, _ := get(t, context.Background(), base+"api/v4/projects?membership=true", token); resp.StatusCode != 200 {
					t.Errorf("old access token after a failed refresh = %d; want 200", resp.StatusCode)
				}
				return
			}
			at, _ := body["access_token"].(string)
			rt, _ := body["refresh_token"].(string)
			if body["expires_in"] != float64(7200) || at == "" || rt == "" || rt == "fgl-test-refresh" || body["token_type"] != "Bearer" {
				t.Fatalf("token response = %v; want new Bearer tokens with expires_in 7200", body)
			}
			if resp, _ := get(t, context.Background(), base+"api/v4/projects?membership=true", at); resp.StatusCode != 200 {
				t.Errorf("new access token = %d; want 200", resp.StatusCode)
			}
			resp, b := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
			if resp.StatusCode != 401 || !strings.Contains(string(b), "revoked") {
				t.Errorf("old access token after rotation = %d %s; want 401 revoked", resp.StatusCode, b)
			}
			status, body = postToken(t, base, refreshForm("fgl-test-refresh", "app", "app-secret"), false)
			if status != 400 || body["error"] != "invalid_grant" {
				t.Errorf("old refresh token after rotation = %d %v; want 400 invalid_grant", status, body["error"])
			}
			if s.SpentRefreshTokenUses() != 1 || s.Refreshes() != 2 || len(s.PresentedRefreshTokens()) != 2 {
				t.Errorf("SpentRefreshTokenUses, Refreshes, presented = %d, %d, %d; want 1, 2, 2", s.SpentRefreshTokenUses(), s.Refreshes(), len(s.PresentedRefreshTokens()))
			}
		})
	}
}

// TestAccessTokensExpireAfterTwoHours: on the fake's clock.
func TestAccessTokensExpireAfterTwoHours(t *testing.T) {
	s, base := seeded(t, 1)
	s.Advance(AccessTokenLifetime - time.Second)
	if resp, _ := get(t, context.Background(), base+"api/v4/projects?membership=true", token); resp.StatusCode != 200 {
		t.Fatalf("token 1s before expiry = %d; want 200", resp.StatusCode)
	}
	s.Advance(time.Second)
	resp, b := get(t, context.Background(), base+"api/v4/projects?membership=true", token)
	if resp.StatusCode != 401 || !strings.Contains(string(b), "Token is expired") {
		t.Errorf("token at expiry = %d %s; want 401 Token is expired", resp.StatusCode, b)
	}
}

// TestTokenEndpointOnlyPost: the token endpoint answers other methods 405.
func TestTokenEndpointOnlyPost(t *testing.T) {
	_, base := seeded(t, 1)
	resp, err := http.Get(base + "oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /oauth/token = %d; want 405", resp.StatusCode)
	}
}
