package google

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakegoogle"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Distinctive credentials: no error string may contain them.
const (
	aliceAccess  = "ya29.FAKEGOOGLE_alice_access_Zk3q"
	aliceRefresh = "1//FAKEGOOGLE_alice_refresh_Pp7w"
	clientID     = "idpgate-test.apps.googleusercontent.com"
	clientSecret = "GOCSPX-FAKEGOOGLE_client_secret_Qm2"
)

var clock = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func fixedNow() time.Time { return clock }

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// aliceEvents are stored out of order; by start time they are spanning,
// standup, offsite (all day), untitled, late. "dropped" is cancelled.
func aliceEvents() []fakegoogle.Event {
	return []fakegoogle.Event{
		{ID: "late", Summary: "Late", Start: fakegoogle.EventDateTime{DateTime: "2025-03-20T10:00:00Z"}, End: fakegoogle.EventDateTime{DateTime: "2025-03-20T11:00:00Z"}},
		{ID: "offsite", Summary: "Offsite", Start: fakegoogle.EventDateTime{Date: "2025-03-11"}, End: fakegoogle.EventDateTime{Date: "2025-03-13"}},
		{ID: "standup", Summary: "Standup", HTMLLink: "https://www.google.com/calendar/event?eid=c3RhbmR1cA",
			Start: fakegoogle.EventDateTime{DateTime: "2025-03-10T09:00:00+01:00", TimeZone: "Europe/Berlin"},
			End:   fakegoogle.EventDateTime{DateTime: "2025-03-10T09:15:00+01:00", TimeZone: "Europe/Berlin"}},
		{ID: "dropped", Status: "cancelled", Summary: "Dropped", Start: fakegoogle.EventDateTime{DateTime: "2025-03-12T08:00:00Z"}, End: fakegoogle.EventDateTime{DateTime: "2025-03-12T09:00:00Z"}},
		{ID: "untitled", Status: "tentative", Start: fakegoogle.EventDateTime{DateTime: "2025-03-12T14:00:00Z"}, End: fakegoogle.EventDateTime{DateTime: "2025-03-12T15:00:00Z"}},
		{ID: "spanning", Summary: "Night shift", Start: fakegoogle.EventDateTime{DateTime: "2025-03-09T22:00:00Z"}, End: fakegoogle.EventDateTime{DateTime: "2025-03-10T02:00:00Z"}},
	}
}

// week is the window 2025-03-10 – 2025-03-15.
var week = providers.EventQuery{From: utc("2025-03-10T00:00:00Z"), To: utc("2025-03-15T00:00:00Z")}

type env struct {
	fake   *fakegoogle.Server
	client *Client
	srv    *httptest.Server

	mu      sync.Mutex
	queries []url.Values // query of each Calendar API request
}

// setup mounts the fake under /google/, so a request with an absolute path
// misses it.
func setup(t *testing.T) *env {
	t.Helper()
	e := &env{fake: &fakegoogle.Server{ClientID: clientID, ClientSecret: clientSecret, Now: fixedNow}}
	e.fake.AddUser(aliceAccess, aliceRefresh, aliceEvents())
	mux := http.NewServeMux()
	strip := http.StripPrefix("/google", e.fake)
	mux.Handle("/google/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			e.mu.Lock()
			e.queries = append(e.queries, r.URL.Query())
			e.mu.Unlock()
		}
		strip.ServeHTTP(w, r)
	}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request outside the base path: %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	t.Cleanup(e.fake.Close)
	e.client = e.newClient(t, clientID, clientSecret)
	return e
}

func (e *env) newClient(t *testing.T, id, sec string) *Client {
	t.Helper()
	c, err := New(Config{
		BaseURL: e.srv.URL + "/google/", TokenURL: e.srv.URL + "/google/token",
		ClientID: id, ClientSecret: secret.New(sec), Now: fixedNow,
	}, e.srv.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// checkNoLeak fails when err's text holds a credential or an upstream body
// fragment.
func checkNoLeak(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	bad := append([]string{aliceAccess, aliceRefresh, clientSecret, "ya29.", "Token has been expired", "Request had", "Rate Limit Exceeded", "error_description"}, extra...)
	for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
		for _, b := range bad {
			if strings.Contains(s, b) {
				t.Errorf("error %q contains %q", s, b)
			}
		}
	}
}

func asError(t *testing.T, err error) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("error %v (%T) is not a *providers.Error", err, err)
	}
	return pe
}

func ids(evs []providers.CalendarEvent) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.ID)
	}
	return strings.Join(s, ",")
}

