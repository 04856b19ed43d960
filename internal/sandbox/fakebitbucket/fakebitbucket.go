package fakebitbucket

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
	callRepos = "repositories"
	callToken = "token"
)

type user struct {
	repos []Repo
}

func (s *Server) initLocked() {
	if s.access == nil {
		s.access = map[string]*user{}
		s.refresh = map[string]*user{}
		s.spent = map[string]bool{}
	}
}

// AddUser seeds a user holding accessToken and refreshToken (either may be
// empty) who is a member of repos.
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
	}
	s.users = append(s.users, u)
	if accessToken != "" {
		s.access[accessToken] = u
	}
	if refreshToken != "" {
		s.refresh[refreshToken] = u
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

// Calls returns how many repository requests were received.
func (s *Server) Calls() int { return s.knobs.Calls(callRepos) }

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
	switch r.URL.Path {
	case "/2.0/repositories":
		if r.Method != http.MethodGet {
			writeError(w, http.StatusMethodNotAllowed, "Method not allowed")
			return
		}
		s.serveRepos(w, r)
	case "/site/oauth2/access_token":
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

func (s *Server) serveRepos(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callRepos)
	switch f := s.knobs.Next(); f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
		return
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json", `{"pagelen": 10, "values": [{"uuid": "trunc`)
		return
	case fakeknobs.Fail:
		writeStatusError(w, f.Status)
		return
	case fakeknobs.RateLimit:
		fakeknobs.SetRetryAfter(w.Header(), f.RetryAfter)
		writeStatusError(w, http.StatusTooManyRequests)
		return
	}

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		writeError(w, http.StatusUnauthorized, "This API is only accessible with the following authentication types: session, password, apppassword, repository_access_token, workspace_access_token, project_access_token, api_token")
		return
	}
	st := s.states.State(token)
	s.mu.Lock()
	u := s.access[token]
	var repos []Repo
	if u != nil {
		repos = append(repos, u.repos...)
	}
	s.mu.Unlock()
	switch {
	case u == nil || st.Expired:
		writeStatusError(w, http.StatusUnauthorized)
		return
	case st.ScopeDenied:
		writeStatusError(w, http.StatusForbidden)
		return
	}

	q := r.URL.Query()
	if q.Get("role") != "member" {
		// Without role Bitbucket lists every public repository; the
		// emulator only knows the member view, so fail loudly.
		writeError(w, http.StatusBadRequest, "fakebitbucket: only role=member is emulated")
		return
	}
	pagelen, page := 10, 1
	if v := q.Get("pagelen"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			writeError(w, http.StatusBadRequest, "Invalid pagelen")
			return
		}
		pagelen = n
	}
	if v := q.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "Invalid page")
			return
		}
		page = n
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
	body := map[string]any{"pagelen": pagelen, "page": page, "size": len(repos), "values": values}
	link := func(p int) string {
		q2 := url.Values{}
		for k, v := range q {
			q2[k] = v
		}
		q2.Set("page", strconv.Itoa(p))
		return base + "2.0/repositories?" + q2.Encode()
	}
	if end < len(repos) {
		body["next"] = link(page + 1)
	}
	if page > 1 {
		body["previous"] = link(page - 1)
	}
	writeJSON(w, http.StatusOK, body)
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
