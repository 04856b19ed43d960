package fakeauth0

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for the tenant.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var epoch = time.Unix(1_700_000_000, 0)

func setup(t *testing.T) (*Tenant, *httptest.Server, *clock) {
	t.Helper()
	clk := &clock{t: epoch}
	ten := &Tenant{Now: clk.Now}
	srv := httptest.NewServer(ten)
	t.Cleanup(srv.Close)
	ten.SetBaseURL(srv.URL)
	return ten, srv, clk
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, b}
}

func get(t *testing.T, rawURL, bearer string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	return do(t, req)
}

// m2mToken runs the client_credentials grant and returns the access token.
func m2mToken(t *testing.T, ten *Tenant, srv *httptest.Server) string {
	t.Helper()
	id, secret := ten.Credentials()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "audience": {srv.URL + "/api/v2/"}}
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r := do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("POST /oauth/token = %d %s; want 200", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

func TestDiscoveryAndJWKS(t *testing.T) {
	ten, srv, _ := setup(t)
	d := get(t, srv.URL+"/.well-known/openid-configuration", "").json(t)
	if got, want := d["issuer"], srv.URL+"/"; got != want {
		t.Errorf("issuer = %v; want %v", got, want)
	}
	if got, want := d["jwks_uri"], srv.URL+"/.well-known/jwks.json"; got != want {
		t.Errorf("jwks_uri = %v; want %v", got, want)
	}
	if got, want := d["token_endpoint"], srv.URL+"/oauth/token"; got != want {
		t.Errorf("token_endpoint = %v; want %v", got, want)
	}

	kids := func() []string {
		var set struct {
			Keys []struct{ Kty, Use, Alg, Kid, N, E string }
		}
		r := get(t, srv.URL+"/.well-known/jwks.json", "")
		if err := json.Unmarshal(r.body, &set); err != nil {
			t.Fatal(err)
		}
		var kids []string
		for _, k := range set.Keys {
			if k.Kty != "RSA" || k.Use != "sig" || k.Alg != "RS256" {
				t.Errorf("jwk %+v; want kty RSA, use sig, alg RS256", k)
			}
			kids = append(kids, k.Kid)
		}
		// The first key verifies a freshly minted token.
		n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
		e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		tok := strings.Split(ten.Mint(TokenSpec{Subject: "auth0|1"}), ".")
		sig, _ := base64.RawURLEncoding.DecodeString(tok[2])
		sum := sha256.Sum256([]byte(tok[0] + "." + tok[1]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Errorf("minted token does not verify with JWKS key %s: %v", set.Keys[0].Kid, err)
		}
		return kids
	}
	first := ten.KeyID()
	if got, want := kids(), []string{first}; !reflect.DeepEqual(got, want) {
		t.Errorf("kids = %v; want %v", got, want)
	}
	ten.AddKey()
	second := ten.KeyID()
	if got, want := kids(), []string{second, first}; !reflect.DeepEqual(got, want) {
		t.Errorf("after AddKey kids = %v; want %v", got, want)
	}
	ten.RotateKeys()
	third := ten.KeyID()
	if got, want := kids(), []string{third}; !reflect.DeepEqual(got, want) {
		t.Errorf("after RotateKeys kids = %v; want %v", got, want)
	}
	if c := ten.Calls(); c.Discovery != 1 || c.JWKS != 3 {
		t.Errorf("Calls() = %+v; want Discovery 1, JWKS 3", c)
	}
}

func TestTokenEndpoint(t *testing.T) {
	ten, srv, _ := setup(t)
	id, secret := ten.Credentials()
	mgmt := srv.URL + "/api/v2/"
	form := func(kv ...string) url.Values {
		v := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}, "audience": {mgmt}}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == "" {
				v.Del(kv[i])
			} else {
				v.Set(kv[i], kv[i+1])
			}
		}
		return v
	}
	tests := []struct {
		name      string
		body      string
		json      bool
		basic     bool
		reject    bool
		status    int
		errorCode string
		scope     string
	}{
		{name: "form", body: form().Encode(), status: 200, scope: "read:users read:user_idp_tokens"},
		{name: "json", body: `{"grant_type":"client_credentials","client_id":"` + id + `","client_secret":"` + secret + `","audience":"` + mgmt + `"}`, json: true, status: 200, scope: "read:users read:user_idp_tokens"},
		{name: "basic auth", body: form("client_id", "", "client_secret", "").Encode(), basic: true, status: 200, scope: "read:users read:user_idp_tokens"},
		{name: "scope subset", body: form("scope", "read:users").Encode(), status: 200, scope: "read:users"},
		{name: "scope not granted", body: form("scope", "read:users delete:users").Encode(), status: 403, errorCode: "access_denied"},
		{name: "wrong secret", body: form("client_secret", "nope").Encode(), status: 401, errorCode: "access_denied"},
		{name: "unknown client", body: form("client_id", "other").Encode(), status: 401, errorCode: "access_denied"},
		{name: "rejected", body: form().Encode(), reject: true, status: 401, errorCode: "access_denied"},
		{name: "gateway audience", body: form("audience", ten.APIAudience()).Encode(), status: 403, errorCode: "access_denied"},
		{name: "unknown audience", body: form("audience", "https://elsewhere/").Encode(), status: 403, errorCode: "access_denied"},
		{name: "no audience", body: form("audience", "").Encode(), status: 403, errorCode: "access_denied"},
		{name: "password grant", body: form("grant_type", "password").Encode(), status: 403, errorCode: "unsupported_grant_type"},
		{name: "no grant", body: form("grant_type", "").Encode(), status: 400, errorCode: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ten.RejectClientCredentials(tt.reject)
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.json {
				req.Header.Set("Content-Type", "application/json")
			}
			if tt.basic {
				req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
			}
			r := do(t, req)
			if r.status != tt.status {
				t.Fatalf("POST /oauth/token = %d %s; want %d", r.status, r.body, tt.status)
			}
			m := r.json(t)
			if tt.status != 200 {
				if m["error"] != tt.errorCode || m["error_description"] == "" {
					t.Errorf("error body = %s; want error %q and a description", r.body, tt.errorCode)
				}
				return
			}
			if m["token_type"] != "Bearer" || m["expires_in"] != float64(86400) || m["scope"] != tt.scope {
				t.Errorf("token body = %s; want Bearer, 86400 s, scope %q", r.body, tt.scope)
			}
			// The token opens the Management API.
			if got := get(t, srv.URL+"/api/v2/users?q="+url.QueryEscape(`user_id:"x"`), m["access_token"].(string)); got.status != 200 {
				t.Errorf("search with issued token = %d %s; want 200", got.status, got.body)
			}
		})
	}
	if got, want := ten.Calls().Token, len(tests); got != want {
		t.Errorf("Calls().Token = %d; want %d", got, want)
	}
}

