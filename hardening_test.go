package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/graphiql"
	"github.com/idpgate/idpgate/internal/httpmw"
	"github.com/idpgate/idpgate/internal/identity"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/resolvers"
)

// The hardening tests drive the real gateway over HTTP. Each rejection is
// checked for its status, extensions.code and message, and for causing no
// upstream call: the users they run as have no cached profile, and the
// queries they send would reach the Management API (and often GitHub) if
// they ran, so a limit checked too late shows up in the counters. Each
// test ends with an accepted request that does reach an upstream, which
// proves the counters would have seen a call.

// upstreamCalls counts every request an emulator served, except the
// tenant's JWKS and discovery documents (authentication reads those for
// any request, rejected or not).
type upstreamCalls struct {
	M2MToken, Management, GitHub, Google, GitLab, Bitbucket, MSGraph int
}

func countCalls(sb *sandbox.Sandbox) upstreamCalls {
	c := sb.Tenant.Calls()
	return upstreamCalls{
		M2MToken: c.Token, Management: c.UserByID + c.Search,
		GitHub: sb.GitHub.Calls(), Google: sb.Google.Calls(), GitLab: sb.GitLab.Calls(),
		Bitbucket: sb.Bitbucket.Calls(), MSGraph: sb.MSGraph.Calls(),
	}
}

// noUpstreamCalls fails t when an emulator was called since before.
func noUpstreamCalls(t *testing.T, sb *sandbox.Sandbox, before upstreamCalls) {
	t.Helper()
	if after := countCalls(sb); after != before {
		t.Errorf("upstream calls = %+v; want none since %+v", after, before)
	}
}

// someUpstreamCalls fails t when no emulator was called since before.
func someUpstreamCalls(t *testing.T, sb *sandbox.Sandbox, before upstreamCalls) {
	t.Helper()
	if after := countCalls(sb); after == before {
		t.Errorf("upstream calls = %+v; want some for an accepted operation", after)
	}
}

// send posts body with the given content type and headers to /graphql.
func (e *testEnv) send(method, token, contentType, body string, header map[string]string) *gqlResponse {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+"/graphql", rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return e.do(req)
}

// wantRejected checks a response carrying exactly one error with code and
// message (a regexp, anchored) and no data.
func wantRejected(t *testing.T, r *gqlResponse, status int, code, message string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d; want %d (%s)", r.Status, status, r.Raw)
	}
	if len(r.Errors) != 1 {
		t.Fatalf("errors = %s; want exactly one", r.Raw)
	}
	if got := r.codes()[0]; got != code {
		t.Errorf("extensions.code = %q; want %q (%s)", got, code, r.Raw)
	}
	if msg := r.Errors[0].Message; !regexp.MustCompile("^(?:" + message + ")$").MatchString(msg) {
		t.Errorf("message = %q; want %q", msg, message)
	}
	if len(r.Data) > 0 && string(r.Data) != "null" {
		t.Errorf("data = %s; want none", r.Data)
	}
}

// aliased returns n copies of field, each under its own alias.
func aliased(n int, field string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "a%d: %s ", i, field)
	}
	return b.String()
}

const reposQuery = `{ me { identities { repos(first: 1) { nodes { name } } } } }`

func TestHardeningBodyLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"MAX_BODY_BYTES": "1024"}})
	token := e.sb.Token(sandbox.Grace)
	padded := func(n int) string {
		b, _ := json.Marshal(map[string]any{"query": reposQuery + strings.Repeat(" ", n)})
		return string(b)
	}
	cases := []struct {
		name    string
		body    string
		chunked bool
	}{
		{"declared length", padded(2000), false},
		{"chunked", padded(2000), true},
		{"one byte over", padded(1024 - len(padded(0)) + 1), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(tc.body))
			if tc.chunked {
				req.Body = io.NopCloser(strings.NewReader(tc.body)) // no length: sent chunked
				req.ContentLength = -1
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			r := e.do(req)
			wantRejected(t, r, http.StatusRequestEntityTooLarge, gqlresp.CodeBadRequest, "request body exceeds 1024 bytes")
			noUpstreamCalls(t, e.sb, before)
		})
	}
	t.Run("at the limit", func(t *testing.T) {
		before := countCalls(e.sb)
		body := padded(1024 - len(padded(0)))
		if len(body) != 1024 {
			t.Fatalf("body is %d bytes; want 1024", len(body))
		}
		r := e.send(http.MethodPost, token, "application/json", body, nil)
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("1024-byte body = %d %s; want 200", r.Status, r.Raw)
		}
		someUpstreamCalls(t, e.sb, before)
	})
}

