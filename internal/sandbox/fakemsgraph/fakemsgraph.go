package fakemsgraph

import (
	"crypto/rand"
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
	_ "time/tzdata" // zones render the same on machines without a zoneinfo database

	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
)

// Event is one seeded event of the user's default calendar.
//
// For a timed event Start and End are instants. For an all-day event only
// their dates count: the event runs from midnight of Start's date to
// midnight of End's date (exclusive) in TimeZone.
type Event struct {
	ID          string
	Subject     string
	Start, End  time.Time
	AllDay      bool
	TimeZone    string // the event's own zone, IANA or a supported Windows name; "" is UTC
	ShowAs      string // free, tentative, busy, oof, workingElsewhere, unknown; "" is busy
	IsCancelled bool
	WebLink     string
	Response    string // responseStatus.response; "" is organizer
}

// Server emulates Microsoft Graph and the identity platform. Its zero value
// is ready to serve: no users, any client accepted at the token endpoint,
// next links built from each request's host and mount prefix. Set the
// exported fields before the first request; the methods are safe for
// concurrent use.
type Server struct {
	// BaseURL, when set, is the public URL the Server is mounted at;
	// @odata.nextLink starts with it. When empty it is derived from each
	// request (see fakeknobs.BaseURL).
	BaseURL string
	// ClientID and ClientSecret, when set, are an application registered
	// for every authority (signInAudience AudienceAny); RegisterApp adds
	// others. With neither, any client with a secret is accepted.
	ClientID, ClientSecret string
	// UseSkip makes next links page with $skip=N instead of $skiptoken, as
	// some Outlook collections do. Both are accepted either way.
	UseSkip bool
	// ForceTimeZone, when set, renders every timed event in this zone
	// whatever the Prefer header says (a client must read timeZone).
	ForceTimeZone string
	// Latency delays every answer (cut short when the client gives up).
	Latency time.Duration
	// Now is the clock for innerError dates; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	access    map[string]*user
	refresh   map[string]*refreshGrant
	apps      map[string]App
	spentUses int
	// skipTokens maps the opaque $skiptoken values issued to offsets;
	// skipTokenOrder is their issue order, to forget the oldest.
	skipTokens     map[string]int
	skipTokenOrder []string
	states         fakeknobs.TokenStates // Revoke, ExpireAccessToken, DenyScope
	knobs          fakeknobs.Knobs       // faults, counters, in flight, Close
}

// Names of the endpoints in the knobs' call counters.
const (
	callCalendarView = "calendarView"
	callToken        = "token"
)

type user struct {
	events []Event
}

// refreshGrant is a refresh token: whose it is, and the application and
// authority that got it ("" for a seeded token not bound to either).
type refreshGrant struct {
	user      *user
	clientID  string
	authority string
	replaced  bool // a refresh with it returned a newer refresh token
}

// The signInAudience values of a Microsoft Entra app registration
// (https://learn.microsoft.com/entra/identity-platform/supported-accounts-validation):
// which authorities (/common, /organizations, /consumers, /{tenant}) serve
// the application.
const (
	AudienceAny      = "AzureADandPersonalMicrosoftAccount" // every authority
	AudiencePersonal = "PersonalMicrosoftAccount"           // /consumers only
	AudienceOrgs     = "AzureADMultipleOrgs"                // /organizations and any /{tenant}
	AudienceMyOrg    = "AzureADMyOrg"                       // its own /{tenant} only
)

// App is an application registration the token endpoint knows.
type App struct {
	ClientID, ClientSecret string
	// Audience is the registration's signInAudience; "" means AudienceAny.
	Audience string
	// Tenant is the home tenant (the /{tenant} path segment) of an
	// AudienceMyOrg application.
	Tenant string
}

// RegisterApp makes the token endpoint accept a; its refresh tokens work
// only for a and at the authority that issued them.
func (s *Server) RegisterApp(a App) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	if a.Audience == "" {
		a.Audience = AudienceAny
	}
	s.apps[a.ClientID] = a
}

