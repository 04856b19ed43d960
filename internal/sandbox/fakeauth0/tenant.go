package fakeauth0

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults used when the corresponding Tenant field is empty.
const (
	DefaultAudience = "https://idpgate.local/api"
	DefaultClientID = "sandbox-m2m"
	DefaultTokenTTL = 24 * time.Hour
)

// unlimitedDisplayLimit is what X-RateLimit-Limit says when RateLimit is 0:
// Auth0 always sends the headers, so the emulator does too.
const unlimitedDisplayLimit = 1000

// Tenant is an in-memory Auth0 tenant and an http.Handler.
//
// The zero value is ready to use: the signing key, the client secret and
// the other defaults are set up on first use. Exported fields are
// configuration: set them before the Tenant serves its first request.
// While it serves, change Latency, SearchIndexLag and RateLimit only
// through SetLatency, SetSearchIndexLag and SetRateLimit. All methods are
// safe for concurrent use.
type Tenant struct {
	// Audience is the gateway API's identifier, the default audience of
	// Mint. Default DefaultAudience.
	Audience string
	// ClientID and ClientSecret identify the M2M application allowed to
	// use the client_credentials grant for the Management API. ClientID
	// defaults to DefaultClientID and ClientSecret to a random string;
	// Credentials returns the values in use.
	ClientID     string
	ClientSecret string
	// TokenTTL is the lifetime of M2M access tokens. Default 24h.
	TokenTTL time.Duration
	// Latency is added to every response.
	Latency time.Duration
	// SearchIndexLag is how long a change to a user takes to become
	// visible to user search. GET /api/v2/users/{id} always sees the
	// current state. Zero means search is immediately consistent. A
	// change is indexed after the lag in force when it was made, so
	// raising the lag delays later changes, not the users already indexed.
	SearchIndexLag time.Duration
	// MaxRequestURI bounds the request target (path and query string) of a
	// user search; a longer one answers 414. Auth0 documents no number;
	// the default, DefaultMaxRequestURI, is the common front-end proxy
	// limit (nginx's large_client_header_buffers is 8k by default).
	MaxRequestURI int
	// RateLimit is the number of Management API calls allowed per second
	// (of Now); further calls in the same second answer 429. Zero means
	// unlimited.
	RateLimit int
	// Now is the tenant's clock (token times, rate-limit windows, search
	// index lag). Default time.Now.
	Now func() time.Time

	mu       sync.Mutex
	inited   bool
	baseURL  string // issuer without the trailing slash, when set
	lastHost string // issuer derived from the last request, when baseURL is unset
	keys     []*signingKey
	users    map[string]*userRecord

	failN, failStatus int
	limitN            int
	limitReset        time.Duration
	rejectCC          bool
	winSec            int64
	winUsed           int

	spa spaState // single-page apps' sign-in (spa.go)

	calls struct {
		token, userByID, search, jwks, discovery atomic.Int64
	}

	vault vaultState // Token Vault (vault.go)

	hold *mgmtHold // HoldManagement; nil: answer at once
}

// mgmtHold is a HoldManagement in force.
type mgmtHold struct {
	arrived  chan struct{}
	released chan struct{}
	once     sync.Once
}

// Counts is how many requests each endpoint received.
type Counts struct {
	Token, UserByID, Search, JWKS, Discovery int
}

// User is a user profile as the tenant stores it. The fields hold plain
// strings on purpose: the emulator must send the tokens.
type User struct {
	UserID     string
	Name       string
	Nickname   string
	Email      string
	Picture    string
	Identities []Identity
}

// Identity is one linked account of a User. UserID is a string or a
// number (GitHub's ids are numbers in Auth0's JSON); it is encoded as is.
type Identity struct {
	Provider     string
	Connection   string
	UserID       any
	IsSocial     bool
	AccessToken  string
	RefreshToken string
	ExpiresIn    int
}

// userRecord keeps every version of a user that search may still see.
type userRecord struct {
	created  time.Time
	versions []userVersion // oldest first
}