func TestHardeningQueryLimits(t *testing.T) {
	t.Parallel()
	// Every limit lowered, so each case trips exactly one and the
	// environment variables are shown to take effect. The cost limit
	// keeps its default; aliases are raised so that 20 aliased repos
	// reach the cost check.
	env := map[string]string{
		"MAX_DEPTH": "5", "MAX_ALIASES": "25", "MAX_ROOT_FIELDS": "2",
		"MAX_FIELDS": "70", "MAX_TOKENS": "400", "MAX_DIRECTIVES": "4",
	}
	e := newEnv(t, envOptions{env: env})
	token := e.sb.Token(sandbox.Grace)
	cases := []struct {
		name, query, limit, message string
	}{
		{"tokens", `{ me { ` + strings.Repeat("id ", 400) + `} }`, "tokens", "query has more than 400 tokens"},
		{"depth", `{ me { identities { repos { edges { node { name } } } } } }`, "depth", "query depth 6 exceeds the limit of 5"},
		{"aliases", `{ me { identities { ` + aliased(26, "id") + ` repos { nodes { name } } } } }`, "aliases", "alias count 26 exceeds the limit of 25"},
		{"root fields", `{ ` + aliased(3, `me { identities { repos { nodes { name } } } }`) + ` }`, "rootFields", "root field count 3 exceeds the limit of 2"},
		{"fields", `{ me { identities { repos { nodes { name } } ` + strings.Repeat("id ", 66) + `} } }`, "fields", "field count 71 exceeds the limit of 70"},
		{"directives", `{ me { identities { repos @include(if: true) { nodes @include(if: true) { name @include(if: true) } } id @skip(if: false) provider @skip(if: false) } } }`, "directives", "directive count 5 exceeds the limit of 4"},
		{"cost", `{ me { identities { ` + aliased(20, `repos(first: 100) { nodes { name } }`) + `} } }`, "cost", `query cost \d+ exceeds the limit of 5000`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			r := e.post(context.Background(), token, tc.query, nil)
			wantRejected(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED", tc.message)
			if len(r.Errors) == 1 && r.Errors[0].Extensions["limit"] != tc.limit {
				t.Errorf("extensions.limit = %v; want %q", r.Errors[0].Extensions["limit"], tc.limit)
			}
			noUpstreamCalls(t, e.sb, before)
		})
	}
	t.Run("cost, sent with GET", func(t *testing.T) {
		before := countCalls(e.sb)
		q := `{ me { identities { ` + aliased(20, `repos(first: 100) { nodes { name } }`) + `} } }`
		req, _ := http.NewRequest(http.MethodGet, e.url+"/graphql?query="+url.QueryEscape(q), nil)
		req.Header.Set("Authorization", "Bearer "+token)
		wantRejected(t, e.do(req), http.StatusOK, "GRAPHQL_VALIDATION_FAILED", `query cost \d+ exceeds the limit of 5000`)
		noUpstreamCalls(t, e.sb, before)
	})
	t.Run("a normal query is accepted", func(t *testing.T) {
		before := countCalls(e.sb)
		q := `{ me { id identities { provider repos(first: 10) { nodes { name } pageInfo { hasNextPage } } calendar(first: 10) { nodes { title } } } } }`
		r := e.post(context.Background(), token, q, nil)
		if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), "grace-project-01") {
			t.Errorf("response = %d %s; want 200 with Grace's repositories", r.Status, r.Raw)
		}
		someUpstreamCalls(t, e.sb, before)
	})

	// The defaults alone (no MAX_* set) stop the same shapes.
	t.Run("defaults", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		token := e.sb.Token(sandbox.Grace)
		for _, tc := range []struct {
			name, query, limit, message string
		}{
			{"tokens", `{ me { ` + strings.Repeat("id ", 2000) + `} }`, "tokens", "query has more than 2000 tokens"},
			{"aliases", `{ me { identities { ` + aliased(16, "id") + ` repos { nodes { name } } } } }`, "aliases", "alias count 16 exceeds the limit of 15"},
			{"root fields", `{ ` + aliased(6, "me { id }") + ` }`, "rootFields", "root field count 6 exceeds the limit of 5"},
			{"fields", `{ me { identities { repos { nodes { name } } ` + strings.Repeat("id ", 196) + `} } }`, "fields", "field count 201 exceeds the limit of 200"},
			{"directives", `{ me { identities { repos { nodes { name } } ` + strings.Repeat("id @include(if: true) ", 51) + `} } }`, "directives", "directive count 51 exceeds the limit of 50"},
			{"20 aliased repos(first: 100)", `{ me { identities { ` + aliased(20, `repos(first: 100) { nodes { name } }`) + `} } }`, "aliases", "alias count 20 exceeds the limit of 15"},
			{"repos and calendar, edges and nodes, first: 100", `{ me { identities { repos(first: 100) { edges { node { name } } nodes { name } pageInfo { hasNextPage } } calendar(first: 100) { edges { node { title } } nodes { title } pageInfo { hasNextPage } } } } }`, "cost", `query cost \d+ exceeds the limit of 5000`},
		} {
			t.Run(tc.name, func(t *testing.T) {
				before := countCalls(e.sb)
				r := e.post(context.Background(), token, tc.query, nil)
				wantRejected(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED", tc.message)
				if len(r.Errors) == 1 && r.Errors[0].Extensions["limit"] != tc.limit {
					t.Errorf("extensions.limit = %v; want %q", r.Errors[0].Extensions["limit"], tc.limit)
				}
				noUpstreamCalls(t, e.sb, before)
			})
		}
		before := countCalls(e.sb)
		vars := window()
		vars["rf"], vars["cf"] = 30, 50
		r := e.post(context.Background(), token, graceQuery, vars)
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("the README's full query = %d %s; want 200 under the default limits", r.Status, r.Raw)
		}
		someUpstreamCalls(t, e.sb, before)
	})
}

