package fakemsgraph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const token = "fmg-test-access"

func serve(t *testing.T, s *Server) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle("/graph/", http.StripPrefix("/graph", s))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL + "/graph/"
}

type listBody struct {
	Value []struct {
		ID    string            `json:"id"`
		Start map[string]string `json:"start"`
		Extra string            `json:"bodyPreview"`
	} `json:"value"`
	NextLink string `json:"@odata.nextLink"`
	Error    struct {
		Code       string            `json:"code"`
		Message    string            `json:"message"`
		InnerError map[string]string `json:"innerError"`
	} `json:"error"`
}

func get(t *testing.T, rawURL string, header map[string]string) (*http.Response, listBody) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body listBody
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("GET %s body %q is not JSON", rawURL, b)
	}
	return resp, body
}

func view(base, query string) string { return base + "v1.0/me/calendarView?" + query }

const window = "startDateTime=2026-12-01T00:00:00Z&endDateTime=2026-12-31T00:00:00Z"

var auth = map[string]string{"Authorization": "Bearer " + token}

func seeded(t *testing.T, s *Server) string {
	t.Helper()
	var evs []Event
	for d := 1; d <= 5; d++ {
		start := time.Date(2026, 12, d, 17, 0, 0, 0, time.UTC)
		evs = append(evs, Event{ID: "ev" + string(rune('0'+d)), Subject: "E", Start: start, End: start.Add(time.Hour)})
	}
	evs = append(evs, Event{ID: "outside", Start: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 3, 1, 1, 0, 0, 0, time.UTC)})
	s.AddUser(token, "", evs)
	return serve(t, s)
}

func TestZeroValueAndErrors(t *testing.T) {
	var s Server
	base := serve(t, &s)
	tests := []struct {
		name, url string
		header    map[string]string
		status    int
		code      string
	}{
		{"unknown path", base + "v1.0/me/nothing", nil, 404, "ResourceNotFound"},
		{"no token", view(base, window), nil, 401, "InvalidAuthenticationToken"},
		{"unknown token", view(base, window), auth, 401, "InvalidAuthenticationToken"},
	}
	for _, tt := range tests {
		resp, body := get(t, tt.url, tt.header)
		if resp.StatusCode != tt.status || body.Error.Code != tt.code || body.Error.InnerError["request-id"] == "" {
			t.Errorf("%s = %d %+v; want %d %s with innerError", tt.name, resp.StatusCode, body.Error, tt.status, tt.code)
		}
	}
}

func TestQueryValidation(t *testing.T) {
	s := &Server{}
	base := seeded(t, s)
	for _, q := range []string{"", "startDateTime=2026-12-01T00:00:00Z", window + "&$top=0", window + "&$skiptoken=!!", window + "&$skip=-1", window + "&$select=subject,secret", window + "&$orderby=subject", "startDateTime=yesterday&endDateTime=today"} {
		if resp, body := get(t, view(base, q), auth); resp.StatusCode != 400 || body.Error.Code == "" {
			t.Errorf("GET ?%s = %d %+v; want 400 with an error code", q, resp.StatusCode, body.Error)
		}
	}
}

func TestPagingAndSelect(t *testing.T) {
	for _, useSkip := range []bool{false, true} {
		s := &Server{UseSkip: useSkip}
		base := seeded(t, s)
		resp, body := get(t, view(base, window+"&$top=3&$orderby=start/dateTime&$select=id,start"), auth)
		if resp.StatusCode != 200 || len(body.Value) != 3 || body.Value[0].ID != "ev1" || body.Value[0].Extra != "" {
			t.Fatalf("page 1 = %d %+v; want ev1..ev3 with only selected fields", resp.StatusCode, body)
		}
		if !strings.HasPrefix(body.NextLink, view(base, "")) {
			t.Fatalf("@odata.nextLink = %q; want it under %q", body.NextLink, base)
		}
		u, _ := url.Parse(body.NextLink)
		q := u.Query()
		if useSkip != (q.Get("$skip") == "3") || useSkip == (q.Get("$skiptoken") != "") || q.Get("$select") != "id,start" || q.Get("startDateTime") == "" {
			t.Errorf("nextLink query = %v; want the original query plus $skip (%v) or $skiptoken", q, useSkip)
		}
		_, body2 := get(t, body.NextLink, auth)
		if len(body2.Value) != 2 || body2.Value[0].ID != "ev4" || body2.NextLink != "" {
			t.Errorf("page 2 = %+v; want ev4, ev5 and no next link", body2)
		}
	}
}

