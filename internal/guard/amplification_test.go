package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

type userKey struct{}

// amplifier serves the real schema behind Configure like newGateway, and
// takes the caller's name from the X-User header (APQ partitions by user).
type amplifier struct {
	url   string
	execs atomic.Int64
}

func newAmplifier(t *testing.T, o Options) *amplifier {
	t.Helper()
	schema := loadSchema(t)
	a := &amplifier{}
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			a.execs.Add(1)
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"executed":true}`)})
		},
	}
	srv := handler.New(es)
	srv.AddTransport(transport.GET{})
	srv.AddTransport(transport.POST{})
	o.APQUserKey = func(ctx context.Context) (string, bool) {
		u, ok := ctx.Value(userKey{}).(string)
		return u, ok
	}
	if err := Configure(srv, o); err != nil {
		t.Fatalf("Configure = %v", err)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		srv.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, r.Header.Get("X-User"))))
	}))
	t.Cleanup(ts.Close)
	a.url = ts.URL
	return a
}

type rawReply struct {
	status int
	size   int
	resp   gqlResponse
}

func (a *amplifier) post(t *testing.T, user string, body map[string]any) rawReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, a.url, bytes.NewReader(mustJSON(t, body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-User", user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := rawReply{status: resp.StatusCode, size: len(b)}
	if err := json.Unmarshal(b, &out.resp); err != nil {
		t.Fatalf("decode %q: %v", b[:min(len(b), 200)], err)
	}
	return out
}

// conflicting selects n fields under one response key, alternating two
// fields: each pair of them is a validation conflict.
func conflicting(n int) string {
	var b strings.Builder
	b.WriteString("{ me { ")
	for i := range n {
		if i%2 == 0 {
			b.WriteString("x: id ")
		} else {
			b.WriteString("x: name ")
		}
	}
	b.WriteString("} }")
	return b.String()
}

func typenames(n int) string {
	return "{ me { " + strings.Repeat("__typename ", n) + "} }"
}

func persisted(query string) map[string]any {
	return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hashQuery(query)}}
}

// TestAmplification: documents built to make validation expensive or its
// error list huge answer with a small body and a bounded error list, and
// nothing of them is stored by APQ.
func TestAmplification(t *testing.T) {
	a := newAmplifier(t, Options{APQCacheSize: 100, QueryCacheSize: 100})
	tests := []struct {
		name      string
		query     string
		maxErrors int
		wantLimit string
		wantMsg   string
	}{
		// Issue 10.1: 26.4 MB and 105,625 errors before this change.
		{"650 conflicting fields", conflicting(650), 1, LimitAliases, "alias count 650 exceeds the limit of 15"},
		{"650 fields", "{ me { " + strings.Repeat("id ", 650) + "} }", 1, LimitFields, "field count 651 exceeds the limit of 200"},
		// Inside the limits: validation runs and its list is capped.
		{"66 conflicting connections", worstConflicting(), MaxErrors + 1, "", ""},
		// Issue 10.2: __typename is a field like any other.
		{"1990 __typename", typenames(1990), 1, LimitFields, "field count 1991 exceeds the limit of 200"},
		{"aliases counted before validation", "{ me { " + strings.Repeat("a: nope ", 16) + "} }", 1, LimitAliases, "alias count 16 exceeds the limit of 15"},
		{"depth counted before validation", "{ a { b { c { d { e { f { g { h { i { j { k } } } } } } } } } } }", 1, LimitDepth, "query depth 11 exceeds the limit of 10"},
		{"root fields counted before validation", "{ a b c d e f }", 1, LimitRootFields, "root field count 6 exceeds the limit of 5"},
		{"fields of other operations count", "query A { me { " + strings.Repeat("id ", 150) + "} } query B { me { " + strings.Repeat("id ", 150) + "} }", 1, LimitFields, "field count 302 exceeds the limit of 200"},
		{"introspection off is rejected before validation", "{ __schema { types { name } } }", 1, LimitIntrospection, "introspection is disabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := a.execs.Load()
			body := map[string]any{"query": tt.query, "extensions": persisted(tt.query)}
			got := a.post(t, "mallory", body)
			if a.execs.Load() != before {
				t.Errorf("executed; want rejected")
			}
			if n := len(got.resp.Errors); n == 0 || n > tt.maxErrors {
				t.Errorf("%d errors; want 1 to %d", n, tt.maxErrors)
			}
			if got.size > 8<<10 {
				t.Errorf("body is %d bytes; want at most 8 KiB", got.size)
			}
			if tt.wantLimit != "" {
				if lim, _ := got.resp.Errors[0].Extensions["limit"].(string); lim != tt.wantLimit || got.resp.Errors[0].Message != tt.wantMsg {
					t.Errorf("first error = %+v; want limit %q, message %q", got.resp.Errors[0], tt.wantLimit, tt.wantMsg)
				}
			}
			if tt.maxErrors > 1 {
				if last := got.resp.Errors[len(got.resp.Errors)-1]; last.Message != msgTooManyErrors {
					t.Errorf("last error = %q; want %q", last.Message, msgTooManyErrors)
				}
			}
			// The hash of a document that did not validate is not stored:
			// a hash-only replay is unknown.
			replay := a.post(t, "mallory", map[string]any{"extensions": persisted(tt.query)})
			if replay.resp.code() != gqlresp.CodePersistedQueryNotFound {
				t.Errorf("replay by hash: errors %+v; want %s", replay.resp.Errors, gqlresp.CodePersistedQueryNotFound)
			}
		})
	}
}

// TestAPQPerUser: one user's registrations evict only that user's entries,
// and a hash registered by one user is not served to another.
func TestAPQPerUser(t *testing.T) {
	a := newAmplifier(t, Options{APQCacheSize: 20, APQPerUser: 5, QueryCacheSize: 10})
	register := func(user, q string) {
		t.Helper()
		got := a.post(t, user, map[string]any{"query": q, "extensions": persisted(q)})
		if len(got.resp.Errors) > 0 {
			t.Fatalf("register %q as %s: %+v", q, user, got.resp.Errors)
		}
	}
	known := func(user, q string) bool {
		t.Helper()
		return a.post(t, user, map[string]any{"extensions": persisted(q)}).resp.code() != gqlresp.CodePersistedQueryNotFound
	}
	alice := "{ me { id } }"
	register("alice", alice)
	for i := range 40 { // mallory registers 40 distinct queries
		register("mallory", "{ me { id "+strings.Repeat("name ", i+1)+"} }")
	}
	if !known("alice", alice) {
		t.Errorf("alice's registration was evicted by mallory's")
	}
	if known("bob", alice) {
		t.Errorf("bob can replay alice's hash")
	}
	if known("mallory", "{ me { id name } }") {
		t.Errorf("mallory keeps more than APQPerUser entries")
	}
}

// worstAccepted is the most expensive document to validate that passes the
// default limits: 199 fields under one response key (the field limit is
// 200, me included), all the same field, so every pair is compared and
// merges. Aliases are limited to 15, so a large set of conflicting fields
// needs arguments instead (worstConflicting).
func worstAccepted() string { return "{ me { " + strings.Repeat("id ", 199) + "} }" }

// worstConflicting selects repos 66 times with different arguments under
// one response key (2 + 66 × 3 = 200 fields): 2,145 conflicting pairs. The
// error list is capped; the comparisons are not.
func worstConflicting() string {
	var b strings.Builder
	b.WriteString("{ me { identities { ")
	for i := range 66 {
		fmt.Fprintf(&b, "repos(first: %d) { pageInfo { hasNextPage } } ", i)
	}
	b.WriteString("} } }")
	return b.String()
}

func TestWorstAcceptedRuns(t *testing.T) {
	a := newAmplifier(t, Options{})
	for _, q := range []string{worstAccepted(), typenames(198)} {
		if got := a.post(t, "u", map[string]any{"query": q}); len(got.resp.Errors) > 0 {
			t.Errorf("worst accepted document rejected: %+v", got.resp.Errors)
		}
	}
}

// BenchmarkValidateWorstAccepted measures what a document at the limits
// costs Extension (lexical scan, parse, structure, validation). The query
// cache is off, so every iteration does the full work.
func BenchmarkValidateWorstAccepted(b *testing.B) {
	schema := loadSchema(b)
	es := &graphql.ExecutableSchemaMock{SchemaFunc: func() *ast.Schema { return schema }}
	for _, bm := range []struct{ name, query string }{
		{"same-key", worstAccepted()},
		{"conflicting", worstConflicting()},
		{"typename", typenames(198)},
	} {
		b.Run(bm.name, func(b *testing.B) {
			ext := NewExtension(Limits{}, Costs{})
			if err := ext.Validate(es); err != nil {
				b.Fatal(err)
			}
			if _, err := parser.ParseQuery(&ast.Source{Input: bm.query}); err != nil {
				b.Fatal(err)
			}
			ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
			b.ReportAllocs()
			for b.Loop() {
				p := &graphql.RawParams{Query: bm.query}
				_ = ext.MutateOperationParameters(ctx, p)
			}
		})
	}
}
