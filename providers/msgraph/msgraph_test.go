package msgraph

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakemsgraph"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const (
	accessRaw  = "msat-SEEKRIT-ACCESS-c0ffee"
	refreshRaw = "msrt-SEEKRIT-REFRESH-beef"
	clientSec  = "mscs-SEEKRIT-CLIENT-SECRET"
)

var (
	epoch  = time.Date(2026, 11, 29, 8, 0, 0, 0, time.UTC)
	from   = time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)
	to     = time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	window = providers.EventQuery{From: from, To: to, Page: providers.PageRequest{Size: 50}}
)

var seedEvents = []fakemsgraph.Event{
	{ID: "ev-standup", Subject: "Standup", Start: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC), WebLink: "https://outlook.live.com/owa/?itemid=ev-standup"},
	{ID: "ev-maybe", Subject: "Maybe lunch", Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), ShowAs: "tentative"},
	{ID: "ev-accepted-tentatively", Subject: "Review", Start: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC), ShowAs: "busy", Response: "tentativelyAccepted"},
	{ID: "ev-cancelled", Subject: "Cancelled sync", Start: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC), ShowAs: "tentative", IsCancelled: true},
	// All-day in Tokyo: Outlook reports midnight Tokyo time, which is the
	// previous day 15:00 UTC; the adapter must still say Dec 24.
	{ID: "ev-holiday", Subject: "Holiday", Start: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC), AllDay: true, TimeZone: "Tokyo Standard Time"},
	{ID: "ev-outside", Subject: "Next year", Start: time.Date(2027, 2, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2027, 2, 1, 10, 0, 0, 0, time.UTC)},
}

type env struct {
	fake *fakemsgraph.Server
	c    *Client
	url  string
}

// setup mounts the fake under /graph/ on a mux that answers anything else
// 404, so a request that ignores the base path fails.
func setup(t *testing.T, mutate ...func(*fakemsgraph.Server, *Config)) env {
	t.Helper()
	fake := &fakemsgraph.Server{ClientID: "ms-client", ClientSecret: clientSec, Now: func() time.Time { return epoch }}
	fake.AddUser(accessRaw, refreshRaw, seedEvents)
	mux := http.NewServeMux()
	mux.Handle("/graph/", http.StripPrefix("/graph", fake))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := Config{
		BaseURL:      srv.URL + "/graph/",
		TokenURL:     srv.URL + "/graph/common/oauth2/v2.0/token",
		ClientID:     "ms-client",
		ClientSecret: secret.New(clientSec),
		Now:          func() time.Time { return epoch },
	}
	for _, m := range mutate {
		m(fake, &cfg)
	}
	c, err := New(cfg, &http.Client{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return env{fake, c, srv.URL}
}

func assertNoLeak(t *testing.T, err error, extra ...string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, s := range append([]string{accessRaw, refreshRaw, clientSec, "fakemsgraph-", "AADSTS", "InvalidAuthenticationToken", "ErrorAccessDenied", "Access is denied"}, extra...) {
		if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%+v", err), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func wantKind(t *testing.T, what string, err error, want providers.Kind, provider string) *providers.Error {
	t.Helper()
	var pe *providers.Error
	if !errors.As(err, &pe) {
		t.Fatalf("%s = %v; want *providers.Error of kind %v", what, err, want)
	}
	if pe.Kind != want || pe.Provider != provider {
		t.Errorf("%s = %v (kind %v, provider %q); want kind %v, provider %q", what, err, pe.Kind, pe.Provider, want, provider)
	}
	assertNoLeak(t, err)
	return pe
}

func TestListEventsMapsFields(t *testing.T) {
	e := setup(t)
	page, err := e.c.ListEvents(context.Background(), secret.New(accessRaw), window)
	if err != nil {
		t.Fatalf("ListEvents() = %v; want nil", err)
	}
	want := []providers.CalendarEvent{
		{ID: "ev-standup", Title: "Standup", Start: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 11, 30, 9, 15, 0, 0, time.UTC), URL: "https://outlook.live.com/owa/?itemid=ev-standup", Status: "confirmed"},
		{ID: "ev-maybe", Title: "Maybe lunch", Start: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC), Status: "tentative"},
		{ID: "ev-accepted-tentatively", Title: "Review", Start: time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 2, 16, 0, 0, 0, time.UTC), Status: "tentative"},
		{ID: "ev-cancelled", Title: "Cancelled sync", Start: time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 3, 11, 0, 0, 0, time.UTC), Status: "cancelled"},
		{ID: "ev-holiday", Title: "Holiday", Start: time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), End: time.Date(2026, 12, 26, 0, 0, 0, 0, time.UTC), AllDay: true, Status: "confirmed"},
	}
	if len(page.Items) != len(want) {
		t.Fatalf("ListEvents() returned %d events %+v; want %d", len(page.Items), page.Items, len(want))
	}
	for i, got := range page.Items {
		w := want[i]
		if got.ID != w.ID || got.Title != w.Title || !got.Start.Equal(w.Start) || !got.End.Equal(w.End) ||
			got.AllDay != w.AllDay || got.URL != w.URL || got.Status != w.Status {
			t.Errorf("ListEvents() item %d = %+v; want %+v", i, got, w)
		}
		if got.Start.Location() != time.UTC || got.End.Location() != time.UTC {
			t.Errorf("ListEvents() item %d times in %v/%v; want UTC", i, got.Start.Location(), got.End.Location())
		}
	}
	if page.Next != "" {
		t.Errorf("ListEvents() next = %q; want none", page.Next)
	}
}

