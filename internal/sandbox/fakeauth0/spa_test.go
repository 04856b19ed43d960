package fakeauth0

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
)

const (
	spaOrigin   = "http://app.test:5173"
	spaCallback = spaOrigin + "/"
	spaClientID = "spa-client"
	verifier    = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-dBjftJeZ4CVP"
)

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func challenge(v string) string {
	s := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(s[:])
}

func spaSetup(t *testing.T) (*Tenant, string, *clock) {
	t.Helper()
	ten, srv, clk := setup(t)
	ten.RegisterSPA(SPAClient{ClientID: spaClientID, Name: "Example SPA", CallbackURLs: []string{spaCallback}, WebOrigins: []string{spaOrigin}, LogoutURLs: []string{spaCallback}})
	ten.AddUser(User{UserID: "auth0|ada", Name: "Ada Lovelace", Nickname: "ada", Email: "ada@example.com", Identities: []Identity{
		{Provider: "auth0", Connection: "Username-Password-Authentication", UserID: "ada"},
		{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "1", AccessToken: "idp-token"},
	}})
	ten.AddUser(User{UserID: "github|2", Name: "Grace", Identities: []Identity{{Provider: "github", Connection: "github", UserID: 2}}})
	return ten, srv.URL, clk
}

func authorizeURL(base string, mod func(url.Values)) string {
	q := url.Values{
		"response_type": {"code"}, "client_id": {spaClientID}, "redirect_uri": {spaCallback},
		"scope": {"openid profile email offline_access"}, "audience": {DefaultAudience},
		"state": {"st4te"}, "nonce": {"n0nce"}, "code_challenge": {challenge(verifier)}, "code_challenge_method": {"S256"},
	}
	if mod != nil {
		mod(q)
	}
	return base + "/authorize?" + q.Encode()
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

var txRE = regexp.MustCompile(`name="tx" value="([^"]+)"`)

// login walks /authorize and the login page as user and returns the
// callback's query.
func login(t *testing.T, base, user string, mod func(url.Values)) url.Values {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(base, mod), nil)
	page := send(t, req)
	m := txRE.FindSubmatch(page.body)
	if page.status != http.StatusOK || m == nil {
		t.Fatalf("GET /authorize = %d %s; want the login page", page.status, page.body)
	}
	req, _ = http.NewRequest(http.MethodPost, base+"/u/login", strings.NewReader(url.Values{"tx": {string(m[1])}, "user": {user}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	back := send(t, req)
	loc, err := url.Parse(back.header.Get("Location"))
	if back.status != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), spaCallback) {
		t.Fatalf("POST /u/login = %d Location %q; want a redirect to the callback", back.status, back.header.Get("Location"))
	}
	return loc.Query()
}

func tokenRequest(t *testing.T, base string, form url.Values) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", spaOrigin)
	return send(t, req)
}