type userVersion struct {
	at      time.Time // when it was written (updated_at)
	visible time.Time // when search sees it: at plus the lag then in force
	user    *User     // nil: deleted
}

// init sets defaults. Callers hold t.mu.
func (t *Tenant) init() {
	if t.inited {
		return
	}
	t.inited = true
	if t.Audience == "" {
		t.Audience = DefaultAudience
	}
	if t.ClientID == "" {
		t.ClientID = DefaultClientID
	}
	if t.ClientSecret == "" {
		t.ClientSecret = "sandbox-m2m-secret-" + randomHex(16)
	}
	if t.TokenTTL <= 0 {
		t.TokenTTL = DefaultTokenTTL
	}
	if len(t.keys) == 0 {
		t.keys = []*signingKey{newSigningKey()}
	}
	if t.users == nil {
		t.users = make(map[string]*userRecord)
	}
}

func (t *Tenant) lock() {
	t.mu.Lock()
	t.init()
}

// now reads the clock. Callers need not hold t.mu: Now is configuration.
func (t *Tenant) now() time.Time {
	if t.Now != nil {
		return t.Now()
	}
	return time.Now()
}

// SetBaseURL fixes the tenant's public URL, e.g. "http://127.0.0.1:9000".
// The issuer is u + "/". Without it the issuer is derived from each
// request's Host as http://host/.
func (t *Tenant) SetBaseURL(u string) {
	t.lock()
	defer t.mu.Unlock()
	t.baseURL = strings.TrimRight(u, "/")
}

// Issuer returns the tenant's issuer ("https://acme.auth0.com/" form):
// the base URL set with SetBaseURL, else the one derived from the last
// request, else "".
func (t *Tenant) Issuer() string {
	t.lock()
	defer t.mu.Unlock()
	return t.issuerLocked()
}

func (t *Tenant) issuerLocked() string {
	if t.baseURL != "" {
		return t.baseURL + "/"
	}
	return t.lastHost
}

