package fakegitlab

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
)

// Project is one seeded project. Zero fields get defaults: Name the last
// part of PathWithNamespace, Visibility "private", WebURL the fake's base
// URL plus PathWithNamespace. A nil Description is JSON null.
type Project struct {
	ID                int64
	Name              string
	PathWithNamespace string
	Description       *string
	Visibility        string // private, internal, public
	StarCount         int
	LastActivityAt    time.Time
	WebURL            string
}

// AccessTokenLifetime is how long an OAuth access token lives: GitLab
// expires every OAuth access token after two hours (expires_in 7200)
// (https://docs.gitlab.com/integration/oauth_provider/#access-token-expiration).
const AccessTokenLifetime = 2 * time.Hour

// RateLimit is the authenticated API limit the fake advertises per token
// per minute in RateLimit-* headers (GitLab.com's default).
const RateLimit = 2000

// Server emulates GitLab. Its zero value is ready to serve: no users, links
// built from each request's host and mount prefix. Set the exported fields
// before the first request; the methods are safe for concurrent use.
type Server struct {
	// BaseURL, when set, is the instance's public URL (for example
	// "http://127.0.0.1:9000/gitlab/"); links and web_url start with it.
	// When empty it is derived from each request (see fakeknobs.BaseURL).
	BaseURL string
	// Latency delays every answer (cut short when the client gives up).
	Latency time.Duration
	// Now is the clock for RateLimit-Reset and token expiry; nil means
	// time.Now. Advance moves it forward.
	Now func() time.Time
	// ClientID and ClientSecret, when set, are the only OAuth application
	// the token endpoint accepts (and refresh tokens seeded with
	// AddRefreshToken belong to it); when empty, any non-empty pair is
	// accepted.
	ClientID, ClientSecret string

	mu       sync.Mutex
	offset   time.Duration     // Advance
	access   map[string]*grant // by access token
	refresh  map[string]*grant // by refresh token, while valid
	spent    map[string]bool   // refresh tokens rotation invalidated
	seen     []string          // refresh tokens presented, in order
	spentUse int               // presentations of a spent refresh token
	observed map[string]int    // requests per token in the current minute
	window   time.Time
	states   fakeknobs.TokenStates // Revoke, ExpireAccessToken, DenyScope
	knobs    fakeknobs.Knobs       // faults, counters, in flight, Close
}

// Names of the endpoints in the knobs' call counters.
const (
	callProjects = "projects"
	callToken    = "token"
)

// grant is one access token (and the refresh token issued with it) of an
// account.
type grant struct {
	projects []Project
	created  time.Time
	access   string
	refresh  string
	clientID string // the application it was issued to ("" for any)
}

func (s *Server) initLocked() {
	if s.access == nil {
		s.access = map[string]*grant{}
		s.refresh = map[string]*grant{}
		s.spent = map[string]bool{}
		s.observed = map[string]int{}
	}
}

func (s *Server) nowLocked() time.Time { return fakeknobs.Now(s.Now).Add(s.offset) }

// Advance moves the fake's clock forward by d: access tokens older than
// AccessTokenLifetime answer "Token is expired".
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// AddRefreshToken gives the account of a seeded access token the refresh
// token Auth0 would hold for it. Refreshing it rotates both.
func (s *Server) AddRefreshToken(accessToken, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	g := s.access[accessToken]
	if g == nil {
		panic("fakegitlab: AddRefreshToken for an unknown access token")
	}
	g.refresh, g.clientID = refreshToken, s.ClientID
	s.refresh[refreshToken] = g
}

// AddUser seeds a user whose OAuth access token is accessToken and who is a
// member of projects.
func (s *Server) AddUser(accessToken string, projects []Project) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	ps := make([]Project, 0, len(projects))
	for _, p := range projects {
		if p.Name == "" {
			p.Name = p.PathWithNamespace[strings.LastIndex(p.PathWithNamespace, "/")+1:]
		}
		if p.Visibility == "" {
			p.Visibility = "private"
		}
		ps = append(ps, p)
	}
	s.access[accessToken] = &grant{projects: ps, created: s.nowLocked(), access: accessToken}
}

