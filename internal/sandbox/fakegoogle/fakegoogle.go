package fakegoogle

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
)

// Calendar API limits (https://developers.google.com/calendar/api/v3/reference/events/list).
const (
	DefaultMaxResults = 250
	MaxMaxResults     = 2500
)

// AccessTokenLifetime is the expires_in of the access tokens /token issues.
const AccessTokenLifetime = 3599 * time.Second

// maxPageTokens bounds the page-token table of a long-running sandbox.
const maxPageTokens = 10000

const calendarScope = "https://www.googleapis.com/auth/calendar.readonly"

// EventDateTime is an event's start or end: DateTime (RFC 3339 with an
// offset) for timed events, Date ("2006-01-02") for all-day ones.
type EventDateTime struct {
	Date     string `json:"date,omitempty"`
	DateTime string `json:"dateTime,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

// Event is a calendar event as the Calendar API renders it (the fields the
// gateway reads plus a few for realism). Empty Status means "confirmed";
// an empty HTMLLink and ICalUID are derived from ID.
type Event struct {
	ID               string        `json:"id"`
	Status           string        `json:"status,omitempty"`
	HTMLLink         string        `json:"htmlLink,omitempty"`
	Created          string        `json:"created,omitempty"`
	Updated          string        `json:"updated,omitempty"`
	Summary          string        `json:"summary,omitempty"`
	Description      string        `json:"description,omitempty"`
	Location         string        `json:"location,omitempty"`
	Start            EventDateTime `json:"start"`
	End              EventDateTime `json:"end"`
	RecurringEventID string        `json:"recurringEventId,omitempty"`
	ICalUID          string        `json:"iCalUID,omitempty"`
}

// Server is an http.Handler emulating the Calendar API's events.list
// (GET /calendar/v3/calendars/primary/events) and Google's OAuth token
// endpoint (POST /token, refresh_token grant). Mount it under any prefix
// with http.StripPrefix.
//
// The zero value is ready to use, has no users and accepts any OAuth
// client. Exported fields are read on every request; set them before
// serving. Methods are safe for concurrent use.
type Server struct {
	// ClientID and ClientSecret, when ClientID is set, are the only OAuth
	// client /token accepts.
	ClientID     string
	ClientSecret string
	// Latency delays every request (aborted when the client gives up).
	Latency time.Duration
	// Now is the clock for token expiry; nil means time.Now.
	Now func() time.Time

	mu          sync.Mutex
	grants      map[string]*grant  // by refresh token
	access      map[string]*access // by access token
	pageTokens  map[string]pageState
	knobs       fakeknobs.Knobs // API faults, counters, in flight, Close
	tokenFaults fakeknobs.Queue // fakeknobs.Fail faults for the next /token requests
	gate        chan struct{}   // HoldEvents: events requests wait until it is closed
	release     func()          // releases gate (Close calls it)
}

// HoldEvents makes events requests wait, before they are answered, until
// release is called (or the request or the server ends): an ordering hook
// for tests that must see other providers answer before Google does.
// Token requests are not held. Calling release again does nothing.
func (s *Server) HoldEvents() (release func()) {
	gate := make(chan struct{})
	var once sync.Once
	release = func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == gate {
				s.gate, s.release = nil, nil
			}
			s.mu.Unlock()
			close(gate)
		})
	}
	s.mu.Lock()
	prev := s.release
	s.gate, s.release = gate, release
	s.mu.Unlock()
	if prev != nil {
		prev()
	}
	return release
}

// wait blocks while HoldEvents holds events requests; it reports false
// when ctx ended first.
func (s *Server) wait(ctx context.Context) bool {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-ctx.Done():
		return false
	}
}

// Names of the endpoints in the knobs' call counters.
const (
	callEvents = "events"
	callToken  = "token"
)

// grant is one user's consent: the refresh token and the events it reaches.
type grant struct {
	events  []Event
	revoked bool
	noScope bool
}

type access struct {
	grant   *grant
	expired bool
	expiry  time.Time // zero: never
}

type pageState struct {
	grant  *grant
	query  string // the filters the token was issued for
	offset int
}

// faultUserRateLimit is Google's own fault: the per-user quota (403).
const faultUserRateLimit = fakeknobs.Custom

func (s *Server) initLocked() {
	if s.grants == nil {
		s.grants = make(map[string]*grant)
		s.access = make(map[string]*access)
		s.pageTokens = make(map[string]pageState)
	}
}

// AddUser seeds a user whose calendar holds events (copied), reachable with
// accessToken; refreshToken (may be empty) gets new access tokens from
// /token.
func (s *Server) AddUser(accessToken, refreshToken string, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	g := &grant{events: append([]Event(nil), events...)}
	if refreshToken != "" {
		s.grants[refreshToken] = g
	}
	if accessToken != "" {
		s.access[accessToken] = &access{grant: g}
	}
}

// Revoke revokes the grant token belongs to (an access or a refresh
// token), as Google's revocation endpoint does: its refresh token and every
// access token issued from it stop working.
func (s *Server) Revoke(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if g := s.grantOf(token); g != nil {
		g.revoked = true
	}
}

// Regrant models the user consenting again (Google's OAuth consent screen,
// https://developers.google.com/identity/protocols/oauth2/web-server): a
// new grant over the same calendar as token's (revoked or not), reachable
// with accessToken and refreshable with refreshToken. The old grant stays
// as it was. It reports whether token was known.
func (s *Server) Regrant(token, accessToken, refreshToken string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	old := s.grantOf(token)
	if old == nil {
		return false
	}
	g := &grant{events: old.events}
	if refreshToken != "" {
		s.grants[refreshToken] = g
	}
	s.access[accessToken] = &access{grant: g}
	return true
}

// ExpireAccessToken makes token answer 401 while its refresh token still
// works.
func (s *Server) ExpireAccessToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if a, ok := s.access[token]; ok {
		a.expired = true
	}
}

// RemoveCalendarScope makes the grant of token (access or refresh) lack
// the calendar scope: the API answers 403 insufficientPermissions.
func (s *Server) RemoveCalendarScope(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if g := s.grantOf(token); g != nil {
		g.noScope = true
	}
}

func (s *Server) grantOf(token string) *grant {
	if a, ok := s.access[token]; ok {
		return a.grant
	}
	return s.grants[token]
}

// FailNext makes the next n API requests answer status with Google's error
// body.
func (s *Server) FailNext(n, status int) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// RateLimitNext makes the next n API requests answer 429 rateLimitExceeded,
// with Retry-After when retryAfter is positive.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.RateLimit, RetryAfter: retryAfter})
}

// UserRateLimitNext makes the next n API requests answer 403
// userRateLimitExceeded (Google's per-user quota).
func (s *Server) UserRateLimitNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: faultUserRateLimit}) }

// Hang makes the next n API requests block until the client gives up or
// Close is called.
func (s *Server) Hang(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Hang}) }

// MalformedNext makes the next n API requests answer 200 with truncated
// JSON.
func (s *Server) MalformedNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Malformed}) }

// FailNextRefresh makes the next n /token requests answer status.
func (s *Server) FailNextRefresh(n, status int) {
	s.tokenFaults.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// Close releases hung requests; later requests told to hang return at once.
func (s *Server) Close() {
	s.knobs.Close()
	s.mu.Lock()
	release := s.release
	s.mu.Unlock()
	if release != nil {
		release()
	}
}

// Calls returns how many Calendar API requests (any outcome) were received.
func (s *Server) Calls() int { return s.knobs.Calls(callEvents) }

// Refreshes returns how many /token requests (any outcome) were received.
func (s *Server) Refreshes() int { return s.knobs.Calls(callToken) }

// InFlight returns how many requests are being served right now.
func (s *Server) InFlight() int { return s.knobs.InFlight() }

// MaxInFlight returns the largest number of requests served at once.
func (s *Server) MaxInFlight() int { return s.knobs.MaxInFlight() }

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := "/" + strings.Trim(r.URL.Path, "/")
	isToken := path == "/token"
	isEvents := strings.HasPrefix(path, "/calendar/v3/calendars/") && strings.HasSuffix(path, "/events") &&
		strings.Count(path, "/") == 5
	if !isToken && !isEvents {
		notFound(w)
		return
	}
	var f fakeknobs.Fault
	if isToken {
		s.knobs.Count(callToken)
		f = s.tokenFaults.Next()
	} else {
		s.knobs.Count(callEvents)
		f = s.knobs.Next()
	}
	s.knobs.Enter()
	defer s.knobs.Leave()

	if isToken {
		// Read the form first: until the body is consumed the server does
		// not notice a client that gives up, and a delayed request would
		// outlive it.
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		if err := r.ParseForm(); err != nil {
			writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid request body.")
			return
		}
	}
	if !s.knobs.Delay(r.Context(), s.Latency) {
		return
	}
	if isEvents && !s.wait(r.Context()) {
		return
	}
	if isToken {
		if f.Kind == fakeknobs.Fail && f.Status != 0 {
			writeOAuthError(w, f.Status, "internal_failure", http.StatusText(f.Status))
			return
		}
		s.token(w, r)
		return
	}
	if f.Kind != fakeknobs.None {
		s.serveFault(w, r, f)
		return
	}
	s.listEvents(w, r, strings.Split(path, "/")[4])
}

func (s *Server) serveFault(w http.ResponseWriter, r *http.Request, f fakeknobs.Fault) {
	switch f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json; charset=UTF-8", `{"kind": "calendar#events", "items": [{"id": "trunc`)
	case fakeknobs.RateLimit:
		fakeknobs.SetRetryAfter(w.Header(), f.RetryAfter)
		writeError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
	case faultUserRateLimit:
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "usageLimits", "userRateLimitExceeded", "User Rate Limit Exceeded")
	case fakeknobs.Fail:
		writeStatus(w, f.Status)
	}
}

func bearer(r *http.Request) string {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, calendarID string) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "", "global", "httpMethodNotAllowed", "Method Not Allowed")
		return
	}
	now := fakeknobs.Now(s.Now)
	s.mu.Lock()
	a, ok := s.access[bearer(r)]
	if !ok || a.expired || a.grant.revoked || (!a.expiry.IsZero() && !now.Before(a.expiry)) {
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "global", "authError",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
		return
	}
	g := a.grant
	if g.noScope {
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope", scope="`+calendarScope+`"`)
		writeScopeError(w)
		return
	}
	events := append([]Event(nil), g.events...)
	s.mu.Unlock()

	if calendarID != "primary" {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "global", "notFound", "Not Found")
		return
	}

	q := r.URL.Query()
	var tmin, tmax time.Time
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"timeMin", &tmin}, {"timeMax", &tmax}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "global", "badRequest", "Bad Request")
				return
			}
			*p.t = t
		}
	}
	if !tmin.IsZero() && !tmax.IsZero() && !tmax.After(tmin) {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "calendar", "timeRangeEmpty", "The specified time range is empty.")
		return
	}
	single := q.Get("singleEvents") == "true"
	orderBy := q.Get("orderBy")
	switch {
	case orderBy != "" && orderBy != "startTime" && orderBy != "updated":
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "global", "invalid", "Invalid Value")
		return
	case orderBy == "startTime" && !single:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "global", "badRequest", "The requested ordering is not available for the particular query.")
		return
	}
	size := DefaultMaxResults
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "global", "invalid", fmt.Sprintf("Invalid value '%s'. Values must be within the range: [1, %d]", v, MaxMaxResults))
			return
		}
		size = min(n, MaxMaxResults)
	}
	showDeleted := q.Get("showDeleted") == "true"
	query := strings.Join([]string{q.Get("timeMin"), q.Get("timeMax"), orderBy, strconv.FormatBool(single), strconv.FormatBool(showDeleted)}, "|")

	offset := 0
	if pt := q.Get("pageToken"); pt != "" {
		s.mu.Lock()
		st, ok := s.pageTokens[pt]
		s.mu.Unlock()
		if !ok || st.grant != g || st.query != query {
			writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "global", "invalid", "Invalid Value")
			return
		}
		offset = st.offset
	}

	type timed struct {
		Event
		start, end time.Time
	}
	var matched []timed
	for _, e := range events {
		if e.Status == "cancelled" && !showDeleted {
			continue
		}
		start, okS := eventTime(e.Start)
		end, okE := eventTime(e.End)
		if (!tmin.IsZero() || !tmax.IsZero()) && (!okS || !okE) {
			continue
		}
		// timeMin bounds the end, timeMax the start, both exclusive.
		if !tmin.IsZero() && !end.After(tmin) || !tmax.IsZero() && !start.Before(tmax) {
			continue
		}
		matched = append(matched, timed{e, start, end})
	}
	switch orderBy {
	case "startTime":
		sort.SliceStable(matched, func(i, j int) bool {
			if !matched[i].start.Equal(matched[j].start) {
				return matched[i].start.Before(matched[j].start)
			}
			return matched[i].ID < matched[j].ID
		})
	case "updated":
		sort.SliceStable(matched, func(i, j int) bool { return matched[i].Updated < matched[j].Updated })
	}

	resp := eventsResponse{
		Kind: "calendar#events", Etag: etag(now.UnixNano()), Summary: "user@example.com",
		Updated: now.UTC().Format("2006-01-02T15:04:05.000Z"), TimeZone: "UTC", AccessRole: "owner",
		DefaultReminders: []any{}, Items: []wireEvent{},
	}
	if offset > len(matched) {
		offset = len(matched)
	}
	end := min(offset+size, len(matched))
	for _, e := range matched[offset:end] {
		resp.Items = append(resp.Items, render(e.Event))
	}
	if end < len(matched) {
		tok := randomToken(30)
		s.mu.Lock()
		if len(s.pageTokens) >= maxPageTokens {
			clear(s.pageTokens)
		}
		s.pageTokens[tok] = pageState{grant: g, query: query, offset: end}
		s.mu.Unlock()
		resp.NextPageToken = tok
	} else {
		resp.NextSyncToken = randomToken(20)
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.Header().Set("Vary", "Origin, X-Origin, Referer")
	_ = json.NewEncoder(w).Encode(resp)
}