func TestListEventsPaginates(t *testing.T) {
	for _, useSkip := range []bool{false, true} {
		t.Run(fmt.Sprintf("useSkip=%v", useSkip), func(t *testing.T) {
			e := setup(t, func(f *fakemsgraph.Server, _ *Config) { f.UseSkip = useSkip })
			ctx, tok := context.Background(), secret.New(accessRaw)
			q := window
			q.Page.Size = 3
			p1, err := e.c.ListEvents(ctx, tok, q)
			if err != nil {
				t.Fatalf("ListEvents(page 1) = %v", err)
			}
			if len(p1.Items) != 3 || p1.Items[0].ID != "ev-standup" || p1.Items[2].ID != "ev-accepted-tentatively" || p1.Next == "" {
				t.Fatalf("ListEvents(page 1) = %+v next %q; want the first three and a next token", p1.Items, p1.Next)
			}
			// The token is Graph's @odata.nextLink after the configured
			// base, whatever it holds: no upstream host.
			if !strings.HasPrefix(p1.Next, "v1.0/me/calendarView?") || strings.Contains(p1.Next, "%24skiptoken=") == useSkip {
				t.Errorf("ListEvents(page 1).Next = %q; want the emulator's next link ($skip %v)", p1.Next, useSkip)
			}
			q.Page.Token = p1.Next
			p2, err := e.c.ListEvents(ctx, tok, q)
			if err != nil {
				t.Fatalf("ListEvents(page 2) = %v", err)
			}
			if len(p2.Items) != 2 || p2.Items[0].ID != "ev-cancelled" || p2.Items[1].ID != "ev-holiday" || p2.Next != "" {
				t.Errorf("ListEvents(page 2) = %+v next %q; want the last two and no next", p2.Items, p2.Next)
			}
			if got := e.fake.Calls(); got != 2 {
				t.Errorf("fake calls = %d; want 2", got)
			}
		})
	}
}

