package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// gateway is gqlgen's handler over the real schema with an executable
// schema that counts executions instead of resolving, so a test can prove
// that a rejected operation never reaches a resolver.
type gateway struct {
	url   string
	execs atomic.Int64
	// introspection records whether the last execution allowed it.
	introspection atomic.Bool
}

func newGateway(t *testing.T, o Options) *gateway {
	t.Helper()
	gw, err := startGateway(t, o)
	if err != nil {
		t.Fatalf("Configure(%+v) = %v", o, err)
	}
	return gw
}

func startGateway(t *testing.T, o Options) (*gateway, error) {
	t.Helper()
	schema := loadSchema(t)
	gw := &gateway{}
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			gw.execs.Add(1)
			gw.introspection.Store(!graphql.GetOperationContext(ctx).DisableIntrospection)
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"executed":true}`)})
		},
	}
	srv := handler.New(es)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	if err := Configure(srv, o); err != nil {
		return nil, err
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	gw.url = ts.URL
	return gw, nil
}

type gqlError struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	status int
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r gqlResponse) code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	c, _ := r.Errors[0].Extensions["code"].(string)
	return c
}

func (gw *gateway) post(t *testing.T, body map[string]any) gqlResponse {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(gw.url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out gqlResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("decode response: %v", err)
	}
	out.status = resp.StatusCode
	return out
}

const literalFirst100 = `{ me { identities { a: repos(first: 100) { nodes { id } } b: repos(first: 100) { nodes { id } } c: repos(first: 100) { nodes { id } } d: repos(first: 100) { nodes { id } } e: repos(first: 100) { nodes { id } } } } }`

func TestExtensionEndToEnd(t *testing.T) {
	gw := newGateway(t, Options{Introspection: true})
	tests := []struct {
		name       string
		query      string
		vars       map[string]any
		wantStatus int
		wantLimit  string // "" means executed
		wantMsg    string
	}{
		{name: "small query runs", query: `{ me { id identities { repos { nodes { name } } } } }`, wantStatus: 200},
		{name: "complete Relay query at default sizes runs", query: relayAll, wantStatus: 200},
		{
			name: "20 repos aliases exceed the cost", query: reposAliases(20), wantStatus: 422,
			wantLimit: LimitAliases, wantMsg: "alias count 20 exceeds the limit of 15",
		},
		{
			name: "5 repos aliases at first 100 exceed the cost", wantStatus: 422,
			query:     `query($n: Int) { me { identities { a: repos(first: $n) { nodes { id } } b: repos(first: $n) { nodes { id } } c: repos(first: $n) { nodes { id } } d: repos(first: $n) { nodes { id } } e: repos(first: $n) { nodes { id } } } } }`,
			vars:      map[string]any{"n": 100},
			wantLimit: LimitCost, wantMsg: "query cost 6009 exceeds the limit of 5000",
		},
		{
			// Without variables the report is remembered for the cached
			// document: the second request must be refused just the same.
			name: "5 repos aliases at a literal first 100 exceed the cost", wantStatus: 422,
			query:     literalFirst100,
			wantLimit: LimitCost, wantMsg: "query cost 6009 exceeds the limit of 5000",
		},
		{
			name: "5 repos aliases at a literal first 100 exceed the cost again", wantStatus: 422,
			query:     literalFirst100,
			wantLimit: LimitCost, wantMsg: "query cost 6009 exceeds the limit of 5000",
		},
		{
			name: "the same at first 10 runs", wantStatus: 200,
			query: `query($n: Int) { me { identities { a: repos(first: $n) { nodes { id } } b: repos(first: $n) { nodes { id } } c: repos(first: $n) { nodes { id } } d: repos(first: $n) { nodes { id } } e: repos(first: $n) { nodes { id } } } } }`,
			vars:  map[string]any{"n": 10},
		},
		{
			name: "root fields", wantStatus: 422,
			query:     `{ a: me { id } b: me { id } c: me { id } d: me { id } e: me { id } f: me { id } }`,
			wantLimit: LimitRootFields, wantMsg: "root field count 6 exceeds the limit of 5",
		},
		{
			name: "directive bomb is stopped before validation", wantStatus: 422,
			query:     `{ me { id` + strings.Repeat(" @x", 51) + ` } }`,
			wantLimit: LimitDirectives, wantMsg: "directive count 51 exceeds the limit of 50",
		},
		{
			name: "token flood", wantStatus: 422,
			query:     `{ me { ` + strings.Repeat("id ", 2000) + `} }`,
			wantLimit: LimitTokens, wantMsg: "query has more than 2000 tokens",
		},
		{name: "introspection query passes the limits", query: introspectionQuery, wantStatus: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := gw.execs.Load()
			got := gw.post(t, map[string]any{"query": tt.query, "variables": tt.vars})
			executed := gw.execs.Load() - before
			if got.status != tt.wantStatus {
				t.Errorf("status = %d; want %d (errors %+v)", got.status, tt.wantStatus, got.Errors)
			}
			if tt.wantLimit == "" {
				if executed != 1 || len(got.Errors) > 0 {
					t.Errorf("executions = %d, errors = %+v; want 1, none", executed, got.Errors)
				}
				return
			}
			if executed != 0 {
				t.Errorf("executions = %d; want 0 for a rejected operation", executed)
			}
			if len(got.Errors) != 1 {
				t.Fatalf("errors = %+v; want one", got.Errors)
			}
			e := got.Errors[0]
			if e.Message != tt.wantMsg || e.Extensions["code"] != "GRAPHQL_VALIDATION_FAILED" || e.Extensions["limit"] != tt.wantLimit {
				t.Errorf("error = %+v; want message %q, code GRAPHQL_VALIDATION_FAILED, limit %q", e, tt.wantMsg, tt.wantLimit)
			}
		})
	}
}

func TestExtensionDepthThroughFragments(t *testing.T) {
	gw := newGateway(t, Options{Limits: Limits{MaxDepth: 4}})
	got := gw.post(t, map[string]any{"query": `{ me { ...U } } fragment U on User { identities { ...I } } fragment I on Identity { repos { ...C } } fragment C on RepositoryConnection { nodes { name } }`})
	if want := "query depth 5 exceeds the limit of 4"; len(got.Errors) != 1 || got.Errors[0].Message != want || gw.execs.Load() != 0 {
		t.Errorf("errors = %+v, executions = %d; want %q, 0", got.Errors, gw.execs.Load(), want)
	}
}

func TestExtensionFieldCount(t *testing.T) {
	gw := newGateway(t, Options{Limits: Limits{MaxFields: 10}})
	got := gw.post(t, map[string]any{"query": `{ me { id name nickname email picture identities { id provider connection userId isSocial } } }`})
	if want := "field count 12 exceeds the limit of 10"; len(got.Errors) != 1 || got.Errors[0].Message != want {
		t.Errorf("errors = %+v; want %q", got.Errors, want)
	}
}

func TestReportFromContext(t *testing.T) {
	schema := loadSchema(t)
	var got *Report
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			got = ReportFromContext(ctx)
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{}`)})
		},
	}
	srv := handler.New(es)
	srv.AddTransport(transport.POST{})
	if err := Configure(srv, Options{}); err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"query":"{ me { identities { repos { nodes { name } } } } }"}`))
	r.Header.Set("Content-Type", "application/json")
	srv.ServeHTTP(httptest.NewRecorder(), r)
	want := Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 649}
	if got == nil || *got != want {
		t.Errorf("ReportFromContext() = %+v; want %+v", got, want)
	}
	if r := ReportFromContext(context.Background()); r != nil {
		t.Errorf("ReportFromContext(background) = %+v; want nil", r)
	}
}

func TestIntrospectionOption(t *testing.T) {
	for _, enabled := range []bool{false, true} {
		gw := newGateway(t, Options{Introspection: enabled})
		gw.post(t, map[string]any{"query": `{ __schema { queryType { name } } }`})
		if got := gw.introspection.Load(); got != enabled {
			t.Errorf("Introspection: %v: operation allowed introspection = %v; want %v", enabled, got, enabled)
		}
	}
}

func TestSuggestions(t *testing.T) {
	tests := []struct {
		query string
		want  string // with suggestions
	}{
		{`{ me { nam } }`, `Cannot query field "nam" on type "User". Did you mean "name"?`},
		{`{ me { identities { repos(firs: 3) { nodes { id } } } } }`, `Unknown argument "firs" on field "Identity.repos". Did you mean "first"?`},
		{`{ me { ...F } } fragment F on Usr { id }`, `Unknown type "Usr". Did you mean "User"?`},
	}
	on := newGateway(t, Options{Suggestions: true})
	off := newGateway(t, Options{})
	for _, tt := range tests {
		got := on.post(t, map[string]any{"query": tt.query})
		if len(got.Errors) == 0 || got.Errors[0].Message != tt.want {
			t.Errorf("with suggestions: %q errors = %+v; want first %q", tt.query, got.Errors, tt.want)
		}
		want, _, _ := strings.Cut(tt.want, " Did you mean ")
		got = off.post(t, map[string]any{"query": tt.query})
		if len(got.Errors) == 0 {
			t.Fatalf("without suggestions: %q: no errors", tt.query)
		}
		for _, e := range got.Errors {
			if strings.Contains(e.Message, "Did you mean") {
				t.Errorf("without suggestions: %q message %q suggests", tt.query, e.Message)
			}
		}
		if got.Errors[0].Message != want {
			t.Errorf("without suggestions: %q message = %q; want %q", tt.query, got.Errors[0].Message, want)
		}
	}
}

func TestAPQ(t *testing.T) {
	gw := newGateway(t, Options{APQCacheSize: 10, APQMaxQueryBytes: 200})
	query := `{ me { id } }`
	long := `{ me { id` + strings.Repeat(" ", 300) + `} }`
	pq := func(hash string) map[string]any {
		return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	}
	steps := []struct {
		name     string
		body     map[string]any
		wantCode string
		wantMsg  string
		wantExec bool
	}{
		{"unknown hash", map[string]any{"extensions": pq(hashQuery(query))}, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", false},
		{"hash mismatch", map[string]any{"query": query, "extensions": pq(hashQuery("{ me { name } }"))}, "", "provided APQ hash does not match query", false},
		{"register", map[string]any{"query": query, "extensions": pq(hashQuery(query))}, "", "", true},
		{"hash alone", map[string]any{"extensions": pq(hashQuery(query))}, "", "", true},
		{"long query runs", map[string]any{"query": long, "extensions": pq(hashQuery(long))}, "", "", true},
		{"long query was not stored", map[string]any{"extensions": pq(hashQuery(long))}, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound", false},
		{"over the limits is not stored", map[string]any{"query": reposAliases(20) + strings.Repeat("#\n", 2000), "extensions": pq(hashQuery(reposAliases(20) + strings.Repeat("#\n", 2000)))}, "GRAPHQL_VALIDATION_FAILED", "query has more than 2000 tokens", false},
	}
	for _, s := range steps {
		before := gw.execs.Load()
		got := gw.post(t, s.body)
		executed := gw.execs.Load() > before
		if executed != s.wantExec || got.code() != s.wantCode || (s.wantMsg != "" && (len(got.Errors) == 0 || got.Errors[0].Message != s.wantMsg)) {
			t.Errorf("%s: executed = %v, errors = %+v; want %v, code %q, message %q", s.name, executed, got.Errors, s.wantExec, s.wantCode, s.wantMsg)
		}
	}
}

func TestTrusted(t *testing.T) {
	meQuery := `query Me { me { id } }`
	reposQuery := `query Repos($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`
	manifest := map[string]any{
		"format":  "apollo-persisted-query-manifest",
		"version": 1,
		"operations": []map[string]any{
			{"id": hashQuery(meQuery), "name": "Me", "type": "query", "body": meQuery},
			{"id": "custom-id", "name": "Repos", "type": "query", "body": reposQuery},
		},
	}
	path := writeJSON(t, manifest)
	m, err := LoadManifest(path)
	if err != nil {
		t.Fatal(err)
	}
	pq := func(id string) map[string]any {
		return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": id}}
	}
	tests := []struct {
		name      string
		requireID bool
		body      map[string]any
		wantCode  string
	}{
		{"id alone", false, map[string]any{"extensions": pq(hashQuery(meQuery))}, ""},
		{"custom id with variables", false, map[string]any{"extensions": pq("custom-id"), "variables": map[string]any{"n": 5}}, ""},
		{"id and its query", false, map[string]any{"query": meQuery, "extensions": pq(hashQuery(meQuery))}, ""},
		{"query text in the list", false, map[string]any{"query": meQuery}, ""},
		{"unknown id", false, map[string]any{"extensions": pq(hashQuery("{ me { name } }"))}, gqlresp.CodePersistedQueryNotInList},
		{"id with another query", false, map[string]any{"query": `{ me { name } }`, "extensions": pq(hashQuery(meQuery))}, gqlresp.CodeQueryNotInSafelist},
		{"query text not in the list", false, map[string]any{"query": `{ me { name } }`}, gqlresp.CodeQueryNotInSafelist},
		{"query text differing in whitespace", false, map[string]any{"query": meQuery + " "}, gqlresp.CodeQueryNotInSafelist},
		{"bad version", false, map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 2, "sha256Hash": "x"}}}, gqlresp.CodePersistedQueryNotInList},
		{"id required", true, map[string]any{"query": meQuery}, gqlresp.CodePersistedQueryIDRequired},
		{"id required, id sent", true, map[string]any{"extensions": pq(hashQuery(meQuery))}, ""},
	}
	gws := map[bool]*gateway{
		false: newGateway(t, Options{Trusted: m}),
		true:  newGateway(t, Options{Trusted: m, RequireTrustedID: true}),
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := gws[tt.requireID]
			before := gw.execs.Load()
			got := gw.post(t, tt.body)
			executed := gw.execs.Load() > before
			if got.code() != tt.wantCode || executed != (tt.wantCode == "") {
				t.Errorf("code = %q (errors %+v), executed = %v; want %q, %v", got.code(), got.Errors, executed, tt.wantCode, tt.wantCode == "")
			}
		})
	}
}

func TestConfigureErrors(t *testing.T) {
	stale, err := ParseManifest(mustJSON(t, map[string]string{hashQuery(`{ me { login } }`): `{ me { login } }`}))
	if err != nil {
		t.Fatal(err)
	}
	good, err := ParseManifest(mustJSON(t, map[string]string{hashQuery(`{ me { id } }`): `{ me { id } }`}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		o    Options
		want string
	}{
		{"negative limit", Options{Limits: Limits{MaxCost: -1}}, "MaxCost is -1"},
		{"trusted and APQ", Options{Trusted: good, APQCacheSize: 10}, "exclude each other"},
		{"require id without manifest", Options{RequireTrustedID: true}, "needs a trusted documents manifest"},
		{"unknown cost field", Options{Costs: Costs{Fields: map[string]FieldCost{"Identity.projects": {Weight: 5}}}}, "type Identity has no field projects"},
		{"slicing argument missing", Options{Costs: Costs{Fields: map[string]FieldCost{"Identity.repos": {SlicingArgument: "last", SizedFields: []string{"nodes"}}}}}, "has no argument last"},
		{"sized field not a list", Options{Costs: Costs{Fields: map[string]FieldCost{"Identity.repos": {SlicingArgument: "first", SizedFields: []string{"pageInfo"}}}}}, "is not a list"},
		{"stale manifest", Options{Trusted: stale}, `Cannot query field "login" on type "User"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := startGateway(t, tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Configure() = %v; want an error containing %q", err, tt.want)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeJSON(t *testing.T, v any) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, mustJSON(t, v), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTokenLimitAgreesWithParser checks that the lexical pre-scan and
// gqlparser's parser count tokens alike, so the pre-scan decides.
func TestTokenLimitAgreesWithParser(t *testing.T) {
	gw := newGateway(t, Options{Limits: Limits{MaxTokens: 100}})
	tests := []struct {
		name     string
		query    string // 6 tokens plus comments
		wantExec bool
	}{
		{"at the limit", strings.Repeat("# c\n", 94) + `{ me { id } }`, true},
		{"one over", strings.Repeat("# c\n", 95) + `{ me { id } }`, false},
		{"at the limit, comments last", `{ me { id } }` + strings.Repeat("\n# c", 94), true},
		{"one over, comments last", `{ me { id } }` + strings.Repeat("\n# c", 95), false},
	}
	for _, tt := range tests {
		before := gw.execs.Load()
		got := gw.post(t, map[string]any{"query": tt.query})
		if executed := gw.execs.Load() > before; executed != tt.wantExec {
			t.Errorf("%s: executed = %v (errors %+v); want %v", tt.name, executed, got.Errors, tt.wantExec)
		}
		if !tt.wantExec && (len(got.Errors) != 1 || got.Errors[0].Extensions["limit"] != LimitTokens) {
			t.Errorf("%s: errors = %+v; want the guard's token limit", tt.name, got.Errors)
		}
	}
}
