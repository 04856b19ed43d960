package fakeauth0

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// What single-page apps use (auth0-spa-js): the authorization code flow
// with PKCE through /authorize and a small login page standing in for
// Universal Login, the token endpoint's authorization_code and rotating
// refresh_token grants, /userinfo and /v2/logout, with CORS for the
// application's Allowed Web Origins. Shapes follow Auth0's Authentication
// API reference (https://auth0.com/docs/api/authentication: "Authorize
// Application", "Get Token" with PKCE, "Refresh Token", "User Profile",
// "Logout") and https://auth0.com/docs/secure/tokens/refresh-tokens/refresh-token-rotation.

// SPAClient is a registered Single Page Application: a public client (no
// secret) that must use PKCE.
type SPAClient struct {
	ClientID string
	Name     string
	// CallbackURLs are the Allowed Callback URLs: redirect_uri must be
	// one of them exactly.
	CallbackURLs []string
	// WebOrigins are the Allowed Web Origins: browsers on them may call
	// /oauth/token and /userinfo (CORS).
	WebOrigins []string
	// LogoutURLs are the Allowed Logout URLs of /v2/logout's returnTo.
	LogoutURLs []string
}

// Lifetimes of what the flow issues (Auth0's defaults: an access token for
// an API lives 24 hours, an ID token 10 hours; codes are short-lived).
const (
	codeTTL        = 5 * time.Minute
	loginTTL       = 10 * time.Minute
	userTokenTTL   = 24 * time.Hour
	idTokenTTL     = 10 * time.Hour
	maxLoginUsers  = 50
	maxPending     = 10000 // transactions and codes kept at most
	userinfoSuffix = "userinfo"
)

// spaState is the tenant's state for interactive sign-in. Guarded by
// Tenant.mu.
type spaState struct {
	clients map[string]SPAClient
	logins  map[string]*loginTx      // by transaction id
	codes   map[string]*authCode     // by code
	refresh map[string]*refreshToken // by refresh token
	onLogin func(userID, connection string)
}

// loginTx is an /authorize request waiting for the user to pick an account.
type loginTx struct {
	client                       string
	redirectURI, state, nonce    string
	challenge, scope, audience   string
	connection, prompt, respMode string
	expires                      time.Time
}

type authCode struct {
	tx      loginTx
	userID  string
	expires time.Time
}

// refreshToken is one token of a rotation family: using it retires it;
// using a retired one revokes the whole family (reuse detection).
type refreshToken struct {
	family   *tokenFamily
	retired  bool
	userID   string
	client   string
	scope    string
	audience string
}

type tokenFamily struct{ revoked bool }

func (s *spaState) init() {
	if s.clients == nil {
		s.clients = map[string]SPAClient{}
		s.logins = map[string]*loginTx{}
		s.codes = map[string]*authCode{}
		s.refresh = map[string]*refreshToken{}
	}
}

// RegisterSPA registers (or replaces) a single-page application client.
func (t *Tenant) RegisterSPA(c SPAClient) {
	t.lock()
	defer t.mu.Unlock()
	t.spa.init()
	t.spa.clients[c.ClientID] = c
}

// OnLogin sets fn to be called, outside the tenant's lock, each time a
// user signs in through /authorize with a connection named (a client
// asking the user to sign in with that provider again). The sandbox uses
// it to have the provider issue new tokens, as a real sign-in would.
func (t *Tenant) OnLogin(fn func(userID, connection string)) {
	t.lock()
	defer t.mu.Unlock()
	t.spa.onLogin = fn
}

// serveSPA serves the interactive endpoints and reports whether it
// answered; for POST /oauth/token it only adds the CORS headers.
func (t *Tenant) serveSPA(w http.ResponseWriter, r *http.Request, path string) bool {
	switch {
	case path == "/authorize" && r.Method == http.MethodGet:
		t.serveAuthorize(w, r)
	case path == "/u/login" && r.Method == http.MethodPost:
		t.serveLogin(w, r)
	case path == "/v2/logout" && r.Method == http.MethodGet:
		t.serveLogout(w, r)
	case path == "/oauth/token" || path == "/userinfo":
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		t.cors(w, r, preflight)
		switch {
		case preflight:
			w.WriteHeader(http.StatusNoContent)
		case path == "/userinfo" && r.Method == http.MethodGet:
			t.serveUserinfo(w, r)
		default:
			return false
		}
	default:
		return false
	}
	return true
}