func TestListEventsFieldMapping(t *testing.T) {
	e := setup(t)
	q := week
	q.Page.Size = 250
	got, err := e.client.ListEvents(context.Background(), secret.New(aliceAccess), q)
	if err != nil {
		t.Fatalf("ListEvents() error: %v", err)
	}
	want := []providers.CalendarEvent{
		{ID: "spanning", Title: "Night shift", Start: utc("2025-03-09T22:00:00Z"), End: utc("2025-03-10T02:00:00Z"), Status: "confirmed"},
		{ID: "standup", Title: "Standup", Start: utc("2025-03-10T08:00:00Z"), End: utc("2025-03-10T08:15:00Z"), Status: "confirmed",
			URL: "https://www.google.com/calendar/event?eid=c3RhbmR1cA"},
		{ID: "offsite", Title: "Offsite", Start: utc("2025-03-11T00:00:00Z"), End: utc("2025-03-13T00:00:00Z"), AllDay: true, Status: "confirmed"},
		{ID: "untitled", Title: "", Start: utc("2025-03-12T14:00:00Z"), End: utc("2025-03-12T15:00:00Z"), Status: "tentative"},
	}
	if len(got.Items) != len(want) {
		t.Fatalf("ListEvents() = [%s]; want [spanning,standup,offsite,untitled]", ids(got.Items))
	}
	for i, w := range want {
		g := got.Items[i]
		if !g.Start.Equal(w.Start) || !g.End.Equal(w.End) {
			t.Errorf("event %s times = %v – %v; want %v – %v", g.ID, g.Start, g.End, w.Start, w.End)
		}
		if w.AllDay && (g.Start.Location() != time.UTC || g.End.Location() != time.UTC) {
			t.Errorf("all-day event %s = %v – %v; want midnight UTC", g.ID, g.Start, g.End)
		}
		if w.URL == "" {
			// The fake derives htmlLink from the id.
			if !strings.HasPrefix(g.URL, "https://www.google.com/calendar/event?eid=") {
				t.Errorf("event %s URL = %q; want an htmlLink", g.ID, g.URL)
			}
			w.URL = g.URL
		}
		g.Start, g.End, w.Start, w.End = time.Time{}, time.Time{}, time.Time{}, time.Time{}
		if g != w {
			t.Errorf("event %d = %+v; want %+v", i, g, w)
		}
	}
	if got.Next != "" {
		t.Errorf("Next = %q; want \"\"", got.Next)
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	sent := e.queries[0]
	for k, w := range map[string]string{
		"timeMin": "2025-03-10T00:00:00Z", "timeMax": "2025-03-15T00:00:00Z", "singleEvents": "true",
		"orderBy": "startTime", "maxResults": "250", "pageToken": "",
	} {
		if g := sent.Get(k); g != w {
			t.Errorf("query %s = %q; want %q", k, g, w)
		}
	}
}

func TestListEventsWindow(t *testing.T) {
	e := setup(t)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     string
	}{
		{"open both sides", time.Time{}, time.Time{}, "spanning,standup,offsite,untitled,late"},
		{"open start", time.Time{}, utc("2025-03-10T08:00:00Z"), "spanning"},
		{"open end", utc("2025-03-13T00:00:00Z"), time.Time{}, "late"},
		{"end is exclusive at an event start", utc("2025-03-19T00:00:00Z"), utc("2025-03-20T10:00:00Z"), ""},
		{"sub-second end rounds outwards", utc("2025-03-19T00:00:00Z"), utc("2025-03-20T10:00:00Z").Add(time.Nanosecond), "late"},
		{"start is exclusive at an event end", utc("2025-03-10T02:00:00Z"), utc("2025-03-10T08:00:00Z"), ""},
		{"inside an all-day event", utc("2025-03-12T20:00:00Z"), utc("2025-03-12T21:00:00Z"), "offsite"},
		{"non-UTC bounds", utc("2025-03-10T09:00:00+01:00"), utc("2025-03-10T09:10:00+01:00"), "standup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.client.ListEvents(context.Background(), secret.New(aliceAccess),
				providers.EventQuery{From: tc.from, To: tc.to, Page: providers.PageRequest{Size: 50}})
			if err != nil {
				t.Fatalf("ListEvents() error: %v", err)
			}
			if g := ids(got.Items); g != tc.want {
				t.Errorf("ListEvents(%v, %v) = [%s]; want [%s]", tc.from, tc.to, g, tc.want)
			}
		})
	}
}

