package fakeauth0

import (
	"errors"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// serveManagement handles everything under /api/v2; rest is the escaped
// path after it.
func (t *Tenant) serveManagement(w http.ResponseWriter, r *http.Request, rest string) {
	var endpoint func(http.ResponseWriter, *http.Request, []string)
	var userID string
	switch {
	case rest == "/users" && r.Method == http.MethodGet:
		t.calls.search.Add(1)
		if max := t.maxRequestURI(); len(r.URL.RequestURI()) > max {
			// A query string too long for the front end: Auth0 answers
			// 414 (its limit is undocumented; see MaxRequestURI).
			writeAPIError(w, http.StatusRequestURITooLong, "Request-URI Too Large", "")
			return
		}
		endpoint = func(w http.ResponseWriter, r *http.Request, scopes []string) { t.serveSearch(w, r, scopes) }
	case strings.HasPrefix(rest, "/users/") && r.Method == http.MethodGet:
		escaped := strings.TrimPrefix(rest, "/users/")
		id, err := url.PathUnescape(escaped)
		if err != nil || escaped == "" || strings.Contains(escaped, "/") {
			break
		}
		t.calls.userByID.Add(1)
		userID = id
		endpoint = func(w http.ResponseWriter, r *http.Request, scopes []string) { t.serveUser(w, scopes, userID) }
	}

	now := t.now()
	t.lock()
	injected429, injectedStatus, retryIn := false, 0, time.Duration(0)
	switch {
	case t.limitN > 0:
		t.limitN--
		injected429, retryIn = true, t.limitReset
	case t.failN > 0:
		t.failN--
		injectedStatus = t.failStatus
	}
	// Every call counts against the per-second window, as on Auth0.
	sec := now.Unix()
	if sec != t.winSec {
		t.winSec, t.winUsed = sec, 0
	}
	t.winUsed++
	limit, over := t.RateLimit, false
	if limit > 0 {
		over = t.winUsed > limit
	} else {
		limit = unlimitedDisplayLimit
	}
	remaining := max(limit-t.winUsed, 0)
	if t.RateLimit <= 0 {
		remaining = max(remaining, 1)
	}
	reset := sec + 1
	t.mu.Unlock()

	h := w.Header()
	if injected429 {
		remaining = 0
		at := now.Add(retryIn)
		reset = int64(math.Ceil(float64(at.UnixNano()) / 1e9))
		h.Set("Retry-After", strconv.FormatInt(int64(math.Ceil(max(retryIn, 0).Seconds())), 10))
	} else if over {
		h.Set("Retry-After", strconv.FormatInt(max(reset-sec, 1), 10))
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))

	switch {
	case injected429 || over:
		writeStatusError(w, http.StatusTooManyRequests)
		return
	case injectedStatus != 0:
		writeStatusError(w, injectedStatus)
		return
	}
	scopes, ok := t.authorize(w, r, now)
	if !ok {
		return
	}
	if endpoint == nil {
		writeAPIError(w, http.StatusNotFound, "Not Found", "")
		return
	}
	endpoint(w, r, scopes)
}

// authorize checks the Management API access token like Auth0 does and
// returns its scopes; it has answered the request when ok is false.
func (t *Tenant) authorize(w http.ResponseWriter, r *http.Request, now time.Time) (scopes []string, ok bool) {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		writeAPIError(w, http.StatusUnauthorized, "Missing authentication", "")
		return nil, false
	}
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		writeAPIError(w, http.StatusUnauthorized, "Bad HTTP authentication header format", "")
		return nil, false
	}
	iss := t.issuerFor(r)
	claims, err := t.verify(token)
	if err == nil {
		err = checkClaims(claims, iss, iss+"api/v2/", now)
	}
	if err != nil {
		writeAPIError(w, http.StatusUnauthorized, msgInvalidToken, "")
		return nil, false
	}
	s, _ := claims["scope"].(string)
	return strings.Fields(s), true
}