// issuerFor returns the issuer as seen by request r.
func (t *Tenant) issuerFor(r *http.Request) string {
	t.lock()
	defer t.mu.Unlock()
	if t.baseURL != "" {
		return t.baseURL + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	t.lastHost = scheme + "://" + r.Host + "/"
	return t.lastHost
}

// ManagementAudience returns the Management API's identifier,
// Issuer() + "api/v2/".
func (t *Tenant) ManagementAudience() string { return t.Issuer() + "api/v2/" }

// Credentials returns the M2M application's client id and secret.
func (t *Tenant) Credentials() (clientID, clientSecret string) {
	t.lock()
	defer t.mu.Unlock()
	return t.ClientID, t.ClientSecret
}

// APIAudience returns the gateway API identifier in use (Audience or its
// default).
func (t *Tenant) APIAudience() string {
	t.lock()
	defer t.mu.Unlock()
	return t.Audience
}

// SetLatency changes Latency while the tenant serves.
func (t *Tenant) SetLatency(d time.Duration) {
	t.lock()
	defer t.mu.Unlock()
	t.Latency = d
}

// HoldManagement makes each Management API request that comes in from now
// on wait, before it is answered, until release is called or its client
// leaves; arrived receives a value as each one starts waiting (it holds up
// to 1024 unread). Tests use it to keep a call in flight while they act,
// instead of a latency they hope is long enough. release may be called
// more than once; it ends this hold.
func (t *Tenant) HoldManagement() (arrived <-chan struct{}, release func()) {
	h := &mgmtHold{arrived: make(chan struct{}, 1024), released: make(chan struct{})}
	t.lock()
	t.hold = h
	t.mu.Unlock()
	return h.arrived, func() {
		h.once.Do(func() {
			t.lock()
			if t.hold == h {
				t.hold = nil
			}
			t.mu.Unlock()
			close(h.released)
		})
	}
}

// waitHold waits out a HoldManagement; false when the client left first.
func (t *Tenant) waitHold(r *http.Request) bool {
	t.lock()
	h := t.hold
	t.mu.Unlock()
	if h == nil {
		return true
	}
	select {
	case h.arrived <- struct{}{}:
	default:
	}
	select {
	case <-h.released:
		return true
	case <-r.Context().Done():
		return false
	}
}

// SetSearchIndexLag changes SearchIndexLag while the tenant serves.
func (t *Tenant) SetSearchIndexLag(d time.Duration) {
	t.lock()
	defer t.mu.Unlock()
	t.SearchIndexLag = d
}

// SetRateLimit changes RateLimit while the tenant serves.
func (t *Tenant) SetRateLimit(perSecond int) {
	t.lock()
	defer t.mu.Unlock()
	t.RateLimit = perSecond
}

// FailNext makes the next n Management API calls answer status with
// Auth0's error body for that status.
func (t *Tenant) FailNext(n, status int) {
	t.lock()
	defer t.mu.Unlock()
	t.failN, t.failStatus = n, status
}

// RateLimitNext makes the next n Management API calls answer 429 with
// X-RateLimit-Reset = now+reset (Unix seconds, rounded up) and
// Retry-After.
func (t *Tenant) RateLimitNext(n int, reset time.Duration) {
	t.lock()
	defer t.mu.Unlock()
	t.limitN, t.limitReset = n, reset
}

// RejectClientCredentials makes the token endpoint refuse every client
// (401 access_denied) while reject is true.
func (t *Tenant) RejectClientCredentials(reject bool) {
	t.lock()
	defer t.mu.Unlock()
	t.rejectCC = reject
}

// Calls returns how many requests each endpoint has received.
func (t *Tenant) Calls() Counts {
	return Counts{
		Token:     int(t.calls.token.Load()),
		UserByID:  int(t.calls.userByID.Load()),
		Search:    int(t.calls.search.Load()),
		JWKS:      int(t.calls.jwks.Load()),
		Discovery: int(t.calls.discovery.Load()),
	}
}

// Reset zeroes the counters and clears pending FailNext and RateLimitNext.
func (t *Tenant) Reset() {
	t.calls.token.Store(0)
	t.calls.userByID.Store(0)
	t.calls.search.Store(0)
	t.calls.jwks.Store(0)
	t.calls.discovery.Store(0)
	t.lock()
	defer t.mu.Unlock()
	t.failN, t.limitN = 0, 0
}

// AddUser stores u, replacing the user with the same UserID. An empty
// UserID becomes "<provider>|<user_id>" of the first identity.
func (t *Tenant) AddUser(u User) {
	u = copyUser(u)
	if u.UserID == "" && len(u.Identities) > 0 {
		id := u.Identities[0]
		u.UserID = fmt.Sprintf("%s|%v", id.Provider, id.UserID)
	}
	now := t.now()
	t.lock()
	defer t.mu.Unlock()
	rec := t.users[u.UserID]
	if rec == nil || rec.current() == nil {
		if rec == nil {
			rec = &userRecord{}
			t.users[u.UserID] = rec
		}
		rec.created = now
	}
	t.addVersion(rec, now, &u)
}

// UpdateIdentity applies fn to the user's first identity of provider and
// reports whether there was one.
func (t *Tenant) UpdateIdentity(userID, provider string, fn func(*Identity)) bool {
	now := t.now()
	t.lock()
	defer t.mu.Unlock()
	rec := t.users[userID]
	if rec == nil || rec.current() == nil {
		return false
	}
	u := copyUser(*rec.current())
	for i := range u.Identities {
		if u.Identities[i].Provider == provider {
			fn(&u.Identities[i])
			t.addVersion(rec, now, &u)
			return true
		}
	}
	return false
}

// DeleteUser removes the user and reports whether it existed.
func (t *Tenant) DeleteUser(userID string) bool {
	now := t.now()
	t.lock()
	defer t.mu.Unlock()
	rec := t.users[userID]
	if rec == nil || rec.current() == nil {
		return false
	}
	t.addVersion(rec, now, nil)
	return true
}

// addVersion appends a version and forgets the ones search can no longer
// see. Callers hold t.mu.
func (t *Tenant) addVersion(rec *userRecord, at time.Time, u *User) {
	rec.versions = append(rec.versions, userVersion{at: at, visible: at.Add(t.SearchIndexLag), user: u})
	// Keep from the newest version already visible to search onwards.
	for i := len(rec.versions) - 1; i > 0; i-- {
		if !rec.versions[i].visible.After(at) {
			rec.versions = append([]userVersion(nil), rec.versions[i:]...)
			break
		}
	}
}

func (r *userRecord) current() *User {
	if len(r.versions) == 0 {
		return nil
	}
	return r.versions[len(r.versions)-1].user
}

// indexed returns the newest version search sees at now, with its time.
func (r *userRecord) indexed(now time.Time) (*User, time.Time) {
	for i := len(r.versions) - 1; i >= 0; i-- {
		v := r.versions[i]
		if !v.visible.After(now) {
			return v.user, v.at
		}
	}
	return nil, time.Time{}
}

func copyUser(u User) User {
	u.Identities = append([]Identity(nil), u.Identities...)
	return u
}

// ServeHTTP implements http.Handler.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t.lock()
	latency := t.Latency
	t.mu.Unlock()
	if latency > 0 {
		timer := time.NewTimer(latency)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			return
		}
	}
	path := r.URL.EscapedPath()
	if t.serveSPA(w, r, path) {
		return
	}
	switch {
	case path == "/.well-known/openid-configuration" && r.Method == http.MethodGet:
		t.calls.discovery.Add(1)
		t.serveDiscovery(w, r)
	case path == "/.well-known/jwks.json" && r.Method == http.MethodGet:
		t.calls.jwks.Add(1)
		t.serveJWKS(w)
	case path == "/oauth/token" && r.Method == http.MethodPost:
		t.calls.token.Add(1)
		t.serveToken(w, r)
	case path == "/api/v2" || strings.HasPrefix(path, "/api/v2/"):
		if !t.waitHold(r) {
			return
		}
		t.serveManagement(w, r, strings.TrimPrefix(path, "/api/v2"))
	default:
		writeAPIError(w, http.StatusNotFound, "Not Found", "")
	}
}

