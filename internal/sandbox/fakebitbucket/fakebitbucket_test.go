package fakebitbucket

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const token = "fbb-test-access"

func serve(t *testing.T, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/bb/", http.StripPrefix("/bb", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/bb/"
}

func get(t *testing.T, rawURL, bearer string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s body %q is not a JSON object", rawURL, b)
	}
	return resp, body
}

func errMessage(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	m, _ := e["message"].(string)
	return m
}

func TestZeroValueServes(t *testing.T) {
	var s Server
	base := serve(t, &s)
	resp, body := get(t, base+"2.0/nothing", "")
	if resp.StatusCode != 404 || body["type"] != "error" || errMessage(body) != "Resource not found" {
		t.Errorf("GET unknown path = %d %v; want 404 Bitbucket error", resp.StatusCode, body)
	}
	resp, body = get(t, base+"2.0/repositories/ws?role=member", "")
	if resp.StatusCode != 401 || body["type"] != "error" {
		t.Errorf("GET without token = %d %v; want 401 Bitbucket error", resp.StatusCode, body)
	}
	resp, _ = get(t, base+"2.0/repositories/ws?role=member", "unknown")
	if resp.StatusCode != 401 {
		t.Errorf("GET with unknown token = %d; want 401", resp.StatusCode)
	}
}

func TestNextLinkKeepsMountPrefixAndParams(t *testing.T) {
	for _, configured := range []bool{false, true} {
		s := &Server{}
		base := serve(t, s)
		if configured {
			s.BaseURL = base
		}
		var repos []Repo
		for i := range 5 {
			repos = append(repos, Repo{FullName: "ws/r" + string(rune('a'+i)), UpdatedOn: time.Date(2026, 1, 1+i, 0, 0, 0, 0, time.UTC)})
		}
		s.AddUser(token, "", repos)
		resp, body := get(t, base+"2.0/repositories/ws?role=member&pagelen=2&sort=-updated_on", token)
		if resp.StatusCode != 200 || body["size"] != float64(5) || body["page"] != float64(1) || body["pagelen"] != float64(2) {
			t.Fatalf("page 1 = %d %v; want 200 with size 5, page 1, pagelen 2", resp.StatusCode, body)
		}
		next, _ := body["next"].(string)
		if !strings.HasPrefix(next, base+"2.0/repositories/ws?") {
			t.Fatalf("next = %q; want it under %q", next, base)
		}
		u, _ := url.Parse(next)
		if q := u.Query(); q.Get("page") != "2" || q.Get("role") != "member" || q.Get("pagelen") != "2" || q.Get("sort") != "-updated_on" {
			t.Errorf("next query = %v; want page 2 with the original parameters", q)
		}
		_, body2 := get(t, next, token)
		vals, _ := body2["values"].([]any)
		first, _ := vals[0].(map[string]any)
		if len(vals) != 2 || first["full_name"] != "ws/rc" || body2["previous"] == nil {
			t.Errorf("following next = %v; want ws/rc first and a previous link", body2)
		}
	}
}

func TestRejectsWhatItDoesNotEmulate(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", nil)
	s.JoinWorkspaces(token, "ws")
	base := serve(t, s)
	for _, q := range []string{"", "role=admin", "role=member&pagelen=101", "role=member&pagelen=0", "role=member&page=0", "role=member&page=x", "role=member&sort=size"} {
		resp, body := get(t, base+"2.0/repositories/ws?"+q, token)
		if resp.StatusCode != 400 || body["type"] != "error" {
			t.Errorf("GET ?%s = %d %v; want 400 Bitbucket error", q, resp.StatusCode, body)
		}
	}
}

func postToken(t *testing.T, base, user, pass string, form url.Values) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"site/oauth2/access_token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