func TestHardeningIntrospection(t *testing.T) {
	t.Parallel()
	queries := []struct{ name, query string }{
		{"__schema", `{ __schema { queryType { name } } }`},
		{"__type", `{ __type(name: "User") { name fields { name } } }`},
		{"__schema beside me", `{ __schema { types { name } } me { identities { repos(first: 1) { nodes { name } } } } }`},
		{"__type in a fragment", `query { ...Q me { identities { repos(first: 1) { nodes { name } } } } } fragment Q on Query { __type(name: "Identity") { name } }`},
	}
	t.Run("off by default", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		token := e.sb.Token(sandbox.Grace)
		for _, tc := range queries {
			t.Run(tc.name, func(t *testing.T) {
				before := countCalls(e.sb)
				r := e.post(context.Background(), token, tc.query, nil)
				wantRejected(t, r, http.StatusOK, "GRAPHQL_VALIDATION_FAILED", "introspection is disabled")
				if strings.Contains(string(r.Raw), `"Query"`) || strings.Contains(string(r.Raw), `"User"`) {
					t.Errorf("response reveals the schema: %s", r.Raw)
				}
				noUpstreamCalls(t, e.sb, before)
			})
		}
		// __typename is not introspection: clients (Apollo, Relay) add it.
		r := e.post(context.Background(), token, `{ __typename }`, nil)
		if r.Status != http.StatusOK || string(r.Data) != `{"__typename":"Query"}` {
			t.Errorf("{ __typename } = %d %s; want data", r.Status, r.Raw)
		}
		if strings.Contains(e.log.String(), `"level":"ERROR"`) {
			t.Errorf("a rejected introspection query was logged as an error:\n%s", e.log.String())
		}
	})
	t.Run("INTROSPECTION=true", func(t *testing.T) {
		e := newEnv(t, envOptions{env: map[string]string{"INTROSPECTION": "true"}})
		token := e.sb.Token(sandbox.Grace)
		r := e.post(context.Background(), token, queries[0].query, nil)
		if r.Status != http.StatusOK || string(r.Data) != `{"__schema":{"queryType":{"name":"Query"}}}` {
			t.Errorf("%s = %d %s; want the query type", queries[0].query, r.Status, r.Raw)
		}
		r = e.post(context.Background(), token, queries[1].query, nil)
		if r.Status != http.StatusOK || !strings.Contains(string(r.Data), `"identities"`) {
			t.Errorf("%s = %d %s; want User's fields", queries[1].query, r.Status, r.Raw)
		}
	})
}

// devGateway serves gateway.New as --dev configures it, next to e's.
func devGateway(t *testing.T, e *testEnv) *testEnv {
	t.Helper()
	cfg, err := config.FromEnv(config.MapEnv(e.sb.Env))
	if err != nil {
		t.Fatal(err)
	}
	gw, err := gateway.New(cfg, slog.New(slog.NewJSONHandler(e.log, nil)), gateway.Options{Dev: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.Close(); gw.Close() })
	return &testEnv{t: t, sb: e.sb, gw: gw, srv: srv, url: srv.URL, log: e.log}
}

