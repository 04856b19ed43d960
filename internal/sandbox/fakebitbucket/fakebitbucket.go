package fakebitbucket

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
)

// Repo is one seeded repository. Zero fields get defaults: UUID a random
// "{…}" id, Name the last part of FullName, HTMLURL
// https://bitbucket.org/<FullName>.
type Repo struct {
	UUID        string
	Name        string
	FullName    string // workspace/slug
	Private     bool
	Description string
	UpdatedOn   time.Time
	HTMLURL     string
}

// Server emulates Bitbucket Cloud. Its zero value is ready to serve: it has
// no users, accepts any client credentials at the token endpoint and builds
// next links from each request's host and mount prefix. Set the exported
// fields before the first request; the methods are safe for concurrent use.
type Server struct {
	// BaseURL, when set, is the public URL the Server is mounted at (for
	// example "http://127.0.0.1:9000/bitbucket/"); next links start with it.
	// When empty it is derived from each request (see fakeknobs.BaseURL).
	BaseURL string
	// ClientID and ClientSecret, when set, are the only OAuth consumer the
	// token endpoint accepts.
	ClientID, ClientSecret string
	// Latency delays every answer (cut short when the client gives up).
	Latency time.Duration

	mu        sync.Mutex
	users     []*user
	access    map[string]*user // live access tokens
	refresh   map[string]*user // live refresh tokens
	spent     map[string]bool  // refresh tokens already exchanged
	spentUses int
	states    fakeknobs.TokenStates // ExpireAccessToken, DenyScope
	knobs     fakeknobs.Knobs       // faults, counters, in flight, Close
}

// Names of the endpoints in the knobs' call counters.
const (
	callRepos      = "repositories"
	callWorkspaces = "workspaces"
	callGone       = "gone"
	callToken      = "token"
)

type user struct {
	repos      []Repo
	workspaces []string // slugs, in the order the user joined them
}

// join adds slug to u's workspaces unless it is there.
func (u *user) join(slug string) {
	for _, w := range u.workspaces {
		if w == slug {
			return
		}
	}
	u.workspaces = append(u.workspaces, slug)
}

func (s *Server) initLocked() {
	if s.access == nil {
		s.access = map[string]*user{}
		s.refresh = map[string]*user{}
		s.spent = map[string]bool{}
	}
}

// AddUser seeds a user holding accessToken and refreshToken (either may be
// empty) who is a member of repos, and of the workspace of each (the part
// of FullName before "/"), in the order they first appear.
func (s *Server) AddUser(accessToken, refreshToken string, repos []Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	u := &user{}
	for _, r := range repos {
		if r.UUID == "" {
			r.UUID = "{" + randomUUID() + "}"
		}
		if r.Name == "" {
			r.Name = r.FullName[strings.LastIndex(r.FullName, "/")+1:]
		}
		if r.HTMLURL == "" {
			r.HTMLURL = "https://bitbucket.org/" + r.FullName
		}
		u.repos = append(u.repos, r)
		if ws, _, ok := strings.Cut(r.FullName, "/"); ok && ws != "" {
			u.join(ws)
		}
	}
	s.users = append(s.users, u)
	if accessToken != "" {
		s.access[accessToken] = u
	}
	if refreshToken != "" {
		s.refresh[refreshToken] = u
	}
}

// JoinWorkspaces makes the user holding accessToken a member of the
// workspaces slugs too (which may hold none of their repositories).
func (s *Server) JoinWorkspaces(accessToken string, slugs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if u := s.access[accessToken]; u != nil {
		for _, w := range slugs {
			u.join(w)
		}
	}
}

// FailNext makes the next n repository requests answer status with
// Bitbucket's error body for it (401 expired token, 403 missing scope, …).
func (s *Server) FailNext(n, status int) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// RateLimitNext makes the next n repository requests answer 429. Bitbucket
// documents no Retry-After for OAuth consumers; when retryAfter is positive
// the answer carries one anyway, so clients that honour it can be tested.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.RateLimit, RetryAfter: retryAfter})
}

// Hang makes the next n repository requests wait until the client gives up or Close is
// called.
func (s *Server) Hang(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Hang}) }

// MalformedNext makes the next n repository requests answer 200 with a truncated JSON
// body.
func (s *Server) MalformedNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Malformed}) }