func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", jwt)
	}
	b, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSPAAuthorizationCodeWithPKCE(t *testing.T) {
	ten, base, _ := spaSetup(t)
	cb := login(t, base, "auth0|ada", nil)
	if cb.Get("state") != "st4te" || cb.Get("code") == "" {
		t.Fatalf("callback query = %v; want the code and the state", cb)
	}
	exchange := func(code, v string) response {
		return tokenRequest(t, base, url.Values{"grant_type": {"authorization_code"}, "client_id": {spaClientID}, "code": {code}, "code_verifier": {v}, "redirect_uri": {spaCallback}})
	}
	if r := exchange(cb.Get("code"), strings.Repeat("x", 43)); r.status != http.StatusForbidden || r.json(t)["error_description"] != "Failed to verify code verifier" {
		t.Errorf("wrong verifier = %d %s; want 403 invalid_grant", r.status, r.body)
	}
	// The code was spent by the failed attempt, as a single-use code is.
	if r := exchange(cb.Get("code"), verifier); r.status != http.StatusForbidden || r.json(t)["error"] != "invalid_grant" {
		t.Errorf("spent code = %d %s; want 403 invalid_grant", r.status, r.body)
	}
	r := exchange(login(t, base, "auth0|ada", nil).Get("code"), verifier)
	if r.status != http.StatusOK {
		t.Fatalf("token = %d %s", r.status, r.body)
	}
	if got := r.header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
		t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, spaOrigin)
	}
	body := r.json(t)
	id := claimsOf(t, body["id_token"].(string))
	iss := ten.Issuer()
	for k, want := range map[string]any{"iss": iss, "aud": spaClientID, "sub": "auth0|ada", "nonce": "n0nce", "name": "Ada Lovelace", "email": "ada@example.com"} {
		if id[k] != want {
			t.Errorf("id_token %s = %v; want %v", k, id[k], want)
		}
	}
	at := body["access_token"].(string)
	claims, err := ten.verify(at)
	if err != nil || !audienceHas(claims["aud"], DefaultAudience) || !audienceHas(claims["aud"], iss+"userinfo") || claims["sub"] != "auth0|ada" {
		t.Errorf("access token: verify error %v, aud %v, sub %v; want signed, for the API and userinfo, of auth0|ada", err, claims["aud"], claims["sub"])
	}
	if strings.Contains(string(r.body), "idp-token") {
		t.Error("the token response holds the IdP's token")
	}

	t.Run("userinfo", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, base+"/userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+at)
		if r := send(t, req); r.status != http.StatusOK || r.json(t)["sub"] != "auth0|ada" || r.json(t)["email"] != "ada@example.com" {
			t.Errorf("userinfo = %d %s", r.status, r.body)
		}
		req.Header.Set("Authorization", "Bearer "+ten.Mint(TokenSpec{Subject: "auth0|ada"}))
		if r := send(t, req); r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("userinfo with an API-only token = %d; want 401 with WWW-Authenticate", r.status)
		}
	})

	t.Run("rotating refresh tokens", func(t *testing.T) {
		refresh := func(rt string) response {
			return tokenRequest(t, base, url.Values{"grant_type": {"refresh_token"}, "client_id": {spaClientID}, "refresh_token": {rt}})
		}
		rt1 := body["refresh_token"].(string)
		r2 := refresh(rt1)
		if r2.status != http.StatusOK {
			t.Fatalf("refresh = %d %s", r2.status, r2.body)
		}
		rt2, _ := r2.json(t)["refresh_token"].(string)
		if rt2 == "" || rt2 == rt1 {
			t.Fatalf("refresh_token after rotation = %q; want a new one", rt2)
		}
		if r := refresh(rt1); r.status != http.StatusForbidden || r.json(t)["error_description"] != "Unknown or invalid refresh token." {
			t.Errorf("reused refresh token = %d %s; want 403 invalid_grant", r.status, r.body)
		}
		if r := refresh(rt2); r.status != http.StatusForbidden {
			t.Errorf("newest token after reuse = %d; want 403: reuse revokes the family", r.status)
		}
	})
}