// FailNext makes the next n API requests answer status with GitLab's body
// for it.
func (s *Server) FailNext(n, status int) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// RateLimitNext makes the next n API requests answer 429 "Retry later" with
// Retry-After (when positive) and exhausted RateLimit-* headers.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.RateLimit, RetryAfter: retryAfter})
}

// Hang makes the next n API requests wait until the client gives up or Close is
// called.
func (s *Server) Hang(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Hang}) }

// MalformedNext makes the next n API requests answer 200 with a truncated JSON
// body.
func (s *Server) MalformedNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Malformed}) }

// Close releases hung and delayed requests. The Server keeps answering
// afterwards, but requests told to hang return at once.
func (s *Server) Close() { s.knobs.Close() }

// Revoke makes an access token answer 401 invalid_token "Token was
// revoked". GitLab (Doorkeeper) keeps an access token and the refresh
// token issued with it in one record, so its refresh token stops working
// too (invalid_grant); Revoke of a refresh token does the same.
func (s *Server) Revoke(token string) {
	s.states.Revoke(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if g := s.access[token]; g != nil && g.refresh != "" {
		delete(s.refresh, g.refresh)
	}
	if g := s.refresh[token]; g != nil {
		delete(s.refresh, token)
		s.states.Revoke(g.access)
	}
}

// ExpireAccessToken makes an access token answer 401 invalid_token "Token
// is expired".
func (s *Server) ExpireAccessToken(token string) { s.states.Expire(token) }

// DenyScope makes an access token lack read_api (403 insufficient_scope).
func (s *Server) DenyScope(token string) { s.states.DenyScope(token) }

// Calls returns how many /api/v4/projects requests were received.
func (s *Server) Calls() int { return s.knobs.Calls(callProjects) }

// Refreshes returns how many /oauth/token requests were received.
func (s *Server) Refreshes() int { return s.knobs.Calls(callToken) }

// PresentedRefreshTokens returns every refresh token presented at
// /oauth/token, in order.
func (s *Server) PresentedRefreshTokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// SpentRefreshTokenUses returns how many refresh requests presented a
// refresh token a rotation had already invalidated.
func (s *Server) SpentRefreshTokenUses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spentUse
}

// InFlight returns how many requests are being served now.
func (s *Server) InFlight() int { return s.knobs.InFlight() }

// MaxInFlight returns the most requests ever served at once.
func (s *Server) MaxInFlight() int { return s.knobs.MaxInFlight() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.knobs.Enter()
	defer s.knobs.Leave()
	if !s.knobs.Delay(r.Context(), s.Latency) {
		return
	}
	if r.URL.Path == "/oauth/token" {
		if r.Method != http.MethodPost {
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "405 Method Not Allowed"})
			return
		}
		s.serveToken(w, r)
		return
	}
	if r.URL.Path != "/api/v4/projects" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 Not Found"})
		return
	}
	if r.Method != http.MethodGet {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "405 Method Not Allowed"})
		return
	}
	s.serveProjects(w, r)
}

