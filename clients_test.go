package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
)

// Tests of what SPA and mobile clients rely on (issue 13): one identity
// selected and paged on its own, identity-scoped errors naming the
// provider, and @defer over multipart/mixed with a complete answer for
// clients that do not read multipart.

type identityRef struct {
	ID       string `json:"id"`
	Provider string `json:"provider"`
}

func TestIdentitiesFilters(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	cases := []struct {
		name, args string
		want       []string
	}{
		{"no filter", ``, []string{"auth0|ada", "github|9001", "google-oauth2|100000000000000000001", "oauth2|gitlab|4242", "bitbucket|{7b0f3b5e-0000-4000-8000-00000000ada1}", "windowslive|0123456789abcdef", "facebook|10150000000000001"}},
		{"provider", `(provider: "github")`, []string{"github|9001"}},
		{"connection", `(connection: "gitlab")`, []string{"oauth2|gitlab|4242"}},
		{"capability", `(capability: CALENDAR)`, []string{"google-oauth2|100000000000000000001", "windowslive|0123456789abcdef"}},
		{"provider and capability", `(provider: "bitbucket", capability: REPOS)`, []string{"bitbucket|{7b0f3b5e-0000-4000-8000-00000000ada1}"}},
		{"contradictory", `(provider: "github", capability: CALENDAR)`, []string{}},
		{"unknown provider", `(provider: "myspace")`, []string{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(context.Background(), token, `{ me { identities`+tc.args+` { id provider } } }`, nil)
			if len(r.Errors) > 0 {
				t.Fatalf("errors = %s", r.Raw)
			}
			var d struct {
				Me struct{ Identities []identityRef } `json:"me"`
			}
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, idn := range d.Me.Identities {
				got = append(got, idn.ID)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("identities%s = %q; want %q", tc.args, got, tc.want)
			}
		})
	}
}

// TestIdentityPagesOneList pages Ada's GitHub repositories through
// me.identity(id) the way Apollo's fetchMore does: only GitHub is called,
// the pages do not overlap, and no other identity sees the cursor.
func TestIdentityPagesOneList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	const q = `query Page($id: ID!, $after: String) {
	  me { identity(id: $id) { id provider repos(first: 20, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }
	}`
	type page struct {
		Me struct {
			Identity *struct {
				ID    string `json:"id"`
				Repos struct {
					Nodes    []struct{ ID string } `json:"nodes"`
					PageInfo pageInfo              `json:"pageInfo"`
				} `json:"repos"`
			} `json:"identity"`
		} `json:"me"`
	}
	others := func() int {
		return e.sb.GitLab.Calls() + e.sb.Bitbucket.Calls() + e.sb.Google.Calls() + e.sb.MSGraph.Calls()
	}
	before := others()
	seen := map[string]bool{}
	var after any
	pages := 0
	for {
		r := e.post(context.Background(), token, q, map[string]any{"id": "github|9001", "after": after})
		if len(r.Errors) > 0 {
			t.Fatalf("page %d errors = %s", pages+1, r.Raw)
		}
		var p page
		if err := json.Unmarshal(r.Data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Me.Identity == nil || p.Me.Identity.ID != "github|9001" {
			t.Fatalf("page %d identity = %s; want github|9001", pages+1, r.Data)
		}
		pages++
		for _, n := range p.Me.Identity.Repos.Nodes {
			if seen[n.ID] {
				t.Errorf("repository %s on two pages", n.ID)
			}
			seen[n.ID] = true
		}
		if !p.Me.Identity.Repos.PageInfo.HasNextPage {
			break
		}
		if pages > 5 {
			t.Fatalf("more than 5 pages of 20 for 45 repositories")
		}
		after = *p.Me.Identity.Repos.PageInfo.EndCursor
	}
	if pages != 3 || len(seen) != 45 {
		t.Errorf("paged %d repositories in %d pages; want 45 in 3", len(seen), pages)
	}
	if got := others() - before; got != 0 {
		t.Errorf("other providers called %d times while paging one identity; want 0", got)
	}

	t.Run("unknown id is null without an error", func(t *testing.T) {
		r := e.post(context.Background(), token, `{ me { identity(id: "github|1") { id } } }`, nil)
		if len(r.Errors) > 0 || string(r.Data) != `{"me":{"identity":null}}` {
			t.Errorf("response = %s; want identity null and no error", r.Raw)
		}
	})
	t.Run("another user's identity is not reachable", func(t *testing.T) {
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), `{ me { identity(id: "github|9001") { id repos { nodes { id } } } } }`, nil)
		if len(r.Errors) > 0 || string(r.Data) != `{"me":{"identity":null}}` {
			t.Errorf("response = %s; want identity null and no error", r.Raw)
		}
	})
}