func TestUserByID(t *testing.T) {
	ten, srv, clk := setup(t)
	ten.AddUser(User{
		UserID: "github|123", Name: "Octo Cat", Nickname: "octocat", Email: "octo@example.com", Picture: "https://example.com/o.png",
		Identities: []Identity{{Provider: "github", Connection: "github", UserID: 123, IsSocial: true, AccessToken: "gho_FAKE_AT_1", ExpiresIn: 0}},
	})
	ten.AddUser(User{
		UserID:     "google-oauth2|a/b%c",
		Identities: []Identity{{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "a/b%c", IsSocial: true, AccessToken: "ya29.FAKE", RefreshToken: "1//FAKE_RT", ExpiresIn: 3599}},
	})
	tok := m2mToken(t, ten, srv)
	mgmt := srv.URL + "/api/v2/"
	noTokens := ten.Mint(TokenSpec{Subject: "x@clients", Audience: mgmt, Scope: "read:users"})
	noScope := ten.Mint(TokenSpec{Subject: "x@clients", Audience: mgmt, Scope: "read:clients"})
	expired := ten.Mint(TokenSpec{Subject: "x@clients", Audience: mgmt, Scope: "read:users", ExpiresAt: epoch.Add(-time.Second)})
	future := ten.Mint(TokenSpec{Subject: "x@clients", Audience: mgmt, Scope: "read:users", NotBefore: epoch.Add(time.Hour)})
	unknownKid := ten.Mint(TokenSpec{Subject: "x@clients", Audience: mgmt, Scope: "read:users", KeyID: "unknown"})
	gatewayAud := ten.Mint(TokenSpec{Subject: "x@clients", Scope: "read:users"})

	user := func(id string) string { return srv.URL + "/api/v2/users/" + url.PathEscape(id) }
	tests := []struct {
		name, url, token string
		status           int
		message          string
		errorCode        string
	}{
		{"github user", user("github|123"), tok, 200, "", ""},
		{"escaped slash and percent", user("google-oauth2|a/b%c"), tok, 200, "", ""},
		{"unknown user", user("auth0|none"), tok, 404, "The user does not exist.", "inexistent_user"},
		{"no authorization", user("github|123"), "", 401, "Missing authentication", ""},
		{"garbage token", user("github|123"), "not.a.jwt", 401, "Invalid token.", ""},
		{"expired token", user("github|123"), expired, 401, "Invalid token.", ""},
		{"not yet valid", user("github|123"), future, 401, "Invalid token.", ""},
		{"unknown kid", user("github|123"), unknownKid, 401, "Invalid token.", ""},
		{"gateway audience", user("github|123"), gatewayAud, 401, "Invalid token.", ""},
		{"insufficient scope", user("github|123"), noScope, 403, "Insufficient scope, expected any of: read:users", "insufficient_scope"},
		{"unescaped slash", srv.URL + "/api/v2/users/google-oauth2|a/b", tok, 404, "Not Found", ""},
		{"unknown endpoint", srv.URL + "/api/v2/clients", tok, 404, "Not Found", ""},
		{"outside the API", srv.URL + "/nope", "", 404, "Not Found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.url, tt.token)
			if r.status != tt.status {
				t.Fatalf("GET %s = %d %s; want %d", tt.url, r.status, r.body, tt.status)
			}
			if tt.status == 200 {
				return
			}
			m := r.json(t)
			var wantCode any
			if tt.errorCode != "" {
				wantCode = tt.errorCode
			}
			if m["statusCode"] != float64(tt.status) || m["error"] != http.StatusText(tt.status) || m["message"] != tt.message || m["errorCode"] != wantCode {
				t.Errorf("GET %s body = %s; want statusCode %d, message %q, errorCode %q", tt.url, r.body, tt.status, tt.message, tt.errorCode)
			}
			if tt.message == "Invalid token." && !strings.Contains(string(r.body), `"attributes":{"error":"Invalid token."}`) {
				t.Errorf("GET %s body = %s; want attributes.error", tt.url, r.body)
			}
		})
	}

	t.Run("body", func(t *testing.T) {
		clk.Advance(time.Minute)
		r := get(t, user("github|123"), tok)
		want := `{"created_at":"2023-11-14T22:13:20.000Z","email":"octo@example.com",` +
			`"identities":[{"access_token":"gho_FAKE_AT_1","connection":"github","isSocial":true,"provider":"github","user_id":123}],` +
			`"name":"Octo Cat","nickname":"octocat","picture":"https://example.com/o.png","updated_at":"2023-11-14T22:13:20.000Z","user_id":"github|123"}`
		if string(r.body) != want {
			t.Errorf("GET github|123 = %s; want %s", r.body, want)
		}
		r = get(t, user("google-oauth2|a/b%c"), tok)
		id := r.json(t)["identities"].([]any)[0].(map[string]any)
		if id["user_id"] != "a/b%c" || id["refresh_token"] != "1//FAKE_RT" || id["expires_in"] != float64(3599) {
			t.Errorf("google identity = %v; want user_id a/b%%c, refresh token, expires_in 3599", id)
		}
		r = get(t, user("github|123"), noTokens)
		if strings.Contains(string(r.body), "gho_FAKE_AT_1") {
			t.Errorf("GET without read:user_idp_tokens = %s; want no access_token", r.body)
		}
	})

	t.Run("key rotation invalidates tokens", func(t *testing.T) {
		ten.RotateKeys()
		if r := get(t, user("github|123"), tok); r.status != 401 {
			t.Errorf("GET with pre-rotation token = %d; want 401", r.status)
		}
		if r := get(t, user("github|123"), m2mToken(t, ten, srv)); r.status != 200 {
			t.Errorf("GET with new token = %d; want 200", r.status)
		}
	})
}