func (s *Server) serveProjects(w http.ResponseWriter, r *http.Request) {
	token := bearer(r)
	s.knobs.Count(callProjects)
	f := s.knobs.Next()
	s.mu.Lock()
	s.initLocked()
	now := s.nowLocked()
	// GitLab counts requests per user in a one-minute window.
	if minute := now.Truncate(time.Minute); !minute.Equal(s.window) {
		s.window, s.observed = minute, map[string]int{}
	}
	s.observed[token]++
	observed := s.observed[token]
	reset := s.window.Add(time.Minute)
	if f.Kind == fakeknobs.RateLimit {
		observed = RateLimit + 1
	}
	g, known := s.access[token]
	var projects []Project
	expired := false
	if known {
		projects = append(projects, g.projects...)
		expired = !s.nowLocked().Before(g.created.Add(AccessTokenLifetime))
	}
	s.mu.Unlock()
	st := s.states.State(token)

	switch f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
		return
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json", `[{"id": 1, "name": "trunc`)
		return
	}
	h := w.Header()
	h.Set("RateLimit-Name", "throttle_authenticated_api")
	h.Set("RateLimit-Limit", strconv.Itoa(RateLimit))
	h.Set("RateLimit-Observed", strconv.Itoa(observed))
	h.Set("RateLimit-Remaining", strconv.Itoa(max(0, RateLimit-observed)))
	h.Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	h.Set("RateLimit-ResetTime", reset.UTC().Format(http.TimeFormat))

	switch {
	case f.Kind == fakeknobs.Fail:
		writeStatusError(w, f.Status)
		return
	case f.Kind == fakeknobs.RateLimit:
		fakeknobs.SetRetryAfter(h, f.RetryAfter)
		writeStatusError(w, http.StatusTooManyRequests)
		return
	case token == "" || !known:
		writeStatusError(w, http.StatusUnauthorized)
		return
	case st.Revoked:
		writeInvalidToken(w, "Token was revoked. You have to re-authorize from the user.")
		return
	case st.Expired || expired:
		writeInvalidToken(w, "Token is expired. You can either do re-authorization or token refresh.")
		return
	case st.ScopeDenied:
		writeStatusError(w, http.StatusForbidden)
		return
	}

	q := r.URL.Query()
	if q.Get("membership") != "true" {
		// Without membership GitLab lists every visible project on the
		// instance; the fake only knows the member view, so fail loudly.
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "fakegitlab: only membership=true is emulated"})
		return
	}
	perPage, page := 20, 1
	if v := q.Get("per_page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "per_page is invalid"})
			return
		}
		perPage = min(max(n, 1), 100) // GitLab clamps per_page to 1..100.
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "page is invalid"})
			return
		}
		page = max(n, 1)
	}
	desc := true
	switch q.Get("sort") {
	case "", "desc":
	case "asc":
		desc = false
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "sort does not have a valid value"})
		return
	}
	var less func(a, b Project) bool
	switch q.Get("order_by") {
	case "", "created_at", "id":
		less = func(a, b Project) bool { return a.ID < b.ID }
	case "last_activity_at":
		less = func(a, b Project) bool { return a.LastActivityAt.Before(b.LastActivityAt) }
	case "name":
		less = func(a, b Project) bool { return a.Name < b.Name }
	case "star_count":
		less = func(a, b Project) bool { return a.StarCount < b.StarCount }
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "order_by does not have a valid value"})
		return
	}
	sort.SliceStable(projects, func(i, j int) bool {
		if desc {
			return less(projects[j], projects[i])
		}
		return less(projects[i], projects[j])
	})

	base := fakeknobs.BaseURL(r, s.BaseURL)
	total := len(projects)
	totalPages := max(1, (total+perPage-1)/perPage)
	start := min((page-1)*perPage, total)
	end := min(start+perPage, total)
	simple := q.Get("simple") == "true"
	out := make([]map[string]any, 0, end-start)
	for _, p := range projects[start:end] {
		out = append(out, render(base, p, simple))
	}

	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(perPage))
	h.Set("X-Next-Page", "")
	h.Set("X-Prev-Page", "")
	if page < totalPages {
		h.Set("X-Next-Page", strconv.Itoa(page+1))
	}
	if page > 1 {
		h.Set("X-Prev-Page", strconv.Itoa(page-1))
	}
	// GitLab omits the totals above 10,000 records; small sets have them.
	if total <= 10000 {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa(totalPages))
	}
	link := func(p int, rel string) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(p))
		q2.Set("per_page", strconv.Itoa(perPage))
		return fmt.Sprintf(`<%sapi/v4/projects?%s>; rel="%s"`, base, q2.Encode(), rel)
	}
	var links []string
	if page > 1 {
		links = append(links, link(page-1, "prev"))
	}
	if page < totalPages {
		links = append(links, link(page+1, "next"))
	}
	links = append(links, link(1, "first"))
	if total <= 10000 {
		links = append(links, link(totalPages, "last"))
	}
	h.Set("Link", strings.Join(links, ", "))
	writeJSON(w, http.StatusOK, out)
}

// Doorkeeper's error descriptions, which GitLab's token endpoint answers
// (https://docs.gitlab.com/api/oauth2/; RFC 6749 §5.2 codes).
const (
	descInvalidClient = "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."
	descInvalidGrant  = "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."
	descUnsupported   = "The authorization grant type is not supported by the authorization server."
	descInvalidReq    = "Missing required parameter: refresh_token."
)

// serveToken is POST /oauth/token with grant_type=refresh_token, as
// GitLab's OAuth guide documents it
// (https://docs.gitlab.com/api/oauth2/#authorization-code-flow): the
// client authenticates with client_id and client_secret (in the form, or
// HTTP Basic, which Doorkeeper also accepts); a refresh invalidates the
// existing access and refresh tokens and answers new ones with expires_in
// 7200. redirect_uri, in the guide's example, is not checked by the
// refresh grant.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callToken)
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": descInvalidReq})
		return
	}
	f := r.PostForm
	id, sec := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, sec = u, p
	}
	if id == "" || sec == "" || (s.ClientID != "" && (id != s.ClientID || sec != s.ClientSecret)) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="Doorkeeper", error="invalid_client", error_description="`+descInvalidClient+`"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": descInvalidClient})
		return
	}
	if f.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": descUnsupported})
		return
	}
	rt := f.Get("refresh_token")
	if rt == "" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": descInvalidReq})
		return
	}
	s.mu.Lock()
	s.initLocked()
	s.seen = append(s.seen, rt)
	g := s.refresh[rt]
	if g == nil || (g.clientID != "" && g.clientID != id) {
		if s.spent[rt] {
			s.spentUse++
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": descInvalidGrant})
		return
	}
	// Rotation: the old pair stops working.
	delete(s.refresh, rt)
	s.spent[rt] = true
	old := g.access
	now := s.nowLocked()
	ng := &grant{projects: g.projects, created: now, access: "fakegitlab-access-" + randomHex(16), refresh: "fakegitlab-refresh-" + randomHex(16), clientID: id}
	s.access[ng.access] = ng
	s.refresh[ng.refresh] = ng
	s.mu.Unlock()
	s.states.Revoke(old)

	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  ng.access,
		"token_type":    "Bearer",
		"expires_in":    int(AccessTokenLifetime / time.Second),
		"refresh_token": ng.refresh,
		"scope":         "read_api",
		"created_at":    now.Unix(),
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func render(base string, p Project, simple bool) map[string]any {
	web := p.WebURL
	if web == "" {
		web = base + p.PathWithNamespace
	}
	ns := ""
	if i := strings.LastIndex(p.PathWithNamespace, "/"); i >= 0 {
		ns = p.PathWithNamespace[:i]
	}
	m := map[string]any{
		"id":                  p.ID,
		"description":         p.Description,
		"name":                p.Name,
		"name_with_namespace": strings.ReplaceAll(ns, "/", " / ") + " / " + p.Name,
		"path":                p.PathWithNamespace[strings.LastIndex(p.PathWithNamespace, "/")+1:],
		"path_with_namespace": p.PathWithNamespace,
		"web_url":             web,
		"star_count":          p.StarCount,
		"last_activity_at":    p.LastActivityAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	if !simple {
		// simple=true drops the fields that need more permissions,
		// visibility among them.
		m["visibility"] = p.Visibility
		m["open_issues_count"] = 0
	}
	return m
}

// bearer reads the OAuth token from Authorization: Bearer (what OAuth
// applications send) or the PRIVATE-TOKEN header.
func bearer(r *http.Request) string {
	if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return t
	}
	return r.Header.Get("Private-Token")
}

func writeInvalidToken(w http.ResponseWriter, desc string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="invalid_token", error_description="`+desc+`"`)
	writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_token", "error_description": desc})
}

func writeStatusError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusUnauthorized:
		writeJSON(w, status, map[string]string{"message": "401 Unauthorized"})
	case http.StatusForbidden:
		const desc = "The request requires higher privileges than provided by the access token."
		w.Header().Set("WWW-Authenticate", `Bearer realm="Protected by OAuth 2.0", error="insufficient_scope", error_description="`+desc+`", scope="api read_api"`)
		writeJSON(w, status, map[string]string{"error": "insufficient_scope", "error_description": desc, "scope": "api read_api"})
	case http.StatusTooManyRequests:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("Retry later\n"))
	case http.StatusNotFound:
		writeJSON(w, status, map[string]string{"message": "404 Not Found"})
	default:
		writeJSON(w, status, map[string]string{"message": fmt.Sprintf("%d %s", status, http.StatusText(status))})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