func TestListEventsRejectsInputWithoutCalling(t *testing.T) {
	e := setup(t)
	with := func(mut func(q *providers.EventQuery)) providers.EventQuery {
		q := window
		mut(&q)
		return q
	}
	tests := []struct {
		name string
		q    providers.EventQuery
	}{
		{"size zero", with(func(q *providers.EventQuery) { q.Page.Size = 0 })},
		{"size too big", with(func(q *providers.EventQuery) { q.Page.Size = MaxPageSize + 1 })},
		{"no from", with(func(q *providers.EventQuery) { q.From = time.Time{} })},
		{"no to", with(func(q *providers.EventQuery) { q.To = time.Time{} })},
		{"to before from", with(func(q *providers.EventQuery) { q.From, q.To = q.To, q.From })},
		{"empty window", with(func(q *providers.EventQuery) { q.To = q.From })},
		{"token with ampersand", with(func(q *providers.EventQuery) { q.Page.Token = "abc&$top=1000" })},
		{"token other host", with(func(q *providers.EventQuery) {
			q.Page.Token = "https://evil.example/graph/v1.0/me/calendarView?$skiptoken=X'00'"
		})},
		{"token other scheme", with(func(q *providers.EventQuery) {
			q.Page.Token = strings.Replace(e.url, "http:", "https:", 1) + "/graph/v1.0/me/calendarView?$skip=3"
		})},
		{"token other path", with(func(q *providers.EventQuery) { q.Page.Token = e.url + "/graph/v1.0/me/messages?$skip=3" })},
		{"token outside base path", with(func(q *providers.EventQuery) { q.Page.Token = e.url + "/v1.0/me/calendarView?$skip=3" })},
		{"token dot segments", with(func(q *providers.EventQuery) {
			q.Page.Token = e.url + "/graph/v1.0/me/../../admin/calendarView?$skip=3"
		})},
		{"token user info", with(func(q *providers.EventQuery) {
			q.Page.Token = strings.Replace(e.url, "http://", "http://user:pw@", 1) + "/graph/v1.0/me/calendarView?$skip=3"
		})},
		{"token fragment", with(func(q *providers.EventQuery) { q.Page.Token = e.url + "/graph/v1.0/me/calendarView?$skip=3#x" })},
		{"token relative other path", with(func(q *providers.EventQuery) { q.Page.Token = "v1.0/me/messages?$skip=3" })},
		{"token relative dot segments", with(func(q *providers.EventQuery) { q.Page.Token = "../v1.0/me/calendarView?$skip=3" })},
		{"token too long", with(func(q *providers.EventQuery) {
			q.Page.Token = e.url + "/graph/v1.0/me/calendarView?$skiptoken=" + strings.Repeat("A", 2049)
		})},
		{"old skip form", with(func(q *providers.EventQuery) { q.Page.Token = "skip:20" })},
		{"old skiptoken form", with(func(q *providers.EventQuery) { q.Page.Token = "abcDEF123" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.c.ListEvents(context.Background(), secret.New(accessRaw), tt.q)
			wantKind(t, fmt.Sprintf("ListEvents(%s)", tt.name), err, providers.BadInput, ProviderLive)
		})
	}
	if got := e.fake.Calls(); got != 0 {
		t.Errorf("fake calls = %d; want 0", got)
	}
	for _, size := range []int{1, MaxPageSize} {
		q := window
		q.Page.Size = size
		if _, err := e.c.ListEvents(context.Background(), secret.New(accessRaw), q); err != nil {
			t.Errorf("ListEvents(size %d) = %v; want nil", size, err)
		}
	}
}

func TestListEventsTimeZones(t *testing.T) {
	// 17:00 UTC on a winter day is 09:00 in Los Angeles (UTC-8) and 18:00
	// in Berlin (UTC+1); on a summer day 17:00 UTC is 10:00 (UTC-7).
	winter := time.Date(2026, 12, 10, 17, 0, 0, 0, time.UTC)
	summer := time.Date(2026, 7, 10, 17, 0, 0, 0, time.UTC)
	tests := []struct {
		zone  string
		start time.Time
	}{
		{"Pacific Standard Time", winter},
		{"Pacific Standard Time", summer},
		{"America/Los_Angeles", summer},
		{"Europe/Berlin", winter},
		{"W. Europe Standard Time", summer},
		{"India Standard Time", winter},
		{"UTC", winter},
	}
	for _, tt := range tests {
		t.Run(tt.zone+" "+tt.start.Format("Jan"), func(t *testing.T) {
			fake := &fakemsgraph.Server{ForceTimeZone: tt.zone}
			fake.AddUser(accessRaw, "", []fakemsgraph.Event{{ID: "ev", Subject: "Call", Start: tt.start, End: tt.start.Add(30 * time.Minute)}})
			mux := http.NewServeMux()
			mux.Handle("/graph/", http.StripPrefix("/graph", fake))
			srv := httptest.NewServer(mux)
			defer srv.Close()
			c, err := New(Config{BaseURL: srv.URL + "/graph/"}, srv.Client())
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			q := providers.EventQuery{From: tt.start.Add(-time.Hour), To: tt.start.Add(time.Hour), Page: providers.PageRequest{Size: 10}}
			page, err := c.ListEvents(context.Background(), secret.New(accessRaw), q)
			if err != nil {
				t.Fatalf("ListEvents() = %v", err)
			}
			if len(page.Items) != 1 {
				t.Fatalf("ListEvents() = %d events; want 1", len(page.Items))
			}
			if got := page.Items[0]; !got.Start.Equal(tt.start) || !got.End.Equal(tt.start.Add(30*time.Minute)) {
				t.Errorf("ListEvents() in %s = %v..%v; want %v..%v", tt.zone, got.Start, got.End, tt.start, tt.start.Add(30*time.Minute))
			}
		})
	}
}

// rawGraph answers every request with one calendarView body.
func rawGraph(t *testing.T, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{BaseURL: srv.URL + "/graph/"}, srv.Client())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return c
}