func TestListEventsPagination(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tok := secret.New(aliceAccess)
	q := week
	q.Page.Size = 2
	p1, err := e.client.ListEvents(ctx, tok, q)
	if err != nil {
		t.Fatalf("ListEvents(page 1) error: %v", err)
	}
	if g := ids(p1.Items); g != "spanning,standup" || p1.Next == "" {
		t.Fatalf("page 1 = [%s], Next %q; want [spanning,standup] and a Next token", g, p1.Next)
	}
	q.Page.Token = p1.Next
	p2, err := e.client.ListEvents(ctx, tok, q)
	if err != nil {
		t.Fatalf("ListEvents(page 2) error: %v", err)
	}
	if g := ids(p2.Items); g != "offsite,untitled" || p2.Next != "" {
		t.Errorf("page 2 = [%s], Next %q; want [offsite,untitled], no Next", g, p2.Next)
	}
	e.mu.Lock()
	if g := e.queries[1].Get("pageToken"); g != p1.Next {
		t.Errorf("page 2 pageToken = %q; want %q", g, p1.Next)
	}
	e.mu.Unlock()

	// Google binds a page token to its query: reusing it for another window
	// is the caller's mistake.
	q.To = q.To.Add(time.Hour)
	_, err = e.client.ListEvents(ctx, tok, q)
	if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput {
		t.Errorf("ListEvents(token of another window) = %v; want BadInput", err)
	}
	checkNoLeak(t, err, p1.Next)
}

func TestListEventsRejectsBeforeCalling(t *testing.T) {
	e := setup(t)
	long := strings.Repeat("A", maxPageToken+1)
	for _, tc := range []struct {
		name string
		q    providers.EventQuery
	}{
		{"size 0", providers.EventQuery{Page: providers.PageRequest{Size: 0}}},
		{"size -5", providers.EventQuery{Page: providers.PageRequest{Size: -5}}},
		{"size 251", providers.EventQuery{Page: providers.PageRequest{Size: 251}}},
		{"to before from", providers.EventQuery{From: week.To, To: week.From, Page: providers.PageRequest{Size: 10}}},
		{"empty window", providers.EventQuery{From: week.From, To: week.From, Page: providers.PageRequest{Size: 10}}},
		{"token with slash", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc/def"}}},
		{"token with dot-dot path", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "../../oauth2/token"}}},
		{"token with query", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc&maxResults=2500"}}},
		{"token with space", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc def"}}},
		{"token with percent", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc%2Fdef"}}},
		{"token with newline", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc\r\nX-Evil: 1"}}},
		{"token with unicode", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abcü"}}},
		{"token with NUL", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "abc\x00"}}},
		{"token URL", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: "https://evil.example/"}}},
		{"token too long", providers.EventQuery{Page: providers.PageRequest{Size: 10, Token: long}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.fake.Calls()
			_, err := e.client.ListEvents(context.Background(), secret.New(aliceAccess), tc.q)
			if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput {
				t.Errorf("ListEvents(%s) = %v; want BadInput", tc.name, err)
			}
			if n := e.fake.Calls() - before; n != 0 {
				t.Errorf("ListEvents(%s) made %d upstream calls; want 0", tc.name, n)
			}
			checkNoLeak(t, err)
		})
	}
	// Bounds themselves are fine, and a well-formed token Google does not
	// know comes back as BadInput after one call.
	for _, q := range []providers.EventQuery{
		{Page: providers.PageRequest{Size: 1}},
		{Page: providers.PageRequest{Size: 250}},
		{Page: providers.PageRequest{Size: 10, Token: strings.Repeat("A", maxPageToken)}},
	} {
		before := e.fake.Calls()
		_, err := e.client.ListEvents(context.Background(), secret.New(aliceAccess), q)
		n := e.fake.Calls() - before
		if q.Page.Token == "" && (err != nil || n != 1) {
			t.Errorf("ListEvents(size %d) = %v with %d calls; want success with 1 call", q.Page.Size, err, n)
		}
		if q.Page.Token != "" {
			if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput || n != 1 {
				t.Errorf("ListEvents(unknown token) = %v with %d calls; want BadInput after 1 call", err, n)
			}
		}
	}
}

func TestListEventsErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		arrange    func(*fakegoogle.Server)
		token      string
		kind       providers.Kind
		retryAfter time.Duration
		msg        string // part of the safe message
	}{
		{"unknown token", nil, "ya29.FAKEGOOGLE_nobody", providers.ReauthRequired, 0, "sign in"},
		{"expired token", func(f *fakegoogle.Server) { f.ExpireAccessToken(aliceAccess) }, aliceAccess, providers.ReauthRequired, 0, "sign in"},
		{"revoked grant", func(f *fakegoogle.Server) { f.Revoke(aliceRefresh) }, aliceAccess, providers.ReauthRequired, 0, "sign in"},
		{"missing scope", func(f *fakegoogle.Server) { f.RemoveCalendarScope(aliceAccess) }, aliceAccess, providers.Forbidden, 0, "calendar scope"},
		{"403 other", func(f *fakegoogle.Server) { f.FailNext(1, 403) }, aliceAccess, providers.Forbidden, 0, "denied"},
		{"403 user rate limit", func(f *fakegoogle.Server) { f.UserRateLimitNext(1) }, aliceAccess, providers.RateLimited, 0, "rate limit"},
		{"429 with Retry-After", func(f *fakegoogle.Server) { f.RateLimitNext(1, 20*time.Second) }, aliceAccess, providers.RateLimited, 20 * time.Second, "rate limit"},
		{"429 without Retry-After", func(f *fakegoogle.Server) { f.RateLimitNext(1, 0) }, aliceAccess, providers.RateLimited, 0, "rate limit"},
		{"400", func(f *fakegoogle.Server) { f.FailNext(1, 400) }, aliceAccess, providers.BadInput, 0, "rejected"},
		{"410", func(f *fakegoogle.Server) { f.FailNext(1, 410) }, aliceAccess, providers.Unavailable, 0, "410 Gone"},
		{"404", func(f *fakegoogle.Server) { f.FailNext(1, 404) }, aliceAccess, providers.Unavailable, 0, "not found"},
		{"500", func(f *fakegoogle.Server) { f.FailNext(1, 500) }, aliceAccess, providers.Unavailable, 0, "failed"},
		{"503", func(f *fakegoogle.Server) { f.FailNext(1, 503) }, aliceAccess, providers.Unavailable, 0, "failed"},
		{"malformed JSON", func(f *fakegoogle.Server) { f.MalformedNext(1) }, aliceAccess, providers.Unavailable, 0, "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t)
			if tc.arrange != nil {
				tc.arrange(e.fake)
			}
			q := week
			q.Page.Size = 10
			_, err := e.client.ListEvents(context.Background(), secret.New(tc.token), q)
			if err == nil {
				t.Fatalf("ListEvents() = nil error; want %v", tc.kind)
			}
			pe := asError(t, err)
			if pe.Kind != tc.kind || pe.RetryAfter != tc.retryAfter || pe.Provider != "google-oauth2" {
				t.Errorf("ListEvents() = %v (kind %v, retry after %v, provider %q); want kind %v, retry after %v, provider google-oauth2",
					err, pe.Kind, pe.RetryAfter, pe.Provider, tc.kind, tc.retryAfter)
			}
			if !strings.Contains(pe.Message, tc.msg) {
				t.Errorf("ListEvents() message = %q; want it to mention %q", pe.Message, tc.msg)
			}
			checkNoLeak(t, err, tc.token)
		})
	}
}

func TestListEventsTimeout(t *testing.T) {
	e := setup(t)
	e.fake.Hang(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := e.client.ListEvents(ctx, secret.New(aliceAccess), providers.EventQuery{Page: providers.PageRequest{Size: 10}})
	if k, ok := providers.KindOf(err); !ok || k != providers.Unavailable || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ListEvents(hung) = %v; want Unavailable wrapping context.DeadlineExceeded", err)
	}
	checkNoLeak(t, err)
}

// custom serves handler under /google/ and returns a client for it.
func custom(t *testing.T, handler http.HandlerFunc) *Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/google/", handler)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/google", TokenURL: srv.URL + "/google/token",
		ClientID: clientID, ClientSecret: secret.New(clientSecret), Now: fixedNow}, srv.Client())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