// TestIdentityScopedErrorsNameTheProvider: every error about one identity
// carries extensions.provider and extensions.connection (GitLab's provider
// is "oauth2", its connection "gitlab"), including input errors the
// gateway finds before calling the provider.
func TestIdentityScopedErrorsNameTheProvider(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	ghCursor := func() string {
		r := e.post(context.Background(), token, `{ me { identity(id: "github|9001") { repos(first: 1) { pageInfo { endCursor } } } } }`, nil)
		var d struct {
			Me struct {
				Identity struct {
					Repos struct{ PageInfo pageInfo } `json:"repos"`
				} `json:"identity"`
			} `json:"me"`
		}
		if err := json.Unmarshal(r.Data, &d); err != nil || d.Me.Identity.Repos.PageInfo.EndCursor == nil {
			t.Fatalf("no cursor: %s", r.Raw)
		}
		return *d.Me.Identity.Repos.PageInfo.EndCursor
	}()
	cases := []struct {
		name, query     string
		vars            map[string]any
		wantConnections []string
	}{
		// The README's old paging query: GitHub's cursor sent to every
		// repository provider. GitHub pages; the other two say which they are.
		{"cursor of another identity", `query($after: String) { me { identities(capability: REPOS) { provider repos(first: 1, after: $after) { nodes { id } } } } }`, map[string]any{"after": ghCursor}, []string{"gitlab", "bitbucket"}},
		{"first out of range", `{ me { identities(capability: CALENDAR) { calendar(first: 0) { nodes { id } } } } }`, nil, []string{"google-oauth2", "windowslive"}},
		{"one identity", `{ me { identity(id: "oauth2|gitlab|4242") { repos(first: 500) { nodes { id } } } } }`, nil, []string{"gitlab"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.post(context.Background(), token, tc.query, tc.vars)
			var got []string
			for _, er := range r.Errors {
				if er.Extensions["code"] != "BAD_USER_INPUT" {
					t.Errorf("error %q code = %v; want BAD_USER_INPUT", er.Message, er.Extensions["code"])
				}
				if p, _ := er.Extensions["provider"].(string); p == "" {
					t.Errorf("error %q has no extensions.provider", er.Message)
				}
				c, _ := er.Extensions["connection"].(string)
				got = append(got, c)
			}
			if !sameSet(got, tc.wantConnections) {
				t.Errorf("errors' extensions.connection = %q; want %q (%s)", got, tc.wantConnections, r.Raw)
			}
		})
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	count := map[string]int{}
	for _, s := range a {
		count[s]++
	}
	for _, s := range b {
		count[s]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}

const deferQuery = `query Dashboard {
  me {
    identities {
      id provider
      repos(first: 2) { nodes { fullName } }
      ... @defer(label: "calendar") { calendar(from: "2026-12-01T00:00:00Z", first: 2) { nodes { title } } }
    }
  }
}`

// part is one payload of an incremental response.
type part struct {
	Data        json.RawMessage `json:"data"`
	Errors      []gqlError      `json:"errors"`
	HasNext     *bool           `json:"hasNext"`
	Incremental []struct {
		Data   json.RawMessage `json:"data"`
		Path   []any           `json:"path"`
		Label  string          `json:"label"`
		Errors []gqlError      `json:"errors"`
	} `json:"incremental"`
}

// postMultipart sends query accepting multipart/mixed as Apollo Client
// does for an operation with @defer, and returns a reader of its parts.
func (e *testEnv) postMultipart(ctx context.Context, token, query string) (*http.Response, *multipart.Reader) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "multipart/mixed;deferSpec=20220824,application/graphql-response+json,application/json;q=0.9")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	mt, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		raw, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("status %d, Content-Type %q; want multipart/mixed with a boundary (%s)", resp.StatusCode, resp.Header.Get("Content-Type"), raw)
	}
	return resp, multipart.NewReader(resp.Body, params["boundary"])
}