func TestPreferTimeZone(t *testing.T) {
	s := &Server{}
	base := seeded(t, s)
	tests := []struct {
		prefer, wantTZ, wantDateTime, applied string
	}{
		{"", "UTC", "2026-12-01T17:00:00.0000000", ""},
		{`outlook.timezone="Pacific Standard Time"`, "Pacific Standard Time", "2026-12-01T09:00:00.0000000", `outlook.timezone="Pacific Standard Time"`},
		{`odata.maxpagesize=5, outlook.timezone="Europe/Berlin"`, "Europe/Berlin", "2026-12-01T18:00:00.0000000", `outlook.timezone="Europe/Berlin"`},
		{`outlook.timezone="Nowhere/Special"`, "UTC", "2026-12-01T17:00:00.0000000", ""},
	}
	for _, tt := range tests {
		h := map[string]string{"Authorization": "Bearer " + token}
		if tt.prefer != "" {
			h["Prefer"] = tt.prefer
		}
		resp, body := get(t, view(base, window+"&$top=1"), h)
		if len(body.Value) != 1 || body.Value[0].Start["timeZone"] != tt.wantTZ || body.Value[0].Start["dateTime"] != tt.wantDateTime {
			t.Errorf("Prefer %q start = %v; want %s %s", tt.prefer, body.Value, tt.wantDateTime, tt.wantTZ)
		}
		if got := resp.Header.Get("Preference-Applied"); got != tt.applied {
			t.Errorf("Prefer %q Preference-Applied = %q; want %q", tt.prefer, got, tt.applied)
		}
	}
}

// postToken posts form to the /common authority's token endpoint.
func postToken(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	return postTokenAt(t, base, "common", form)
}

func TestTokenEndpoint(t *testing.T) {
	s := &Server{ClientID: "cid", ClientSecret: "csec"}
	s.AddUser("", "fmg-rt-1", nil)
	base := serve(t, s)
	form := func(rt string, mut ...func(url.Values)) url.Values {
		f := url.Values{"client_id": {"cid"}, "client_secret": {"csec"}, "grant_type": {"refresh_token"}, "refresh_token": {rt}, "scope": {"offline_access Calendars.Read"}}
		for _, m := range mut {
			m(f)
		}
		return f
	}
	bad := []struct {
		name   string
		form   url.Values
		status int
		err    string
	}{
		{"no scope", form("fmg-rt-1", func(f url.Values) { f.Del("scope") }), 400, "invalid_request"},
		{"wrong secret", form("fmg-rt-1", func(f url.Values) { f.Set("client_secret", "x") }), 401, "invalid_client"},
		{"unknown app", form("fmg-rt-1", func(f url.Values) { f.Set("client_id", "other") }), 400, "unauthorized_client"},
		{"other grant", form("fmg-rt-1", func(f url.Values) { f.Set("grant_type", "client_credentials") }), 400, "unsupported_grant_type"},
	}
	for _, tt := range bad {
		code, body := postToken(t, base, tt.form)
		if code != tt.status || body["error"] != tt.err || !strings.HasPrefix(body["error_description"].(string), "AADSTS") {
			t.Errorf("%s = %d %v; want %d %s with an AADSTS description", tt.name, code, body, tt.status, tt.err)
		}
	}
	code, body := postToken(t, base, form("fmg-rt-1"))
	rt2, _ := body["refresh_token"].(string)
	at2, _ := body["access_token"].(string)
	if code != 200 || rt2 == "" || rt2 == "fmg-rt-1" || body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) {
		t.Fatalf("refresh = %d %v; want 200 with a rotated refresh token", code, body)
	}
	if resp, _ := get(t, view(base, window), map[string]string{"Authorization": "Bearer " + at2}); resp.StatusCode != 200 {
		t.Errorf("calendarView with the refreshed token = %d; want 200", resp.StatusCode)
	}
	// Microsoft does not revoke the old refresh token: it still works,
	// and the reuse is counted.
	if code, body = postToken(t, base, form("fmg-rt-1")); code != 200 {
		t.Errorf("replaced refresh token = %d %v; want 200 (Microsoft keeps it valid)", code, body)
	}
	s.Revoke(rt2)
	code, body = postToken(t, base, form(rt2))
	if codes, _ := body["error_codes"].([]any); code != 400 || body["error"] != "invalid_grant" || len(codes) != 1 || codes[0] != float64(50173) {
		t.Errorf("revoked refresh token = %d %v; want 400 invalid_grant AADSTS50173", code, body)
	}
	if got := s.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	if got := s.Refreshes(); got != len(bad)+3 {
		t.Errorf("Refreshes() = %d; want %d", got, len(bad)+3)
	}
}

