package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// postAccept sends query with the given Accept header (none when empty).
func (e *testEnv) postAccept(ctx context.Context, token, accept, query string) *gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

const apolloAccept = "multipart/mixed;deferSpec=20220824,application/graphql-response+json,application/json;q=0.9"

// nestedDeferQueries are @defer inside a deferred fragment, inline and
// through fragment spreads; gqlgen's executor never delivered the inner
// payload, so the request hung past REQUEST_TIMEOUT.
var nestedDeferQueries = map[string]string{
	"inline under identity":                             `{ me { identity(id: "github|9001") { ... @defer { id ... @defer { repos(first: 1) { nodes { fullName } } } } } } }`,
	"inline under identities":                           `{ me { identities { ... @defer { id ... @defer { repos(first: 1) { nodes { fullName } } } } } } }`,
	"spreads":                                           `{ me { identities { ...F @defer } } } fragment F on Identity { id ...G @defer } fragment G on Identity { repos(first: 1) { nodes { fullName } } }`,
	"plain spread inside a deferred one":                `{ me { identities { ...F @defer } } } fragment F on Identity { id ...H } fragment H on Identity { ... @defer { repos(first: 1) { nodes { fullName } } } }`,
	"deferred spread inside a deferred inline fragment": `{ me { identities { ... @defer { ...G @defer } } } } fragment G on Identity { repos(first: 1) { nodes { fullName } } }`,
}

// TestNestedDeferIsRejected: every nested @defer, whatever the Accept
// header, is answered at once with one validation error and leaves no
// goroutine behind.
func TestNestedDeferIsRejected(t *testing.T) {
	e := newEnv(t, envOptions{env: map[string]string{"REQUEST_TIMEOUT": "20s"}})
	token := e.sb.Token(sandbox.Ada)
	// A single level of @defer works; it also warms up connections and
	// caches before goroutines are counted.
	ok := e.postAccept(context.Background(), token, "", `{ me { identities { id ... @defer { repos(first: 1) { nodes { fullName } } } } } }`)
	if ok.Status != http.StatusOK || len(ok.Errors) != 0 || !strings.Contains(string(ok.Data), "fullName") {
		t.Errorf("one @defer: status %d %s; want data without errors", ok.Status, ok.Raw)
	}
	http.DefaultClient.CloseIdleConnections()
	before := runtime.NumGoroutine()
	for name, q := range nestedDeferQueries {
		for _, accept := range []string{"", "application/json", apolloAccept} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			r := e.postAccept(ctx, token, accept, q)
			cancel()
			if r.Status == -1 {
				t.Fatalf("%s, Accept %q: no answer within 10s", name, accept)
			}
			if len(r.Errors) != 1 || r.codes()[0] != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Errors[0].Message, "@defer inside a deferred fragment") {
				t.Errorf("%s, Accept %q: status %d %s; want one GRAPHQL_VALIDATION_FAILED about nested @defer", name, accept, r.Status, r.Raw)
			}
			if len(r.Data) > 0 && string(r.Data) != "null" {
				t.Errorf("%s, Accept %q: data %s; want none", name, accept, r.Data)
			}
		}
	}
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before+2 && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > before+2 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("goroutines: %d before, %d after; stacks:\n%s", before, n, buf)
	}
}

// TestDuplicateDeferLabelsAreRejected: labels must be unique in a
// document (incremental delivery RFC).
func TestDuplicateDeferLabelsAreRejected(t *testing.T) {
	e := newEnv(t, envOptions{})
	q := `{ me { identities { ... @defer(label: "x") { id } ... @defer(label: "x") { provider } } } }`
	r := e.postAccept(context.Background(), e.sb.Token(sandbox.Ada), "", q)
	if len(r.Errors) != 1 || r.codes()[0] != "GRAPHQL_VALIDATION_FAILED" || !strings.Contains(r.Errors[0].Message, `"x"`) {
		t.Errorf("status %d %s; want one GRAPHQL_VALIDATION_FAILED naming the label", r.Status, r.Raw)
	}
}

// TestSpentUnauthBudgetLetsKnownTokensThrough: once an address has spent
// its 401 budget, a token the gateway verified before still gets through;
// a token never seen, and bad tokens, are answered 429.
func TestSpentUnauthBudgetLetsKnownTokensThrough(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	known := e.sb.Token(sandbox.Ada)
	if r := e.post(ctx, known, `{ me { id } }`, nil); r.Status != http.StatusOK {
		t.Fatalf("first request: status %d %s", r.Status, r.Raw)
	}
	statuses := map[int]int{}
	for range 25 {
		statuses[e.post(ctx, "not.a.token", `{ me { id } }`, nil).Status]++
	}
	if statuses[http.StatusTooManyRequests] == 0 {
		t.Fatalf("25 bad tokens: statuses %v; want the budget spent (some 429)", statuses)
	}
	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"verified before", known, http.StatusOK},
		{"never seen", e.sb.Token(sandbox.Grace), http.StatusTooManyRequests},
		{"bad", "not.a.token", http.StatusTooManyRequests},
		{"verified before, again", known, http.StatusOK},
	} {
		if r := e.post(ctx, tc.token, `{ me { id } }`, nil); r.Status != tc.want {
			t.Errorf("%s token after the budget is spent: status %d %s; want %d", tc.name, r.Status, r.Raw, tc.want)
		}
	}
}