// nextPart reads and decodes the next part; ok is false at the end.
func (e *testEnv) nextPart(mr *multipart.Reader) (p part, ok bool) {
	e.t.Helper()
	pr, err := mr.NextPart()
	if err == io.EOF {
		return part{}, false
	}
	if err != nil {
		e.t.Fatalf("multipart: %v", err)
	}
	raw, err := io.ReadAll(pr)
	if err != nil {
		e.t.Fatalf("multipart part: %v", err)
	}
	e.record(http.Header(pr.Header), raw)
	if err := json.Unmarshal(raw, &p); err != nil {
		e.t.Fatalf("part is not JSON: %v: %s", err, raw)
	}
	return p, true
}

// TestDeferDeliversFastIdentitiesFirst holds Google's events endpoint
// until the first part has arrived: the repositories (and the initial
// shape) reach the client while the calendar is still being fetched, and
// the calendar follows in a later part.
func TestDeferDeliversFastIdentitiesFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	release := e.sb.Google.HoldEvents()
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, mr := e.postMultipart(ctx, e.sb.Token(sandbox.Grace), deferQuery)

	first, ok := e.nextPart(mr)
	if !ok {
		t.Fatal("no first part")
	}
	if first.HasNext == nil || !*first.HasNext {
		t.Errorf("first part hasNext = %v; want true", first.HasNext)
	}
	var initial bothData // server_test.go
	if err := json.Unmarshal(first.Data, &initial); err != nil || len(initial.Me.Identities) != 2 {
		t.Fatalf("first part data = %s; want Grace's two identities", first.Data)
	}
	if gh := initial.Me.Identities[0]; gh.Provider != "github" || !strings.Contains(string(gh.Repos), "grace/") {
		t.Errorf("first part's GitHub identity = %+v; want its repositories", gh)
	}
	if bytes.Contains(first.Data, []byte(`"calendar"`)) {
		t.Errorf("first part data = %s; want the deferred calendars left out, not null", first.Data)
	}
	// Google is held, so it cannot have answered yet; whether the deferred
	// call has reached it when the first part is written is a race the
	// gateway need not win (it may be 0 or 1, never more).
	if calls := e.sb.Google.Calls(); calls > 1 {
		t.Errorf("Google events calls while the first part arrived = %d; want at most 1 (held)", calls)
	}

	release()
	calendars := map[string]json.RawMessage{}
	last := first
	for {
		p, ok := e.nextPart(mr)
		if !ok {
			break
		}
		last = p
		for _, inc := range p.Incremental {
			if inc.Label != "calendar" || len(inc.Path) != 3 {
				t.Errorf("incremental label %q path %v; want calendar at me.identities[i]", inc.Label, inc.Path)
				continue
			}
			var d struct {
				Calendar json.RawMessage `json:"calendar"`
			}
			if err := json.Unmarshal(inc.Data, &d); err != nil {
				t.Fatal(err)
			}
			idx := int(inc.Path[2].(float64))
			calendars[initial.Me.Identities[idx].Provider] = d.Calendar
		}
	}
	if last.HasNext == nil || *last.HasNext {
		t.Errorf("last part hasNext = %v; want false", last.HasNext)
	}
	if got := string(calendars["google-oauth2"]); !strings.Contains(got, `"nodes":[{"title"`) {
		t.Errorf("deferred Google calendar = %s; want events", got)
	}
	if got := string(calendars["github"]); got != "null" {
		t.Errorf("deferred GitHub calendar = %s; want null (no CALENDAR capability)", got)
	}
}