func TestListEventsParsesDateTimes(t *testing.T) {
	ev := func(start, end, tz string, allDay bool) string {
		return fmt.Sprintf(`{"value":[{"id":"x","start":{"dateTime":%q,"timeZone":%q},"end":{"dateTime":%q,"timeZone":%q},"isAllDay":%v}]}`, start, tz, end, tz, allDay)
	}
	tests := []struct {
		name       string
		body       string
		start, end time.Time
	}{
		{"fractional UTC", ev("2026-11-29T09:00:00.0000000", "2026-11-29T09:30:00.1234567", "UTC", false),
			time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 9, 30, 0, 123456700, time.UTC)},
		{"no fraction IANA", ev("2026-11-29T09:00:00", "2026-11-29T10:00:00", "Asia/Tokyo", false),
			time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 1, 0, 0, 0, time.UTC)},
		{"windows name", ev("2026-11-29T09:00:00.0000000", "2026-11-29T10:00:00.0000000", "Eastern Standard Time", false),
			time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 15, 0, 0, 0, time.UTC)},
		{"unknown zone falls back to UTC", ev("2026-11-29T09:00:00.0000000", "2026-11-29T10:00:00.0000000", "Mars Standard Time", false),
			time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)},
		{"Local is not the gateway's zone", ev("2026-11-29T09:00:00", "2026-11-29T10:00:00", "Local", false),
			time.Date(2026, 11, 29, 9, 0, 0, 0, time.UTC), time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)},
		{"all-day at midnight of its zone", ev("2026-12-24T00:00:00.0000000", "2026-12-25T00:00:00.0000000", "Pacific Standard Time", true),
			time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)},
		// An all-day event of a UTC+5 zone converted to UTC: 19:00 the day before.
		{"all-day converted east", ev("2026-12-23T19:00:00.0000000", "2026-12-24T19:00:00.0000000", "UTC", true),
			time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)},
		// An all-day event of a UTC-8 zone converted to UTC: 08:00 the same day.
		{"all-day converted west", ev("2026-12-24T08:00:00.0000000", "2026-12-25T08:00:00.0000000", "UTC", true),
			time.Date(2026, 12, 24, 0, 0, 0, 0, time.UTC), time.Date(2026, 12, 25, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := rawGraph(t, tt.body).ListEvents(context.Background(), secret.New(accessRaw), window)
			if err != nil {
				t.Fatalf("ListEvents() = %v", err)
			}
			if len(page.Items) != 1 {
				t.Fatalf("ListEvents() = %d events; want 1", len(page.Items))
			}
			if got := page.Items[0]; !got.Start.Equal(tt.start) || !got.End.Equal(tt.end) {
				t.Errorf("ListEvents() = %v..%v; want %v..%v", got.Start, got.End, tt.start, tt.end)
			}
		})
	}
}