// cors allows the Allowed Web Origins of every registered SPA.
func (t *Tenant) cors(w http.ResponseWriter, r *http.Request, preflight bool) {
	w.Header().Add("Vary", "Origin")
	origin := r.Header.Get("Origin")
	if origin == "" {
		return
	}
	t.lock()
	ok := false
	for _, c := range t.spa.clients {
		ok = ok || slices.Contains(c.WebOrigins, origin)
	}
	t.mu.Unlock()
	if !ok {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	if preflight {
		h.Set("Access-Control-Allow-Methods", "GET, POST")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Auth0-Client")
		h.Set("Access-Control-Max-Age", "86400")
	}
}

// serveAuthorize implements GET /authorize for response_type=code with
// PKCE. Until client_id and redirect_uri are known good, errors are shown
// on an error page (Auth0 does not redirect to an unregistered URL);
// after that they go back to the application as error and
// error_description with its state.
func (t *Tenant) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	tx := loginTx{
		client: q.Get("client_id"), redirectURI: q.Get("redirect_uri"), state: q.Get("state"),
		nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), scope: q.Get("scope"),
		audience: q.Get("audience"), connection: q.Get("connection"), prompt: q.Get("prompt"),
		respMode: q.Get("response_mode"),
	}
	t.lock()
	client, known := t.spa.clients[tx.client]
	apiAudience := t.Audience
	t.mu.Unlock()
	switch {
	case tx.client == "":
		errorPage(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: client_id")
		return
	case !known:
		errorPage(w, http.StatusBadRequest, "invalid_request", "Unknown client: "+tx.client)
		return
	case !slices.Contains(client.CallbackURLs, tx.redirectURI):
		errorPage(w, http.StatusBadRequest, "invalid_request", "Callback URL mismatch. "+tx.redirectURI+" is not in the list of allowed callback URLs")
		return
	case tx.respMode != "" && tx.respMode != "query" && tx.respMode != "fragment":
		// web_message (silent authentication in an iframe) needs a
		// session, which this emulator does not keep.
		errorPage(w, http.StatusBadRequest, "invalid_request", "Unsupported response_mode: "+tx.respMode)
		return
	}
	fail := func(code, desc string) {
		redirectBack(w, r, tx, url.Values{"error": {code}, "error_description": {desc}})
	}
	switch {
	case q.Get("response_type") != "code":
		fail("unsupported_response_type", "Unsupported response_type: "+q.Get("response_type"))
	case tx.challenge == "":
		fail("invalid_request", "Missing required parameter: code_challenge")
	case q.Get("code_challenge_method") != "S256":
		fail("invalid_request", "code_challenge_method must be S256")
	case tx.audience != "" && tx.audience != apiAudience:
		fail("access_denied", "Service not found: "+tx.audience)
	case tx.prompt == "none":
		fail("login_required", "Login required")
	default:
		users := t.loginUsers(tx.connection)
		if tx.connection != "" && len(users) == 0 {
			fail("invalid_request", "the connection was not found")
			return
		}
		id := randomB64(18)
		tx.expires = t.now().Add(loginTTL)
		t.lock()
		t.spa.init()
		t.expireLocked()
		if len(t.spa.logins) >= maxPending {
			t.mu.Unlock()
			fail("temporarily_unavailable", "Too many pending logins")
			return
		}
		t.spa.logins[id] = &tx
		t.mu.Unlock()
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
		_ = loginPage.Execute(w, loginView{Client: client.Name, TxID: id, Connection: tx.connection, Consent: tx.prompt == "consent", Users: users})
	}
}