func TestParseUserIDQuery(t *testing.T) {
	tests := []struct {
		q    string
		want []string
	}{
		{`user_id:"github|1"`, []string{"github|1"}},
		{`user_id:("a" OR "b" OR "c")`, []string{"a", "b", "c"}},
		{` user_id:( "a"  OR  "b" ) `, []string{"a", "b"}},
		{`user_id:("q\"uote" OR "back\\slash")`, []string{`q"uote`, `back\slash`}},
		{`user_id:"a b (OR) c"`, []string{"a b (OR) c"}},
		{`email:"a@b"`, nil},
		{`user_id:a`, nil},
		{`user_id:"a`, nil},
		{`user_id:("a" "b")`, nil},
		{`user_id:("a" AND "b")`, nil},
		{`user_id:("a" OR "b"`, nil},
		{`user_id:("a" ORx "b")`, nil},
		{`user_id:"a" OR email:"b"`, nil},
		{`user_id:"a\`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, err := parseUserIDQuery(tt.q)
			if tt.want == nil {
				if err == nil {
					t.Errorf("parseUserIDQuery(%q) = %q; want an error", tt.q, got)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseUserIDQuery(%q) = %q, %v; want %q", tt.q, got, err, tt.want)
			}
		})
	}
}

func searchIDs(t *testing.T, r response) []string {
	t.Helper()
	var users []struct {
		UserID     string `json:"user_id"`
		Identities []struct {
			AccessToken string `json:"access_token"`
		}
	}
	if err := json.Unmarshal(r.body, &users); err != nil {
		t.Fatalf("search body %s: %v", r.body, err)
	}
	ids := []string{}
	for _, u := range users {
		s := u.UserID
		if len(u.Identities) > 0 && u.Identities[0].AccessToken != "" {
			s += "=" + u.Identities[0].AccessToken
		}
		ids = append(ids, s)
	}
	return ids
}

func TestSearch(t *testing.T) {
	ten, srv, _ := setup(t)
	for _, id := range []string{"auth0|1", "auth0|2", `auth0|q"uote`, `auth0|back\slash`} {
		ten.AddUser(User{UserID: id, Identities: []Identity{{Provider: "auth0", UserID: strings.TrimPrefix(id, "auth0|")}}})
	}
	tok := m2mToken(t, ten, srv)
	tests := []struct {
		name   string
		query  string
		status int
		want   []string
	}{
		{"one", `q=` + url.QueryEscape(`user_id:"auth0|1"`) + `&search_engine=v3`, 200, []string{"auth0|1"}},
		{"several with quoting", `q=` + url.QueryEscape(`user_id:("auth0|q\"uote" OR "auth0|back\\slash" OR "auth0|none" OR "auth0|2")`) + `&search_engine=v3&per_page=4`, 200, []string{"auth0|2", `auth0|back\slash`, `auth0|q"uote`}},
		{"paging", `q=` + url.QueryEscape(`user_id:("auth0|1" OR "auth0|2")`) + `&per_page=1&page=1`, 200, []string{"auth0|2"}},
		{"past the end", `q=` + url.QueryEscape(`user_id:("auth0|1" OR "auth0|2")`) + `&per_page=1&page=5`, 200, []string{}},
		{"no query lists all", `per_page=10`, 200, []string{"auth0|1", "auth0|2", `auth0|back\slash`, `auth0|q"uote`}},
		{"other field", `q=` + url.QueryEscape(`email:"x@y"`), 400, nil},
		{"per_page too big", `q=` + url.QueryEscape(`user_id:"auth0|1"`) + `&per_page=101`, 400, nil},
		{"negative page", `q=` + url.QueryEscape(`user_id:"auth0|1"`) + `&page=-1`, 400, nil},
		{"search engine v2", `q=` + url.QueryEscape(`user_id:"auth0|1"`) + `&search_engine=v2`, 400, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, srv.URL+"/api/v2/users?"+tt.query, tok)
			if r.status != tt.status {
				t.Fatalf("GET users?%s = %d %s; want %d", tt.query, r.status, r.body, tt.status)
			}
			if tt.status != 200 {
				if m := r.json(t); m["statusCode"] != float64(400) || m["error"] != "Bad Request" || !strings.HasPrefix(m["errorCode"].(string), "invalid_") {
					t.Errorf("GET users?%s body = %s; want Auth0 400 shape", tt.query, r.body)
				}
				return
			}
			if got := searchIDs(t, r); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("GET users?%s = %q; want %q", tt.query, got, tt.want)
			}
		})
	}
	t.Run("include_totals", func(t *testing.T) {
		r := get(t, srv.URL+"/api/v2/users?per_page=1&include_totals=true", tok)
		m := r.json(t)
		if m["total"] != float64(4) || m["length"] != float64(1) || m["limit"] != float64(1) {
			t.Errorf("include_totals body = %s; want total 4, length 1, limit 1", r.body)
		}
	})
}

