package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/sandbox"
)

const graceQuery = `query($from: DateTime, $to: DateTime, $rf: Int, $ra: String, $cf: Int, $ca: String) {
  me {
    id name nickname email picture
    identities {
      id provider connection userId isSocial capabilities
      repos(first: $rf, after: $ra) {
        edges { cursor node { id name } }
        nodes { id name fullName url private description stars updatedAt }
        pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
      }
      calendar(from: $from, to: $to, first: $cf, after: $ca) {
        nodes { id title start end allDay url status }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}`

type meData struct {
	Me struct {
		ID         string  `json:"id"`
		Name       *string `json:"name"`
		Email      *string `json:"email"`
		Identities []struct {
			ID           string   `json:"id"`
			Provider     string   `json:"provider"`
			UserID       string   `json:"userId"`
			IsSocial     bool     `json:"isSocial"`
			Capabilities []string `json:"capabilities"`
			Repos        *struct {
				Edges []struct {
					Cursor string `json:"cursor"`
				} `json:"edges"`
				Nodes []struct {
					ID          string  `json:"id"`
					Name        string  `json:"name"`
					FullName    string  `json:"fullName"`
					URL         string  `json:"url"`
					Private     bool    `json:"private"`
					Description *string `json:"description"`
					Stars       int     `json:"stars"`
					UpdatedAt   string  `json:"updatedAt"`
				} `json:"nodes"`
				PageInfo pageInfo `json:"pageInfo"`
			} `json:"repos"`
			Calendar *struct {
				Nodes []struct {
					ID     string `json:"id"`
					Title  string `json:"title"`
					Start  string `json:"start"`
					End    string `json:"end"`
					AllDay bool   `json:"allDay"`
					URL    string `json:"url"`
					Status string `json:"status"`
				} `json:"nodes"`
				PageInfo pageInfo `json:"pageInfo"`
			} `json:"calendar"`
		} `json:"identities"`
	} `json:"me"`
}

type pageInfo struct {
	HasNextPage     bool    `json:"hasNextPage"`
	HasPreviousPage bool    `json:"hasPreviousPage"`
	EndCursor       *string `json:"endCursor"`
}

func decodeMe(t *testing.T, r *gqlResponse) meData {
	t.Helper()
	var d meData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	return d
}

func window() map[string]any {
	return map[string]any{"from": fixedNow.Format(time.RFC3339), "to": fixedNow.Add(30 * 24 * time.Hour).Format(time.RFC3339)}
}