// TestDeferWithoutMultipartIsComplete: a client that does not accept
// multipart/mixed gets one JSON answer with the deferred fields filled in,
// in selection order, and no hasNext.
func TestDeferWithoutMultipartIsComplete(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	plain := e.post(context.Background(), token, strings.Replace(deferQuery, `... @defer(label: "calendar") {`, `... {`, 1), nil)
	if len(plain.Errors) > 0 {
		t.Fatalf("without @defer: %s", plain.Raw)
	}
	for _, accept := range []string{"", "application/json", "application/graphql-response+json"} {
		t.Run("Accept "+accept, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"query": deferQuery})
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			r := e.do(req)
			if r.Status != http.StatusOK || bytes.Contains(r.Raw, []byte("hasNext")) {
				t.Errorf("status %d body %s; want 200 without hasNext", r.Status, r.Raw)
			}
			if !bytes.Equal(r.Data, plain.Data) {
				t.Errorf("data = %s\nwant (as without @defer) %s", r.Data, plain.Data)
			}
		})
	}
}

// TestDeferredErrorsKeepTheirExtensions: an identity failing inside a
// deferred fragment reports its code and provider in the incremental part
// (and in the merged answer).
func TestDeferredErrorsKeepTheirExtensions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Google.Revoke(e.sb.AccessToken(sandbox.Grace, "google-oauth2"))
	token := e.sb.Token(sandbox.Grace)

	check := func(t *testing.T, errs []gqlError) {
		t.Helper()
		if len(errs) != 1 {
			t.Fatalf("errors = %+v; want one", errs)
		}
		x := errs[0].Extensions
		if x["code"] != "IDP_REAUTH_REQUIRED" || x["provider"] != "google-oauth2" {
			t.Errorf("extensions = %v; want code IDP_REAUTH_REQUIRED, provider google-oauth2", x)
		}
		if p := errs[0].Path; len(p) != 4 || p[3] != "calendar" {
			t.Errorf("path = %v; want me.identities[i].calendar", p)
		}
	}
	t.Run("multipart", func(t *testing.T) {
		_, mr := e.postMultipart(context.Background(), token, deferQuery)
		var errs []gqlError
		for {
			p, ok := e.nextPart(mr)
			if !ok {
				break
			}
			errs = append(errs, p.Errors...)
			for _, inc := range p.Incremental {
				errs = append(errs, inc.Errors...)
			}
		}
		check(t, errs)
	})
	t.Run("merged", func(t *testing.T) {
		r := e.post(context.Background(), token, deferQuery, nil)
		check(t, r.Errors)
	})
}

// TestDeferredFragmentsCountTowardsLimits: the cost of a deferred fragment
// is checked before anything runs, like any other selection.
func TestDeferredFragmentsCountTowardsLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"MAX_COST": "700", "MAX_DEPTH": "5"}})
	token := e.sb.Token(sandbox.Grace)
	const small = `{ me { identities { repos(first: 30) { nodes { name } } } } }`
	if r := e.post(context.Background(), token, small, nil); len(r.Errors) > 0 {
		t.Fatalf("within the limit: %s", r.Raw)
	}
	cases := []struct{ name, query string }{
		{"costly deferred calendar", `{ me { identities { repos(first: 30) { nodes { name } } ... @defer { calendar(first: 100) { nodes { title } } } } } }`},
		{"deep deferred fragment", `{ me { identities { ... @defer { repos { edges { node { owner: name } } } } } } }`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			body, _ := json.Marshal(map[string]any{"query": tc.query})
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "multipart/mixed;deferSpec=20220824,application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			r := e.do(req)
			// The answer is application/json, so 200 (GraphQL over HTTP;
			// gqlresp.Conform), with no data.
			if r.Status != http.StatusOK || len(r.Errors) != 1 || r.codes()[0] != "GRAPHQL_VALIDATION_FAILED" || len(r.Data) > 0 && string(r.Data) != "null" {
				t.Errorf("status %d, %s; want 200 with one GRAPHQL_VALIDATION_FAILED error and no data", r.Status, r.Raw)
			}
			if got := countCalls(e.sb); got != before {
				t.Errorf("upstream calls = %+v; want %+v (none)", got, before)
			}
		})
	}
}