func TestSearchIndexLag(t *testing.T) {
	ten, srv, clk := setup(t)
	ten.SearchIndexLag = 10 * time.Second
	tok := m2mToken(t, ten, srv)
	search := func() []string {
		return searchIDs(t, get(t, srv.URL+"/api/v2/users?search_engine=v3&q="+url.QueryEscape(`user_id:"github|7"`), tok))
	}
	byID := func() int { return get(t, srv.URL+"/api/v2/users/github%7C7", tok).status }

	ten.AddUser(User{Identities: []Identity{{Provider: "github", UserID: 7, AccessToken: "gho_OLD"}}})
	steps := []struct {
		name     string
		do       func()
		advance  time.Duration
		search   []string
		byStatus int
	}{
		{"just added", func() {}, 0, []string{}, 200},
		{"indexed", func() {}, 10 * time.Second, []string{"github|7=gho_OLD"}, 200},
		{"token changed", func() {
			ten.UpdateIdentity("github|7", "github", func(id *Identity) { id.AccessToken = "gho_NEW" })
		}, 5 * time.Second, []string{"github|7=gho_OLD"}, 200},
		{"change indexed", func() {}, 5 * time.Second, []string{"github|7=gho_NEW"}, 200},
		// A longer lag delays later changes; what is indexed stays.
		{"lag raised", func() { ten.SetSearchIndexLag(time.Hour) }, 0, []string{"github|7=gho_NEW"}, 200},
		{"deleted", func() { ten.DeleteUser("github|7") }, 10 * time.Second, []string{"github|7=gho_NEW"}, 404},
		{"deletion indexed", func() {}, time.Hour, []string{}, 404},
	}
	for _, s := range steps {
		s.do()
		clk.Advance(s.advance)
		if got := search(); !reflect.DeepEqual(got, s.search) {
			t.Errorf("%s: search = %q; want %q", s.name, got, s.search)
		}
		if got := byID(); got != s.byStatus {
			t.Errorf("%s: GET by id = %d; want %d", s.name, got, s.byStatus)
		}
	}
}