func TestHardeningNoFieldSuggestions(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	cases := []struct{ name, query, message string }{
		{"field", `{ me { nam identities { repos { nodes { name } } } } }`, `Cannot query field "nam" on type "User".`},
		{"nested field", `{ me { identities { repos { nodes { fullname } } } } }`, `Cannot query field "fullname" on type "Repository".`},
		{"argument", `{ me { identities { repos(frist: 1) { nodes { name } } } } }`, `Unknown argument "frist" on field "Identity.repos".`},
		{"type", `query($t: DateTme) { me { identities { calendar(from: $t) { nodes { title } } } } }`, `Unknown type "DateTme".`},
		{"subselection", `{ me { identities { repos { nodes } } } }`, `Field "nodes" of type "[Repository!]!" must have a selection of subfields.`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			r := e.post(context.Background(), token, tc.query, nil)
			if r.Status != http.StatusOK || len(r.Errors) == 0 { // GraphQL-over-HTTP: 200 to application/json
				t.Fatalf("response = %d %s; want 200 with errors", r.Status, r.Raw)
			}
			if got := r.Errors[0].Message; got != tc.message {
				t.Errorf("message = %q; want %q", got, tc.message)
			}
			if strings.Contains(string(r.Raw), "Did you mean") {
				t.Errorf("response suggests names: %s", r.Raw)
			}
			for _, c := range r.codes() {
				if c != "GRAPHQL_VALIDATION_FAILED" {
					t.Errorf("extensions.code = %q; want GRAPHQL_VALIDATION_FAILED", c)
				}
			}
			noUpstreamCalls(t, e.sb, before)
		})
	}
	// The same mistake in --dev gets a suggestion: the check above would
	// see one.
	dev := devGateway(t, e)
	r := dev.post(context.Background(), token, cases[0].query, nil)
	if !strings.Contains(string(r.Raw), `Did you mean \"name\"`) {
		t.Errorf("--dev response = %s; want a suggestion", r.Raw)
	}
}

func TestHardeningBatchesRejected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	one, _ := json.Marshal(map[string]any{"query": reposQuery})
	cases := []struct{ name, body, contentType string }{
		{"two operations", "[" + string(one) + "," + string(one) + "]", "application/json"},
		{"one operation", "[" + string(one) + "]", "application/json"},
		{"leading whitespace", " \r\n\t[" + string(one) + "]", "application/json; charset=utf-8"},
		{"graphql-response media type", "[" + string(one) + "]", "application/graphql-response+json"},
		{"empty array", "[]", "application/json"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			r := e.send(http.MethodPost, token, tc.contentType, tc.body, nil)
			wantRejected(t, r, http.StatusBadRequest, gqlresp.CodeBadRequest, regexp.QuoteMeta("batched requests are not supported; send one operation per request"))
			noUpstreamCalls(t, e.sb, before)
		})
	}
	before := countCalls(e.sb)
	r := e.send(http.MethodPost, token, "application/json", string(one), nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("single operation = %d %s; want 200", r.Status, r.Raw)
	}
	someUpstreamCalls(t, e.sb, before)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// persisted is a request body with extensions.persistedQuery.