// Close releases hung and delayed requests. The Server keeps answering
// afterwards, but requests told to hang return at once.
func (s *Server) Close() { s.knobs.Close() }

// Revoke invalidates an access or refresh token.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	delete(s.access, token)
	delete(s.refresh, token)
}

// ExpireAccessToken makes an access token answer 401 "Access token expired.".
func (s *Server) ExpireAccessToken(token string) { s.states.Expire(token) }

// DenyScope makes an access token lack the repository scope (403).
func (s *Server) DenyScope(token string) { s.states.DenyScope(token) }

// Calls returns how many repository requests (GET
// /2.0/repositories/{workspace}) were received.
func (s *Server) Calls() int { return s.knobs.Calls(callRepos) }

// WorkspaceCalls returns how many GET /2.0/user/workspaces requests were
// received.
func (s *Server) WorkspaceCalls() int { return s.knobs.Calls(callWorkspaces) }

// GoneCalls returns how many requests reached a removed endpoint (and got
// 410).
func (s *Server) GoneCalls() int { return s.knobs.Calls(callGone) }

// Refreshes returns how many token endpoint requests were received.
func (s *Server) Refreshes() int { return s.knobs.Calls(callToken) }

// SpentRefreshTokenUses returns how many refresh requests presented a
// refresh token that had already been exchanged (and was refused).
func (s *Server) SpentRefreshTokenUses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spentUses
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
	if r.Method != http.MethodGet && r.URL.Path != "/site/oauth2/access_token" {
		writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
		return
	}
	switch path := r.URL.Path; {
	case removed[path]:
		s.knobs.Count(callGone)
		writeGone(w)
	case path == "/2.0/user/workspaces":
		s.serveWorkspaces(w, r)
	case strings.HasPrefix(path, "/2.0/repositories/") && workspaceSlug.MatchString(strings.TrimPrefix(path, "/2.0/repositories/")):
		s.serveRepos(w, r, strings.TrimPrefix(path, "/2.0/repositories/"))
	case path == "/site/oauth2/access_token":
		if r.Method != http.MethodPost {
			writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
		s.serveToken(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"type": "error", "error": map[string]any{
			"message": "Resource not found",
			"detail":  "There is no API hosted at this URL.",
		}})
	}
}

// workspaceSlug is what the emulator accepts as a workspace in a path:
// Bitbucket slugs are lower-case letters, digits, "-", "_" and ".".
var workspaceSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

// removed are the cross-workspace endpoints Atlassian removed under
// CHANGE-2770 (https://developer.atlassian.com/cloud/bitbucket/changelog/#CHANGE-2770,
// enforced in April 2026): they answer 410 Gone. Their replacements
// (CHANGE-3022) are GET /2.0/user/workspaces and the workspace-scoped
// GET /2.0/repositories/{workspace}.
var removed = map[string]bool{
	"/2.0/repositories":                  true,
	"/2.0/workspaces":                    true,
	"/2.0/user/permissions/workspaces":   true,
	"/2.0/user/permissions/repositories": true,
}

// writeGone writes the body Bitbucket answers on a removed endpoint, as
// reported by its users since the removal (for example
// ktrysmt/go-bitbucket issue 357): the error names the change and links to
// the changelog, in the error object and beside it.
func writeGone(w http.ResponseWriter) {
	data := map[string]string{"announcement_url": "https://developer.atlassian.com/cloud/bitbucket/changelog#CHANGE-2770"}
	writeJSON(w, http.StatusGone, map[string]any{
		"type": "error",
		"error": map[string]any{
			"message": "CHANGE-2770 - Functionality has been deprecated",
			"detail":  "Please read the changelog entry for more details.",
			"data":    data,
		},
		"data": data,
	})
}