func TestKnobs(t *testing.T) {
	s := &Server{}
	base := seeded(t, s)
	u := view(base, window)
	s.FailNext(1, 503)
	if resp, body := get(t, u, auth); resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "5" || body.Error.Code != "ServiceNotAvailable" {
		t.Errorf("FailNext(503) = %d %q %+v; want 503 ServiceNotAvailable with Retry-After 5", resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
	}
	s.RateLimitNext(1, 7*time.Second)
	if resp, body := get(t, u, auth); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" || body.Error.Code != "ApplicationThrottled" {
		t.Errorf("RateLimitNext = %d %q %+v; want 429 ApplicationThrottled with Retry-After 7", resp.StatusCode, resp.Header.Get("Retry-After"), body.Error)
	}
	s.DenyScope(token)
	if resp, body := get(t, u, auth); resp.StatusCode != 403 || body.Error.Code != "ErrorAccessDenied" {
		t.Errorf("DenyScope = %d %+v; want 403 ErrorAccessDenied", resp.StatusCode, body.Error)
	}
	s.ExpireAccessToken(token)
	if resp, body := get(t, u, auth); resp.StatusCode != 401 || !strings.Contains(body.Error.Message, "expired") || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("ExpireAccessToken = %d %+v; want 401 expired with WWW-Authenticate", resp.StatusCode, body.Error)
	}
	if got := s.Calls(); got != 4 {
		t.Errorf("Calls() = %d; want 4", got)
	}
}