func persisted(hash, query string) string {
	m := map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}}
	if query != "" {
		m["query"] = query
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func TestHardeningAPQ(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	query := `query Repos { me { identities { repos(first: 2) { nodes { name } } } } }`
	hash := sha256Hex(query)
	post := func(body string) *gqlResponse { return e.send(http.MethodPost, token, "application/json", body, nil) }

	t.Run("unknown hash", func(t *testing.T) {
		before := countCalls(e.sb)
		r := post(persisted(hash, ""))
		wantRejected(t, r, http.StatusOK, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
		noUpstreamCalls(t, e.sb, before)
	})
	t.Run("hash that does not match the query", func(t *testing.T) {
		before := countCalls(e.sb)
		other := `{ me { identities { repos(first: 3) { nodes { name } } } } }`
		r := post(persisted(hash, other))
		wantRejected(t, r, http.StatusOK, "BAD_USER_INPUT", "provided APQ hash does not match query")
		noUpstreamCalls(t, e.sb, before)
		// Nothing was registered under the hash.
		r = post(persisted(hash, ""))
		wantRejected(t, r, http.StatusOK, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
		noUpstreamCalls(t, e.sb, before)
	})
	t.Run("register, then hash alone", func(t *testing.T) {
		before := countCalls(e.sb)
		r := post(persisted(hash, query))
		if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), "grace-project-02") {
			t.Fatalf("hash and query = %d %s; want the result", r.Status, r.Raw)
		}
		someUpstreamCalls(t, e.sb, before)
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			var got *gqlResponse
			if method == http.MethodPost {
				got = post(persisted(hash, ""))
			} else {
				// Apollo Client sends hash-only APQ requests as GET.
				ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`
				req, _ := http.NewRequest(http.MethodGet, e.url+"/graphql?extensions="+url.QueryEscape(ext), nil)
				req.Header.Set("Authorization", "Bearer "+token)
				got = e.do(req)
			}
			if got.Status != http.StatusOK || len(got.Errors) > 0 || string(got.Data) != string(r.Data) {
				t.Errorf("%s hash alone = %d %s; want %s", method, got.Status, got.Raw, r.Data)
			}
		}
	})
}

func TestHardeningTrustedDocuments(t *testing.T) {
	t.Parallel()
	listed := `query Repos { me { identities { repos(first: 2) { nodes { name } } } } }`
	listedID := sha256Hex(listed)
	manifest, _ := json.Marshal(map[string]any{
		"format": "apollo-persisted-query-manifest", "version": 1,
		"operations": []map[string]any{{"id": listedID, "name": "Repos", "type": "query", "body": listed}},
	})
	path := filepath.Join(t.TempDir(), "manifest.json")
	if err := os.WriteFile(path, manifest, 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{env: map[string]string{"TRUSTED_DOCUMENTS": path}})
	token := e.sb.Token(sandbox.Grace)
	unlisted := `{ me { identities { repos(first: 3) { nodes { name } } } } }`
	plain := func(q string) string { b, _ := json.Marshal(map[string]string{"query": q}); return string(b) }

	rejected := []struct{ name, body, code, message string }{
		{"query not in the manifest", plain(unlisted), "QUERY_NOT_IN_SAFELIST", "the operation is not in the list of trusted documents"},
		{"id not in the manifest", persisted(sha256Hex(unlisted), ""), "PERSISTED_QUERY_NOT_IN_LIST", "the persisted query id is not in the list of trusted documents"},
		{"listed id with other text", persisted(listedID, unlisted), "QUERY_NOT_IN_SAFELIST", "the query text differs from the trusted document with this id"},
		// APQ is off in this mode: a client cannot register an operation.
		{"APQ registration", persisted(sha256Hex(unlisted), unlisted), "PERSISTED_QUERY_NOT_IN_LIST", "the persisted query id is not in the list of trusted documents"},
		{"APQ hash after registration", persisted(sha256Hex(unlisted), ""), "PERSISTED_QUERY_NOT_IN_LIST", "the persisted query id is not in the list of trusted documents"},
		{"listed text reformatted", plain(strings.ReplaceAll(listed, " ", "  ")), "QUERY_NOT_IN_SAFELIST", "the operation is not in the list of trusted documents"},
	}
	for _, tc := range rejected {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			r := e.send(http.MethodPost, token, "application/json", tc.body, nil)
			wantRejected(t, r, http.StatusOK, tc.code, regexp.QuoteMeta(tc.message))
			noUpstreamCalls(t, e.sb, before)
		})
	}
	for _, tc := range []struct{ name, body string }{
		{"listed id", persisted(listedID, "")},
		{"listed text", plain(listed)},
		{"listed id and text", persisted(listedID, listed)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := countCalls(e.sb)
			r := e.send(http.MethodPost, token, "application/json", tc.body, nil)
			if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), "grace-project-02") {
				t.Errorf("response = %d %s; want the listed operation's result", r.Status, r.Raw)
			}
			someUpstreamCalls(t, e.sb, before)
		})
	}
}

func TestHardeningCORS(t *testing.T) {
	t.Parallel()
	const allowed, other = "https://app.example.com", "https://evil.example.com"
	e := newEnv(t, envOptions{env: map[string]string{"ALLOWED_ORIGINS": allowed + ", http://localhost:5173"}})
	token := e.sb.Token(sandbox.Grace)
	preflight := func(origin string) map[string]string {
		return map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "POST",
			"Access-Control-Request-Headers": "authorization, content-type",
		}
	}
	cases := []struct {
		name, method, token string
		header              map[string]string
		status              int
		allowOrigin         string
	}{
		{"allowed origin", http.MethodPost, token, map[string]string{"Origin": allowed}, http.StatusOK, allowed},
		{"second allowed origin", http.MethodPost, token, map[string]string{"Origin": "http://localhost:5173"}, http.StatusOK, "http://localhost:5173"},
		{"allowed origin, no token", http.MethodPost, "", map[string]string{"Origin": allowed}, http.StatusUnauthorized, allowed},
		{"preflight from allowed origin", http.MethodOptions, "", preflight(allowed), http.StatusNoContent, allowed},
		{"other origin", http.MethodPost, token, map[string]string{"Origin": other}, http.StatusOK, ""},
		{"preflight from other origin", http.MethodOptions, "", preflight(other), http.StatusForbidden, ""},
		{"null origin", http.MethodPost, token, map[string]string{"Origin": "null"}, http.StatusOK, ""},
		{"allowed host, other scheme", http.MethodOptions, "", preflight("http://app.example.com"), http.StatusForbidden, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"query":"{ me { id } }"}`
			if tc.method == http.MethodOptions {
				body = ""
			}
			r := e.send(tc.method, tc.token, "application/json", body, tc.header)
			if r.Status != tc.status {
				t.Errorf("status = %d; want %d (%s)", r.Status, tc.status, r.Raw)
			}
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != tc.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, tc.allowOrigin)
			}
			if got := r.Header.Get("Access-Control-Allow-Credentials"); got != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q; want none", got)
			}
			if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary = %q; want Origin", r.Header.Values("Vary"))
			}
			if tc.method == http.MethodOptions && tc.allowOrigin != "" {
				if got := r.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(got, "POST") {
					t.Errorf("Access-Control-Allow-Methods = %q; want POST", got)
				}
				got := strings.ToLower(r.Header.Get("Access-Control-Allow-Headers"))
				if !strings.Contains(got, "authorization") || !strings.Contains(got, "content-type") {
					t.Errorf("Access-Control-Allow-Headers = %q; want Authorization and Content-Type", got)
				}
			}
			if tc.method == http.MethodPost && tc.allowOrigin != "" {
				if got := r.Header.Get("Access-Control-Expose-Headers"); !strings.Contains(got, "X-Request-Id") || !strings.Contains(got, "Retry-After") {
					t.Errorf("Access-Control-Expose-Headers = %q; want X-Request-Id and Retry-After", got)
				}
			}
			if tc.status == http.StatusForbidden {
				wantRejected(t, r, http.StatusForbidden, gqlresp.CodeForbidden, "origin not allowed")
			}
		})
	}
	t.Run("wildcard refused at start-up", func(t *testing.T) {
		_, err := config.FromEnv(config.MapEnv(e.sb.Env).Over(map[string]string{"ALLOWED_ORIGINS": "*"}))
		if err == nil || !strings.HasPrefix(err.Error(), "ALLOWED_ORIGINS:") {
			t.Errorf("config.FromEnv(ALLOWED_ORIGINS=*) error = %v; want one naming ALLOWED_ORIGINS", err)
		}
	})
}