func checkClaims(c map[string]any, iss, aud string, now time.Time) error {
	if c["iss"] != iss || !audienceHas(c["aud"], aud) {
		return errBadToken
	}
	exp, ok := c["exp"].(float64)
	if !ok || float64(now.Unix()) >= exp {
		return errBadToken
	}
	if nbf, ok := c["nbf"].(float64); ok && float64(now.Unix()) < nbf {
		return errBadToken
	}
	return nil
}

func insufficientScope(w http.ResponseWriter, scopes []string, need string) bool {
	if slices.Contains(scopes, need) {
		return false
	}
	writeAPIError(w, http.StatusForbidden, "Insufficient scope, expected any of: "+need, "insufficient_scope")
	return true
}

// serveUser implements GET /api/v2/users/{id}
// (https://auth0.com/docs/api/management/v2/users/get-users-by-id).
func (t *Tenant) serveUser(w http.ResponseWriter, scopes []string, id string) {
	if insufficientScope(w, scopes, "read:users") {
		return
	}
	t.lock()
	rec := t.users[id]
	var u *User
	var created, updated time.Time
	if rec != nil && rec.current() != nil {
		u = rec.current()
		created, updated = rec.created, rec.versions[len(rec.versions)-1].at
	}
	t.mu.Unlock()
	if u == nil {
		writeAPIError(w, http.StatusNotFound, "The user does not exist.", "inexistent_user")
		return
	}
	writeJSON(w, http.StatusOK, userJSON(u, created, updated, slices.Contains(scopes, "read:user_idp_tokens")))
}

