package guard

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// loadSchema parses the real public schema.
func loadSchema(t testing.TB) *ast.Schema {
	t.Helper()
	data, err := os.ReadFile("../../graph/schema.graphqls")
	if err != nil {
		t.Fatalf("read schema: %v", err)
	}
	s, err := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphqls", Input: string(data)})
	if err != nil {
		t.Fatalf("load schema: %v", err)
	}
	return s
}

// recursiveSchema has a type that nests without end, which the public
// schema does not, to exercise the depth limit.
const recursiveSchema = `
type Query { node: Node, nodes(first: Int = 10): [Node!]! }
type Node { name: String, child: Node, children(first: Int = 5): [Node!]! }
`

func mustAnalyze(t *testing.T, schema *ast.Schema, query string, vars map[string]any, costs Costs) Report {
	t.Helper()
	doc, errs := gqlparser.LoadQuery(schema, query)
	if len(errs) > 0 {
		t.Fatalf("LoadQuery(%q) = %v", query, errs)
	}
	r, err := Analyze(doc, doc.Operations[0], vars, costs)
	if err != nil {
		t.Fatalf("Analyze(%q) error = %v", query, err)
	}
	return r
}

// reposAliases selects repos n times under different aliases.
func reposAliases(n int) string {
	var b strings.Builder
	b.WriteString("{ me { identities { ")
	for i := range n {
		fmt.Fprintf(&b, "r%d: repos { nodes { name } } ", i)
	}
	b.WriteString("} } }")
	return b.String()
}

const relayAll = `query($n: Int, $m: Int) { me { identities {
  id provider connection userId isSocial capabilities
  repos(first: $n) { edges { cursor node { id name fullName url private description stars updatedAt } }
                     nodes { id name fullName url private description stars updatedAt }
                     pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
  calendar(first: $m) { edges { cursor node { id title start end allDay url status } }
                        nodes { id title start end allDay url status }
                        pageInfo { hasNextPage hasPreviousPage startCursor endCursor } }
} } }`

const relayEdges = `query($n: Int, $m: Int) { me { identities {
  id provider
  repos(first: $n) { edges { cursor node { id name fullName url private description stars updatedAt } }
                     pageInfo { hasNextPage endCursor } }
  calendar(first: $m) { edges { cursor node { id title start end allDay url status } }
                        pageInfo { hasNextPage endCursor } }
} } }`