func TestHardeningSecurityHeaders(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"MAX_BODY_BYTES": "256"}})
	token := e.sb.Token(sandbox.Grace)
	apiHeaders := map[string]string{
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"X-Frame-Options":         "DENY",
		"Cache-Control":           "no-store",
		"Content-Security-Policy": httpmw.APICSP,
	}
	get := func(path string) *gqlResponse {
		req, _ := http.NewRequest(http.MethodGet, e.url+path, nil)
		return e.do(req)
	}
	cases := []struct {
		name string
		do   func() *gqlResponse
		want map[string]string
	}{
		{"graphql 200", func() *gqlResponse { return e.post(context.Background(), token, `{ __typename }`, nil) }, apiHeaders},
		{"graphql 401", func() *gqlResponse { return e.post(context.Background(), "", `{ __typename }`, nil) }, apiHeaders},
		{"graphql 413", func() *gqlResponse {
			return e.send(http.MethodPost, token, "application/json", `{"query":"`+strings.Repeat(" ", 300)+`{ __typename }"}`, nil)
		}, apiHeaders},
		{"graphql 422", func() *gqlResponse { return e.post(context.Background(), token, `{ nope }`, nil) }, apiHeaders},
		{"healthz", func() *gqlResponse { return get("/healthz") }, apiHeaders},
		{"not found", func() *gqlResponse { return get("/nope") }, apiHeaders},
		{"graphiql", func() *gqlResponse { return get("/graphiql/") }, map[string]string{
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
			"Content-Security-Policy": graphiql.CSP,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			if r.Status <= 0 {
				t.Fatalf("no response")
			}
			for k, want := range tc.want {
				if got := r.Header.Get(k); got != want {
					t.Errorf("%s = %q; want %q (status %d)", k, got, want, r.Status)
				}
			}
			if got := r.Header.Get(httpmw.RequestIDHeader); got == "" {
				t.Errorf("%s missing", httpmw.RequestIDHeader)
			}
		})
	}
}

