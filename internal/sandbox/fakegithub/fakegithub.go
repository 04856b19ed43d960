package fakegithub

import (
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

// Documentation URLs GitHub puts in its error bodies.
const (
	docsREST      = "https://docs.github.com/rest"
	docsPrimary   = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
	docsSecondary = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
)

// DefaultRateLimit is the primary rate limit of an authenticated user
// (requests per hour) the fake reports when Server.RateLimit is zero.
const DefaultRateLimit = 5000

// Owner is the owner object embedded in a repository.
type Owner struct {
	Login string `json:"login"`
	ID    int64  `json:"id"`
	Type  string `json:"type"` // User or Organization
}

// Repo is a repository as GitHub's REST API renders it (the subset of
// fields the gateway reads, plus a few for realism). Description is a
// pointer because GitHub sends null for a repository without one.
type Repo struct {
	ID              int64     `json:"id"`
	NodeID          string    `json:"node_id"`
	Name            string    `json:"name"`
	FullName        string    `json:"full_name"`
	Owner           Owner     `json:"owner"`
	Private         bool      `json:"private"`
	HTMLURL         string    `json:"html_url"`
	Description     *string   `json:"description"`
	Fork            bool      `json:"fork"`
	URL             string    `json:"url"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	PushedAt        time.Time `json:"pushed_at"`
	StargazersCount int       `json:"stargazers_count"`
	WatchersCount   int       `json:"watchers_count"`
	Language        *string   `json:"language"`
	Visibility      string    `json:"visibility"`
	DefaultBranch   string    `json:"default_branch"`
}

// Server is an http.Handler emulating the GitHub REST API. Mount it at the
// root of a listener or under a prefix with http.StripPrefix: the Link
// headers it emits keep the prefix (see BaseURL).
//
// The zero value is ready to use and has no users. Exported fields are
// read on every request; set them before serving. Methods are safe for
// concurrent use.
type Server struct {
	// BaseURL, when set, is the absolute API root ("https://ghe.example/api/v3/")
	// used to build Link URLs. When empty it is derived from the request:
	// scheme (TLS or X-Forwarded-Proto), Host, then X-Forwarded-Prefix, or
	// else the part of the request URI an http.StripPrefix removed.
	BaseURL string
	// Latency delays every request (aborted when the client gives up).
	Latency time.Duration
	// RateLimit is the primary limit per user and hour; 0 means
	// DefaultRateLimit.
	RateLimit int
	// Now is the clock for rate-limit windows and reset times; nil means
	// time.Now.
	Now func() time.Time

	mu    sync.Mutex
	users map[string]*user // by token
	knobs fakeknobs.Knobs  // faults, counters, in flight, Close
}

type user struct {
	repos       []Repo
	ssoOrgs     []int64 // organizations whose SAML SSO the token lacks
	revoked     bool
	used        int
	windowStart time.Time
}

// faultSecondary is GitHub's own fault: a secondary rate limit (429).
// fakeknobs.RateLimit is the primary one (403).
const faultSecondary = fakeknobs.Custom

func (s *Server) initLocked() {
	if s.users == nil {
		s.users = make(map[string]*user)
	}
}

// AddUser seeds a user reachable with token, owning repos (copied). Adding
// a token again replaces its repositories and un-revokes it.
func (s *Server) AddUser(token string, repos []Repo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.users[token] = &user{repos: append([]Repo(nil), repos...)}
}

// WithholdSSO makes token's repository lists partial, as GitHub answers
// for a token not authorized for the SAML SSO of organizations orgIDs:
// the repositories of those organizations are left out (the emulator has
// none; seed only the rest) and every answer carries
// "X-GitHub-SSO: partial-results; organizations=<ids>"
// (https://docs.github.com/rest/authentication/authenticating-to-the-rest-api#personal-access-tokens-and-saml-sso).
func (s *Server) WithholdSSO(token string, orgIDs ...int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if u, ok := s.users[token]; ok {
		u.ssoOrgs = append([]int64(nil), orgIDs...)
	}
}

// Revoke makes token answer 401 Bad credentials from now on.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if u, ok := s.users[token]; ok {
		u.revoked = true
	}
}

// FailNext makes the next n requests answer status with GitHub's error body.
func (s *Server) FailNext(n, status int) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// RateLimitNext makes the next n requests hit the primary rate limit: 403
// with X-RateLimit-Remaining: 0 and X-RateLimit-Reset retryAfter from now.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.RateLimit, RetryAfter: retryAfter})
}

// SecondaryRateLimitNext makes the next n requests hit a secondary rate
// limit: 429 with Retry-After (omitted when retryAfter is zero, as GitHub
// sometimes does; clients should then wait a minute).
func (s *Server) SecondaryRateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: faultSecondary, RetryAfter: retryAfter})
}

// Hang makes the next n requests block until the client gives up or Close
// is called.
func (s *Server) Hang(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Hang}) }

// MalformedNext makes the next n requests answer 200 with a truncated JSON
// body.
func (s *Server) MalformedNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Malformed}) }

// Close releases hung requests. The Server keeps answering afterwards, but
// SetLatency changes Latency while the server serves. The delay runs
// inside the request's in-flight count (InFlight, MaxInFlight), unlike the
// sandbox's latency in front of every emulator.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.Latency = d
	s.mu.Unlock()
}

func (s *Server) latency() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Latency
}

// requests told to hang return at once.
func (s *Server) Close() { s.knobs.Close() }

// Calls returns how many API requests (any outcome) the Server received.
func (s *Server) Calls() int { return s.knobs.Calls(callRepos) }

// InFlight returns how many requests are being served right now.
func (s *Server) InFlight() int { return s.knobs.InFlight() }

// MaxInFlight returns the largest number of requests served at once.
func (s *Server) MaxInFlight() int { return s.knobs.MaxInFlight() }

// callRepos names GET /user/repos in the knobs' call counters.
const callRepos = "repos"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// http.StripPrefix("/api/v3/", …) leaves "user/repos" without a slash.
	path := "/" + strings.Trim(r.URL.Path, "/")
	if r.Method != http.MethodGet || path != "/user/repos" {
		writeError(w, http.StatusNotFound, "Not Found", docsREST)
		return
	}
	s.knobs.Count(callRepos)
	s.knobs.Enter()
	defer s.knobs.Leave()
	f := s.knobs.Next()

	if !s.knobs.Delay(r.Context(), s.latency()) {
		return
	}
	if s.serveFault(w, r, f) {
		return
	}
	s.listRepos(w, r)
}

// serveFault answers an injected fault and reports whether it did.
func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f fakeknobs.Fault) bool {
	now := fakeknobs.Now(s.Now)
	switch f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
		return true
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json; charset=utf-8", `[{"id": 1, "name": "trunc`)
		return true
	case fakeknobs.RateLimit:
		h := w.Header()
		h.Set("X-RateLimit-Limit", strconv.Itoa(s.limit()))
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(s.limit()))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(f.RetryAfter).Unix(), 10))
		h.Set("X-RateLimit-Resource", "core")
		writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.", docsPrimary)
		return true
	case faultSecondary:
		fakeknobs.SetRetryAfter(w.Header(), f.RetryAfter)
		writeError(w, http.StatusTooManyRequests, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", docsSecondary)
		return true
	case fakeknobs.Fail:
		writeError(w, f.Status, http.StatusText(f.Status), docsREST)
		return true
	}
	return false
}