func TestHangCloseAndMalformed(t *testing.T) {
	s := &Server{}
	base := seeded(t, s)
	s.Hang(2)
	done := make(chan struct{}, 2)
	for range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			req, _ := http.NewRequest(http.MethodGet, view(base, window), nil)
			req.Header.Set("Authorization", "Bearer "+token)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	for i := 0; s.InFlight() != 2; i++ {
		if i > 2000 {
			t.Fatalf("InFlight() = %d; want 2", s.InFlight())
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.Close()
	<-done
	<-done
	if got := s.MaxInFlight(); got != 2 {
		t.Errorf("MaxInFlight() = %d; want 2", got)
	}
	s.MalformedNext(1)
	req, _ := http.NewRequest(http.MethodGet, view(base, window), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || json.Valid(b) {
		t.Errorf("after MalformedNext = %d %q; want 200 with invalid JSON", resp.StatusCode, b)
	}
}

func postTokenAt(t *testing.T, base, authority string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+authority+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatalf("POST token: %v", err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// TestTokenBinding: applications serve the authorities their
// signInAudience allows, and a refresh token works only for the
// application and the authority that got it.
func TestTokenBinding(t *testing.T) {
	const tenantA, tenantB = "11111111-aaaa-4000-8000-000000000001", "22222222-bbbb-4000-8000-000000000002"
	tests := []struct {
		name       string
		seedClient string // the app the seeded refresh token belongs to
		seedAuth   string // and its authority
		client     string // who presents it
		authority  string // where
		wantStatus int
		wantError  string
		wantCode   float64
	}{
		{"own app, own tenant", "aad-a", tenantA, "aad-a", tenantA, 200, "", 0},
		{"own app at /common", "aad-a", tenantA, "aad-a", "common", 400, "invalid_request", 50194},
		{"own app at /organizations", "aad-a", tenantA, "aad-a", "organizations", 400, "invalid_request", 50194},
		{"single-tenant app at another tenant", "aad-a", tenantA, "aad-a", tenantB, 400, "unauthorized_client", 700016},
		{"token of app A presented by app B", "aad-a", tenantA, "aad-b", tenantB, 400, "invalid_grant", 70000},
		{"personal app at /consumers", "msa", "consumers", "msa", "consumers", 200, "", 0},
		{"personal app at /common", "msa", "consumers", "msa", "common", 400, "invalid_request", 9002331},
		{"multi-tenant token from /common at a tenant", "any", "common", "any", tenantA, 400, "invalid_grant", 70000},
		{"multi-tenant token at its own /common", "any", "common", "any", "common", 200, "", 0},
		{"unknown application", "any", "common", "nobody", "common", 400, "unauthorized_client", 700016},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &Server{}
			s.RegisterApp(App{ClientID: "aad-a", ClientSecret: "sec-aad-a", Audience: AudienceMyOrg, Tenant: tenantA})
			s.RegisterApp(App{ClientID: "aad-b", ClientSecret: "sec-aad-b", Audience: AudienceMyOrg, Tenant: tenantB})
			s.RegisterApp(App{ClientID: "msa", ClientSecret: "sec-msa", Audience: AudiencePersonal})
			s.RegisterApp(App{ClientID: "any", ClientSecret: "sec-any"})
			s.AddUser("", "fmg-rt-bound", nil)
			s.BindRefreshToken("fmg-rt-bound", tc.seedClient, tc.seedAuth)
			base := serve(t, s)
			form := url.Values{"client_id": {tc.client}, "client_secret": {"sec-" + tc.client}, "grant_type": {"refresh_token"}, "refresh_token": {"fmg-rt-bound"}, "scope": {"offline_access Calendars.Read"}}
			code, body := postTokenAt(t, base, tc.authority, form)
			if code != tc.wantStatus || (tc.wantError != "" && body["error"] != tc.wantError) {
				t.Fatalf("POST /%s/oauth2/v2.0/token = %d %v; want %d %s", tc.authority, code, body["error"], tc.wantStatus, tc.wantError)
			}
			if tc.wantError != "" {
				if codes, _ := body["error_codes"].([]any); len(codes) != 1 || codes[0] != tc.wantCode {
					t.Errorf("error_codes = %v; want [%v]", body["error_codes"], tc.wantCode)
				}
				return
			}
			// The new refresh token is bound where it was issued.
			rt2, _ := body["refresh_token"].(string)
			form.Set("refresh_token", rt2)
			if code, _ := postTokenAt(t, base, tc.authority, form); code != 200 {
				t.Errorf("new refresh token at its own authority = %d; want 200", code)
			}
			other := url.Values{"client_id": {"any"}, "client_secret": {"sec-any"}, "grant_type": {"refresh_token"}, "refresh_token": {rt2}, "scope": {"offline_access"}}
			if tc.client != "any" {
				if code, body := postTokenAt(t, base, "common", other); code != 400 || body["error"] != "invalid_grant" {
					t.Errorf("new refresh token presented by another app = %d %v; want 400 invalid_grant", code, body["error"])
				}
			}
		})
	}
}

// TestSkipTokenIsOpaque: the $skiptoken of a next link means something to
// this Server only; a forged or another Server's token is a 400.
func TestSkipTokenIsOpaque(t *testing.T) {
	s := &Server{}
	base := seeded(t, s)
	_, body := get(t, view(base, window+"&$top=2"), auth)
	u, _ := url.Parse(body.NextLink)
	tok := u.Query().Get("$skiptoken")
	if tok == "" || strings.Contains(tok, "2") && len(tok) < 8 {
		t.Fatalf("$skiptoken = %q; want an opaque token", tok)
	}
	if _, page2 := get(t, body.NextLink, auth); len(page2.Value) != 2 || page2.Value[0].ID != "ev3" {
		t.Errorf("following the next link = %+v; want ev3, ev4", page2.Value)
	}
	other := &Server{}
	otherBase := seeded(t, other)
	for _, forged := range []string{tok + "x", "X'2'", "2"} {
		if resp, _ := get(t, view(base, window+"&$top=2&$skiptoken="+url.QueryEscape(forged)), auth); resp.StatusCode != 400 {
			t.Errorf("forged $skiptoken %q = %d; want 400", forged, resp.StatusCode)
		}
	}
	if resp, _ := get(t, view(otherBase, window+"&$top=2&$skiptoken="+url.QueryEscape(tok)), auth); resp.StatusCode != 400 {
		t.Errorf("another Server's $skiptoken = %d; want 400", resp.StatusCode)
	}
}
