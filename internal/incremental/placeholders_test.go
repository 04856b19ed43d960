package incremental

import (
	"encoding/json"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func TestStripDeferredPlaceholders(t *testing.T) {
	cases := []struct {
		name, query string
		vars        map[string]any
		data, want  string
	}{
		{
			name:  "inline fragment in a list",
			query: `{ me { identities { id ... @defer { calendar { n } } } } }`,
			data:  `{"me":{"identities":[{"id":"a","calendar":null},{"id":"b","calendar":null}]}}`,
			want:  `{"me":{"identities":[{"id":"a"},{"id":"b"}]}}`,
		},
		{
			name:  "selected outside the fragment too: kept",
			query: `{ me { identities { id calendar { n } ... @defer { calendar { n } } } } }`,
			data:  `{"me":{"identities":[{"id":"a","calendar":{"n":1}}]}}`,
			want:  `{"me":{"identities":[{"id":"a","calendar":{"n":1}}]}}`,
		},
		{
			name:  "named fragment and alias",
			query: `query { me { x: identities { ...Cal @defer(label: "c") id } } } fragment Cal on Identity { cal: calendar { n } }`,
			data:  `{"me":{"x":[{"cal":null,"id":"a"}]}}`,
			want:  `{"me":{"x":[{"id":"a"}]}}`,
		},
		{
			name:  "defer(if: false) is not deferred",
			query: `query($d: Boolean) { me { ... @defer(if: $d) { name } id } }`,
			vars:  map[string]any{"d": false},
			data:  `{"me":{"name":"Ada","id":"1"}}`,
			want:  `{"me":{"name":"Ada","id":"1"}}`,
		},
		{
			name:  "null parent",
			query: `{ me { ... @defer { name } } }`,
			data:  `{"me":null}`,
			want:  `{"me":null}`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := parser.ParseQuery(&ast.Source{Input: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			tree := keyTree{}
			tree.add(doc.Operations[0].SelectionSet, doc, tc.vars, false, 0)
			got, err := tree.strip(json.RawMessage(tc.data))
			if err != nil || string(got) != tc.want {
				t.Errorf("strip(%s) = %s, %v; want %s", tc.data, got, err, tc.want)
			}
		})
	}
}
