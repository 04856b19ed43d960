package fakegoogle

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	aliceAccess  = "ya29.FAKEGOOGLE_test_access"
	aliceRefresh = "1//FAKEGOOGLE_test_refresh"
)

func dt(s string) EventDateTime { return EventDateTime{DateTime: s} }

func events() []Event {
	return []Event{
		{ID: "c", Summary: "C", Start: dt("2025-01-03T10:00:00Z"), End: dt("2025-01-03T11:00:00Z")},
		{ID: "a", Summary: "A", Start: dt("2025-01-01T10:00:00+02:00"), End: dt("2025-01-01T11:00:00+02:00")},
		{ID: "allday", Start: EventDateTime{Date: "2025-01-02"}, End: EventDateTime{Date: "2025-01-03"}},
		{ID: "gone", Status: "cancelled", Start: dt("2025-01-02T12:00:00Z"), End: dt("2025-01-02T13:00:00Z")},
		{ID: "b", Summary: "B", Start: dt("2025-01-02T09:00:00Z"), End: dt("2025-01-02T09:30:00Z")},
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type fixture struct {
	f     *Server
	clk   *clock
	base  string
	calls func() int
}

func setup(t *testing.T) *fixture {
	t.Helper()
	clk := &clock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	f := &Server{ClientID: "cid", ClientSecret: "csecret", Now: clk.Now}
	f.AddUser(aliceAccess, aliceRefresh, events())
	mux := http.NewServeMux()
	mux.Handle("/google/", http.StripPrefix("/google", f))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(f.Close)
	return &fixture{f: f, clk: clk, base: srv.URL + "/google/"}
}

type listResult struct {
	status int
	header http.Header
	raw    string
	body   struct {
		Kind          string `json:"kind"`
		NextPageToken string `json:"nextPageToken"`
		NextSyncToken string `json:"nextSyncToken"`
		Items         []struct {
			Kind     string        `json:"kind"`
			ID       string        `json:"id"`
			Status   string        `json:"status"`
			Summary  *string       `json:"summary"`
			HTMLLink string        `json:"htmlLink"`
			Start    EventDateTime `json:"start"`
		} `json:"items"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
			Errors  []struct {
				Domain, Reason string
			} `json:"errors"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
}

func (fx *fixture) list(t *testing.T, token string, q url.Values) listResult {
	t.Helper()
	return fx.get(t, "calendar/v3/calendars/primary/events?"+q.Encode(), token)
}

func (fx *fixture) get(t *testing.T, path, token string) listResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fx.base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := listResult{status: resp.StatusCode, header: resp.Header, raw: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && json.Valid(b) {
		if err := json.Unmarshal(b, &res.body); err != nil {
			t.Fatalf("GET %s: body %q: %v", path, b, err)
		}
	}
	return res
}

func ids(r listResult) string {
	var s []string
	for _, it := range r.body.Items {
		s = append(s, it.ID)
	}
	return strings.Join(s, ",")
}

func vals(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

func TestListFilteringAndOrder(t *testing.T) {
	fx := setup(t)
	for _, tc := range []struct {
		name  string
		query url.Values
		want  string
	}{
		{"stored order without orderBy", vals(), "c,a,allday,b"},
		{"by start time", vals("singleEvents", "true", "orderBy", "startTime"), "a,allday,b,c"},
		{"show deleted", vals("singleEvents", "true", "orderBy", "startTime", "showDeleted", "true"), "a,allday,b,gone,c"},
		{"window overlaps", vals("singleEvents", "true", "orderBy", "startTime", "timeMin", "2025-01-02T09:15:00Z", "timeMax", "2025-01-03T10:00:00Z"), "allday,b"},
		{"timeMin excludes an event ending at it", vals("timeMin", "2025-01-01T09:00:00Z"), "c,allday,b"},
		{"offset bounds", vals("timeMin", "2025-01-01T10:30:00+02:00", "timeMax", "2025-01-01T10:45:00+02:00"), "a"},
		{"open start", vals("singleEvents", "true", "orderBy", "startTime", "timeMax", "2025-01-02T00:00:01Z"), "a,allday"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := fx.list(t, aliceAccess, tc.query)
			if res.status != 200 {
				t.Fatalf("status = %d; want 200 (%s)", res.status, res.raw)
			}
			if got := ids(res); got != tc.want {
				t.Errorf("events = [%s]; want [%s]", got, tc.want)
			}
		})
	}
}

func TestListRendering(t *testing.T) {
	fx := setup(t)
	res := fx.list(t, aliceAccess, vals("singleEvents", "true", "orderBy", "startTime"))
	if res.body.Kind != "calendar#events" || res.body.NextSyncToken == "" || res.body.NextPageToken != "" {
		t.Errorf("list = kind %q, sync %q, page %q; want calendar#events with a sync token only", res.body.Kind, res.body.NextSyncToken, res.body.NextPageToken)
	}
	byID := map[string]int{}
	for i, it := range res.body.Items {
		byID[it.ID] = i
	}
	allday := res.body.Items[byID["allday"]]
	if allday.Start.Date != "2025-01-02" || allday.Start.DateTime != "" || allday.Summary != nil {
		t.Errorf("all-day event = %+v; want start.date only and no summary", allday)
	}
	a := res.body.Items[byID["a"]]
	if a.Kind != "calendar#event" || a.Status != "confirmed" || a.Summary == nil || *a.Summary != "A" ||
		!strings.HasPrefix(a.HTMLLink, "https://www.google.com/calendar/event?eid=") {
		t.Errorf("event a = %+v; want a confirmed calendar#event with summary and htmlLink", a)
	}
}

func TestListPaging(t *testing.T) {
	fx := setup(t)
	q := vals("singleEvents", "true", "orderBy", "startTime", "maxResults", "3")
	p1 := fx.list(t, aliceAccess, q)
	if ids(p1) != "a,allday,b" || p1.body.NextPageToken == "" || p1.body.NextSyncToken != "" {
		t.Fatalf("page 1 = [%s], next %q; want [a,allday,b] and a page token", ids(p1), p1.body.NextPageToken)
	}
	q.Set("pageToken", p1.body.NextPageToken)
	p2 := fx.list(t, aliceAccess, q)
	if ids(p2) != "c" || p2.body.NextPageToken != "" {
		t.Errorf("page 2 = [%s], next %q; want [c] and no page token", ids(p2), p2.body.NextPageToken)
	}

	for _, tc := range []struct {
		name  string
		query url.Values
	}{
		{"unknown token", vals("singleEvents", "true", "orderBy", "startTime", "pageToken", "bm9wZQ")},
		{"token of another query", vals("singleEvents", "true", "orderBy", "startTime", "timeMin", "2025-01-01T00:00:00Z", "pageToken", p1.body.NextPageToken)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := fx.list(t, aliceAccess, tc.query); res.status != 400 || res.body.Error.Code != 400 {
				t.Errorf("status = %d, body %s; want 400 in Google's error shape", res.status, res.raw)
			}
		})
	}
	// Another user cannot use the token.
	fx.f.AddUser("ya29.other", "", events())
	if res := fx.list(t, "ya29.other", q); res.status != 400 {
		t.Errorf("other user's page token status = %d; want 400", res.status)
	}
}

func TestListMaxResults(t *testing.T) {
	fx := setup(t)
	many := make([]Event, 2600)
	for i := range many {
		many[i] = Event{ID: "e" + strings.Repeat("x", i%3), Start: dt("2025-01-01T00:00:00Z"), End: dt("2025-01-01T01:00:00Z")}
	}
	fx.f.AddUser("ya29.many", "", many)
	for _, tc := range []struct {
		max    string
		status int
		count  int
	}{
		{"", 200, 250}, {"1", 200, 1}, {"3000", 200, 2500}, {"0", 400, 0}, {"-1", 400, 0}, {"ten", 400, 0},
	} {
		t.Run(tc.max, func(t *testing.T) {
			q := vals()
			if tc.max != "" {
				q.Set("maxResults", tc.max)
			}
			res := fx.list(t, "ya29.many", q)
			if res.status != tc.status || len(res.body.Items) != tc.count {
				t.Errorf("maxResults=%q = status %d, %d items; want %d, %d", tc.max, res.status, len(res.body.Items), tc.status, tc.count)
			}
		})
	}
}

func TestListBadRequests(t *testing.T) {
	fx := setup(t)
	for _, tc := range []struct {
		name   string
		query  url.Values
		reason string
	}{
		{"orderBy startTime needs singleEvents", vals("orderBy", "startTime"), "badRequest"},
		{"unknown orderBy", vals("orderBy", "title"), "invalid"},
		{"timeMin without offset", vals("timeMin", "2025-01-01T00:00:00"), "badRequest"},
		{"timeMin a date", vals("timeMin", "2025-01-01"), "badRequest"},
		{"empty range", vals("timeMin", "2025-01-02T00:00:00Z", "timeMax", "2025-01-02T00:00:00Z"), "timeRangeEmpty"},
		{"reversed range", vals("timeMin", "2025-01-03T00:00:00Z", "timeMax", "2025-01-02T00:00:00Z"), "timeRangeEmpty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := fx.list(t, aliceAccess, tc.query)
			if res.status != 400 || len(res.body.Error.Errors) != 1 || res.body.Error.Errors[0].Reason != tc.reason {
				t.Errorf("status = %d, body %s; want 400 with reason %q", res.status, res.raw, tc.reason)
			}
		})
	}
}

func TestListAuth(t *testing.T) {
	fx := setup(t)
	fx.f.AddUser("ya29.expired", "1//r2", nil)
	fx.f.ExpireAccessToken("ya29.expired")
	fx.f.AddUser("ya29.revoked", "1//r3", nil)
	fx.f.Revoke("1//r3")
	fx.f.AddUser("ya29.noscope", "", nil)
	fx.f.RemoveCalendarScope("ya29.noscope")
	for _, tc := range []struct {
		token  string
		status int
		reason string
		www    string
	}{
		{"", 401, "authError", `error="invalid_token"`},
		{"ya29.unknown", 401, "authError", `error="invalid_token"`},
		{"ya29.expired", 401, "authError", `error="invalid_token"`},
		{"ya29.revoked", 401, "authError", `error="invalid_token"`},
		{"ya29.noscope", 403, "insufficientPermissions", `error="insufficient_scope"`},
	} {
		t.Run(tc.token, func(t *testing.T) {
			res := fx.list(t, tc.token, vals())
			if res.status != tc.status || res.body.Error.Code != tc.status || len(res.body.Error.Errors) == 0 || res.body.Error.Errors[0].Reason != tc.reason {
				t.Errorf("status = %d, body %s; want %d with reason %q", res.status, res.raw, tc.status, tc.reason)
			}
			if got := res.header.Get("WWW-Authenticate"); !strings.Contains(got, tc.www) {
				t.Errorf("WWW-Authenticate = %q; want it to contain %q", got, tc.www)
			}
		})
	}
	res := fx.list(t, "ya29.noscope", vals())
	if res.body.Error.Status != "PERMISSION_DENIED" || len(res.body.Error.Details) != 1 || res.body.Error.Details[0].Reason != "ACCESS_TOKEN_SCOPE_INSUFFICIENT" {
		t.Errorf("scope error = %s; want PERMISSION_DENIED with ACCESS_TOKEN_SCOPE_INSUFFICIENT", res.raw)
	}
}

func TestUnknownPaths(t *testing.T) {
	fx := setup(t)
	for _, p := range []string{"calendar/v3/users/me/calendarList", "calendar/v3/calendars/primary/events/x", "nope"} {
		if res := fx.get(t, p, aliceAccess); res.status != 404 || !strings.Contains(res.raw, "404") {
			t.Errorf("GET %s = %d %q; want Google's 404 page", p, res.status, res.raw)
		}
	}
	if res := fx.get(t, "calendar/v3/calendars/someone@example.com/events", aliceAccess); res.status != 404 || res.body.Error.Code != 404 {
		t.Errorf("other calendar = %d %s; want a 404 JSON error", res.status, res.raw)
	}
	if got := fx.f.Calls(); got != 1 {
		t.Errorf("Calls() = %d; want 1 (unknown paths are not API calls)", got)
	}
}

type tokenResult struct {
	status int
	body   map[string]any
}

func (fx *fixture) token(t *testing.T, form url.Values, basic ...string) tokenResult {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fx.base+"token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if len(basic) == 2 {
		req.SetBasicAuth(basic[0], basic[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	res := tokenResult{status: resp.StatusCode}
	if err := json.NewDecoder(resp.Body).Decode(&res.body); err != nil {
		t.Fatalf("token body: %v", err)
	}
	return res
}

func grantForm(rt string) url.Values {
	return vals("grant_type", "refresh_token", "refresh_token", rt, "client_id", "cid", "client_secret", "csecret")
}

func TestTokenEndpoint(t *testing.T) {
	fx := setup(t)
	fx.f.ExpireAccessToken(aliceAccess)

	res := fx.token(t, grantForm(aliceRefresh))
	at, _ := res.body["access_token"].(string)
	if res.status != 200 || !strings.HasPrefix(at, "ya29.fakegoogle-") || res.body["expires_in"] != float64(3599) || res.body["token_type"] != "Bearer" {
		t.Fatalf("refresh = %d %v; want 200 with a new Bearer token for 3599 s", res.status, res.body)
	}
	if _, ok := res.body["refresh_token"]; ok {
		t.Errorf("aliceRefresh response carries a refresh_token; Google does not rotate")
	}
	if r := fx.list(t, at, vals()); r.status != 200 || ids(r) != "c,a,allday,b" {
		t.Errorf("list with the new token = %d [%s]; want 200 with the user's events", r.status, ids(r))
	}
	if r := fx.list(t, aliceAccess, vals()); r.status != 401 {
		t.Errorf("list with the expired token = %d; want 401", r.status)
	}
	// Issued tokens expire after 3599 s on the fake's clock.
	fx.clk.Add(3599 * time.Second)
	if r := fx.list(t, at, vals()); r.status != 401 {
		t.Errorf("list with a token past its expiry = %d; want 401", r.status)
	}
	// Client credentials in a Basic header work too.
	if r := fx.token(t, vals("grant_type", "refresh_token", "refresh_token", aliceRefresh), "cid", "csecret"); r.status != 200 {
		t.Errorf("aliceRefresh with Basic client auth = %d %v; want 200", r.status, r.body)
	}

	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"unknown aliceRefresh token", grantForm("1//nope"), 400, "invalid_grant"},
		{"unknown client", vals("grant_type", "refresh_token", "refresh_token", aliceRefresh, "client_id", "other", "client_secret", "csecret"), 401, "invalid_client"},
		{"wrong secret", vals("grant_type", "refresh_token", "refresh_token", aliceRefresh, "client_id", "cid", "client_secret", "x"), 401, "invalid_client"},
		{"no client", vals("grant_type", "refresh_token", "refresh_token", aliceRefresh), 400, "invalid_request"},
		{"other grant", vals("grant_type", "authorization_code", "code", "x", "client_id", "cid", "client_secret", "csecret"), 400, "unsupported_grant_type"},
		{"no aliceRefresh token", vals("grant_type", "refresh_token", "client_id", "cid", "client_secret", "csecret"), 400, "invalid_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fx.token(t, tc.form)
			if r.status != tc.status || r.body["error"] != tc.code || r.body["error_description"] == "" {
				t.Errorf("token = %d %v; want %d with error %q and a description", r.status, r.body, tc.status, tc.code)
			}
		})
	}

	fx.f.Revoke(aliceRefresh)
	if r := fx.token(t, grantForm(aliceRefresh)); r.status != 400 || r.body["error"] != "invalid_grant" || r.body["error_description"] != "Token has been expired or revoked." {
		t.Errorf("revoked refresh = %d %v; want 400 invalid_grant", r.status, r.body)
	}
	fx.f.FailNextRefresh(1, 503)
	if r := fx.token(t, grantForm(aliceRefresh)); r.status != 503 {
		t.Errorf("FailNextRefresh = %d; want 503", r.status)
	}
	if got := fx.f.Refreshes(); got != 10 {
		t.Errorf("Refreshes() = %d; want 10", got)
	}
}