// BindRefreshToken binds a seeded refresh token to the application and
// the authority (tenant path segment: common, consumers, organizations or
// a tenant id) that would have got it at sign-in.
func (s *Server) BindRefreshToken(refreshToken, clientID, authority string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	g := s.refresh[refreshToken]
	if g == nil {
		panic("fakemsgraph: BindRefreshToken for an unknown refresh token")
	}
	g.clientID, g.authority = clientID, authority
}

func (s *Server) initLocked() {
	if s.access == nil {
		s.access = map[string]*user{}
		s.refresh = map[string]*refreshGrant{}
		s.apps = map[string]App{}
	}
}

// AddUser seeds a user holding accessToken and refreshToken (either may be
// empty) whose default calendar holds events. Events without an ID get one.
func (s *Server) AddUser(accessToken, refreshToken string, events []Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	u := &user{}
	for _, e := range events {
		if e.ID == "" {
			e.ID = "AAMkAG" + randomHex(16) + "="
		}
		u.events = append(u.events, e)
	}
	if accessToken != "" {
		s.access[accessToken] = u
	}
	if refreshToken != "" {
		s.refresh[refreshToken] = &refreshGrant{user: u}
	}
}

// FailNext makes the next n calendar requests answer status with Graph's
// error body for it (a 503 carries Retry-After: 5).
func (s *Server) FailNext(n, status int) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Fail, Status: status})
}

// RateLimitNext makes the next n calendar requests answer 429
// ApplicationThrottled, with Retry-After when retryAfter is positive.
func (s *Server) RateLimitNext(n int, retryAfter time.Duration) {
	s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.RateLimit, RetryAfter: retryAfter})
}

// Hang makes the next n calendar requests wait until the client gives up or Close is
// called.
func (s *Server) Hang(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Hang}) }

// MalformedNext makes the next n calendar requests answer 200 with a truncated JSON
// body.
func (s *Server) MalformedNext(n int) { s.knobs.Push(n, fakeknobs.Fault{Kind: fakeknobs.Malformed}) }

// Close releases hung and delayed requests. The Server keeps answering
// afterwards, but requests told to hang return at once.
func (s *Server) Close() { s.knobs.Close() }

// Revoke invalidates an access or refresh token.
func (s *Server) Revoke(token string) {
	s.states.Revoke(token)
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.access, token)
	delete(s.refresh, token)
}

// ExpireAccessToken makes an access token answer 401 "Lifetime validation
// failed, the token is expired.".
func (s *Server) ExpireAccessToken(token string) { s.states.Expire(token) }

// DenyScope makes an access token lack Calendars.Read (403
// ErrorAccessDenied).
func (s *Server) DenyScope(token string) { s.states.DenyScope(token) }

// Calls returns how many calendarView requests were received.
func (s *Server) Calls() int { return s.knobs.Calls(callCalendarView) }

// Refreshes returns how many token endpoint requests were received.
func (s *Server) Refreshes() int { return s.knobs.Calls(callToken) }

// SpentRefreshTokenUses returns how many refresh requests presented a
// refresh token that an earlier refresh had already replaced. Microsoft
// accepts them (it does not revoke the old refresh token), but a client
// that keeps the newest one never sends them.
func (s *Server) SpentRefreshTokenUses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spentUses
}

// InFlight returns how many requests are being served now.
func (s *Server) InFlight() int { return s.knobs.InFlight() }

// MaxInFlight returns the most requests ever served at once.
func (s *Server) MaxInFlight() int { return s.knobs.MaxInFlight() }

var tokenPath = regexp.MustCompile(`^/[A-Za-z0-9.-]+/oauth2/v2\.0/token$`)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.knobs.Enter()
	defer s.knobs.Leave()
	if !s.knobs.Delay(r.Context(), s.Latency) {
		return
	}
	switch {
	case strings.EqualFold(r.URL.Path, "/v1.0/me/calendarView"):
		if r.Method != http.MethodGet {
			s.graphError(w, http.StatusMethodNotAllowed, "Request_BadRequest", "The OData request is not supported.")
			return
		}
		s.serveCalendarView(w, r)
	case tokenPath.MatchString(r.URL.Path):
		if r.Method != http.MethodPost {
			s.tokenError(w, http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests.")
			return
		}
		s.serveToken(w, r)
	default:
		segment := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		s.graphError(w, http.StatusNotFound, "ResourceNotFound", fmt.Sprintf("Resource not found for the segment '%s'.", segment))
	}
}

