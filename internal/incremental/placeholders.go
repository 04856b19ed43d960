package incremental

import (
	"bytes"
	"context"
	"encoding/json"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// omitPlaceholders wraps the responses of a multipart operation so that
// the initial payload leaves out the fields that only deferred fragments
// select. gqlgen writes them as null until their payload arrives, but the
// incremental delivery RFC has the initial payload omit them: a client
// cannot tell such a null from a real one, and Apollo Client, finding
// every field present, reports the result complete (dataState "complete")
// while the deferred parts are still on their way.
func omitPlaceholders(ctx context.Context, responses graphql.ResponseHandler) graphql.ResponseHandler {
	oc := graphql.GetOperationContext(ctx)
	first := true
	return func(ctx context.Context) *graphql.Response {
		r := responses(ctx)
		if !first || r == nil || oc == nil || oc.Operation == nil {
			return r
		}
		first = false
		if r.HasNext == nil || !*r.HasNext || len(r.Data) == 0 {
			return r
		}
		tree := keyTree{}
		tree.add(oc.Operation.SelectionSet, oc.Doc, oc.Variables, false, 0)
		if data, err := tree.strip(r.Data); err == nil {
			r.Data = data
		}
		return r
	}
}

// keyTree maps the response keys of a selection set to what is known of
// them: whether every selection of the key is inside a deferred fragment,
// and the keys below it.
type keyTree map[string]*keyNode

type keyNode struct {
	deferredOnly bool
	children     keyTree
}

// maxFragmentDepth bounds fragment expansion (validation already rejects
// cycles; the guard limits depth).
const maxFragmentDepth = 32

func (t keyTree) add(set ast.SelectionSet, doc *ast.QueryDocument, vars map[string]any, deferred bool, depth int) {
	if depth > maxFragmentDepth {
		return
	}
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			key := s.Alias
			if key == "" {
				key = s.Name
			}
			n, ok := t[key]
			if !ok {
				n = &keyNode{deferredOnly: true, children: keyTree{}}
				t[key] = n
			}
			n.deferredOnly = n.deferredOnly && deferred
			n.children.add(s.SelectionSet, doc, vars, false, depth)
		case *ast.InlineFragment:
			t.add(s.SelectionSet, doc, vars, deferred || defers(s.Directives, vars), depth+1)
		case *ast.FragmentSpread:
			if doc == nil {
				continue
			}
			if def := doc.Fragments.ForName(s.Name); def != nil {
				t.add(def.SelectionSet, doc, vars, deferred || defers(s.Directives, vars), depth+1)
			}
		}
	}
}

// defers reports whether dirs holds an active @defer (its if argument
// absent or true).
func defers(dirs ast.DirectiveList, vars map[string]any) bool {
	d := dirs.ForName("defer")
	if d == nil {
		return false
	}
	arg := d.Arguments.ForName("if")
	if arg == nil {
		return true
	}
	v, err := arg.Value.Value(vars)
	if err != nil {
		return true
	}
	b, ok := v.(bool)
	return !ok || b
}

// strip removes the deferred-only keys from data, keeping the order of
// everything else.
func (t keyTree) strip(data json.RawMessage) (json.RawMessage, error) {
	trimmed := bytes.TrimSpace(data)
	switch {
	case len(trimmed) == 0:
		return data, nil
	case trimmed[0] == '[':
		var arr []json.RawMessage
		if err := json.Unmarshal(trimmed, &arr); err != nil {
			return nil, err
		}
		for i := range arr {
			v, err := t.strip(arr[i])
			if err != nil {
				return nil, err
			}
			arr[i] = v
		}
		return json.Marshal(arr)
	case trimmed[0] != '{':
		return data, nil
	}
	obj, err := decodeObject(trimmed)
	if err != nil {
		return nil, err
	}
	out := obj[:0]
	for _, m := range obj {
		n, ok := t[m.key]
		switch {
		case !ok:
			out = append(out, m)
		case n.deferredOnly:
			// left out: its incremental payload brings it
		default:
			v, err := n.children.strip(m.value)
			if err != nil {
				return nil, err
			}
			out = append(out, member{key: m.key, value: v})
		}
	}
	return encodeObject(out)
}