// TestCalendarWindowPastYear9999: from near the end of 9999 puts the
// default end in the year 10000; the window is refused with
// BAD_USER_INPUT and no provider is called.
func TestCalendarWindowPastYear9999(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, args := range []string{
		`from: "9999-12-31T23:59:59Z"`,
		`from: "9999-12-30T00:00:00Z", to: "9999-12-31T23:59:59Z"`, // in range: allowed
	} {
		before := e.sb.Google.Calls() + e.sb.MSGraph.Calls()
		r := e.post(context.Background(), e.sb.Token(sandbox.Ada), `{ me { identities { calendar(`+args+`, first: 1) { nodes { title } } } } }`, nil)
		calls := e.sb.Google.Calls() + e.sb.MSGraph.Calls() - before
		inRange := strings.Contains(args, "to:")
		if inRange {
			if calls == 0 || slices.Contains(r.codes(), "BAD_USER_INPUT") {
				t.Errorf("calendar(%s): %d calls, %s; want the providers asked", args, calls, r.Raw)
			}
			continue
		}
		if calls != 0 {
			t.Errorf("calendar(%s): %d provider calls; want 0", args, calls)
		}
		if len(r.Errors) == 0 {
			t.Fatalf("calendar(%s): %s; want BAD_USER_INPUT", args, r.Raw)
		}
		for _, err := range r.Errors {
			if err.Extensions["code"] != "BAD_USER_INPUT" || !strings.Contains(err.Message, "9999") {
				t.Errorf("calendar(%s): error %+v; want BAD_USER_INPUT about the year range", args, err)
			}
		}
	}
}

// TestMultipartAcceptRequestErrors: a request error (parse, validation)
// from a client accepting multipart/mixed is answered like any other
// (GraphQL over HTTP): the best non-multipart type the Accept header
// lists, 400 and no "data" for application/graphql-response+json, 200 for
// application/json (the default when only multipart/mixed is listed).
func TestMultipartAcceptRequestErrors(t *testing.T) {
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	for _, q := range []string{`{ me {`, `{ me { nope } }`} {
		for _, tc := range []struct {
			accept     string
			wantStatus int
			wantType   string
			wantData   bool
		}{
			{apolloAccept, http.StatusBadRequest, "application/graphql-response+json", false},
			{"application/graphql-response+json", http.StatusBadRequest, "application/graphql-response+json", false},
			{"multipart/mixed", http.StatusOK, "application/json", true},
			{"multipart/mixed, application/json", http.StatusOK, "application/json", true},
		} {
			r := e.postAccept(context.Background(), token, tc.accept, q)
			var body map[string]json.RawMessage
			_ = json.Unmarshal(r.Raw, &body)
			_, hasData := body["data"]
			ct := r.Header.Get("Content-Type")
			if r.Status != tc.wantStatus || !strings.HasPrefix(ct, tc.wantType) || hasData != tc.wantData || len(r.Errors) == 0 {
				t.Errorf("%q with Accept %q: status %d, Content-Type %q, %s; want %d %s, data present %v, errors",
					q, tc.accept, r.Status, ct, r.Raw, tc.wantStatus, tc.wantType, tc.wantData)
			}
		}
	}
}