// eventTime reads a start or end: dateTime as written, date as midnight UTC
// (the fake calendar's time zone).
func eventTime(d EventDateTime) (time.Time, bool) {
	if d.DateTime != "" {
		t, err := time.Parse(time.RFC3339Nano, d.DateTime)
		return t, err == nil
	}
	if d.Date != "" {
		t, err := time.Parse("2006-01-02", d.Date)
		return t, err == nil
	}
	return time.Time{}, false
}

type eventsResponse struct {
	Kind             string      `json:"kind"`
	Etag             string      `json:"etag"`
	Summary          string      `json:"summary"`
	Updated          string      `json:"updated"`
	TimeZone         string      `json:"timeZone"`
	AccessRole       string      `json:"accessRole"`
	DefaultReminders []any       `json:"defaultReminders"`
	NextPageToken    string      `json:"nextPageToken,omitempty"`
	NextSyncToken    string      `json:"nextSyncToken,omitempty"`
	Items            []wireEvent `json:"items"`
}

type wireEvent struct {
	Kind string `json:"kind"`
	Etag string `json:"etag"`
	Event
	EventType string `json:"eventType"`
}

func render(e Event) wireEvent {
	if e.Status == "" {
		e.Status = "confirmed"
	}
	if e.HTMLLink == "" {
		e.HTMLLink = "https://www.google.com/calendar/event?eid=" + base64.RawURLEncoding.EncodeToString([]byte(e.ID+" user@example.com"))
	}
	if e.ICalUID == "" {
		e.ICalUID = e.ID + "@google.com"
	}
	return wireEvent{Kind: "calendar#event", Etag: etag(int64(len(e.ID))), Event: e, EventType: "default"}
}