// selectable reports whether $select may name an event property.
func selectable(f string) bool {
	switch f {
	case "id", "subject", "start", "end", "isAllDay", "webLink", "showAs", "isCancelled",
		"responseStatus", "bodyPreview", "type":
		return true
	}
	return false
}

func (s *Server) serveCalendarView(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callCalendarView)
	switch f := s.knobs.Next(); f.Kind {
	case fakeknobs.Hang:
		s.knobs.Hold(r.Context())
		return
	case fakeknobs.Malformed:
		fakeknobs.WriteMalformed(w, "application/json", `{"value": [{"id": "trunc`)
		return
	case fakeknobs.Fail:
		s.statusError(w, f.Status)
		return
	case fakeknobs.RateLimit:
		fakeknobs.SetRetryAfter(w.Header(), f.RetryAfter)
		s.statusError(w, http.StatusTooManyRequests)
		return
	}

	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		s.unauthorized(w, "Access token is empty.")
		return
	}
	st := s.states.State(token)
	s.mu.Lock()
	u := s.access[token]
	var events []Event
	if u != nil {
		events = append(events, u.events...)
	}
	s.mu.Unlock()
	switch {
	case st.Revoked:
		s.unauthorized(w, "Continuous access evaluation resulted in challenge with result: InteractionRequired and code: TokenIssuedBeforeRevocationTimestamp")
		return
	case st.Expired:
		s.unauthorized(w, "Lifetime validation failed, the token is expired.")
		return
	case u == nil:
		s.unauthorized(w, "IDX14100: JWT is not well formed, there are no dots (.).")
		return
	case st.ScopeDenied:
		s.statusError(w, http.StatusForbidden)
		return
	}

	q := r.URL.Query()
	rawStart, rawEnd := q.Get("startDateTime"), q.Get("endDateTime")
	if rawStart == "" || rawEnd == "" {
		s.graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
		return
	}
	from, err1 := parseWindow(rawStart)
	to, err2 := parseWindow(rawEnd)
	if err1 != nil || err2 != nil {
		s.graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "The parameter 'StartDateTime' or 'EndDateTime' is not a valid ISO 8601 date-time.")
		return
	}
	top := 10
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "The value of '$top' is invalid.")
			return
		}
		top = min(n, 1000)
	}
	offset := 0
	if v := q.Get("$skiptoken"); v != "" {
		n, ok := s.skipOffset(v)
		if !ok {
			s.graphError(w, http.StatusBadRequest, "ErrorInvalidUrlQuery", "The skip token is invalid.")
			return
		}
		offset = n
	} else if v := q.Get("$skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			s.graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "The value of '$skip' is invalid.")
			return
		}
		offset = n
	}
	desc := false
	switch strings.TrimSpace(q.Get("$orderby")) {
	case "", "start/dateTime", "start/dateTime asc":
	case "start/dateTime desc":
		desc = true
	default:
		s.graphError(w, http.StatusBadRequest, "ErrorInvalidProperty", "The property used in $orderby is not supported.")
		return
	}
	var fields map[string]bool
	if v := q.Get("$select"); v != "" {
		fields = map[string]bool{"id": true}
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if !selectable(f) {
				s.graphError(w, http.StatusBadRequest, "RequestBroker--ParseUri", fmt.Sprintf("Could not find a property named '%s' on type 'Microsoft.OutlookServices.Event'.", f))
				return
			}
			fields[f] = true
		}
	}

	zoneName, loc := "UTC", time.UTC
	if name, ok := preferredZone(r.Header); ok {
		if l, ok := location(name); ok {
			zoneName, loc = name, l
			w.Header().Set("Preference-Applied", `outlook.timezone="`+name+`"`)
		}
	}
	if s.ForceTimeZone != "" {
		if l, ok := location(s.ForceTimeZone); ok {
			zoneName, loc = s.ForceTimeZone, l
		}
	}

	var hits []Event
	for _, e := range events {
		start, end := bounds(e)
		if start.Before(to) && end.After(from) {
			hits = append(hits, e)
		}
	}
	sort.SliceStable(hits, func(i, j int) bool {
		a, _ := bounds(hits[i])
		b, _ := bounds(hits[j])
		if desc {
			return a.After(b)
		}
		return a.Before(b)
	})
	offset = min(offset, len(hits))
	end := min(offset+top, len(hits))
	values := make([]map[string]any, 0, end-offset)
	for _, e := range hits[offset:end] {
		values = append(values, render(e, zoneName, loc, fields))
	}
	base := fakeknobs.BaseURL(r, s.BaseURL)
	body := map[string]any{
		"@odata.context": base + "v1.0/$metadata#users('fake')/calendarView",
		"value":          values,
	}
	if end < len(hits) {
		nq := url.Values{}
		for k, v := range q {
			nq[k] = v
		}
		nq.Del("$skip")
		nq.Del("$skiptoken")
		if s.UseSkip {
			nq.Set("$skip", strconv.Itoa(end))
		} else {
			nq.Set("$skiptoken", s.newSkipToken(end))
		}
		body["@odata.nextLink"] = base + "v1.0/me/calendarView?" + nq.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}