func TestAnalyzePublicSchema(t *testing.T) {
	schema := loadSchema(t)
	costs := DefaultCosts()
	tests := []struct {
		name  string
		query string
		vars  map[string]any
		want  Report
	}{
		{
			name:  "smallest",
			query: `{ me { id } }`,
			want:  Report{Depth: 2, RootFields: 1, Fields: 2, Cost: 1},
		},
		{
			name:  "typename is free",
			query: `{ __typename me { __typename id } }`,
			want:  Report{Depth: 2, RootFields: 1, Fields: 2, Cost: 1},
		},
		{
			// nodes 30×1, repos 50+30, identities 8×(1+80), me 1+648.
			name:  "repos default first",
			query: `{ me { identities { repos { nodes { name } } } } }`,
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 649},
		},
		{
			name:  "repos literal first",
			query: `{ me { identities { repos(first: 100) { nodes { name } } } } }`,
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 1 + 8*(1+50+100)},
		},
		{
			name:  "first from a variable",
			query: `query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`,
			vars:  map[string]any{"n": int64(1)},
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 1 + 8*(1+50+1)},
		},
		{
			name:  "first from a json.Number variable",
			query: `query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`,
			vars:  map[string]any{"n": json.Number("100")},
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 1 + 8*(1+50+100)},
		},
		{
			name:  "absent variable takes the schema default",
			query: `query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`,
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 649},
		},
		{
			name:  "negative first counts as 0",
			query: `{ me { identities { repos(first: -5) { nodes { name } } } } }`,
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: 1 + 8*(1+50)},
		},
		{
			name:  "huge first saturates",
			query: `query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`,
			vars:  map[string]any{"n": int64(1) << 40},
			want:  Report{Depth: 5, RootFields: 1, Fields: 5, Cost: saturated},
		},
		{
			name: "fragment in a connection is sized by the field that spreads it",
			query: `{ me { identities { a: repos(first: 1) { ...R } b: repos(first: 100) { ...R } } } }
			        fragment R on RepositoryConnection { nodes { name } }`,
			want: Report{Depth: 5, RootFields: 1, Fields: 8, Aliases: 2, Cost: 1 + 8*(1+(50+1)+(50+100))},
		},
		{
			name:  "calendar default first is 50",
			query: `{ me { identities { calendar { edges { node { title } } } } } }`,
			want:  Report{Depth: 6, RootFields: 1, Fields: 6, Cost: 1 + 8*(1+50+50*2)},
		},
		{
			name:  "20 repos aliases",
			query: reposAliases(20),
			want:  Report{Depth: 5, RootFields: 1, Fields: 2 + 20*2 + 20, Aliases: 20, Cost: 1 + 8*(1+20*80)},
		},
		{
			name:  "complete Relay query at first 100",
			query: relayAll,
			vars:  map[string]any{"n": int64(100), "m": int64(100)},
			// repos: 50 + edges 100×2 + nodes 100 + pageInfo 1 = 351, calendar the same.
			want: Report{Depth: 6, RootFields: 1, Fields: 2 + 6 + (1 + 11 + 9 + 5) + (1 + 10 + 8 + 5), Cost: 1 + 8*(1+351+351)},
		},
		{
			name:  "complete Relay query at default sizes",
			query: relayAll,
			want:  Report{Depth: 6, RootFields: 1, Fields: 58, Cost: 2745},
		},
		{
			name:  "Relay edges at first 100",
			query: relayEdges,
			vars:  map[string]any{"n": int64(100), "m": int64(100)},
			want:  Report{Depth: 6, RootFields: 1, Fields: 4 + (1 + 11 + 3) + (1 + 10 + 3), Cost: 1 + 8*(1+251+251)},
		},
		{
			name:  "aliases through a fragment count once per spread",
			query: `{ a: me { ...U } b: me { ...U } } fragment U on User { x: id y: name }`,
			want:  Report{Depth: 2, RootFields: 2, Fields: 6, Aliases: 6, Cost: 2},
		},
		{
			name:  "an alias equal to the name is no alias",
			query: `{ me: me { id: id } }`,
			want:  Report{Depth: 2, RootFields: 1, Fields: 2, Cost: 1},
		},
		{
			name:  "skip and include with variables",
			query: `query($s: Boolean!) { me { id identities @skip(if: $s) { repos { nodes { name } } } name @include(if: false) } }`,
			vars:  map[string]any{"s": true},
			want:  Report{Depth: 2, RootFields: 1, Fields: 2, Cost: 1},
		},
		{
			name:  "introspection is not measured",
			query: introspectionQuery,
			want:  Report{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAnalyze(t, schema, tt.query, tt.vars, costs)
			if got != tt.want {
				t.Errorf("Analyze(%q) = %+v; want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestAnalyzeRecursiveSchema(t *testing.T) {
	schema, err := gqlparser.LoadSchema(&ast.Source{Input: recursiveSchema})
	if err != nil {
		t.Fatal(err)
	}
	nested := func(n int) string {
		return strings.Repeat("{ node ", 1) + strings.Repeat("{ child ", n-1) + "{ name }" + strings.Repeat(" }", n)
	}
	// A chain of fragments, each adding one level.
	var chain strings.Builder
	chain.WriteString("{ node { ...F0 } }\n")
	for i := range 12 {
		fmt.Fprintf(&chain, "fragment F%d on Node { child { ...F%d } }\n", i, i+1)
	}
	chain.WriteString("fragment F12 on Node { name }\n")

	// Each fragment spreads the next twice: 2^40 leaf visits if expanded
	// naively. Memoisation keeps it linear and the figures saturate.
	var doubling strings.Builder
	doubling.WriteString("{ node { ...D0 } }\n")
	for i := range 40 {
		fmt.Fprintf(&doubling, "fragment D%d on Node { a: child { ...D%d } b: child { ...D%d } }\n", i, i+1, i+1)
	}
	doubling.WriteString("fragment D40 on Node { name }\n")

	tests := []struct {
		name  string
		query string
		want  Report
	}{
		{
			name:  "nested 14",
			query: nested(14),
			want:  Report{Depth: 15, RootFields: 1, Fields: 15, Cost: 14},
		},
		{
			name:  "fragment chain",
			query: chain.String(),
			want:  Report{Depth: 14, RootFields: 1, Fields: 14, Cost: 13},
		},
		{
			name:  "list default size and nested list",
			query: `{ nodes { children { name } } }`,
			// Lists without a cost entry are assumed to hold
			// DefaultListSize (100) items, whatever their arguments.
			want: Report{Depth: 3, RootFields: 1, Fields: 3, Cost: 100 * (1 + 100*1)},
		},
		{
			name:  "doubling fragments saturate",
			query: doubling.String(),
			want:  Report{Depth: 42, RootFields: 1, Fields: saturated, Aliases: saturated, Cost: saturated},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustAnalyze(t, schema, tt.query, nil, Costs{})
			if got != tt.want {
				t.Errorf("Analyze(%.60q…) = %+v; want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestScan(t *testing.T) {
	tests := []struct {
		query     string
		maxTokens int
		want      Lexical
	}{
		{`{ me { id } }`, 0, Lexical{Tokens: 6}},
		{`{ me @a @b(x: 1) { id } }`, 0, Lexical{Tokens: 15, Directives: 2}},
		{`# comment` + "\n" + `{ me }`, 0, Lexical{Tokens: 4}},
		{strings.Repeat("{ ", 10000), 100, Lexical{Tokens: 101}},
		{`{ me(x: "unterminated`, 0, Lexical{Tokens: 5}},
		{`"` + strings.Repeat("x", 1<<20) + `"`, 0, Lexical{Tokens: 1}},
	}
	for _, tt := range tests {
		if got := Scan(tt.query, tt.maxTokens); got != tt.want {
			t.Errorf("Scan(%.40q, %d) = %+v; want %+v", tt.query, tt.maxTokens, got, tt.want)
		}
	}
}

// introspectionQuery is the query GraphiQL sends (graphql-js
// getIntrospectionQuery with descriptions, specifiedByURL,
// directiveIsRepeatable, inputValueDeprecation and oneOf).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name
      description
      isRepeatable
      locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind
  name
  description
  specifiedByURL
  isOneOf
  fields(includeDeprecated: true) {
    name
    description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated
    deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) {
    name
    description
    isDeprecated
    deprecationReason
  }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name
  description
  type { ...TypeRef }
  defaultValue
  isDeprecated
  deprecationReason
}
fragment TypeRef on __Type {
  kind
  name
  ofType {
    kind
    name
    ofType {
      kind
      name
      ofType {
        kind
        name
        ofType {
          kind
          name
          ofType {
            kind
            name
            ofType {
              kind
              name
              ofType {
                kind
                name
                ofType {
                  kind
                  name
                  ofType {
                    kind
                    name
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}`

// TestAnalyzeCoercedVariables (issue 10.7): gqlparser accepts "100" for an
// Int variable and gqlgen's resolvers then read 100, so the cost must too;
// it never assumes the default when a value was given.
func TestAnalyzeCoercedVariables(t *testing.T) {
	schema := loadSchema(t)
	const q = `query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }`
	want := mustAnalyze(t, schema, q, map[string]any{"n": 100}, DefaultCosts()).Cost
	for _, v := range []any{"100", json.Number("100"), int64(100), float64(100)} {
		if got := mustAnalyze(t, schema, q, map[string]any{"n": v}, DefaultCosts()).Cost; got != want {
			t.Errorf("cost with $n = %#v is %d; want %d (as for 100)", v, got, want)
		}
	}
	// A value the analyzer cannot read counts as the largest, not the default.
	if got := mustAnalyze(t, schema, q, map[string]any{"n": "a lot"}, DefaultCosts()).Cost; got < want {
		t.Errorf("cost with an unreadable $n is %d; want at least %d", got, want)
	}
}