func (s *Server) limit() int {
	if s.RateLimit > 0 {
		return s.RateLimit
	}
	return DefaultRateLimit
}

// authToken returns the token of an "Authorization: Bearer|token X" header.
func authToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || (!strings.EqualFold(scheme, "bearer") && !strings.EqualFold(scheme, "token")) {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func (s *Server) listRepos(w http.ResponseWriter, r *http.Request) {
	tok, ok := authToken(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "Requires authentication", docsREST)
		return
	}
	now := fakeknobs.Now(s.Now)
	s.mu.Lock()
	u, found := s.users[tok]
	if !found || u.revoked {
		s.mu.Unlock()
		writeError(w, http.StatusUnauthorized, "Bad credentials", docsREST)
		return
	}
	if u.windowStart.IsZero() || now.Sub(u.windowStart) >= time.Hour {
		u.windowStart, u.used = now, 0
	}
	limit := s.limit()
	reset := u.windowStart.Add(time.Hour).Unix()
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	h.Set("X-RateLimit-Resource", "core")
	if u.used >= limit {
		s.mu.Unlock()
		h.Set("X-RateLimit-Remaining", "0")
		h.Set("X-RateLimit-Used", strconv.Itoa(limit))
		writeError(w, http.StatusForbidden, "API rate limit exceeded for user ID 1.", docsPrimary)
		return
	}
	u.used++
	h.Set("X-RateLimit-Remaining", strconv.Itoa(limit-u.used))
	h.Set("X-RateLimit-Used", strconv.Itoa(u.used))
	repos := append([]Repo(nil), u.repos...)
	if len(u.ssoOrgs) > 0 {
		ids := make([]string, len(u.ssoOrgs))
		for i, id := range u.ssoOrgs {
			ids[i] = strconv.FormatInt(id, 10)
		}
		h.Set("X-GitHub-SSO", "partial-results; organizations="+strings.Join(ids, ","))
	}
	s.mu.Unlock()

	q := r.URL.Query()
	sortRepos(repos, q.Get("sort"), q.Get("direction"))

	// GitHub treats a bad per_page as the default and caps it at 100; a
	// bad page is page 1.
	perPage := 30
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		perPage = min(n, 100)
	}
	page := 1
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		page = n
	}
	last := max(1, (len(repos)+perPage-1)/perPage)
	items := []Repo{}
	if start := (page - 1) * perPage; page <= last && start < len(repos) {
		items = repos[start:min(start+perPage, len(repos))]
	}

	if link := s.link(r, q, page, last); link != "" {
		h.Set("Link", link)
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-GitHub-Media-Type", "github.v3; format=json")
	if v := r.Header.Get("X-GitHub-Api-Version"); v != "" {
		h.Set("X-GitHub-Api-Version-Selected", v)
	}
	_ = json.NewEncoder(w).Encode(items)
}