// parseWindow reads startDateTime/endDateTime: ISO 8601 with an offset, or
// without one (then UTC, whatever the Prefer header says, as documented).
func parseWindow(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	return time.ParseInLocation("2006-01-02T15:04:05", v, time.UTC)
}

// bounds returns an event's instants; all-day events span whole days in
// their own zone.
func bounds(e Event) (time.Time, time.Time) {
	if !e.AllDay {
		return e.Start, e.End
	}
	loc, ok := location(e.TimeZone)
	if !ok {
		loc = time.UTC
	}
	day := func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc) }
	return day(e.Start), day(e.End)
}

func render(e Event, zoneName string, loc *time.Location, fields map[string]bool) map[string]any {
	const layout = "2006-01-02T15:04:05.0000000"
	var start, end map[string]string
	if e.AllDay {
		// Outlook reports all-day events at midnight of their own zone,
		// not converted to the preferred one.
		tz := e.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		start = map[string]string{"dateTime": e.Start.Format("2006-01-02") + "T00:00:00.0000000", "timeZone": tz}
		end = map[string]string{"dateTime": e.End.Format("2006-01-02") + "T00:00:00.0000000", "timeZone": tz}
	} else {
		start = map[string]string{"dateTime": e.Start.In(loc).Format(layout), "timeZone": zoneName}
		end = map[string]string{"dateTime": e.End.In(loc).Format(layout), "timeZone": zoneName}
	}
	showAs := e.ShowAs
	if showAs == "" {
		showAs = "busy"
	}
	resp := e.Response
	if resp == "" {
		resp = "organizer"
	}
	all := map[string]any{
		"@odata.etag":    `W/"` + e.ID[:min(8, len(e.ID))] + `"`,
		"id":             e.ID,
		"subject":        e.Subject,
		"bodyPreview":    "",
		"type":           "singleInstance",
		"start":          start,
		"end":            end,
		"isAllDay":       e.AllDay,
		"webLink":        e.WebLink,
		"showAs":         showAs,
		"isCancelled":    e.IsCancelled,
		"responseStatus": map[string]string{"response": resp, "time": "0001-01-01T00:00:00Z"},
	}
	if fields == nil {
		return all
	}
	out := map[string]any{"@odata.etag": all["@odata.etag"]}
	for f := range fields {
		out[f] = all[f]
	}
	return out
}