// redirectBack sends the browser to the transaction's redirect_uri with
// params and its state, in the query or the fragment (response_mode).
func redirectBack(w http.ResponseWriter, r *http.Request, tx loginTx, params url.Values) {
	if tx.state != "" {
		params.Set("state", tx.state)
	}
	target := tx.redirectURI
	switch {
	case tx.respMode == "fragment":
		target += "#" + params.Encode()
	case strings.Contains(target, "?"):
		target += "&" + params.Encode()
	default:
		target += "?" + params.Encode()
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusFound)
}

type loginUser struct {
	ID, Name, Email, Connections string
}

type loginView struct {
	Client, TxID, Connection string
	Consent                  bool
	Users                    []loginUser
}

// loginUsers lists the users the login page offers: those with an
// identity of connection when one is named.
func (t *Tenant) loginUsers(connection string) []loginUser {
	t.lock()
	defer t.mu.Unlock()
	var out []loginUser
	for _, rec := range t.users {
		u := rec.current()
		if u == nil {
			continue
		}
		var conns []string
		has := connection == ""
		for _, idn := range u.Identities {
			conns = append(conns, idn.Connection)
			has = has || idn.Connection == connection
		}
		if has {
			out = append(out, loginUser{ID: u.UserID, Name: u.Name, Email: u.Email, Connections: strings.Join(conns, ", ")})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	if len(out) > maxLoginUsers {
		out = out[:maxLoginUsers]
	}
	return out
}

// serveLogin completes a login transaction for the chosen user: the
// connection's sign-in hook runs, and the browser returns to the
// application with a single-use code.
func (t *Tenant) serveLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		errorPage(w, http.StatusBadRequest, "invalid_request", "Invalid request body")
		return
	}
	id, userID := r.PostForm.Get("tx"), r.PostForm.Get("user")
	now := t.now()
	t.lock()
	t.spa.init()
	tx, ok := t.spa.logins[id]
	if ok {
		delete(t.spa.logins, id)
	}
	t.mu.Unlock()
	if !ok || now.After(tx.expires) {
		errorPage(w, http.StatusBadRequest, "invalid_request", "The login transaction is unknown or has expired; start again from the application")
		return
	}
	allowed := false
	for _, u := range t.loginUsers(tx.connection) {
		allowed = allowed || u.ID == userID
	}
	if !allowed {
		errorPage(w, http.StatusBadRequest, "invalid_request", "Unknown user for this login")
		return
	}
	t.lock()
	hook := t.spa.onLogin
	t.mu.Unlock()
	if hook != nil && tx.connection != "" {
		hook(userID, tx.connection)
	}
	code := randomB64(24)
	t.lock()
	t.spa.codes[code] = &authCode{tx: *tx, userID: userID, expires: now.Add(codeTTL)}
	t.mu.Unlock()
	redirectBack(w, r, *tx, url.Values{"code": {code}})
}

// expireLocked forgets expired transactions and codes. Callers hold t.mu.
func (t *Tenant) expireLocked() {
	now := t.now()
	for id, tx := range t.spa.logins {
		if now.After(tx.expires) {
			delete(t.spa.logins, id)
		}
	}
	for c, ac := range t.spa.codes {
		if now.After(ac.expires) {
			delete(t.spa.codes, c)
		}
	}
}