func TestTokenEndpoint(t *testing.T) {
	s := &Server{ClientID: "cid", ClientSecret: "csec"}
	s.AddUser(token, "fbb-rt-1", nil)
	s.JoinWorkspaces(token, "ws")
	base := serve(t, s)
	grant := func(rt string) url.Values { return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}} }

	if code, body := postToken(t, base, "", "", grant("fbb-rt-1")); code != 401 || body["error"] != "invalid_client" {
		t.Errorf("refresh without client auth = %d %v; want 401 invalid_client", code, body)
	}
	if code, body := postToken(t, base, "cid", "wrong", grant("fbb-rt-1")); code != 401 || body["error"] != "invalid_client" {
		t.Errorf("refresh with a wrong secret = %d %v; want 401 invalid_client", code, body)
	}
	if code, body := postToken(t, base, "cid", "csec", url.Values{"grant_type": {"password"}}); code != 400 || body["error"] != "unsupported_grant_type" {
		t.Errorf("password grant = %d %v; want 400 unsupported_grant_type", code, body)
	}
	code, body := postToken(t, base, "cid", "csec", grant("fbb-rt-1"))
	rt2, _ := body["refresh_token"].(string)
	at2, _ := body["access_token"].(string)
	if code != 200 || rt2 == "" || rt2 == "fbb-rt-1" || at2 == "" || body["expires_in"] != float64(7200) || body["token_type"] != "bearer" {
		t.Fatalf("refresh = %d %v; want 200 with a rotated refresh token", code, body)
	}
	if resp, _ := get(t, base+"2.0/repositories/ws?role=member", at2); resp.StatusCode != 200 {
		t.Errorf("GET with the refreshed access token = %d; want 200", resp.StatusCode)
	}
	if code, body := postToken(t, base, "cid", "csec", grant("fbb-rt-1")); code != 400 || body["error"] != "invalid_grant" {
		t.Errorf("reusing the spent refresh token = %d %v; want 400 invalid_grant", code, body)
	}
	if code, _ := postToken(t, base, "cid", "csec", grant("never-issued")); code != 400 {
		t.Errorf("unknown refresh token = %d; want 400", code)
	}
	if got := s.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	if got := s.Refreshes(); got != 6 {
		t.Errorf("Refreshes() = %d; want 6", got)
	}
}

func TestKnobs(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", nil)
	s.JoinWorkspaces(token, "ws")
	base := serve(t, s)
	list := base + "2.0/repositories/ws?role=member"

	s.FailNext(2, 503)
	for i := range 2 {
		if resp, _ := get(t, list, token); resp.StatusCode != 503 {
			t.Errorf("request %d after FailNext(2, 503) = %d; want 503", i, resp.StatusCode)
		}
	}
	s.RateLimitNext(1, 30*time.Second)
	if resp, body := get(t, list, token); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "30" || !strings.Contains(errMessage(body), "Rate limit") {
		t.Errorf("after RateLimitNext = %d Retry-After %q %v; want 429 with Retry-After 30", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	s.DenyScope(token)
	if resp, body := get(t, list, token); resp.StatusCode != 403 || !strings.Contains(errMessage(body), "privilege scopes") {
		t.Errorf("after DenyScope = %d %v; want 403 scope error", resp.StatusCode, body)
	}
	s.ExpireAccessToken(token)
	if resp, body := get(t, list, token); resp.StatusCode != 401 || errMessage(body) != "Access token expired." {
		t.Errorf("after ExpireAccessToken = %d %v; want 401 Access token expired.", resp.StatusCode, body)
	}
	if got := s.Calls(); got != 5 {
		t.Errorf("Calls() = %d; want 5", got)
	}
}

func TestHangCountsInFlight(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", nil)
	s.JoinWorkspaces(token, "ws")
	base := serve(t, s)
	s.Hang(2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"2.0/repositories/ws?role=member", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("hung request answered %d; want no answer", resp.StatusCode)
			}
		}()
	}
	waitFor(t, "InFlight() == 2", func() bool { return s.InFlight() == 2 })
	cancel()
	wg.Wait()
	waitFor(t, "InFlight() == 0", func() bool { return s.InFlight() == 0 })
	if got := s.MaxInFlight(); got != 2 {
		t.Errorf("MaxInFlight() = %d; want 2", got)
	}
	if resp, _ := get(t, base+"2.0/repositories/ws?role=member", token); resp.StatusCode != 200 {
		t.Errorf("request after the hung ones = %d; want 200", resp.StatusCode)
	}
}

// waitFor polls cond; the bound only stops a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never became true", what)
}