// fault answers the next injected fault, if any, and reports whether it
// did. Faults are taken by the API endpoints (workspaces and repositories)
// in the order requests arrive.
func (s *Server) fault(w http.ResponseWriter, r *http.Request) bool {
	switch f := s.knobs.Next(); f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json", `{"pagelen": 10, "values": [{"uuid": "trunc`)
	case fakeknobs.Fail:
		writeStatusError(w, f.Status)
	case fakeknobs.RateLimit:
		fakeknobs.SetRetryAfter(w.Header(), f.RetryAfter)
		writeStatusError(w, http.StatusTooManyRequests)
	default:
		return false
	}
	return true
}

// authenticate returns a copy of the user the request's Bearer token
// belongs to, or answers the error Bitbucket gives and returns false.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (user, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		writeError(w, http.StatusUnauthorized, "This API is only accessible with the following authentication types: session, password, apppassword, repository_access_token, workspace_access_token, project_access_token, api_token")
		return user{}, false
	}
	st := s.states.State(token)
	s.mu.Lock()
	u := s.access[token]
	var cp user
	if u != nil {
		cp = user{repos: append([]Repo(nil), u.repos...), workspaces: append([]string(nil), u.workspaces...)}
	}
	s.mu.Unlock()
	switch {
	case u == nil || st.Expired:
		writeStatusError(w, http.StatusUnauthorized)
		return user{}, false
	case st.ScopeDenied:
		writeStatusError(w, http.StatusForbidden)
		return user{}, false
	}
	return cp, true
}

// paging reads pagelen (1..100, default 10) and page (from 1) as Bitbucket
// documents them (https://developer.atlassian.com/cloud/bitbucket/rest/intro/#pagination),
// or answers 400.
func paging(w http.ResponseWriter, q url.Values) (pagelen, page int, ok bool) {
	pagelen, page = 10, 1
	if v := q.Get("pagelen"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "Invalid pagelen")
			return 0, 0, false
		}
		pagelen = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "Invalid page")
			return 0, 0, false
		}
		page = n
	}
	return pagelen, page, true
}

// pageBody is Bitbucket's paginated envelope {pagelen, page, size, values,
// next, previous}, with absolute links built from base+path and q.
func pageBody(base, path string, q url.Values, pagelen, page, size int, values []map[string]any) map[string]any {
	body := map[string]any{"pagelen": pagelen, "page": page, "size": size, "values": values}
	link := func(p int) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(p))
		return base + path + "?" + q2.Encode()
	}
	if page*pagelen < size {
		body["next"] = link(page + 1)
	}
	if page > 1 {
		body["previous"] = link(page - 1)
	}
	return body
}

// serveWorkspaces answers GET /2.0/user/workspaces, the CHANGE-3022
// replacement that lists the workspaces the caller can access
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-workspaces/#api-user-workspaces-get):
// a paginated list of workspace_access objects, each naming the workspace
// and whether the caller administers it. The emulator lists them in the
// order the user joined, not sorted: clients must not rely on an order.
func (s *Server) serveWorkspaces(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callWorkspaces)
	if s.fault(w, r) {
		return
	}
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	pagelen, page, ok := paging(w, q)
	if !ok {
		return
	}
	base := fakeknobs.BaseURL(r, s.BaseURL)
	start := min((page-1)*pagelen, len(u.workspaces))
	end := min(start+pagelen, len(u.workspaces))
	values := make([]map[string]any, 0, end-start)
	for _, slug := range u.workspaces[start:end] {
		values = append(values, map[string]any{
			"type":          "workspace_access",
			"administrator": false,
			"workspace": map[string]any{
				"type": "workspace_base",
				"uuid": "{" + uuidFor(slug) + "}",
				"slug": slug,
				"name": slug,
				"links": map[string]any{
					"self": map[string]string{"href": base + "2.0/workspaces/" + slug},
					"html": map[string]string{"href": "https://bitbucket.org/" + slug + "/"},
				},
			},
		})
	}
	writeJSON(w, http.StatusOK, pageBody(base, "2.0/user/workspaces", q, pagelen, page, len(u.workspaces), values))
}

// uuidFor is a stable UUID for a workspace slug.
func uuidFor(slug string) string {
	h := sha256.Sum256([]byte(slug))
	x := hex.EncodeToString(h[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s", x[0:8], x[8:12], x[12:16], x[16:20], x[20:32])
}

// serveRepos answers GET /2.0/repositories/{workspace}
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-workspace-get)
// with the repositories of that workspace the caller is a member of
// (role=member), sorted and paginated as asked.
func (s *Server) serveRepos(w http.ResponseWriter, r *http.Request, workspace string) {
	s.knobs.Count(callRepos)
	if s.fault(w, r) {
		return
	}
	u, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	member := false
	for _, ws := range u.workspaces {
		member = member || ws == workspace
	}
	if !member {
		// Bitbucket does not tell a workspace the caller cannot see from
		// one that does not exist.
		writeError(w, http.StatusNotFound, "No workspace with identifier '"+workspace+"'.")
		return
	}
	var repos []Repo
	for _, repo := range u.repos {
		if strings.HasPrefix(repo.FullName, workspace+"/") {
			repos = append(repos, repo)
		}
	}

	q := r.URL.Query()
	if q.Get("role") != "member" {
		// Without role Bitbucket lists every repository the caller can
		// see in the workspace; the emulator only knows the member view,
		// so fail loudly.
		writeError(w, http.StatusBadRequest, "fakebitbucket: only role=member is emulated")
		return
	}
	pagelen, page, ok := paging(w, q)
	if !ok {
		return
	}
	switch sortKey := q.Get("sort"); sortKey {
	case "":
	case "updated_on", "-updated_on":
		desc := sortKey[0] == '-'
		sort.SliceStable(repos, func(i, j int) bool {
			if desc {
				return repos[i].UpdatedOn.After(repos[j].UpdatedOn)
			}
			return repos[i].UpdatedOn.Before(repos[j].UpdatedOn)
		})
	case "full_name", "-full_name":
		sort.SliceStable(repos, func(i, j int) bool { return (repos[i].FullName < repos[j].FullName) == (sortKey[0] != '-') })
	default:
		writeError(w, http.StatusBadRequest, "Invalid sort field")
		return
	}

	base := fakeknobs.BaseURL(r, s.BaseURL)
	start := min((page-1)*pagelen, len(repos))
	end := min(start+pagelen, len(repos))
	values := make([]map[string]any, 0, end-start)
	for _, repo := range repos[start:end] {
		values = append(values, renderRepo(base, repo))
	}
	writeJSON(w, http.StatusOK, pageBody(base, "2.0/repositories/"+workspace, q, pagelen, page, len(repos), values))
}

func renderRepo(base string, r Repo) map[string]any {
	slug := r.FullName[strings.LastIndex(r.FullName, "/")+1:]
	return map[string]any{
		"type":        "repository",
		"uuid":        r.UUID,
		"name":        r.Name,
		"full_name":   r.FullName,
		"slug":        slug,
		"is_private":  r.Private,
		"description": r.Description,
		"scm":         "git",
		"updated_on":  r.UpdatedOn.UTC().Format("2006-01-02T15:04:05.000000-07:00"),
		"links": map[string]any{
			"self": map[string]string{"href": base + "2.0/repositories/" + r.FullName},
			"html": map[string]string{"href": r.HTMLURL},
		},
	}
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callToken)

	id, secret, ok := r.BasicAuth()
	if !ok || id == "" || (s.ClientID != "" && (id != s.ClientID || secret != s.ClientSecret)) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Invalid OAuth client credentials"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "Malformed request body"})
		return
	}
	if g := r.PostForm.Get("grant_type"); g != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "fakebitbucket: only the refresh_token grant is emulated"})
		return
	}
	rt := r.PostForm.Get("refresh_token")
	invalid := map[string]string{"error": "invalid_grant", "error_description": "Invalid refresh_token"}

	s.mu.Lock()
	u := s.refresh[rt]
	if u == nil {
		if s.spent[rt] {
			s.spentUses++
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, invalid)
		return
	}
	delete(s.refresh, rt)
	s.spent[rt] = true
	at, nrt := "fakebitbucket-access-"+randomHex(12), "fakebitbucket-refresh-"+randomHex(12)
	s.access[at] = u
	s.refresh[nrt] = u
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  at,
		"scopes":        "account repository",
		"expires_in":    7200,
		"refresh_token": nrt,
		"token_type":    "bearer",
		"state":         "refresh_token",
	})
}

func writeStatusError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusUnauthorized:
		writeError(w, status, "Access token expired.")
	case http.StatusForbidden:
		writeJSON(w, status, map[string]any{"type": "error", "error": map[string]any{
			"message": "Your credentials lack one or more required privilege scopes.",
			"detail":  map[string][]string{"granted": {"account"}, "required": {"repository"}},
		}})
	case http.StatusNotFound:
		writeError(w, status, "Resource not found")
	case http.StatusGone:
		writeGone(w)
	case http.StatusTooManyRequests:
		writeError(w, status, "Rate limit for this resource has been exceeded")
	default:
		writeError(w, status, http.StatusText(status))
	}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"type": "error", "error": map[string]string{"message": msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUUID() string {
	h := randomHex(16)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