// serveUserGrant implements the token endpoint's authorization_code (with
// code_verifier) and refresh_token grants for registered SPAs. Failures
// answer 403 invalid_grant as Auth0 does.
func (t *Tenant) serveUserGrant(w http.ResponseWriter, params url.Values, grant, iss string) {
	clientID := params.Get("client_id")
	t.lock()
	t.spa.init()
	_, known := t.spa.clients[clientID]
	t.mu.Unlock()
	if !known {
		writeOAuthError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	now := t.now()
	var userID, scope, audience, nonce string
	t.lock()
	switch grant {
	case "authorization_code":
		code := params.Get("code")
		ac, ok := t.spa.codes[code]
		delete(t.spa.codes, code) // single use, whatever happens next
		t.mu.Unlock()
		switch {
		case code == "":
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: code")
			return
		case !ok || now.After(ac.expires) || ac.tx.client != clientID:
			writeOAuthError(w, http.StatusForbidden, "invalid_grant", "Invalid authorization code")
			return
		case params.Get("redirect_uri") != ac.tx.redirectURI:
			writeOAuthError(w, http.StatusForbidden, "invalid_grant", "The redirect_uri MUST match the registered callback URL for this application.")
			return
		case !pkceMatches(params.Get("code_verifier"), ac.tx.challenge):
			writeOAuthError(w, http.StatusForbidden, "invalid_grant", "Failed to verify code verifier")
			return
		}
		userID, scope, audience, nonce = ac.userID, ac.tx.scope, ac.tx.audience, ac.tx.nonce
	case "refresh_token":
		rt, ok := t.spa.refresh[params.Get("refresh_token")]
		valid := ok && !rt.retired && !rt.family.revoked && rt.client == clientID
		if ok && rt.retired {
			rt.family.revoked = true // reuse detected: the whole family ends
		}
		if valid {
			rt.retired = true
			userID, scope, audience = rt.userID, rt.scope, rt.audience
		}
		t.mu.Unlock()
		if !valid {
			writeOAuthError(w, http.StatusForbidden, "invalid_grant", "Unknown or invalid refresh token.")
			return
		}
	default:
		t.mu.Unlock()
		writeOAuthError(w, http.StatusForbidden, "unsupported_grant_type", "Unsupported grant type: "+grant)
		return
	}
	user := t.currentUser(userID)
	if user == nil {
		writeOAuthError(w, http.StatusForbidden, "invalid_grant", "The user no longer exists.")
		return
	}
	scopes := grantedUserScopes(scope)
	t.lock()
	if audience == "" {
		audience = t.Audience
	}
	key := t.current()
	t.mu.Unlock()

	aud := []string{audience}
	if slices.Contains(scopes, "openid") {
		aud = append(aud, iss+userinfoSuffix)
	}
	resp := map[string]any{
		"access_token": sign(key.key, key.kid, map[string]any{
			"iss": iss, "sub": userID, "aud": aud, "iat": now.Unix(), "exp": now.Add(userTokenTTL).Unix(),
			"scope": strings.Join(scopes, " "), "azp": clientID, "jti": randomB64(12),
		}),
		"scope":      strings.Join(scopes, " "),
		"expires_in": int64(userTokenTTL.Seconds()),
		"token_type": "Bearer",
	}
	if slices.Contains(scopes, "openid") {
		claims := profileClaims(user, scopes)
		for k, v := range map[string]any{"iss": iss, "sub": userID, "aud": clientID, "iat": now.Unix(), "exp": now.Add(idTokenTTL).Unix(), "sid": randomB64(12)} {
			claims[k] = v
		}
		if nonce != "" {
			claims["nonce"] = nonce
		}
		resp["id_token"] = sign(key.key, key.kid, claims)
	}
	if slices.Contains(scopes, "offline_access") {
		next := randomB64(32)
		t.lock()
		family := &tokenFamily{}
		if old, ok := t.spa.refresh[params.Get("refresh_token")]; ok && grant == "refresh_token" {
			family = old.family
		}
		t.spa.refresh[next] = &refreshToken{family: family, userID: userID, client: clientID, scope: scope, audience: audience}
		t.mu.Unlock()
		resp["refresh_token"] = next
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, resp)
}

// pkceMatches checks RFC 7636 S256: BASE64URL(SHA256(verifier)) ==
// challenge, with the verifier's length and alphabet as the RFC defines.
func pkceMatches(verifier, challenge string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	for _, c := range verifier {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("-._~", c)) {
			return false
		}
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

// grantedUserScopes keeps the OIDC scopes the emulator knows, in request
// order.
func grantedUserScopes(requested string) []string {
	var out []string
	for _, s := range strings.Fields(requested) {
		if slices.Contains([]string{"openid", "profile", "email", "offline_access"}, s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// profileClaims are the user's standard claims the scopes allow.
func profileClaims(u *User, scopes []string) map[string]any {
	c := map[string]any{}
	if slices.Contains(scopes, "profile") {
		c["name"], c["nickname"] = u.Name, u.Nickname
		if u.Picture != "" {
			c["picture"] = u.Picture
		}
	}
	if slices.Contains(scopes, "email") && u.Email != "" {
		c["email"], c["email_verified"] = u.Email, true
	}
	return c
}

func (t *Tenant) currentUser(id string) *User {
	t.lock()
	defer t.mu.Unlock()
	if rec := t.users[id]; rec != nil {
		if u := rec.current(); u != nil {
			c := copyUser(*u)
			return &c
		}
	}
	return nil
}

// serveUserinfo implements GET /userinfo: the profile claims of the
// access token's subject, when the token's audience includes
// {issuer}userinfo.
func (t *Tenant) serveUserinfo(w http.ResponseWriter, r *http.Request) {
	unauthorized := func() {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte("Unauthorized"))
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		unauthorized()
		return
	}
	claims, err := t.verify(strings.TrimSpace(tok))
	if err != nil {
		unauthorized()
		return
	}
	exp, _ := claims["exp"].(float64)
	sub, _ := claims["sub"].(string)
	if !audienceHas(claims["aud"], t.issuerFor(r)+userinfoSuffix) || int64(exp) <= t.now().Unix() {
		unauthorized()
		return
	}
	u := t.currentUser(sub)
	if u == nil {
		unauthorized()
		return
	}
	scope, _ := claims["scope"].(string)
	out := profileClaims(u, strings.Fields(scope))
	out["sub"] = sub
	writeJSON(w, http.StatusOK, out)
}

// serveLogout implements GET /v2/logout: returnTo must be one of the
// client's Allowed Logout URLs; without it the first one is used.
func (t *Tenant) serveLogout(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	returnTo, clientID := q.Get("returnTo"), q.Get("client_id")
	t.lock()
	client, known := t.spa.clients[clientID]
	t.mu.Unlock()
	switch {
	case clientID != "" && !known:
		errorPage(w, http.StatusBadRequest, "invalid_request", "Unknown client: "+clientID)
	case returnTo == "" && known && len(client.LogoutURLs) > 0:
		http.Redirect(w, r, client.LogoutURLs[0], http.StatusFound)
	case returnTo == "":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("OK"))
	case !known || !slices.Contains(client.LogoutURLs, returnTo):
		errorPage(w, http.StatusBadRequest, "invalid_request", `The "returnTo" querystring parameter "`+returnTo+`" is not defined as a valid URL in "Allowed Logout URLs".`)
	default:
		http.Redirect(w, r, returnTo, http.StatusFound)
	}
}

func errorPage(w http.ResponseWriter, status int, code, desc string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = errorTmpl.Execute(w, struct{ Code, Desc string }{code, desc})
}

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Error</title></head>
<body><h1>Oops!, something went wrong</h1><p><code>{{.Code}}</code>: {{.Desc}}</p></body></html>
`))

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Log in | idpgate sandbox</title>
<style>
body{font-family:system-ui,sans-serif;background:#f3f4f6;display:flex;justify-content:center;padding-top:4rem;margin:0}
main{background:#fff;border-radius:8px;box-shadow:0 2px 12px #0002;padding:2rem;width:24rem}
h1{font-size:1.3rem;margin:0 0 .3rem} p{color:#555;margin:.2rem 0 1rem}
button{display:block;width:100%;text-align:left;padding:.7rem 1rem;margin:.5rem 0;border:1px solid #ccd;border-radius:6px;background:#fafbff;cursor:pointer;font-size:1rem}
button:hover{background:#eef}
small{color:#666;display:block}
</style></head>
<body><main>
<h1>{{if .Connection}}Sign in with {{.Connection}}{{else}}Log in{{end}}</h1>
<p>to continue to {{.Client}} (Auth0 emulator of the idpgate dev sandbox)</p>
{{if .Consent}}<p><strong>{{.Connection}} asks you to grant access again.</strong></p>{{end}}
<form method="post" action="/u/login">
<input type="hidden" name="tx" value="{{.TxID}}">
{{range .Users}}<button type="submit" name="user" value="{{.ID}}" data-user="{{.ID}}">{{.Name}}<small>{{.Email}} · {{.Connections}}</small></button>
{{end}}</form>
</main></body></html>
`))