func TestHappyPathGitHubAndGoogle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	vars := window()
	vars["rf"], vars["cf"] = 2, 3
	r := e.post(context.Background(), token, graceQuery, vars)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("POST /graphql = %d %s; want 200 without errors", r.Status, r.Raw)
	}
	golden(t, "grace_page1", r.Raw)

	d := decodeMe(t, r)
	if d.Me.ID != sandbox.Grace || d.Me.Name == nil || *d.Me.Name != "Grace Hopper" || *d.Me.Email != "grace@example.com" {
		t.Errorf("me = %+v; want Grace's profile", d.Me)
	}
	if len(d.Me.Identities) != 2 {
		t.Fatalf("identities = %d; want 2", len(d.Me.Identities))
	}
	gh, gg := d.Me.Identities[0], d.Me.Identities[1]
	if gh.ID != "github|1815" || gh.Provider != "github" || gh.UserID != "1815" || !gh.IsSocial || strings.Join(gh.Capabilities, ",") != "REPOS" || gh.Calendar != nil {
		t.Errorf("github identity = %+v; want github|1815 with REPOS only", gh)
	}
	if gh.Repos == nil || len(gh.Repos.Nodes) != 2 {
		t.Fatalf("github repos = %+v; want 2 nodes", gh.Repos)
	}
	n0, n1 := gh.Repos.Nodes[0], gh.Repos.Nodes[1]
	wantUpdated := fixedNow.Format(time.RFC3339)
	if n0.ID != "github|1815001" || n0.Name != "grace-project-01" || n0.FullName != "grace/grace-project-01" ||
		n0.URL != "https://github.com/grace/grace-project-01" || n0.Private || n0.Stars != 0 ||
		n0.Description == nil || *n0.Description != "Demo repository 1 of grace" || n0.UpdatedAt != wantUpdated {
		t.Errorf("repo 0 = %+v; want grace-project-01 as seeded", n0)
	}
	if n1.Name != "grace-project-02" || n1.Stars != 7 {
		t.Errorf("repo 1 = %+v; want grace-project-02 with 7 stars", n1)
	}
	if !gh.Repos.PageInfo.HasNextPage || gh.Repos.PageInfo.HasPreviousPage || gh.Repos.PageInfo.EndCursor == nil {
		t.Fatalf("repos pageInfo = %+v; want a next page", gh.Repos.PageInfo)
	}
	if gg.Provider != "google-oauth2" || strings.Join(gg.Capabilities, ",") != "CALENDAR" || gg.Repos != nil || gg.Calendar == nil {
		t.Fatalf("google identity = %+v; want CALENDAR only", gg)
	}
	if got := len(gg.Calendar.Nodes); got != 3 {
		t.Fatalf("calendar nodes = %d; want 3", got)
	}
	ev := gg.Calendar.Nodes[0]
	if ev.ID != "google-oauth2|graceevt001" || ev.Title != "grace meeting 1" || ev.Start != "2026-12-02T09:00:00Z" || ev.End != "2026-12-02T10:00:00Z" || ev.AllDay || ev.Status != "confirmed" {
		t.Errorf("event 0 = %+v; want grace meeting 1 as seeded", ev)
	}

	// The second page, through after.
	vars["ra"], vars["ca"] = *gh.Repos.PageInfo.EndCursor, *gg.Calendar.PageInfo.EndCursor
	r2 := e.post(context.Background(), token, graceQuery, vars)
	if len(r2.Errors) > 0 {
		t.Fatalf("page 2 errors = %s", r2.Raw)
	}
	golden(t, "grace_page2", r2.Raw)
	d2 := decodeMe(t, r2)
	repos2 := d2.Me.Identities[0].Repos
	if len(repos2.Nodes) != 1 || repos2.Nodes[0].Name != "grace-project-03" || repos2.Nodes[0].Description != nil || repos2.PageInfo.HasNextPage || !repos2.PageInfo.HasPreviousPage {
		t.Errorf("repos page 2 = %+v; want only grace-project-03 (no description), last page", repos2)
	}
	cal2 := d2.Me.Identities[1].Calendar
	if len(cal2.Nodes) != 1 || cal2.Nodes[0].Title != "grace meeting 4" || cal2.PageInfo.HasNextPage {
		t.Errorf("calendar page 2 = %+v; want grace meeting 4, last page", cal2)
	}
}