// TestSignInAgainThroughTheAuth0Emulator walks what the example SPA does
// for IDP_REAUTH_REQUIRED: Margaret's Google consent is revoked; she signs
// in with the google-oauth2 connection again through /authorize (PKCE)
// and the login page, exchanges the code, and with that access token her
// calendar works.
//
// The Management API budget is on: the bearer token from signing in again
// is issued after the one whose request made the gateway re-read her
// profile, which ends the re-consent memory. Her first bearer token is a
// minute old (iat has whole seconds; a person signs in again later than
// this test does).
func TestSignInAgainThroughTheAuth0Emulator(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	const q = `{ me { identity(id: "google-oauth2|100000000000000001936") { calendar(from: "2026-12-01T00:00:00Z", first: 2) { nodes { title } } } } }`
	signedIn := time.Now().Add(-time.Minute)
	first := e.sb.Tenant.Mint(fakeauth0.TokenSpec{Subject: sandbox.Margaret, IssuedAt: signedIn, NotBefore: signedIn, ExpiresAt: signedIn.Add(time.Hour), Scope: "openid profile email"})
	r := e.post(context.Background(), first, q, nil)
	if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "IDP_REAUTH_REQUIRED" || r.Errors[0].Extensions["provider"] != "google-oauth2" {
		t.Fatalf("before signing in again: %s; want IDP_REAUTH_REQUIRED for google-oauth2", r.Raw)
	}

	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	const verifier = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy"
	sum := sha256.Sum256([]byte(verifier))
	authorize := e.sb.Auth0URL + "/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {sandbox.SPAClientID}, "redirect_uri": {"http://localhost:5173/"},
		"scope": {"openid profile email offline_access"}, "audience": {e.sb.Tenant.APIAudience()}, "state": {"s"}, "nonce": {"n"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"connection": {"google-oauth2"}, "prompt": {"consent"},
	}.Encode()
	resp, err := noRedirect.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="tx" value="([^"]+)"`).FindSubmatch(page)
	if m == nil || !bytes.Contains(page, []byte(`data-user="`+sandbox.Margaret+`"`)) {
		t.Fatalf("login page = %s; want Margaret listed for google-oauth2", page)
	}
	resp, err = noRedirect.PostForm(e.sb.Auth0URL+"/u/login", url.Values{"tx": {string(m[1])}, "user": {sandbox.Margaret}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("login answered %d Location %q; want a code", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, err = http.PostForm(e.sb.Auth0URL+"/oauth/token", url.Values{"grant_type": {"authorization_code"}, "client_id": {sandbox.SPAClientID}, "code": {code}, "code_verifier": {verifier}, "redirect_uri": {"http://localhost:5173/"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(raw, &tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token = %d %s", resp.StatusCode, raw)
	}
	if strings.Contains(string(raw), sandbox.SecretMarker) {
		t.Fatal("the Auth0 emulator's token response holds an IdP token")
	}

	r = e.post(context.Background(), tok.AccessToken, q, nil)
	if len(r.Errors) > 0 || !strings.Contains(string(r.Data), "margaret meeting") {
		t.Errorf("after signing in again: %s; want Margaret's events", r.Raw)
	}
}

// TestMultipartWithoutDefer: GraphiQL accepts "application/json,
// multipart/mixed" for every query; without @defer the answer is one part
// holding the whole result.
func TestMultipartWithoutDefer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	body, _ := json.Marshal(map[string]any{"query": `{ me { name identities { provider } } }`})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, multipart/mixed")
	req.Header.Set("Authorization", "Bearer "+e.sb.Token(sandbox.Grace))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, params, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if err != nil || params["boundary"] == "" {
		t.Fatalf("Content-Type = %q; want multipart/mixed", resp.Header.Get("Content-Type"))
	}
	mr := multipart.NewReader(resp.Body, params["boundary"])
	p, ok := e.nextPart(mr)
	if !ok || len(p.Errors) > 0 || !strings.Contains(string(p.Data), `"name":"Grace Hopper"`) || p.HasNext != nil && *p.HasNext {
		t.Errorf("part = %+v; want the whole result and no hasNext", p)
	}
	if _, more := e.nextPart(mr); more {
		t.Error("a second part; want one")
	}
}