func TestRateLimitAndFailures(t *testing.T) {
	ten, srv, clk := setup(t)
	ten.AddUser(User{UserID: "auth0|1"})
	tok := m2mToken(t, ten, srv)
	u := srv.URL + "/api/v2/users/auth0%7C1"

	ten.SetRateLimit(2)
	type answer struct {
		status                      int
		limit, remaining, reset, ra string
		errorCode                   string
	}
	call := func() answer {
		r := get(t, u, tok)
		a := answer{r.status, r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"), r.header.Get("X-RateLimit-Reset"), r.header.Get("Retry-After"), ""}
		if r.status != 200 {
			a.errorCode, _ = r.json(t)["errorCode"].(string)
		}
		return a
	}
	steps := []struct {
		name string
		do   func()
		want answer
	}{
		{"first in second", func() {}, answer{200, "2", "1", "1700000001", "", ""}},
		{"second in second", func() {}, answer{200, "2", "0", "1700000001", "", ""}},
		{"over the limit", func() {}, answer{429, "2", "0", "1700000001", "1", "too_many_requests"}},
		{"next second", func() { clk.Advance(time.Second) }, answer{200, "2", "1", "1700000002", "", ""}},
		{"RateLimitNext", func() { ten.SetRateLimit(0); ten.RateLimitNext(1, 3*time.Second) }, answer{429, "1000", "0", "1700000004", "3", "too_many_requests"}},
		{"FailNext 503", func() { ten.FailNext(1, 503) }, answer{503, "1000", "997", "1700000002", "", ""}},
		{"FailNext 401", func() { ten.FailNext(1, 401) }, answer{401, "1000", "996", "1700000002", "", ""}},
		{"recovered", func() {}, answer{200, "1000", "995", "1700000002", "", ""}},
	}
	for _, s := range steps {
		s.do()
		if got := call(); got != s.want {
			t.Errorf("%s: GET = %+v; want %+v", s.name, got, s.want)
		}
	}
	if got, want := ten.Calls().UserByID, len(steps); got != want {
		t.Errorf("Calls().UserByID = %d; want %d", got, want)
	}
	ten.Reset()
	if got := ten.Calls(); got != (Counts{}) {
		t.Errorf("Calls() after Reset = %+v; want zero", got)
	}
}

func TestZeroValueDerivesIssuerFromHost(t *testing.T) {
	var ten Tenant
	srv := httptest.NewServer(&ten)
	defer srv.Close()
	d := get(t, srv.URL+"/.well-known/openid-configuration", "").json(t)
	if got, want := d["issuer"], srv.URL+"/"; got != want {
		t.Errorf("issuer = %v; want %v", got, want)
	}
	if got, want := ten.Issuer(), srv.URL+"/"; got != want {
		t.Errorf("Issuer() = %q; want %q", got, want)
	}
	id, secret := ten.Credentials()
	if id != DefaultClientID || len(secret) < 32 {
		t.Errorf("Credentials() = %q, %d-byte secret; want %q and a random secret", id, len(secret), DefaultClientID)
	}
	if r := get(t, srv.URL+"/api/v2/users/x", m2mToken(t, &ten, srv)); r.status != 404 {
		t.Errorf("GET users/x = %d %s; want 404", r.status, r.body)
	}
}

// TestSearchPagingCapAndURILimit: without page, search answers at most 50
// users whatever per_page says; with page, per_page (up to 100) applies. A
// request target over MaxRequestURI answers 414.
func TestSearchPagingCapAndURILimit(t *testing.T) {
	ten, srv, _ := setup(t)
	for i := range 120 {
		ten.AddUser(User{UserID: fmt.Sprintf("auth0|%03d", i)})
	}
	tok := m2mToken(t, ten, srv)
	for _, tc := range []struct {
		query string
		want  int
	}{
		{"", 50},
		{"per_page=100", 50},
		{"per_page=20", 20},
		{"per_page=100&page=0", 100},
		{"per_page=100&page=1", 20},
	} {
		r := get(t, srv.URL+"/api/v2/users?"+tc.query, tok)
		if got := len(searchIDs(t, r)); r.status != 200 || got != tc.want {
			t.Errorf("GET users?%s = %d with %d users; want 200 with %d", tc.query, r.status, got, tc.want)
		}
	}

	ten.MaxRequestURI = 200
	long := "q=" + url.QueryEscape(`user_id:"`+strings.Repeat("a", 200)+`"`)
	r := get(t, srv.URL+"/api/v2/users?"+long, tok)
	if m := r.json(t); r.status != http.StatusRequestURITooLong || m["statusCode"] != float64(414) {
		t.Errorf("GET users with a %d-byte query = %d %s; want 414", len(long), r.status, r.body)
	}
	if r := get(t, srv.URL+"/api/v2/users?per_page=1", tok); r.status != 200 {
		t.Errorf("GET users with a short query = %d; want 200", r.status)
	}
}

func TestHoldManagement(t *testing.T) {
	ten, srv, _ := setup(t)
	tok := m2mToken(t, ten, srv)
	ten.AddUser(User{Identities: []Identity{{Provider: "github", UserID: 7, AccessToken: "gho_A"}}})
	arrived, release := ten.HoldManagement()
	done := make(chan int, 1)
	go func() { done <- get(t, srv.URL+"/api/v2/users/github%7C7", tok).status }()
	<-arrived
	select {
	case st := <-done:
		t.Fatalf("GET by id answered %d during the hold; want it held", st)
	default:
	}
	if got := ten.Calls().UserByID; got != 0 {
		t.Errorf("calls counted during the hold = %d; want 0 (counted when answered)", got)
	}
	release()
	if st := <-done; st != http.StatusOK {
		t.Errorf("GET by id after release = %d; want 200", st)
	}
	release() // a second release is harmless
	if st := get(t, srv.URL+"/api/v2/users/github%7C7", tok).status; st != http.StatusOK {
		t.Errorf("GET by id after the hold = %d; want 200", st)
	}
}