func TestSPAAuthorizeErrors(t *testing.T) {
	_, base, _ := spaSetup(t)
	cases := []struct {
		name       string
		mod        func(url.Values)
		wantStatus int
		wantError  string // in the error page, or the callback's error
	}{
		{"unknown client", func(q url.Values) { q.Set("client_id", "nope") }, http.StatusBadRequest, "Unknown client"},
		{"callback not allowed", func(q url.Values) { q.Set("redirect_uri", "http://evil.test/") }, http.StatusBadRequest, "Callback URL mismatch"},
		{"silent auth via iframe", func(q url.Values) { q.Set("response_mode", "web_message") }, http.StatusBadRequest, "Unsupported response_mode"},
		{"no PKCE", func(q url.Values) { q.Del("code_challenge") }, http.StatusFound, "invalid_request"},
		{"plain PKCE", func(q url.Values) { q.Set("code_challenge_method", "plain") }, http.StatusFound, "invalid_request"},
		{"implicit flow", func(q url.Values) { q.Set("response_type", "token") }, http.StatusFound, "unsupported_response_type"},
		{"unknown API", func(q url.Values) { q.Set("audience", "https://other/") }, http.StatusFound, "access_denied"},
		{"no session for prompt=none", func(q url.Values) { q.Set("prompt", "none") }, http.StatusFound, "login_required"},
		{"unknown connection", func(q url.Values) { q.Set("connection", "myspace") }, http.StatusFound, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, authorizeURL(base, tc.mod), nil)
			r := send(t, req)
			if r.status != tc.wantStatus {
				t.Fatalf("status = %d; want %d (%s)", r.status, tc.wantStatus, r.body)
			}
			if tc.wantStatus == http.StatusFound {
				loc, _ := url.Parse(r.header.Get("Location"))
				if !strings.HasPrefix(loc.String(), spaCallback) || loc.Query().Get("error") != tc.wantError || loc.Query().Get("state") != "st4te" {
					t.Errorf("Location = %s; want the callback with error=%s and the state", loc, tc.wantError)
				}
				return
			}
			if !strings.Contains(string(r.body), tc.wantError) {
				t.Errorf("error page = %s; want %q", r.body, tc.wantError)
			}
		})
	}
}

func TestSPALoginWithConnectionCallsTheHook(t *testing.T) {
	ten, base, _ := spaSetup(t)
	var mu sync.Mutex
	var got []string
	ten.OnLogin(func(user, conn string) { mu.Lock(); got = append(got, user+" "+conn); mu.Unlock() })
	req, _ := http.NewRequest(http.MethodGet, authorizeURL(base, func(q url.Values) { q.Set("connection", "google-oauth2"); q.Set("prompt", "consent") }), nil)
	page := send(t, req)
	if !strings.Contains(string(page.body), `data-user="auth0|ada"`) || strings.Contains(string(page.body), `data-user="github|2"`) {
		t.Errorf("login page for google-oauth2 = %s; want Ada only", page.body)
	}
	login(t, base, "auth0|ada", func(q url.Values) { q.Set("connection", "google-oauth2") })
	login(t, base, "github|2", nil)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "auth0|ada google-oauth2" {
		t.Errorf("hook calls = %q; want one for Ada's google-oauth2 sign-in", got)
	}
}

func TestSPACORSAndLogout(t *testing.T) {
	_, base, _ := spaSetup(t)
	for _, tc := range []struct{ origin, want string }{{spaOrigin, spaOrigin}, {"http://evil.test", ""}} {
		req, _ := http.NewRequest(http.MethodOptions, base+"/oauth/token", nil)
		req.Header.Set("Origin", tc.origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "auth0-client,content-type")
		r := send(t, req)
		if got := r.header.Get("Access-Control-Allow-Origin"); got != tc.want {
			t.Errorf("preflight from %s: Access-Control-Allow-Origin = %q; want %q", tc.origin, got, tc.want)
		}
		if tc.want != "" && !strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Auth0-Client") {
			t.Errorf("preflight allows headers %q; want Auth0-Client", r.header.Get("Access-Control-Allow-Headers"))
		}
	}
	for _, tc := range []struct {
		query      string
		wantStatus int
		wantLoc    string
	}{
		{"client_id=" + spaClientID + "&returnTo=" + url.QueryEscape(spaCallback), http.StatusFound, spaCallback},
		{"client_id=" + spaClientID, http.StatusFound, spaCallback},
		{"client_id=" + spaClientID + "&returnTo=" + url.QueryEscape("http://evil.test/"), http.StatusBadRequest, ""},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/v2/logout?"+tc.query, nil)
		r := send(t, req)
		if r.status != tc.wantStatus || r.header.Get("Location") != tc.wantLoc {
			t.Errorf("logout?%s = %d %q; want %d %q", tc.query, r.status, r.header.Get("Location"), tc.wantStatus, tc.wantLoc)
		}
	}
}