// preferredZone reads outlook.timezone from Prefer headers.
func preferredZone(h http.Header) (string, bool) {
	for _, v := range h.Values("Prefer") {
		for _, pref := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if ok && strings.EqualFold(strings.TrimSpace(name), "outlook.timezone") {
				return strings.Trim(strings.TrimSpace(val), `"`), true
			}
		}
	}
	return "", false
}

// location resolves the zone names the fake supports: UTC, a few Windows
// names and any IANA name. An unknown name is ignored, as Outlook does.
func location(name string) (*time.Location, bool) {
	windows := map[string]string{
		"UTC":                     "UTC",
		"Pacific Standard Time":   "America/Los_Angeles",
		"Eastern Standard Time":   "America/New_York",
		"W. Europe Standard Time": "Europe/Berlin",
		"GMT Standard Time":       "Europe/London",
		"India Standard Time":     "Asia/Kolkata",
		"Tokyo Standard Time":     "Asia/Tokyo",
	}
	if name == "" {
		return time.UTC, true
	}
	if iana, ok := windows[name]; ok {
		name = iana
	}
	loc, err := time.LoadLocation(name)
	return loc, err == nil
}

// maxSkipTokens bounds the $skiptoken values the emulator remembers; past
// it the oldest are forgotten (and answer 400, as an expired skip token
// does at Graph).
const maxSkipTokens = 10000

// newSkipToken returns an opaque $skiptoken for offset. Graph's paging
// guide (https://learn.microsoft.com/graph/paging) says a client must take
// @odata.nextLink whole and never read or build $skiptoken; the emulator
// makes that a requirement: its tokens are random, and only it knows the
// offset behind one.
func (s *Server) newSkipToken(offset int) string {
	tok := "X'" + randomHex(24) + "'"
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.skipTokens == nil {
		s.skipTokens = map[string]int{}
	}
	if len(s.skipTokenOrder) >= maxSkipTokens {
		delete(s.skipTokens, s.skipTokenOrder[0])
		s.skipTokenOrder = s.skipTokenOrder[1:]
	}
	s.skipTokens[tok] = offset
	s.skipTokenOrder = append(s.skipTokenOrder, tok)
	return tok
}

// skipOffset returns the offset behind a $skiptoken this Server issued.
func (s *Server) skipOffset(tok string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.skipTokens[tok]
	return n, ok
}