func etag(n int64) string {
	return `"` + strconv.FormatInt(3000000000000000+n%1000000000000000, 10) + `"`
}

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// token serves the refresh_token grant (r's form already parsed) of Google's OAuth 2.0 token endpoint
// (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "Method not allowed.")
		return
	}
	id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, secret = u, p
	}
	switch {
	case id == "":
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Could not determine client ID from request.")
		return
	case s.ClientID != "" && id != s.ClientID:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	case s.ClientID != "" && secret != s.ClientSecret:
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "Unauthorized")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "refresh_token" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+gt)
		return
	}
	rt := r.PostForm.Get("refresh_token")
	if rt == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: refresh_token")
		return
	}
	s.mu.Lock()
	g, ok := s.grants[rt]
	if !ok || g.revoked {
		s.mu.Unlock()
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
		return
	}
	at := "ya29.fakegoogle-" + randomToken(24)
	s.access[at] = &access{grant: g, expiry: fakeknobs.Now(s.Now).Add(AccessTokenLifetime)}
	s.mu.Unlock()
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"access_token": at,
		"expires_in":   int(AccessTokenLifetime / time.Second),
		"scope":        calendarScope + " openid",
		"token_type":   "Bearer",
	})
}

// writeError writes the Calendar API's error body.
func writeError(w http.ResponseWriter, code int, status, domain, reason, message string) {
	type item struct {
		Domain  string `json:"domain"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
	}
	body := struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []item `json:"errors"`
			Status  string `json:"status,omitempty"`
		} `json:"error"`
	}{}
	body.Error.Code, body.Error.Message, body.Error.Status = code, message, status
	body.Error.Errors = []item{{domain, reason, message}}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

// writeScopeError writes the 403 of a token without the calendar scope.
func writeScopeError(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprint(w, `{"error":{"code":403,"message":"Request had insufficient authentication scopes.",`+
		`"errors":[{"message":"Insufficient Permission","domain":"global","reason":"insufficientPermissions"}],`+
		`"status":"PERMISSION_DENIED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo",`+
		`"reason":"ACCESS_TOKEN_SCOPE_INSUFFICIENT","domain":"googleapis.com",`+
		`"metadata":{"service":"calendar-json.googleapis.com","method":"calendar.v3.Events.List"}}]}}`+"\n")
}

// writeStatus writes the error Google gives for a bare status.
func writeStatus(w http.ResponseWriter, code int) {
	switch code {
	case http.StatusBadRequest:
		writeError(w, code, "INVALID_ARGUMENT", "global", "badRequest", "Bad Request")
	case http.StatusUnauthorized:
		writeError(w, code, "UNAUTHENTICATED", "global", "authError", "Invalid Credentials")
	case http.StatusForbidden:
		writeError(w, code, "PERMISSION_DENIED", "global", "forbidden", "Forbidden")
	case http.StatusNotFound:
		writeError(w, code, "NOT_FOUND", "global", "notFound", "Not Found")
	case http.StatusGone:
		writeError(w, code, "", "global", "fullSyncRequired", "Sync token is no longer valid, a full sync is required.")
	case http.StatusTooManyRequests:
		writeError(w, code, "RESOURCE_EXHAUSTED", "usageLimits", "rateLimitExceeded", "Rate Limit Exceeded")
	case http.StatusServiceUnavailable:
		writeError(w, code, "UNAVAILABLE", "global", "backendError", "Backend Error")
	default:
		writeError(w, code, "INTERNAL", "global", "backendError", "Backend Error")
	}
}

// writeOAuthError writes the token endpoint's RFC 6749 error body.
func writeOAuthError(w http.ResponseWriter, code int, errCode, desc string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": errCode, "error_description": desc})
}

// notFound answers an unknown path as googleapis.com does: an HTML page.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNotFound)
	fmt.Fprint(w, "<!DOCTYPE html>\n<html lang=en><meta charset=utf-8><title>Error 404 (Not Found)!!1</title>"+
		"<p><b>404.</b> <ins>That’s an error.</ins><p>The requested URL was not found on this server. <ins>That’s all we know.</ins>\n")
}