func TestAllDayEventsAndCapabilities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	q := `query($from: DateTime, $to: DateTime) { me { identities { provider capabilities calendar(from: $from, to: $to, first: 100) { nodes { title start end allDay } } } } }`
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), q, window())
	if len(r.Errors) > 0 {
		t.Fatalf("errors = %s", r.Raw)
	}
	var d struct {
		Me struct {
			Identities []struct {
				Provider     string   `json:"provider"`
				Capabilities []string `json:"capabilities"`
				Calendar     *struct {
					Nodes []struct {
						Title, Start, End string
						AllDay            bool
					} `json:"nodes"`
				} `json:"calendar"`
			} `json:"identities"`
		} `json:"me"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, idn := range d.Me.Identities {
		if idn.Provider == "facebook" || idn.Provider == "auth0" {
			if len(idn.Capabilities) != 0 || idn.Calendar != nil {
				t.Errorf("%s = %+v; want no capabilities and null calendar", idn.Provider, idn)
			}
		}
		if idn.Provider != "google-oauth2" {
			continue
		}
		for _, n := range idn.Calendar.Nodes {
			if n.Title == "ada offsite 5" {
				found = true
				if !n.AllDay || n.Start != "2026-12-06T00:00:00Z" || n.End != "2026-12-07T00:00:00Z" {
					t.Errorf("all-day event = %+v; want 2026-12-06T00:00Z..2026-12-07T00:00Z, allDay", n)
				}
			}
		}
	}
	if !found {
		t.Errorf("no all-day event in %s", r.Raw)
	}
}

func TestAuthenticationFailures(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	e := newEnv(t, envOptions{clock: clock, env: map[string]string{"JWKS_MIN_REFETCH_INTERVAL": "100ms"}})
	valid := e.sb.Token(sandbox.Grace)
	now := time.Now()
	mint := func(mut func(*mintSpec)) string {
		s := mintSpec{sub: sandbox.Grace, iat: now, nbf: now, exp: now.Add(time.Hour)}
		mut(&s)
		return s.mint(e.sb)
	}
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "." + flipLast(parts[2])
	cases := []struct {
		name   string
		header string
	}{
		{"no header", ""},
		{"malformed", "Bearer not-a-jwt"},
		{"wrong scheme", "Basic " + valid},
		{"expired", "Bearer " + mint(func(s *mintSpec) { s.exp = now.Add(-10 * time.Minute); s.iat = now.Add(-time.Hour); s.nbf = s.iat })},
		{"not yet valid", "Bearer " + mint(func(s *mintSpec) { s.nbf = now.Add(10 * time.Minute) })},
		{"wrong aud", "Bearer " + mint(func(s *mintSpec) { s.aud = "https://other.example.com/api" })},
		{"wrong iss", "Bearer " + mint(func(s *mintSpec) { s.iss = "https://evil.example.com/" })},
		{"alg none", "Bearer " + algNone(valid)},
		{"HS256 with the public key", "Bearer " + hs256WithPublicKey(t, valid, e.sb.Tenant.PublicKey())},
		{"unknown kid", "Bearer " + mint(func(s *mintSpec) { s.kid = "not-a-known-kid" })},
		{"tampered signature", "Bearer " + tampered},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/graphql-response+json, application/json")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			r := e.do(req)
			if r.Status != http.StatusUnauthorized {
				t.Fatalf("status = %d; want 401 (%s)", r.Status, r.Raw)
			}
			if got := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token"`) {
				t.Errorf("WWW-Authenticate = %q; want Bearer error=\"invalid_token\"", got)
			}
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/graphql-response+json") {
				t.Errorf("Content-Type = %q; want application/graphql-response+json", ct)
			}
			if r.Data != nil || len(r.Errors) != 1 || r.codes()[0] != "UNAUTHENTICATED" {
				t.Errorf("body = %s; want one UNAUTHENTICATED error and no data", r.Raw)
			}
			if tc.header != "" && strings.Contains(string(r.Raw), strings.TrimPrefix(tc.header, "Bearer ")) {
				t.Errorf("body echoes the token")
			}
		})
	}

	// A token signed with a rotated-in key is accepted without a restart,
	// once the refetch interval since the unknown-kid probe has passed on
	// the gateway's clock.
	clock.Advance(150 * time.Millisecond)
	e.sb.Tenant.RotateKeys()
	r := e.post(context.Background(), e.sb.Token(sandbox.Grace), `{ me { id } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("after key rotation: %d %s; want success", r.Status, r.Raw)
	}
}

func TestManagementAPIFailures(t *testing.T) {
	t.Parallel()
	q := `{ me { id identities { provider } } }`
	t.Run("user not found", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		r := e.post(context.Background(), e.sb.Token("auth0|nobody"), q, nil)
		if r.Status != http.StatusOK || string(r.Data) != "null" || strings.Join(r.codes(), ",") != "UNAUTHENTICATED" {
			t.Errorf("response = %d %s; want data null and UNAUTHENTICATED", r.Status, r.Raw)
		}
	})
	t.Run("429 then success after X-RateLimit-Reset", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		e.sb.Tenant.RateLimitNext(1, time.Second)
		before := e.sb.Tenant.Calls().UserByID
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		if len(r.Errors) > 0 {
			t.Fatalf("errors = %s; want success after waiting for the reset", r.Raw)
		}
		if got := e.sb.Tenant.Calls().UserByID - before; got != 2 {
			t.Errorf("users-by-id calls = %d; want 2 (429, then the retry)", got)
		}
	})
	t.Run("500 is unavailable and not cached", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		e.sb.Tenant.FailNext(3, http.StatusInternalServerError) // the first try and both retries
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		if strings.Join(r.codes(), ",") != "UPSTREAM_UNAVAILABLE" {
			t.Fatalf("response = %s; want UPSTREAM_UNAVAILABLE", r.Raw)
		}
		if strings.Contains(string(r.Raw), "Internal Server Error") {
			t.Errorf("response echoes the upstream body: %s", r.Raw)
		}
		r = e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		if len(r.Errors) > 0 {
			t.Errorf("second request = %s; want success (errors are not cached)", r.Raw)
		}
	})
	t.Run("M2M credentials rejected", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, envOptions{})
		e.sb.Tenant.RejectClientCredentials(true)
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		if strings.Join(r.codes(), ",") != "UPSTREAM_UNAVAILABLE" || !strings.Contains(r.Errors[0].Message, "credentials") {
			t.Fatalf("response = %s; want UPSTREAM_UNAVAILABLE naming the credentials", r.Raw)
		}
		e.sb.Tenant.RejectClientCredentials(false)
		r = e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		if len(r.Errors) > 0 {
			t.Errorf("after the credentials work again = %s; want success", r.Raw)
		}
	})
}

const bothQuery = `query($from: DateTime, $to: DateTime) { me { identities { provider repos(first: 2) { nodes { name } } calendar(from: $from, to: $to, first: 2) { nodes { title } } } } }`

type bothData struct {
	Me struct {
		Identities []struct {
			Provider string          `json:"provider"`
			Repos    json.RawMessage `json:"repos"`
			Calendar json.RawMessage `json:"calendar"`
		} `json:"identities"`
	} `json:"me"`
}

func TestProviderFailuresAreIsolated(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		break_    func(sb *sandbox.Sandbox)
		code      string
		provider  string
		retryAftr float64
	}{
		{"github 401", func(sb *sandbox.Sandbox) { sb.GitHub.Revoke(sb.AccessToken(sandbox.Grace, "github")) }, "IDP_REAUTH_REQUIRED", "github", 0},
		{"github 500", func(sb *sandbox.Sandbox) { sb.GitHub.FailNext(1, 500) }, "UPSTREAM_UNAVAILABLE", "github", 0},
		{"github timeout", func(sb *sandbox.Sandbox) { sb.GitHub.Hang(1) }, "UPSTREAM_UNAVAILABLE", "github", 0},
		{"github 429", func(sb *sandbox.Sandbox) { sb.GitHub.SecondaryRateLimitNext(1, 30*time.Second) }, "UPSTREAM_RATE_LIMITED", "github", 30},
		{"google 503 after retries", func(sb *sandbox.Sandbox) { sb.Google.FailNext(3, 503) }, "UPSTREAM_UNAVAILABLE", "google-oauth2", 0},
		{"google 429", func(sb *sandbox.Sandbox) { sb.Google.RateLimitNext(1, 20*time.Second) }, "UPSTREAM_RATE_LIMITED", "google-oauth2", 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{env: map[string]string{"UPSTREAM_TIMEOUT": "300ms"}})
			tc.break_(e.sb)
			r := e.post(context.Background(), e.sb.Token(sandbox.Grace), bothQuery, window())
			if r.Status != http.StatusOK || len(r.Errors) != 1 {
				t.Fatalf("response = %d %s; want 200 with exactly one error", r.Status, r.Raw)
			}
			got := r.Errors[0]
			if got.Extensions["code"] != tc.code || got.Extensions["provider"] != tc.provider {
				t.Errorf("error = %+v; want code %s for %s", got, tc.code, tc.provider)
			}
			if tc.retryAftr > 0 && got.Extensions["retryAfter"] != tc.retryAftr {
				t.Errorf("retryAfter = %v; want %v", got.Extensions["retryAfter"], tc.retryAftr)
			}
			var d bothData
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			for _, idn := range d.Me.Identities {
				field := idn.Repos
				if idn.Provider == "google-oauth2" {
					field = idn.Calendar
				}
				broken := idn.Provider == tc.provider
				if broken != (string(field) == "null") {
					t.Errorf("%s field = %s; want null only for the failing provider", idn.Provider, field)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	before := e.sb.GitHub.Calls()
	cases := []struct {
		name, query string
	}{
		{"first too large", `{ me { identities { repos(first: 101) { nodes { name } } } } }`},
		{"first zero", `{ me { identities { repos(first: 0) { nodes { name } } } } }`},
		{"forged cursor", `{ me { identities { repos(after: "eyJ0IjoiOTk5OSIsInMiOjMwfQ.AAAAAAAAAAAAAAAAAAAAAA") { nodes { name } } } } }`},
		{"garbage cursor", `{ me { identities { repos(after: "%%%\u0000") { nodes { name } } } } }`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(context.Background(), token, tc.query, nil)
			codes := r.codes()
			if len(codes) == 0 || codes[0] != "BAD_USER_INPUT" {
				t.Errorf("response = %s; want BAD_USER_INPUT", r.Raw)
			}
		})
	}
	if got := e.sb.GitHub.Calls() - before; got != 0 {
		t.Errorf("GitHub calls = %d; want 0 for rejected input", got)
	}
	r := e.post(context.Background(), token, `{ me { id `, nil)
	if r.Status != http.StatusUnprocessableEntity && r.Status != http.StatusBadRequest && r.Status != http.StatusOK {
		t.Errorf("malformed query status = %d", r.Status)
	}
	if len(r.Errors) == 0 || r.Data != nil && string(r.Data) != "null" {
		t.Errorf("malformed query = %s; want an error and no data", r.Raw)
	}
}

func TestBatchingAcrossRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{loadUsers: 200})
	q := `{ me { id } }`
	tokens := make([]string, 200)
	for i, id := range e.sb.LoadUsers {
		tokens[i] = e.sb.Token(id)
	}
	run := func() {
		var wg sync.WaitGroup
		errs := make(chan string, len(tokens))
		for _, tok := range tokens {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := e.post(context.Background(), tok, q, nil)
				if len(r.Errors) > 0 || r.Status != 200 {
					errs <- string(r.Raw)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for msg := range errs {
			t.Errorf("request failed: %s", msg)
		}
	}
	run()
	c := e.sb.Tenant.Calls()
	mgmt := c.UserByID + c.Search
	t.Logf("200 concurrent first requests: %d Management API calls (%d by id, %d search), %d M2M tokens", mgmt, c.UserByID, c.Search, c.Token)
	if mgmt >= 50 {
		t.Errorf("Management API calls = %d; want far fewer than 200", mgmt)
	}
	if c.Token != 1 {
		t.Errorf("M2M tokens fetched = %d; want 1", c.Token)
	}
	run()
	c2 := e.sb.Tenant.Calls()
	if got := (c2.UserByID + c2.Search) - mgmt; got != 0 {
		t.Errorf("Management API calls for cached users = %d; want 0", got)
	}
}

// TestCancelledRequestFailsNoOtherInItsBatch: the first request for a
// profile starts the load that later requests for it join. It is cancelled
// while the Management API call is held at the emulator: the call must go
// on, so the requests that joined succeed and nothing calls Auth0 again.
// Had the cancellation ended the shared load, the profile would not be
// cached and the others would need a second call (or fail).
func TestCancelledRequestFailsNoOtherInItsBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	q := `{ me { id } }`
	// Warm the JWKS and M2M token caches with another user, so the one
	// Management API call below is Grace's profile.
	if r := e.post(context.Background(), e.sb.Token(sandbox.Linus), q, nil); len(r.Errors) > 0 {
		t.Fatalf("warm-up = %s", r.Raw)
	}
	mgmt := func() int { c := e.sb.Tenant.Calls(); return c.UserByID + c.Search }
	before := mgmt()
	arrived, release := e.sb.Tenant.HoldManagement()
	defer release()

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan *gqlResponse, 1)
	go func() { first <- e.post(ctx, e.sb.Token(sandbox.Grace), q, nil) }()
	<-arrived // Grace's profile is being read, for the first request
	results := make([]*gqlResponse, 2)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = e.post(context.Background(), e.sb.Token(sandbox.Grace), q, nil)
		}()
	}
	cancel()
	if r := <-first; r.Status != -1 {
		t.Errorf("cancelled request = %d %s; want no answer", r.Status, r.Raw)
	}
	release()
	wg.Wait()
	for i, r := range results {
		if r.Status != 200 || len(r.Errors) > 0 {
			t.Errorf("request %d = %d %s; want success despite the cancelled one", i+1, r.Status, r.Raw)
		}
	}
	if n := mgmt() - before; n != 1 {
		t.Errorf("Management API calls = %d; want 1 (the cancelled request's load served the others)", n)
	}
}

func TestHealthReadyAndGraphiQL(t *testing.T) {
	t.Parallel()
	// /readyz caches its answer (5s): a refused M2M token is checked on a
	// gateway of its own.
	refused := newEnv(t, envOptions{})
	refused.sb.Tenant.RejectClientCredentials(true)
	for range 100 {
		resp, err := http.Get(refused.url + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("GET /readyz with rejected M2M credentials = %d; want 503", resp.StatusCode)
		}
	}
	// Issue 10.7: 100 unauthenticated probes made 100 token requests.
	if n := countCalls(refused.sb).M2MToken; n > 1 {
		t.Errorf("100 probes of /readyz made %d M2M token requests; want 1", n)
	}
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		path, want string
		status     int
	}{
		{"/healthz", "ok", 200},
		{"/readyz", "ready", 200},
		{"/graphiql/", "graphiql-config", 200},
		{"/graphiql/assets/react.production.min.js", "React", 200},
	} {
		resp, err := http.Get(e.url + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.want) {
			t.Errorf("GET %s = %d; want %d containing %q", tc.path, resp.StatusCode, tc.status, tc.want)
		}
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	t.Parallel()
	var out, errOut strings.Builder
	err := run(context.Background(), nil, config.MapEnv(map[string]string{"AUTH0_DOMAIN": "acme.auth0.com", "AUTH0_CLIENT_ID": "x", "AUTH0_CLIENT_SECRET": "y"}), &out, &errOut)
	if err == nil || !strings.HasPrefix(err.Error(), "AUTH0_AUDIENCE:") || strings.Contains(err.Error(), "\n") {
		t.Errorf("run() error = %v; want one line naming AUTH0_AUDIENCE", err)
	}
}

func TestRunHelpExitsZero(t *testing.T) {
	t.Parallel()
	for _, arg := range []string{"--help", "-h", "-help"} {
		var out, errOut strings.Builder
		err := run(context.Background(), []string{arg}, config.MapEnv(nil), &out, &errOut)
		if err != nil || !strings.Contains(errOut.String(), "-dev") {
			t.Errorf("run(%s) = %v, usage %q; want nil and the usage", arg, err, errOut.String())
		}
	}
}

func TestRunDevFlagsNeedDev(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"--dev-files", t.TempDir()}, {"--dev-google-latency", "1s"}} {
		var out, errOut strings.Builder
		err := run(context.Background(), args, config.MapEnv(nil), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "need --dev") {
			t.Errorf("run(%q) = %v; want an error saying they need --dev", args, err)
		}
	}
}

func TestRunDevServesAndShutsDownGracefully(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{wrote: make(chan struct{}, 1)}
	errOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dev"}, config.MapEnv(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "USER_RPS": "7"}), out, errOut)
	}()
	var token, addr string
	tokenRE := regexp.MustCompile(`(?m)^  export TOKEN=(\S+)\n`)
	addrRE := regexp.MustCompile(`GraphiQL +http://(\S+)/graphiql/`)
	timeout := time.After(10 * time.Second)
wait:
	for { // each write to stdout wakes the loop: no polling
		s := out.String()
		if m := tokenRE.FindStringSubmatch(s); m != nil {
			token = m[1]
			if a := addrRE.FindStringSubmatch(s); a != nil {
				addr = a[1]
			}
			break
		}
		select {
		case <-out.wrote:
		case err := <-done:
			t.Fatalf("run() returned %v before the banner; stderr %q", err, errOut.String())
		case <-timeout:
			break wait
		}
	}
	if token == "" || addr == "" {
		t.Fatalf("no banner within 10s; stdout %q stderr %q", out.String(), errOut.String())
	}
	banner := out.String()
	for _, want := range []string{
		"export TOKEN_GRACE=ey", "export TOKEN_LINUS=ey", // one per demo user
		"Auth0      http://127.0.0.1:", "Google     http://127.0.0.1:", "Microsoft  http://127.0.0.1:",
		"--dev kept your USER_RPS=7", "USER_BURST=1000", `"Authorization: Bearer $TOKEN"`,
	} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if strings.Contains(banner, "USER_RPS=1000") {
		t.Errorf("banner says --dev set USER_RPS, which the developer set:\n%s", banner)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ me { name identities { provider } } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	_, _ = io.Copy(&body, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(body.String(), "Ada Lovelace") {
		t.Errorf("dev query = %d %s; want Ada's profile", resp.StatusCode, body.String())
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run() after cancel = %v; want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run() did not return after cancel")
	}
	if strings.Contains(errOut.String(), sandbox.SecretMarker) || strings.Contains(body.String(), sandbox.SecretMarker) {
		t.Error("a seeded secret reached the logs or a response")
	}
}

func TestCircuitBreakerFailsFast(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.GitHub.FailNext(100, http.StatusInternalServerError)
	token := e.sb.Token(sandbox.Grace)
	for i := 0; i < 10; i++ { // the default breaker opens after 10 consecutive failures
		r := e.post(context.Background(), token, bothQuery, window())
		if strings.Join(r.codes(), ",") != "UPSTREAM_UNAVAILABLE" {
			t.Fatalf("request %d = %s; want UPSTREAM_UNAVAILABLE for GitHub", i, r.Raw)
		}
	}
	before := e.sb.GitHub.Calls()
	r := e.post(context.Background(), token, bothQuery, window())
	if strings.Join(r.codes(), ",") != "UPSTREAM_UNAVAILABLE" || r.Errors[0].Extensions["provider"] != "github" {
		t.Fatalf("with the circuit open = %s; want UPSTREAM_UNAVAILABLE for github", r.Raw)
	}
	if got := e.sb.GitHub.Calls() - before; got != 0 {
		t.Errorf("GitHub calls with the circuit open = %d; want 0 (fail fast)", got)
	}
	var d bothData
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	if string(d.Me.Identities[1].Calendar) == "null" {
		t.Errorf("Google calendar = null; want it resolved while GitHub's circuit is open")
	}
}

func TestUndecodableBodyIsNotReflected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const marker = "reflected-body-marker"
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query": `+marker))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.sb.Token(sandbox.Grace))
	r := e.do(req)
	if r.Status != http.StatusBadRequest || len(r.Errors) != 1 || r.codes()[0] != "BAD_USER_INPUT" {
		t.Fatalf("undecodable body = %d %s; want 400 with one BAD_USER_INPUT error", r.Status, r.Raw)
	}
	if strings.Contains(string(r.Raw), marker) {
		t.Errorf("response reflects the request body: %s", r.Raw)
	}
}