// sortRepos orders repos as GitHub does: full_name ascending by default,
// created/updated/pushed descending unless direction says otherwise.
func sortRepos(repos []Repo, by, direction string) {
	desc := by == "created" || by == "updated" || by == "pushed"
	switch direction {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	less := func(a, b Repo) int {
		var c int
		switch by {
		case "created":
			c = a.CreatedAt.Compare(b.CreatedAt)
		case "updated":
			c = a.UpdatedAt.Compare(b.UpdatedAt)
		case "pushed":
			c = a.PushedAt.Compare(b.PushedAt)
		}
		if c == 0 {
			c = strings.Compare(strings.ToLower(a.FullName), strings.ToLower(b.FullName))
		}
		if desc {
			c = -c
		}
		return c
	}
	sort.SliceStable(repos, func(i, j int) bool { return less(repos[i], repos[j]) < 0 })
}

// link builds GitHub's Link header: prev, next, last, first, each the
// request's own URL with page replaced.
func (s *Server) link(r *http.Request, q url.Values, page, last int) string {
	base := fakeknobs.BaseURL(r, s.BaseURL)
	ref := func(p int, rel string) string {
		v := url.Values{}
		for k, vs := range q {
			v[k] = vs
		}
		v.Set("page", strconv.Itoa(p))
		return fmt.Sprintf(`<%suser/repos?%s>; rel="%s"`, base, v.Encode(), rel)
	}
	var parts []string
	if page > 1 {
		parts = append(parts, ref(min(page-1, last), "prev"))
	}
	if page < last {
		parts = append(parts, ref(page+1, "next"), ref(last, "last"))
	}
	if page > 1 {
		parts = append(parts, ref(1, "first"))
	}
	return strings.Join(parts, ", ")
}

func writeError(w http.ResponseWriter, status int, message, docs string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Message string `json:"message"`
		Docs    string `json:"documentation_url"`
		Status  string `json:"status"`
	}{message, docs, strconv.Itoa(status)})
}
