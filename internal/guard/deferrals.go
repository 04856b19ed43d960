package guard

import (
	"fmt"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// checkDefer rejects the uses of @defer the gateway does not serve: a
// @defer inside a deferred fragment, inline or through fragment spreads at
// any depth (gqlgen v0.17's executor can leave such a nested payload
// pending forever), and two @defer directives with the same label (the
// incremental delivery RFC requires labels to be unique in a document, so
// that a client can tell the payloads apart). It is syntactic: a
// @defer(if: false) counts too. It runs before validation, on the parsed
// document; unknown fragments and cycles are left to the other checks.
func checkDefer(doc *ast.QueryDocument) *gqlerror.Error {
	labels := map[string]bool{}
	var dup string
	seeLabels := func(set ast.SelectionSet) {
		walkDirectives(set, func(d *ast.Directive) {
			if d.Name != "defer" || dup != "" {
				return
			}
			if a := d.Arguments.ForName("label"); a != nil && a.Value != nil && a.Value.Kind == ast.StringValue {
				if labels[a.Value.Raw] {
					dup = a.Value.Raw
				}
				labels[a.Value.Raw] = true
			}
		})
	}
	for _, op := range doc.Operations {
		seeLabels(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		seeLabels(f.SelectionSet)
	}
	if dup != "" {
		return deferError(fmt.Sprintf("the @defer label %q is used more than once; labels must be unique", dup))
	}

	w := deferWalker{doc: doc, done: map[deferKey]bool{}}
	for _, op := range doc.Operations {
		if w.nested(op.SelectionSet, false) {
			return deferError("@defer inside a deferred fragment is not supported; defer the outer fragment only")
		}
	}
	return nil
}

func deferError(msg string) *gqlerror.Error {
	err := gqlerror.Errorf("%s", msg)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// walkDirectives calls fn for every directive on a field, inline fragment
// or fragment spread of set, nested sets included (not through spreads).
func walkDirectives(set ast.SelectionSet, fn func(*ast.Directive)) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			for _, d := range sel.Directives {
				fn(d)
			}
			walkDirectives(sel.SelectionSet, fn)
		case *ast.InlineFragment:
			for _, d := range sel.Directives {
				fn(d)
			}
			walkDirectives(sel.SelectionSet, fn)
		case *ast.FragmentSpread:
			for _, d := range sel.Directives {
				fn(d)
			}
		}
	}
}

// deferKey is a fragment walked inside a deferred fragment or not.
type deferKey struct {
	name    string
	inDefer bool
}

// deferWalker finds a @defer under a deferred fragment. Each fragment is
// walked at most twice (inside a deferred fragment and outside), so the
// walk is linear in the document's size; a fragment being walked counts as
// clean when reached again (a cycle, reported elsewhere).
type deferWalker struct {
	doc  *ast.QueryDocument
	done map[deferKey]bool
}

func (w *deferWalker) nested(set ast.SelectionSet, inDefer bool) bool {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if w.nested(sel.SelectionSet, inDefer) {
				return true
			}
		case *ast.InlineFragment:
			d := sel.Directives.ForName("defer") != nil
			if d && inDefer {
				return true
			}
			if w.nested(sel.SelectionSet, inDefer || d) {
				return true
			}
		case *ast.FragmentSpread:
			d := sel.Directives.ForName("defer") != nil
			if d && inDefer {
				return true
			}
			key := deferKey{sel.Name, inDefer || d}
			if w.done[key] {
				continue
			}
			w.done[key] = true
			def := w.doc.Fragments.ForName(sel.Name)
			if def != nil && w.nested(def.SelectionSet, key.inDefer) {
				return true
			}
		}
	}
	return false
}