func TestCloseReleasesHungRequestsAndMalformed(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", nil)
	s.JoinWorkspaces(token, "ws")
	base := serve(t, s)
	s.Hang(1)
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, base+"2.0/repositories/ws?role=member", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, "InFlight() == 1", func() bool { return s.InFlight() == 1 })
	s.Close()
	<-done
	s.Close() // idempotent
	raw := func() (int, []byte) {
		req, _ := http.NewRequest(http.MethodGet, base+"2.0/repositories/ws?role=member", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	s.Hang(1)
	if code, b := raw(); code != 200 || len(b) != 0 {
		t.Errorf("request told to hang after Close = %d %q; want an immediate empty 200", code, b)
	}
	s.MalformedNext(1)
	if code, b := raw(); code != 200 || json.Valid(b) {
		t.Errorf("after MalformedNext = %d %q; want 200 with invalid JSON", code, b)
	}
}

// TestRemovedEndpointsAnswerGone: the cross-workspace endpoints removed
// under CHANGE-2770 answer 410 with Bitbucket's body, token or not.
func TestRemovedEndpointsAnswerGone(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", []Repo{{FullName: "ws/a"}})
	base := serve(t, s)
	for _, path := range []string{"2.0/repositories?role=member", "2.0/repositories", "2.0/workspaces", "2.0/user/permissions/workspaces"} {
		for _, bearer := range []string{"", token} {
			resp, body := get(t, base+path, bearer)
			e, _ := body["error"].(map[string]any)
			data, _ := e["data"].(map[string]any)
			if resp.StatusCode != http.StatusGone || body["type"] != "error" ||
				errMessage(body) != "CHANGE-2770 - Functionality has been deprecated" ||
				!strings.HasSuffix(data["announcement_url"].(string), "#CHANGE-2770") {
				t.Errorf("GET %s = %d %v; want 410 with the CHANGE-2770 error", path, resp.StatusCode, body)
			}
		}
	}
	if got := s.GoneCalls(); got != 8 {
		t.Errorf("GoneCalls() = %d; want 8", got)
	}
}

func TestUserWorkspaces(t *testing.T) {
	s := &Server{}
	s.AddUser(token, "", []Repo{{FullName: "zeta/a"}, {FullName: "acme/b"}, {FullName: "zeta/c"}})
	s.JoinWorkspaces(token, "empty", "acme")
	base := serve(t, s)
	var slugs []string
	next := base + "2.0/user/workspaces?pagelen=2"
	for next != "" {
		resp, body := get(t, next, token)
		if resp.StatusCode != 200 || body["size"] != float64(3) || body["pagelen"] != float64(2) {
			t.Fatalf("GET %s = %d %v; want 200, size 3, pagelen 2", next, resp.StatusCode, body)
		}
		vals, _ := body["values"].([]any)
		for _, v := range vals {
			access, _ := v.(map[string]any)
			ws, _ := access["workspace"].(map[string]any)
			if access["type"] != "workspace_access" || ws["type"] != "workspace_base" {
				t.Errorf("value %v; want a workspace_access naming a workspace_base", access)
			}
			slugs = append(slugs, ws["slug"].(string))
		}
		next, _ = body["next"].(string)
	}
	if got := strings.Join(slugs, ","); got != "zeta,acme,empty" {
		t.Errorf("workspaces = %s; want zeta,acme,empty (the order joined)", got)
	}
	if resp, _ := get(t, base+"2.0/user/workspaces", ""); resp.StatusCode != 401 {
		t.Errorf("GET without token = %d; want 401", resp.StatusCode)
	}
	// A workspace the user is not in: Bitbucket's 404.
	if resp, body := get(t, base+"2.0/repositories/other?role=member", token); resp.StatusCode != 404 || body["type"] != "error" {
		t.Errorf("GET another workspace = %d %v; want 404 Bitbucket error", resp.StatusCode, body)
	}
	// The workspace-scoped list holds only that workspace's repositories.
	_, body := get(t, base+"2.0/repositories/zeta?role=member", token)
	if body["size"] != float64(2) {
		t.Errorf("GET zeta = %v; want its 2 repositories", body)
	}
	if got := s.WorkspaceCalls(); got != 3 {
		t.Errorf("WorkspaceCalls() = %d; want 3", got)
	}
}