func googleError(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"error":{"code":%d,"message":"Request had secret %s","errors":[{"domain":"usageLimits","reason":%q}]}}`, code, aliceAccess, reason)
}

func TestListEventsUpstreamOddities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		kind    providers.Kind
		ok      func(providers.Page[providers.CalendarEvent]) bool
	}{
		{"403 quotaExceeded", func(w http.ResponseWriter, r *http.Request) { googleError(w, 403, "quotaExceeded") }, providers.RateLimited, nil},
		{"403 rateLimitExceeded", func(w http.ResponseWriter, r *http.Request) { googleError(w, 403, "rateLimitExceeded") }, providers.RateLimited, nil},
		{"403 API not enabled", func(w http.ResponseWriter, r *http.Request) { googleError(w, 403, "accessNotConfigured") }, providers.Unavailable, nil},
		{"403 rateLimitExceeded with a code of the wrong type", func(w http.ResponseWriter, r *http.Request) {
			// The reasons are still read: an error body is sniffed member by member.
			w.WriteHeader(403)
			fmt.Fprint(w, `{"error":{"code":"403","errors":[{"domain":"usageLimits","reason":"rateLimitExceeded"}]}}`)
		}, providers.RateLimited, nil},
		{"403 insufficient_scope header only", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="insufficient_scope"`)
			w.WriteHeader(403)
		}, providers.Forbidden, nil},
		{"HTML 404", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(404)
			fmt.Fprint(w, "<html>That’s an error.</html>")
		}, providers.Unavailable, nil},
		{"oversized body", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[`)
			chunk := []byte(strings.Repeat(`{"id":"x"},`, 4096))
			for n := 0; n <= 9<<20; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		}, providers.Unavailable, nil},
		{"bad date", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[{"id":"a","start":{"date":"14/03/2025"},"end":{"date":"2025-03-15"}}]}`)
		}, providers.Unavailable, nil},
		{"no start", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[{"id":"a","status":"confirmed","end":{"date":"2025-03-15"}}]}`)
		}, providers.Unavailable, nil},
		{"hostile nextPageToken", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[],"nextPageToken":"../../token?x=1"}`)
		}, providers.Unavailable, nil},
		{"items of the wrong type", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":"`+aliceAccess+`"}`)
		}, providers.Unavailable, nil},
		{"cancelled occurrence with only an id", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[{"id":"x_20250314","status":"cancelled"}]}`)
		}, 0, func(p providers.Page[providers.CalendarEvent]) bool {
			return len(p.Items) == 1 && p.Items[0].Status == "cancelled" && p.Items[0].Start.IsZero()
		}},
		{"local dateTime with timeZone", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"items":[{"id":"a","start":{"dateTime":"2025-03-14T09:00:00","timeZone":"UTC"},"end":{"dateTime":"2025-03-14T10:00:00Z"}}],"nextPageToken":"CigKGjBxc2E4cTZl-_.~="}`)
		}, 0, func(p providers.Page[providers.CalendarEvent]) bool {
			return len(p.Items) == 1 && p.Items[0].Start.Equal(utc("2025-03-14T09:00:00Z")) && !p.Items[0].AllDay && p.Next == "CigKGjBxc2E4cTZl-_.~="
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := custom(t, tc.handler)
			got, err := c.ListEvents(context.Background(), secret.New(aliceAccess), providers.EventQuery{Page: providers.PageRequest{Size: 10}})
			if tc.ok != nil {
				if err != nil || !tc.ok(got) {
					t.Errorf("ListEvents() = %+v, %v; want success", got, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ListEvents() = nil error; want %v", tc.kind)
			}
			if pe := asError(t, err); pe.Kind != tc.kind {
				t.Errorf("ListEvents() = %v (kind %v); want kind %v", err, pe.Kind, tc.kind)
			}
			checkNoLeak(t, err, "usageLimits", "../../token")
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"defaults", Config{}, false},
		{"client", Config{ClientID: clientID, ClientSecret: secret.New(clientSecret)}, false},
		{"id without secret", Config{ClientID: clientID}, true},
		{"secret without id", Config{ClientSecret: secret.New(clientSecret)}, true},
		{"relative base", Config{BaseURL: "www.googleapis.com"}, true},
		{"relative token URL", Config{TokenURL: "/token"}, true},
		{"ftp token URL", Config{TokenURL: "ftp://oauth2.googleapis.com/token"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg, nil)
			if (err != nil) != tc.wantErr {
				t.Fatalf("New(%s) error = %v; want error %v", tc.name, err, tc.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), clientSecret) {
					t.Errorf("New error %q contains the client secret", err)
				}
				return
			}
			if tc.name == "defaults" && (c.up.Base.String() != DefaultBaseURL || c.refresh.TokenURL != DefaultTokenURL) {
				t.Errorf("New(defaults) = %s, %s; want %s, %s", c.up.Base, c.refresh.TokenURL, DefaultBaseURL, DefaultTokenURL)
			}
			if c.up.HTTP == nil || c.up.HTTP.Timeout == 0 {
				t.Errorf("New(nil client) has no timeout")
			}
		})
	}
}