func TestHardeningPerUserRateLimit(t *testing.T) {
	t.Parallel()
	// 0.1 request/s rather than 1/s: the third request is refused however
	// slowly this machine serves the first two (a refill takes 10 s).
	e := newEnv(t, envOptions{env: map[string]string{"USER_RPS": "0.1", "USER_BURST": "2"}})
	grace, ada := e.sb.Token(sandbox.Grace), e.sb.Token(sandbox.Ada)
	for i := range 2 {
		if r := e.post(context.Background(), grace, `{ __typename }`, nil); r.Status != http.StatusOK {
			t.Fatalf("request %d = %d %s; want 200 within the burst", i+1, r.Status, r.Raw)
		}
	}
	before := countCalls(e.sb)
	r := e.post(context.Background(), grace, reposQuery, nil)
	wantRejected(t, r, http.StatusTooManyRequests, gqlresp.CodeRateLimited, `too many requests; retry in \d+ seconds`)
	retry, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 10 {
		t.Errorf("Retry-After = %q; want 1 to 10 seconds", r.Header.Get("Retry-After"))
	}
	if len(r.Errors) == 1 && r.Errors[0].Extensions["retryAfter"] != float64(retry) {
		t.Errorf("extensions.retryAfter = %v; want %d as in Retry-After", r.Errors[0].Extensions["retryAfter"], retry)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q; want application/json", ct)
	}
	noUpstreamCalls(t, e.sb, before)

	// Another user has a bucket of their own.
	r = e.post(context.Background(), ada, reposQuery, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Errorf("another user = %d %s; want 200", r.Status, r.Raw)
	}
	someUpstreamCalls(t, e.sb, before)
	// A request without a valid token is answered 401 before the limiter.
	if r := e.post(context.Background(), "", `{ __typename }`, nil); r.Status != http.StatusUnauthorized {
		t.Errorf("no token = %d; want 401", r.Status)
	}
}

// logLines returns the JSON log lines carrying request_id id.
func logLines(t *testing.T, logs, id string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.SplitSeq(logs, "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		if m["request_id"] == id {
			out = append(out, m)
		}
	}
	return out
}

func TestHardeningRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	generated := regexp.MustCompile(`^[0-9a-f]{32}$`)
	// A revoked GitHub token makes the resolver log a line of its own.
	e.sb.GitHub.Revoke(e.sb.AccessToken(sandbox.Grace, "github"))

	cases := []struct {
		name, sent string
		keep       bool
	}{
		{"none sent", "", false},
		{"proxy's id kept", "edge-4f1c.A_9", true},
		{"with spaces", "not an id", false},
		{"log injection", `x"}{"level":"ERROR"`, false},
		{"too long", strings.Repeat("a", 65), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"query":"{ me { identities { repos(first: 1) { nodes { name } } } } }"}`
			req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			if tc.sent != "" {
				req.Header[httpmw.RequestIDHeader] = []string{tc.sent} // raw, even when invalid
			}
			r := e.do(req)
			if r.Status != http.StatusOK || strings.Join(r.codes(), ",") != "IDP_REAUTH_REQUIRED" {
				t.Fatalf("response = %d %s; want GitHub's field to fail", r.Status, r.Raw)
			}
			id := r.Header.Get(httpmw.RequestIDHeader)
			switch {
			case tc.keep && id != tc.sent:
				t.Errorf("%s = %q; want %q kept", httpmw.RequestIDHeader, id, tc.sent)
			case !tc.keep && !generated.MatchString(id):
				t.Errorf("%s = %q; want 32 generated hex digits", httpmw.RequestIDHeader, id)
			}
			msgs := map[string]bool{}
			for _, l := range logLines(t, e.log.String(), id) {
				msgs[l["msg"].(string)] = true
				if l["msg"] == "request" && (l["route"] != "/graphql" || l["status"] != float64(200)) {
					t.Errorf("access log = %v; want POST /graphql 200", l)
				}
			}
			if !msgs["request"] || !msgs["resolver error"] {
				t.Errorf("log lines with request_id %q: %v; want the access log and the resolver's error", id, msgs)
			}
			if !tc.keep && tc.sent != "" && strings.Contains(e.log.String(), tc.sent) {
				t.Errorf("the refused id %q reached the log", tc.sent)
			}
		})
	}
	// Every access log line carries an id, whatever the outcome.
	t.Run("access log", func(t *testing.T) {
		e.post(context.Background(), "", `{ __typename }`, nil)
		for line := range strings.SplitSeq(e.log.String(), "\n") {
			if strings.Contains(line, `"msg":"request"`) && !strings.Contains(line, `"request_id":"`) {
				t.Errorf("access log line without request_id: %s", line)
			}
		}
	})
	// So does the line authentication logs when it rejects a token.
	t.Run("rejected token", func(t *testing.T) {
		r := e.post(context.Background(), "not-a-jwt", `{ __typename }`, nil)
		id := r.Header.Get(httpmw.RequestIDHeader)
		var msgs []any
		for _, l := range logLines(t, e.log.String(), id) {
			msgs = append(msgs, l["msg"])
		}
		if !slices.Contains(msgs, "authn: request rejected") {
			t.Errorf("log lines with request_id %q: %v; want authn's rejection among them", id, msgs)
		}
	})
}

