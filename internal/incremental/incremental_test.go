package incremental

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

func boolPtr(b bool) *bool { return &b }

// stream answers the responses in order, then nil.
func stream(rs ...*graphql.Response) graphql.ResponseHandler {
	return func(context.Context) *graphql.Response {
		if len(rs) == 0 {
			return nil
		}
		r := rs[0]
		rs = rs[1:]
		return r
	}
}

func TestMerge(t *testing.T) {
	path := func(p ...any) ast.Path {
		var out ast.Path
		for _, s := range p {
			switch v := s.(type) {
			case string:
				out = append(out, ast.PathName(v))
			case int:
				out = append(out, ast.PathIndex(v))
			}
		}
		return out
	}
	cases := []struct {
		name     string
		initial  string
		parts    []*graphql.Response
		want     string
		wantErrs int
	}{
		{
			name:    "fields replace their placeholders in place",
			initial: `{"me":{"identities":[{"id":"a","calendar":null,"x":1},{"id":"b","calendar":null,"x":2}]}}`,
			parts: []*graphql.Response{
				{Path: path("me", "identities", 1), Data: json.RawMessage(`{"calendar":{"n":2}}`), HasNext: boolPtr(true)},
				{Path: path("me", "identities", 0), Data: json.RawMessage(`{"calendar":{"n":1}}`), HasNext: boolPtr(false)},
			},
			want: `{"me":{"identities":[{"id":"a","calendar":{"n":1},"x":1},{"id":"b","calendar":{"n":2},"x":2}]}}`,
		},
		{
			name:    "a nested payload before its parent waits for it",
			initial: `{"me":{"a":null}}`,
			parts: []*graphql.Response{
				{Path: path("me", "a"), Data: json.RawMessage(`{"b":"deep"}`), HasNext: boolPtr(true)},
				{Path: path("me"), Data: json.RawMessage(`{"a":{"b":null}}`), HasNext: boolPtr(false)},
			},
			want: `{"me":{"a":{"b":"deep"}}}`,
		},
		{
			name:    "errors are appended and a null payload nulls its object",
			initial: `{"me":{"i":[{"id":"a","c":null}]}}`,
			parts: []*graphql.Response{
				{Path: path("me", "i", 0), Data: json.RawMessage(`null`), Errors: gqlerror.List{{Message: "boom"}}, HasNext: boolPtr(false)},
			},
			want:     `{"me":{"i":[null]}}`,
			wantErrs: 1,
		},
		{
			name:    "a path outside the data is an error, not a panic",
			initial: `{"me":{}}`,
			parts: []*graphql.Response{
				{Path: path("me", "nope", 3), Data: json.RawMessage(`{"c":1}`), HasNext: boolPtr(false)},
			},
			want:     `{"me":{}}`,
			wantErrs: 1,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			first := &graphql.Response{Data: json.RawMessage(tc.initial), HasNext: boolPtr(true)}
			got := merge(context.Background(), first, stream(tc.parts...))
			if string(got.Data) != tc.want {
				t.Errorf("merged data = %s; want %s", got.Data, tc.want)
			}
			if got.HasNext != nil {
				t.Errorf("hasNext = %v; want absent", *got.HasNext)
			}
			if len(got.Errors) != tc.wantErrs {
				t.Errorf("errors = %v; want %d", got.Errors, tc.wantErrs)
			}
		})
	}
}