func TestWindowsZonesResolve(t *testing.T) {
	for _, name := range []string{"Pacific Standard Time", "FLE Standard Time", "US Eastern Standard Time", "Argentina Standard Time",
		"Greenland Standard Time", "India Standard Time", "Line Islands Standard Time", "Dateline Standard Time", "UTC+13"} {
		iana := windowsZone(name)
		if iana == "" {
			t.Errorf("windowsZone(%q) = \"\"; want an IANA name", name)
			continue
		}
		if _, err := time.LoadLocation(iana); err != nil {
			t.Errorf("windowsZone(%q) = %q, which does not load: %v", name, iana, err)
		}
	}
}

func TestListEventsSendsTheDocumentedRequest(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		io.WriteString(w, `{"value":[]}`)
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/graph/"}, srv.Client())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	q := window
	q.From = time.Date(2026, 11, 29, 1, 0, 0, 0, time.FixedZone("CET", 3600))
	if _, err := c.ListEvents(context.Background(), secret.New(accessRaw), q); err != nil {
		t.Fatalf("ListEvents() = %v", err)
	}
	want := url.Values{
		"startDateTime": {"2026-11-29T00:00:00Z"},
		"endDateTime":   {"2027-01-01T00:00:00Z"},
		"$top":          {"50"},
		"$orderby":      {"start/dateTime"},
		"$select":       {selectFields},
	}
	if got.URL.Path != "/graph/v1.0/me/calendarView" || got.URL.Query().Encode() != want.Encode() {
		t.Errorf("request = %s?%s; want /graph/v1.0/me/calendarView?%s", got.URL.Path, got.URL.Query().Encode(), want.Encode())
	}
	if p := got.Header.Get("Prefer"); p != `outlook.timezone="UTC"` {
		t.Errorf("Prefer = %q; want %q", p, `outlook.timezone="UTC"`)
	}
	if a := got.Header.Get("Authorization"); a != "Bearer "+accessRaw {
		t.Errorf("Authorization header is not the bearer token")
	}
}

func TestListEventsMapsErrors(t *testing.T) {
	tests := []struct {
		name      string
		arrange   func(f *fakemsgraph.Server)
		token     string
		timeout   time.Duration
		want      providers.Kind
		wantRetry time.Duration
		wantMsg   string
	}{
		{name: "401", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 401) }, want: providers.ReauthRequired},
		{name: "expired", arrange: func(f *fakemsgraph.Server) { f.ExpireAccessToken(accessRaw) }, want: providers.ReauthRequired},
		{name: "revoked", arrange: func(f *fakemsgraph.Server) { f.Revoke(accessRaw) }, want: providers.ReauthRequired},
		{name: "unknown token", token: "msat-unknown", want: providers.ReauthRequired},
		{name: "403 access denied", arrange: func(f *fakemsgraph.Server) { f.DenyScope(accessRaw) }, want: providers.Forbidden, wantMsg: "consent"},
		{name: "429", arrange: func(f *fakemsgraph.Server) { f.RateLimitNext(1, 9*time.Second) }, want: providers.RateLimited, wantRetry: 9 * time.Second},
		{name: "503 with retry-after", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 503) }, want: providers.Unavailable, wantRetry: 5 * time.Second},
		{name: "400", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 400) }, want: providers.BadInput},
		{name: "404 no mailbox", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 404) }, want: providers.Unavailable, wantMsg: "no calendar"},
		{name: "500", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 500) }, want: providers.Unavailable},
		{name: "504", arrange: func(f *fakemsgraph.Server) { f.FailNext(1, 504) }, want: providers.Unavailable},
		{name: "malformed JSON", arrange: func(f *fakemsgraph.Server) { f.MalformedNext(1) }, want: providers.Unavailable},
		{name: "timeout", arrange: func(f *fakemsgraph.Server) { f.Hang(1) }, timeout: 50 * time.Millisecond, want: providers.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, func(f *fakemsgraph.Server, c *Config) { c.Provider = ProviderAAD })
			if tt.arrange != nil {
				tt.arrange(e.fake)
			}
			token := accessRaw
			if tt.token != "" {
				token = tt.token
			}
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			_, err := e.c.ListEvents(ctx, secret.New(token), window)
			pe := wantKind(t, "ListEvents()", err, tt.want, ProviderAAD)
			if pe.RetryAfter != tt.wantRetry {
				t.Errorf("ListEvents() retry after = %v; want %v", pe.RetryAfter, tt.wantRetry)
			}
			if tt.wantMsg != "" && !strings.Contains(pe.Message, tt.wantMsg) {
				t.Errorf("ListEvents() message = %q; want it to mention %q", pe.Message, tt.wantMsg)
			}
		})
	}
}