// TestMultipartOverTheSizeBoundEndsWithAnErrorPart: a multipart answer
// that would exceed MAX_RESPONSE_BYTES ends with a well-formed final part
// carrying RESPONSE_TOO_LARGE and hasNext false, within the bound, and the
// access log line says it was truncated.
func TestMultipartOverTheSizeBoundEndsWithAnErrorPart(t *testing.T) {
	const limit = 3000
	e := newEnv(t, envOptions{env: map[string]string{"MAX_RESPONSE_BYTES": "3000"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := `{ me { identities { id ... @defer { repos(first: 50) { nodes { fullName url description } } } } } }`
	resp, mr := e.postMultipart(ctx, e.sb.Token(sandbox.Ada), q)
	var parts []part
	for {
		p, ok := e.nextPart(mr)
		if !ok {
			break
		}
		parts = append(parts, p)
	}
	if resp.StatusCode != http.StatusOK || len(parts) == 0 {
		t.Fatalf("status %d, %d parts; want 200 and parts", resp.StatusCode, len(parts))
	}
	last := parts[len(parts)-1]
	if last.HasNext == nil || *last.HasNext || len(last.Errors) != 1 || last.Errors[0].Extensions["code"] != "RESPONSE_TOO_LARGE" {
		raw, _ := json.Marshal(last)
		t.Errorf("last part %s; want one RESPONSE_TOO_LARGE error and hasNext false", raw)
	}
	var total int
	e.mu.Lock()
	for _, r := range e.responses[len(e.responses)-len(parts):] {
		total += len(r)
	}
	e.mu.Unlock()
	if total > limit {
		t.Errorf("parts total %d bytes; want at most %d", total, limit)
	}
	resp.Body.Close()
	e.srv.Close() // the access line is written when the handler returns
	if logs := e.log.String(); !strings.Contains(logs, `"truncated":"RESPONSE_TOO_LARGE"`) {
		t.Errorf("access log has no truncated field:\n%s", logs)
	}
}

// TestUnsupportedContentTypeOrMethod: a request no transport takes gets
// one error with a code and no data, not gqlgen's bare message.
func TestUnsupportedContentTypeOrMethod(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, tc := range []struct {
		method, contentType string
		want                int
	}{
		{http.MethodPost, "text/plain", http.StatusUnsupportedMediaType},
		{http.MethodPost, "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
		{http.MethodPut, "application/json", http.StatusMethodNotAllowed},
	} {
		req, _ := http.NewRequest(tc.method, e.url+"/graphql", strings.NewReader(`{"query":"{ me { id } }"}`))
		req.Header.Set("Content-Type", tc.contentType)
		req.Header.Set("Authorization", "Bearer "+e.sb.Token(sandbox.Ada))
		r := e.do(req)
		var body map[string]json.RawMessage
		_ = json.Unmarshal(r.Raw, &body)
		_, hasData := body["data"]
		if r.Status != tc.want || hasData || len(r.Errors) != 1 || r.codes()[0] != "BAD_REQUEST" {
			t.Errorf("%s with %s: status %d %s; want %d, one BAD_REQUEST error, no data", tc.method, tc.contentType, r.Status, r.Raw, tc.want)
		}
	}
}

// TestIntVariableCoercionComesFirst: an Int variable that does not coerce
// is one BAD_USER_INPUT error naming it, before the query's cost is
// measured with it.
func TestIntVariableCoercionComesFirst(t *testing.T) {
	e := newEnv(t, envOptions{})
	const q = `query Q($f: Int) { me { identities { repos(first: $f) { nodes { fullName } } } } }`
	for _, tc := range []struct {
		name string
		f    any
		ok   bool
	}{
		{"huge number", 1e300, false},
		{"numeric string", "100000000000", false},
		{"fraction", 2.5, false},
		{"out of int32", int64(1) << 40, false},
		{"boolean", true, false},
		{"in range", 2, true},
		{"null", nil, true},
	} {
		r := e.post(context.Background(), e.sb.Token(sandbox.Ada), q, map[string]any{"f": tc.f})
		if tc.ok {
			if len(r.Errors) != 0 || r.Status != http.StatusOK {
				t.Errorf("%s: status %d %s; want data without errors", tc.name, r.Status, r.Raw)
			}
			continue
		}
		if len(r.Errors) != 1 || r.codes()[0] != "BAD_USER_INPUT" || !strings.Contains(r.Errors[0].Message, `"$f"`) {
			t.Errorf("%s: status %d %s; want one BAD_USER_INPUT naming $f", tc.name, r.Status, r.Raw)
		}
	}
}

// TestSeveralOperationsNeedOperationName: one error saying operationName
// is required, nothing else.
func TestSeveralOperationsNeedOperationName(t *testing.T) {
	e := newEnv(t, envOptions{})
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), `query A { me { id } } query B { me { id } }`, nil)
	if len(r.Errors) != 1 || !strings.Contains(r.Errors[0].Message, "operationName is required") {
		t.Errorf("status %d %s; want one error saying operationName is required", r.Status, r.Raw)
	}
}

// TestUnauthorizedFloodLogsBoundedLines: 401s within the address's budget
// write no INFO line of their own, and the access log samples them: a
// flood of 15 writes at most a couple of INFO lines, which say why.
func TestUnauthorizedFloodLogsBoundedLines(t *testing.T) {
	e := newEnv(t, envOptions{})
	bad := e.sb.Token(sandbox.Ada)
	bad = bad[:len(bad)-4] + "AAAA" // a bad signature
	start := len(e.log.String())
	for range 15 {
		if r := e.post(context.Background(), bad, `{ me { id } }`, nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("status %d %s; want 401", r.Status, r.Raw)
		}
	}
	e.srv.Close()
	var info []string
	for line := range strings.SplitSeq(e.log.String()[start:], "\n") {
		if strings.Contains(line, `"level":"INFO"`) {
			info = append(info, line)
		}
	}
	if len(info) == 0 || len(info) > 2 {
		t.Fatalf("%d INFO lines for 15 401s; want 1 or 2:\n%s", len(info), strings.Join(info, "\n"))
	}
	if !strings.Contains(info[0], `"authn_reason":"`) {
		t.Errorf("access line %s; want the rejection reason", info[0])
	}
}

// TestConnectionWithoutAdapterLogsAdapters: a configured connection
// without ADAPTER logs "by provider" and which adapter serves which
// provider, not a sentence in place of the adapter's name.
func TestConnectionWithoutAdapterLogsAdapters(t *testing.T) {
	e := newEnv(t, envOptions{env: map[string]string{"CONNECTION_ACME_CORP_API_URL": "https://ghe.example.com/api/v3/"}})
	var line map[string]any
	for l := range strings.SplitSeq(e.log.String(), "\n") {
		if strings.Contains(l, `"connection":"acme-corp"`) && strings.Contains(l, `"msg":"connection"`) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	adapters, _ := line["adapters"].(string)
	if line["adapter"] != "by provider" || !strings.Contains(adapters, "github=github") {
		t.Errorf("start-up line %v; want adapter \"by provider\" and adapters listing github=github", line)
	}
}

// TestDateTimeLowerCaseTAndZ: RFC 3339 §5.6 allows "t" and "z".
func TestDateTimeLowerCaseTAndZ(t *testing.T) {
	e := newEnv(t, envOptions{})
	for _, args := range []string{
		`from: "2026-12-01t00:00:00z", to: "2026-12-08t00:00:00z"`,
		`from: "2026-12-01t00:00:00+01:00"`,
		`from: "2026-12-01T00:00:00z"`,
	} {
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), `{ me { identities { calendar(`+args+`, first: 1) { nodes { title } } } } }`, nil)
		if len(r.Errors) != 0 || !strings.Contains(string(r.Data), `"calendar":{`) {
			t.Errorf("calendar(%s): %s; want a calendar without errors", args, r.Raw)
		}
	}
	r := e.post(context.Background(), e.sb.Token(sandbox.Grace), `{ me { identities { calendar(from: "2026-12-01x00:00:00Z") { nodes { title } } } } }`, nil)
	if len(r.Errors) != 1 || r.codes()[0] != "BAD_USER_INPUT" {
		t.Errorf("a bad separator: %s; want one BAD_USER_INPUT", r.Raw)
	}
}

// TestMicrosoftCursorNamesNoUpstreamHost: the calendar cursor of a
// Microsoft identity carries Graph's next link without the configured
// base, and still pages.
func TestMicrosoftCursorNamesNoUpstreamHost(t *testing.T) {
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	const q = `query($after: String) { me { identity(id: "windowslive|0123456789abcdef") { calendar(from: "2026-11-01T00:00:00Z", to: "2027-03-01T00:00:00Z", first: 1, after: $after) { nodes { title } pageInfo { hasNextPage endCursor } } } } }`
	type page struct {
		Me struct {
			Identity struct {
				Calendar struct {
					Nodes    []struct{ Title string }
					PageInfo struct {
						HasNextPage bool
						EndCursor   string
					}
				}
			}
		}
	}
	var p1, p2 page
	r := e.post(context.Background(), token, q, nil)
	if err := json.Unmarshal(r.Data, &p1); err != nil || len(r.Errors) != 0 || !p1.Me.Identity.Calendar.PageInfo.HasNextPage {
		t.Fatalf("page 1: %s; want a next page", r.Raw)
	}
	cursor := p1.Me.Identity.Calendar.PageInfo.EndCursor
	payload, _, _ := strings.Cut(cursor, ".")
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		t.Fatalf("cursor %q: %v", cursor, err)
	}
	if host := strings.TrimPrefix(e.sb.MSGraphURL, "http://"); strings.Contains(string(raw), "127.0.0.1") || strings.Contains(string(raw), "http") || (host != "" && strings.Contains(string(raw), host)) {
		t.Errorf("cursor payload %s names the upstream", raw)
	}
	r = e.post(context.Background(), token, q, map[string]any{"after": cursor})
	if err := json.Unmarshal(r.Data, &p2); err != nil || len(r.Errors) != 0 || len(p2.Me.Identity.Calendar.Nodes) != 1 ||
		p2.Me.Identity.Calendar.Nodes[0].Title == p1.Me.Identity.Calendar.Nodes[0].Title {
		t.Errorf("page 2: %s; want the next event", r.Raw)
	}
}