// panicking is a repository adapter with a bug: it panics with a value
// holding the token it was given.
type panicking struct{}

func (panicking) ListRepos(_ context.Context, tok secret.String, _ providers.PageRequest) (providers.Page[providers.Repository], error) {
	panic("adapter bug with token " + tok.Reveal())
}

// TestHardeningResolverPanic checks that a panic in a resolver becomes an
// internal error for that field only, with no stack, panic value or token
// in the response or the log message. No input makes the real adapters
// panic, so this builds the GraphQL server with gateway.NewGraphQL (presenter,
// recover func, operation state, limits) around a real identity loader,
// with an adapter that panics. httpmw's tests cover panics outside
// gqlgen (the 500 of httpmw.Recover).
func TestHardeningResolverPanic(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	cfg, err := config.FromEnv(config.MapEnv(e.sb.Env))
	if err != nil {
		t.Fatal(err)
	}
	users, err := auth0.New(auth0.Config{BaseURL: cfg.Auth0BaseURL, ClientID: cfg.Auth0ClientID, ClientSecret: cfg.Auth0ClientSecret, RPS: cfg.Auth0MgmtRPS, Burst: cfg.Auth0MgmtBurst})
	if err != nil {
		t.Fatal(err)
	}
	reg := &providers.Registry{}
	reg.AddDefault(providers.Match{Provider: "github"}, providers.Connection{Adapter: "github", Provider: providers.Provider{Repos: panicking{}}})
	root := resolvers.New(resolvers.Deps{
		Profiles:  identity.New(identity.Config{}, users),
		Providers: reg,
		CursorKey: make([]byte, 32),
		UserID:    func(context.Context) (string, bool) { return sandbox.Grace, true },
		Logger:    httpmw.Logger,
	})
	gql, err := gateway.NewGraphQL(root, cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(e.log, nil))
	srv := httptest.NewServer(httpmw.RequestID(logger)(httpmw.Recover(logger)(gql)))
	defer srv.Close()

	pe := &testEnv{t: t, sb: e.sb, url: srv.URL, log: e.log}
	r := pe.post(context.Background(), "", `{ me { name identities { provider repos(first: 1) { nodes { name } } } } }`, nil)
	if r.Status != http.StatusOK || len(r.Errors) != 1 {
		t.Fatalf("response = %d %s; want 200 with one error", r.Status, r.Raw)
	}
	got := r.Errors[0]
	if got.Message != "internal error" || got.Extensions["code"] != "INTERNAL_SERVER_ERROR" || fmt.Sprint(got.Path) != "[me identities 0 repos]" {
		t.Errorf("error = %+v; want internal error at me.identities.0.repos", got)
	}
	if !strings.Contains(string(r.Data), `"name":"Grace Hopper"`) {
		t.Errorf("data = %s; want the rest of the operation", r.Data)
	}
	for _, bad := range []string{"goroutine", "panic", ".go:", "adapter bug", sandbox.SecretMarker} {
		if strings.Contains(string(r.Raw), bad) {
			t.Errorf("response contains %q: %s", bad, r.Raw)
		}
	}
	id := r.Header.Get(httpmw.RequestIDHeader)
	var logged bool
	for _, l := range logLines(t, e.log.String(), id) {
		if l["msg"] == "resolver panicked" {
			logged = true
			if stack, _ := l["stack"].(string); !strings.Contains(stack, "panicking.ListRepos") {
				t.Errorf("log stack = %.200q; want the adapter's frame", stack)
			}
		}
	}
	if !logged {
		t.Errorf("no \"resolver panicked\" log line with request_id %q", id)
	}
	// The harness's leak check (at cleanup) covers the panic value: it
	// holds Grace's GitHub token.
}