func TestListEventsConditionalAccessChallenge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnt9fQ=="`)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":"AccessDenied","message":"claims challenge"}}`)
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/"}, srv.Client())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	_, err = c.ListEvents(context.Background(), secret.New(accessRaw), window)
	wantKind(t, "ListEvents(claims challenge)", err, providers.ReauthRequired, ProviderLive)
}

func TestListEventsMalformedResponses(t *testing.T) {
	tests := []struct{ name, body string }{
		{"not JSON", "<html>" + accessRaw},
		{"bad dateTime", `{"value":[{"id":"x","start":{"dateTime":"tomorrow","timeZone":"UTC"},"end":{"dateTime":"2026-11-29T10:00:00","timeZone":"UTC"}}]}`},
		{"next link without token", `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/calendarView?startDateTime=x"}`},
		{"next link hostile skiptoken", `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/calendarView?%24skiptoken=a%26%24top%3D999"}`},
		{"next link hostile skip", `{"value":[],"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/calendarView?%24skip=-5"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := rawGraph(t, tt.body).ListEvents(context.Background(), secret.New(accessRaw), window)
			wantKind(t, "ListEvents()", err, providers.Unavailable, ProviderLive)
		})
	}
}

func TestRefreshRotates(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	tok1, err := e.c.Refresh(ctx, secret.New(refreshRaw))
	if err != nil {
		t.Fatalf("Refresh(seeded) = %v; want nil", err)
	}
	if tok1.AccessToken.IsZero() || tok1.RefreshToken.IsZero() || tok1.RefreshToken.Reveal() == refreshRaw {
		t.Fatalf("Refresh(seeded) = access set %v, rotated %v; want a new access and a rotated refresh token", !tok1.AccessToken.IsZero(), !tok1.RefreshToken.IsZero())
	}
	if want := epoch.Add(3599 * time.Second); !tok1.Expiry.Equal(want) {
		t.Errorf("Refresh(seeded).Expiry = %v; want %v", tok1.Expiry, want)
	}
	if _, err := e.c.ListEvents(ctx, tok1.AccessToken, window); err != nil {
		t.Errorf("ListEvents(refreshed token) = %v; want nil", err)
	}
	tok2, err := e.c.Refresh(ctx, tok1.RefreshToken)
	if err != nil {
		t.Fatalf("Refresh(rotated) = %v; want nil", err)
	}
	if tok2.RefreshToken.IsZero() || tok2.RefreshToken.Equal(tok1.RefreshToken) {
		t.Errorf("Refresh(rotated) did not rotate the refresh token again")
	}
	// Microsoft does not revoke the replaced refresh token: it still works
	// (the broker never sends it again; the fake counts the reuse).
	if _, err = e.c.Refresh(ctx, secret.New(refreshRaw)); err != nil {
		t.Errorf("Refresh(replaced) = %v; want nil (Microsoft keeps the old refresh token valid)", err)
	}
	if got := e.fake.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	if got := e.fake.Refreshes(); got != 3 {
		t.Errorf("Refreshes() = %d; want 3", got)
	}
}

// TestRefreshBoundToClientAndAuthority: a refresh token works only with
// the application and authority that got it. Another application's token
// is the user's to renew (ReauthRequired); an application used at an
// authority it is not registered for is the operator's (Unavailable naming
// the setting, remembered: one call).
func TestRefreshBoundToClientAndAuthority(t *testing.T) {
	const tenant = "33333333-cccc-4000-8000-000000000003"
	tests := []struct {
		name      string
		app       fakemsgraph.App
		bindTo    string // the app the seeded refresh token belongs to
		authority string // in TokenURL
		want      providers.Kind
		ok        bool
	}{
		{"own app at its tenant", fakemsgraph.App{ClientID: "aad", ClientSecret: clientSec, Audience: fakemsgraph.AudienceMyOrg, Tenant: tenant}, "aad", tenant, 0, true},
		{"single-tenant app at /common", fakemsgraph.App{ClientID: "aad", ClientSecret: clientSec, Audience: fakemsgraph.AudienceMyOrg, Tenant: tenant}, "aad", "common", providers.Unavailable, false},
		{"personal app at /organizations", fakemsgraph.App{ClientID: "aad", ClientSecret: clientSec, Audience: fakemsgraph.AudiencePersonal}, "aad", "organizations", providers.Unavailable, false},
		{"another app's refresh token", fakemsgraph.App{ClientID: "aad", ClientSecret: clientSec, Audience: fakemsgraph.AudienceMyOrg, Tenant: tenant}, "other-app", tenant, providers.ReauthRequired, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := setup(t, func(f *fakemsgraph.Server, c *Config) {
				f.ClientID = ""
				f.RegisterApp(tt.app)
				f.BindRefreshToken(refreshRaw, tt.bindTo, tt.authority)
				c.ClientID = tt.app.ClientID
				c.TokenURL = strings.Replace(c.TokenURL, "/common/", "/"+tt.authority+"/", 1)
				c.Setting = "CONNECTION_ACME_AZUREAD_CLIENT_ID/_CLIENT_SECRET/_TOKEN_URL"
			})
			_, err := e.c.Refresh(context.Background(), secret.New(refreshRaw))
			if tt.ok {
				if err != nil {
					t.Fatalf("Refresh() = %v; want nil", err)
				}
				return
			}
			pe := wantKind(t, "Refresh()", err, tt.want, ProviderLive)
			if tt.want == providers.Unavailable {
				if !strings.Contains(pe.Message, "CONNECTION_ACME_AZUREAD_CLIENT_ID") {
					t.Errorf("message %q does not name the setting", pe.Message)
				}
				_, _ = e.c.Refresh(context.Background(), secret.New(refreshRaw))
				if got := e.fake.Refreshes(); got != 1 {
					t.Errorf("token endpoint calls after a misconfiguration = %d; want 1", got)
				}
			}
		})
	}
}

func TestRefreshFailures(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(f *fakemsgraph.Server, c *Config)
		refresh string
		want    providers.Kind
		calls   int
	}{
		{name: "revoked", mutate: func(f *fakemsgraph.Server, _ *Config) { f.Revoke(refreshRaw) }, refresh: refreshRaw, want: providers.ReauthRequired, calls: 1},
		{name: "unknown", refresh: "msrt-unknown", want: providers.ReauthRequired, calls: 1},
		{name: "empty", refresh: "", want: providers.ReauthRequired, calls: 0},
		{name: "no client", mutate: func(_ *fakemsgraph.Server, c *Config) { c.ClientID, c.ClientSecret = "", secret.String{} }, refresh: refreshRaw, want: providers.ReauthRequired, calls: 0},
		{name: "wrong secret", mutate: func(_ *fakemsgraph.Server, c *Config) { c.ClientSecret = secret.New("nope") }, refresh: refreshRaw, want: providers.Unavailable, calls: 1},
		{name: "unknown application", mutate: func(_ *fakemsgraph.Server, c *Config) { c.ClientID = "other-app" }, refresh: refreshRaw, want: providers.Unavailable, calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mut := func(*fakemsgraph.Server, *Config) {}
			if tt.mutate != nil {
				mut = tt.mutate
			}
			e := setup(t, mut)
			_, err := e.c.Refresh(context.Background(), secret.New(tt.refresh))
			wantKind(t, "Refresh()", err, tt.want, ProviderLive)
			if got := e.fake.Refreshes(); got != tt.calls {
				t.Errorf("Refreshes() = %d; want %d", got, tt.calls)
			}
		})
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		hc   *http.Client
		ok   bool
	}{
		{"defaults", Config{}, http.DefaultClient, true},
		{"nil client gets a default", Config{}, nil, true},
		{"client ID without secret", Config{ClientID: "x"}, http.DefaultClient, false},
		{"relative base", Config{BaseURL: "graph.microsoft.com"}, http.DefaultClient, false},
		{"bad token url", Config{TokenURL: "login.microsoftonline.com/common"}, http.DefaultClient, false},
	}
	for _, tt := range tests {
		if _, err := New(tt.cfg, tt.hc); (err == nil) != tt.ok {
			t.Errorf("New(%s) = %v; want ok %v", tt.name, err, tt.ok)
		}
	}
}

// TestListEventsFollowsTheNextLinkAsIs: the page token is requested exactly
// as Graph wrote it (an opaque $skiptoken, unusual encodings kept), and a
// next link Graph sends that leaves the configured base is refused.
func TestListEventsFollowsTheNextLinkAsIs(t *testing.T) {
	var gotURI string
	var next string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotURI = r.URL.RequestURI()
		fmt.Fprintf(w, `{"value":[],"@odata.nextLink":%q}`, next)
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL + "/graph/"}, srv.Client())
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	link := srv.URL + "/graph/v1.0/me/calendarView?startDateTime=2026-11-29T00%3A00%3A00Z&$top=3&$skiptoken=X%274453707402000100%27"
	next = link
	q := window
	q.Page.Token = link
	page, err := c.ListEvents(context.Background(), secret.New(accessRaw), q)
	if err != nil {
		t.Fatalf("ListEvents(next link) = %v", err)
	}
	if want := strings.TrimPrefix(link, srv.URL); gotURI != want {
		t.Errorf("requested %s; want the next link as is, %s", gotURI, want)
	}
	// The token keeps the link after the base only (no upstream host),
	// and is requested joined back, as is.
	if want := strings.TrimPrefix(link, srv.URL+"/graph/"); page.Next != want {
		t.Errorf("Next = %q; want %q", page.Next, want)
	}
	gotURI = ""
	q.Page.Token = page.Next
	if _, err := c.ListEvents(context.Background(), secret.New(accessRaw), q); err != nil {
		t.Fatalf("ListEvents(relative token) = %v", err)
	}
	if want := strings.TrimPrefix(link, srv.URL); gotURI != want {
		t.Errorf("requested %s; want the next link as is, %s", gotURI, want)
	}
	for _, bad := range []string{"//graph.evil.example/v1.0/me/calendarView", "../v1.0/me/calendarView?$skip=3", "v1.0/me/mailFolders?$skip=3", "https://graph.evil.example/graph/v1.0/me/calendarView"} {
		gotURI = ""
		q.Page.Token = bad
		_, err := c.ListEvents(context.Background(), secret.New(accessRaw), q)
		wantKind(t, "ListEvents(token "+bad+")", err, providers.BadInput, ProviderLive)
		if gotURI != "" {
			t.Errorf("ListEvents(token %s) requested %s; want no request", bad, gotURI)
		}
	}
	for _, bad := range []string{"https://graph.evil.example/graph/v1.0/me/calendarView?$skip=3", srv.URL + "/graph/v1.0/me/mailFolders?$skip=3"} {
		next = bad
		_, err := c.ListEvents(context.Background(), secret.New(accessRaw), window)
		wantKind(t, "ListEvents(next link "+bad+")", err, providers.Unavailable, ProviderLive)
	}
}
