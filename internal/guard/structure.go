package guard

import (
	"github.com/vektah/gqlparser/v2/ast"
)

// Structure is the shape of a parsed document before validation: what
// gqlparser's validator will walk. Fields counts every field selection,
// meta fields such as __typename included, each fragment counted at every
// spread, summed over all operations of the document (validation walks all
// of them, not only the one selected) plus fragments no operation spreads.
// Depth, Aliases and RootFields are the largest of any operation. Fields
// and depth below __schema and __type are not counted there:
// IntrospectionFields counts those fields. Figures
// saturate at math.MaxInt32.
type Structure struct {
	Depth      int
	Aliases    int
	RootFields int
	Fields     int
	// IntrospectionFields counts the fields under __schema and __type,
	// which Fields leaves out.
	IntrospectionFields int
	// Cycle is set when a fragment spreads itself, directly or not;
	// validation would report it, and expansion cannot measure it.
	Cycle bool
}

// MeasureStructure walks doc as parsed, without the schema. It is linear in
// the document's size: a fragment's shape is computed once and reused at
// each spread. Unknown fragments count as empty; validation reports them.
func MeasureStructure(doc *ast.QueryDocument) Structure {
	w := structWalker{doc: doc, memo: map[string]shape{}, busy: map[string]bool{}, used: map[string]bool{}}
	var st Structure
	for _, op := range doc.Operations {
		s := w.selectionSet(op.SelectionSet)
		st.Fields = satAdd(st.Fields, s.fields)
		st.IntrospectionFields = satAdd(st.IntrospectionFields, s.intro)
		st.Depth = max(st.Depth, s.depth)
		st.Aliases = max(st.Aliases, s.aliases)
		st.RootFields = max(st.RootFields, s.top)
	}
	for _, f := range doc.Fragments {
		if !w.used[f.Name] {
			s := w.fragment(f.Name)
			st.Fields = satAdd(st.Fields, s.fields)
			st.IntrospectionFields = satAdd(st.IntrospectionFields, s.intro)
		}
	}
	st.Cycle = w.cycle
	return st
}

type structWalker struct {
	doc   *ast.QueryDocument
	memo  map[string]shape
	busy  map[string]bool
	used  map[string]bool
	cycle bool
}

func (w *structWalker) selectionSet(set ast.SelectionSet) shape {
	var s shape
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			children := w.selectionSet(sel.SelectionSet)
			f := shape{top: 1, fields: satAdd(1, children.fields), aliases: children.aliases, depth: satAdd(1, children.depth)}
			if sel.Name == "__schema" || sel.Name == "__type" {
				// Introspection nests deeper than data (GraphiQL's query
				// reaches depth 15 and 229 fields); its fields are counted
				// apart, and gqlparser's MaxIntrospectionDepth bounds its
				// depth.
				f.depth = 1
				f.intro = satAdd(f.intro, f.fields)
				f.fields = 0
			}
			if sel.Alias != "" && sel.Alias != sel.Name {
				f.aliases = satAdd(f.aliases, 1)
			}
			s.add(f)
		case *ast.InlineFragment:
			s.add(w.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			w.used[sel.Name] = true
			s.add(w.fragment(sel.Name))
		}
	}
	return s
}

func (w *structWalker) fragment(name string) shape {
	if s, ok := w.memo[name]; ok {
		return s
	}
	def := w.doc.Fragments.ForName(name)
	if def == nil {
		return shape{}
	}
	if w.busy[name] {
		w.cycle = true
		return shape{}
	}
	w.busy[name] = true
	s := w.selectionSet(def.SelectionSet)
	w.busy[name] = false
	w.memo[name] = s
	return s
}