// apiError is the Management API's error body.
type apiError struct {
	StatusCode int               `json:"statusCode"`
	Error      string            `json:"error"`
	Message    string            `json:"message"`
	ErrorCode  string            `json:"errorCode,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

func writeAPIError(w http.ResponseWriter, status int, message, code string) {
	body := apiError{StatusCode: status, Error: http.StatusText(status), Message: message, ErrorCode: code}
	if status == http.StatusUnauthorized && message == msgInvalidToken {
		body.Attributes = map[string]string{"error": msgInvalidToken}
	}
	writeJSON(w, status, body)
}

const msgInvalidToken = "Invalid token."

// writeStatusError answers the canned Auth0 error for status (FailNext).
func writeStatusError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusBadRequest:
		writeAPIError(w, status, "Bad Request", "invalid_body")
	case http.StatusUnauthorized:
		writeAPIError(w, status, msgInvalidToken, "")
	case http.StatusForbidden:
		writeAPIError(w, status, "Insufficient scope, expected any of: read:users", "insufficient_scope")
	case http.StatusNotFound:
		writeAPIError(w, status, "The user does not exist.", "inexistent_user")
	case http.StatusTooManyRequests:
		writeAPIError(w, status, "Global limit has been reached", "too_many_requests")
	case http.StatusServiceUnavailable:
		writeAPIError(w, status, "Service Unavailable", "")
	default:
		writeAPIError(w, status, "Internal error", "")
	}
}

// oauthError is the Authentication API's error body.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, oauthError{Error: code, Description: description})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "fakeauth0: encoding response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

func randomB64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