// serveSearch implements GET /api/v2/users with a user_id query
// (https://auth0.com/docs/api/management/v2/users/get-users). It answers
// from the search index, where each change appears SearchIndexLag (as
// set when the change was made) after it.
func (t *Tenant) serveSearch(w http.ResponseWriter, r *http.Request, scopes []string) {
	if insufficientScope(w, scopes, "read:users") {
		return
	}
	q := r.URL.Query()
	if e := q.Get("search_engine"); e != "" && e != "v3" {
		writeAPIError(w, http.StatusBadRequest, "Query validation error: 'Invalid value \""+e+"\"' on property search_engine.", "invalid_query_string")
		return
	}
	perPage, err := intParam(q, "per_page", 50)
	if err != nil || perPage < 0 || perPage > 100 {
		writeAPIError(w, http.StatusBadRequest, "Query validation error: 'Number must be between 0 and 100' on property per_page (Number of results per page).", "invalid_query_string")
		return
	}
	page, err := intParam(q, "page", 0)
	if err != nil || page < 0 {
		writeAPIError(w, http.StatusBadRequest, "Query validation error: 'Number must be greater or equal than 0' on property page (Page index of the results to return. First page is 0.).", "invalid_query_string")
		return
	}
	if (page+1)*perPage > 1000 {
		writeAPIError(w, http.StatusBadRequest, "You can only page through the first 1000 records. See https://auth0.com/docs/users/search/v3/view-search-results-by-page#limitation", "invalid_paging")
		return
	}
	var ids []string // nil: every user
	if raw := q.Get("q"); raw != "" {
		ids, err = parseUserIDQuery(raw)
		if err != nil {
			writeAPIError(w, http.StatusBadRequest, "Query validation error: 'invalid query' on property q (Query in Lucene query string syntax).", "invalid_query_string")
			return
		}
	}
	now := t.now()
	revealTokens := slices.Contains(scopes, "read:user_idp_tokens")

	t.lock()
	if ids == nil {
		for id := range t.users {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var found []map[string]any
	for _, id := range ids {
		rec := t.users[id]
		if rec == nil {
			continue
		}
		u, at := rec.indexed(now)
		if u == nil {
			continue
		}
		found = append(found, userJSON(u, rec.created, at, revealTokens))
	}
	t.mu.Unlock()

	if !q.Has("page") {
		// "When the page parameter is not set, we return a maximum of 50
		// records, regardless of how many records exist"
		// (https://auth0.com/docs/manage-users/user-search/view-search-results-by-page).
		perPage = min(perPage, 50)
	}
	start := min(page*perPage, len(found))
	end := min(start+perPage, len(found))
	items := found[start:end]
	if items == nil {
		items = []map[string]any{}
	}
	if q.Get("include_totals") == "true" {
		writeJSON(w, http.StatusOK, map[string]any{
			"start": page * perPage, "limit": perPage, "length": len(items),
			"total": len(found), "users": items,
		})
		return
	}
	writeJSON(w, http.StatusOK, items)
}

// DefaultMaxRequestURI is the longest user-search request target the
// Tenant accepts when MaxRequestURI is zero.
const DefaultMaxRequestURI = 8192

func (t *Tenant) maxRequestURI() int {
	t.lock()
	defer t.mu.Unlock()
	if t.MaxRequestURI > 0 {
		return t.MaxRequestURI
	}
	return DefaultMaxRequestURI
}

func intParam(q url.Values, name string, def int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	return strconv.Atoi(s)
}

// userJSON renders u as the Management API does. Identity tokens appear
// only for callers holding read:user_idp_tokens.
func userJSON(u *User, created, updated time.Time, revealTokens bool) map[string]any {
	idents := make([]map[string]any, 0, len(u.Identities))
	for _, id := range u.Identities {
		uid := id.UserID
		if uid == nil {
			uid = ""
		}
		m := map[string]any{
			"provider":   id.Provider,
			"connection": id.Connection,
			"user_id":    uid,
			"isSocial":   id.IsSocial,
		}
		if revealTokens && id.AccessToken != "" {
			m["access_token"] = id.AccessToken
		}
		if revealTokens && id.RefreshToken != "" {
			m["refresh_token"] = id.RefreshToken
		}
		if id.ExpiresIn != 0 {
			m["expires_in"] = id.ExpiresIn
		}
		idents = append(idents, m)
	}
	m := map[string]any{
		"user_id":    u.UserID,
		"identities": idents,
		"created_at": auth0Time(created),
		"updated_at": auth0Time(updated),
	}
	for k, v := range map[string]string{"name": u.Name, "nickname": u.Nickname, "email": u.Email, "picture": u.Picture} {
		if v != "" {
			m[k] = v
		}
	}
	return m
}

func auth0Time(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

var errQuery = errors.New("fakeauth0: unsupported query")

// parseUserIDQuery accepts the two query forms the emulator supports,
// user_id:"a" and user_id:("a" OR "b" …), with backslash escapes inside
// the quotes, and returns the ids.
func parseUserIDQuery(q string) ([]string, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(q), "user_id:")
	if !ok {
		return nil, errQuery
	}
	p := &queryParser{s: rest}
	var ids []string
	if p.peek() == '(' {
		p.i++
		for {
			p.skipSpace()
			id, err := p.quoted()
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
			p.skipSpace()
			if p.peek() == ')' {
				p.i++
				break
			}
			if !strings.HasPrefix(p.s[p.i:], "OR") {
				return nil, errQuery
			}
			p.i += 2
			if p.peek() != ' ' {
				return nil, errQuery
			}
		}
	} else {
		id, err := p.quoted()
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	p.skipSpace()
	if p.i != len(p.s) {
		return nil, errQuery
	}
	return ids, nil
}

type queryParser struct {
	s string
	i int
}

func (p *queryParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *queryParser) skipSpace() {
	for p.peek() == ' ' {
		p.i++
	}
}

func (p *queryParser) quoted() (string, error) {
	if p.peek() != '"' {
		return "", errQuery
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '\\':
			if p.i == len(p.s) {
				return "", errQuery
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case '"':
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	return "", errQuery
}