func TestZeroValueAcceptsAnyClient(t *testing.T) {
	var f Server
	f.AddUser("", "1//z", nil)
	srv := httptest.NewServer(&f)
	defer srv.Close()
	resp, err := http.PostForm(srv.URL+"/token", vals("grant_type", "refresh_token", "refresh_token", "1//z", "client_id", "anything"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("zero-value refresh = %d; want 200", resp.StatusCode)
	}
}

func TestFaultKnobs(t *testing.T) {
	fx := setup(t)
	fx.f.RateLimitNext(1, 9*time.Second)
	if r := fx.list(t, aliceAccess, vals()); r.status != 429 || r.header.Get("Retry-After") != "9" || r.body.Error.Errors[0].Reason != "rateLimitExceeded" {
		t.Errorf("RateLimitNext = %d, Retry-After %q, %s; want 429, 9, rateLimitExceeded", r.status, r.header.Get("Retry-After"), r.raw)
	}
	fx.f.UserRateLimitNext(1)
	if r := fx.list(t, aliceAccess, vals()); r.status != 403 || r.body.Error.Errors[0].Reason != "userRateLimitExceeded" {
		t.Errorf("UserRateLimitNext = %d %s; want 403 userRateLimitExceeded", r.status, r.raw)
	}
	fx.f.FailNext(2, 500)
	for range 2 {
		if r := fx.list(t, aliceAccess, vals()); r.status != 500 || r.body.Error.Code != 500 {
			t.Errorf("FailNext = %d %s; want 500 in Google's error shape", r.status, r.raw)
		}
	}
	fx.f.MalformedNext(1)
	if r := fx.get(t, "calendar/v3/calendars/primary/events", aliceAccess); json.Valid([]byte(r.raw)) {
		t.Errorf("MalformedNext body %q is valid JSON", r.raw)
	}
	if r := fx.list(t, aliceAccess, vals()); r.status != 200 {
		t.Errorf("after the faults status = %d; want 200", r.status)
	}
	if got := fx.f.Calls(); got != 6 {
		t.Errorf("Calls() = %d; want 6", got)
	}
}

func TestHangInFlightAndClose(t *testing.T) {
	fx := setup(t)
	fx.f.Hang(2)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fx.base+"calendar/v3/calendars/primary/events", nil)
			req.Header.Set("Authorization", "Bearer "+aliceAccess)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
				t.Errorf("hung request answered %d; want it cancelled", resp.StatusCode)
			}
		})
	}
	for fx.f.InFlight() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	for fx.f.InFlight() != 0 {
		time.Sleep(time.Millisecond)
	}
	if got := fx.f.MaxInFlight(); got != 2 {
		t.Errorf("MaxInFlight() = %d; want 2", got)
	}

	// Close releases a slow token request too.
	fx.f.Latency = time.Hour
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, fx.base+"token", strings.NewReader(grantForm(aliceRefresh).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	for fx.f.InFlight() < 1 {
		time.Sleep(time.Millisecond)
	}
	fx.f.Close()
	if got := <-done; got != 200 {
		t.Errorf("released token request = %d; want 200", got)
	}
}