// serveToken is POST /{tenant}/oauth2/v2.0/token with the refresh_token
// grant, as the identity platform documents it
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token):
// client_id, client_secret (or HTTP Basic), grant_type, refresh_token and
// scope. Each answer carries a new refresh token, and the old one stays
// valid (Microsoft does not revoke it on use). A refresh token works only
// for the application and the authority that got it. Errors carry the
// AADSTS codes of Microsoft's reference
// (https://learn.microsoft.com/entra/identity-platform/reference-error-codes):
// 700016 (application not found in the directory), 50194 (single-tenant
// application at /common or /organizations), 9002331 (personal-account
// application outside /consumers), 7000215 (invalid secret), 70000
// (invalid grant: unknown, or issued to another application or authority),
// 50173 (revoked grant).
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callToken)
	authority := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")[0]

	if err := r.ParseForm(); err != nil {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	id, sec := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, sec = u, p
	}
	if id == "" {
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
		return
	}
	s.mu.Lock()
	s.initLocked()
	app, known := s.apps[id]
	anyClient := len(s.apps) == 0 && s.ClientID == ""
	if !known && s.ClientID != "" && id == s.ClientID {
		app, known = App{ClientID: s.ClientID, ClientSecret: s.ClientSecret, Audience: AudienceAny}, true
	}
	s.mu.Unlock()
	if anyClient {
		app, known = App{ClientID: id, ClientSecret: sec, Audience: AudienceAny}, true
	}
	if !known {
		s.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+id+"' was not found in the directory '"+authority+"'.")
		return
	}
	switch app.Audience {
	case AudiencePersonal:
		if authority != "consumers" {
			s.tokenError(w, http.StatusBadRequest, "invalid_request", 9002331, "Application '"+id+"' is configured for use by Microsoft Account users only. Please use the /consumers endpoint to serve this request.")
			return
		}
	case AudienceMyOrg:
		switch authority {
		case app.Tenant:
		case "common", "organizations", "consumers":
			s.tokenError(w, http.StatusBadRequest, "invalid_request", 50194, "Application '"+id+"' is not configured as a multi-tenant application. Usage of the /"+authority+" endpoint is not supported for such applications. Use a tenant-specific endpoint or configure the application to be multi-tenant.")
			return
		default:
			s.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+id+"' was not found in the directory '"+authority+"'.")
			return
		}
	case AudienceOrgs:
		if authority == "consumers" {
			s.tokenError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application with identifier '"+id+"' was not found in the directory 'consumers'.")
			return
		}
	}
	switch {
	case sec == "" || sec != app.ClientSecret:
		s.tokenError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.")
		return
	case f.Get("grant_type") != "refresh_token":
		s.tokenError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "fakemsgraph: only the refresh_token grant is emulated.")
		return
	case f.Get("scope") == "":
		s.tokenError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		return
	}
	rt := f.Get("refresh_token")

	s.mu.Lock()
	g := s.refresh[rt]
	switch {
	case g == nil:
		revoked := s.states.State(rt).Revoked
		s.mu.Unlock()
		if revoked {
			s.tokenError(w, http.StatusBadRequest, "invalid_grant", 50173, "The provided grant has expired due to it being revoked, a fresh auth token is needed.")
		} else {
			s.tokenError(w, http.StatusBadRequest, "invalid_grant", 70000, "The provided value for the 'refresh_token' is not valid.")
		}
		return
	case g.clientID != "" && g.clientID != id:
		s.mu.Unlock()
		s.tokenError(w, http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued to another application.")
		return
	case g.authority != "" && g.authority != authority:
		s.mu.Unlock()
		s.tokenError(w, http.StatusBadRequest, "invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued by another authority.")
		return
	}
	if g.replaced {
		s.spentUses++
	}
	g.replaced = true // Microsoft keeps it valid: no delete.
	at, nrt := "fakemsgraph-access-"+randomHex(12), "fakemsgraph-refresh-"+randomHex(12)
	s.access[at] = g.user
	s.refresh[nrt] = &refreshGrant{user: g.user, clientID: id, authority: authority}
	s.mu.Unlock()

	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"scope":          "https://graph.microsoft.com/Calendars.Read",
		"expires_in":     3599,
		"ext_expires_in": 3599,
		"access_token":   at,
		"refresh_token":  nrt,
	})
}

func (s *Server) tokenError(w http.ResponseWriter, status int, code string, aadsts int, msg string) {
	trace, corr := randomUUID(), randomUUID()
	ts := fakeknobs.Now(s.Now).UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, msg, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", aadsts),
	})
}

func (s *Server) unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	s.graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", msg)
}

func (s *Server) statusError(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusUnauthorized:
		s.unauthorized(w, "Access token has expired or is not yet valid.")
	case http.StatusForbidden:
		s.graphError(w, status, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
	case http.StatusNotFound:
		s.graphError(w, status, "MailboxNotEnabledForRESTAPI", "The mailbox is either inactive, soft-deleted, or is hosted on-premise.")
	case http.StatusBadRequest:
		s.graphError(w, status, "ErrorInvalidParameter", "The value of the parameter is invalid.")
	case http.StatusTooManyRequests:
		s.graphError(w, status, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")
	case http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
		s.graphError(w, status, "ServiceNotAvailable", "The service is temporarily unavailable.")
	case http.StatusInternalServerError:
		s.graphError(w, status, "generalException", "General exception while processing.")
	default:
		s.graphError(w, status, "UnknownError", http.StatusText(status))
	}
}

func (s *Server) graphError(w http.ResponseWriter, status int, code, msg string) {
	id := randomUUID()
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": msg,
		"innerError": map[string]string{
			"date":              fakeknobs.Now(s.Now).UTC().Format("2006-01-02T15:04:05"),
			"request-id":        id,
			"client-request-id": id,
		},
	}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
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
