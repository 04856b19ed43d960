package guard

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/lexer"
)

// Report describes the shape of one operation, fragments expanded. Figures
// saturate at math.MaxInt32, so a document whose fragments expand
// exponentially reports huge figures instead of taking exponential time.
type Report struct {
	Depth      int `json:"depth"`
	Aliases    int `json:"aliases"`
	RootFields int `json:"rootFields"`
	Fields     int `json:"fields"`
	Cost       int `json:"cost"`
}

// Lexical describes a document before parsing.
type Lexical struct {
	// Tokens counts lexical tokens, comments included (as gqlparser's
	// parser counts them); the scan stops once it passes the limit given.
	Tokens int
	// Directives counts '@' tokens among the tokens scanned.
	Directives int
}

// Scan lexes query and counts its tokens and directives, stopping after
// maxTokens+1 tokens (0: no limit) so its work is bounded whatever the
// document's size. A lexical error stops the scan without an error: the
// parser will report it with its position.
func Scan(query string, maxTokens int) Lexical {
	var n Lexical
	lx := lexer.New(&ast.Source{Input: query})
	for {
		tok, err := lx.ReadToken()
		if err != nil || tok.Kind == lexer.EOF {
			return n
		}
		n.Tokens++
		if tok.Kind == lexer.At {
			n.Directives++
		}
		if maxTokens > 0 && n.Tokens > maxTokens {
			return n
		}
	}
}

// errFragmentCycle is impossible after validation; the walk checks anyway.
var errFragmentCycle = errors.New("guard: fragment cycle")

// Analyze measures op, an operation of doc that gqlparser has validated
// (fields carry their definitions), with variables as coerced by gqlgen
// (OperationContext.Variables). costs must come from Costs.clone or have a
// non-zero DefaultListSize; a zero one means 100.
func Analyze(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, costs Costs) (Report, error) {
	if op == nil {
		return Report{}, errors.New("guard: no operation")
	}
	if costs.DefaultListSize == 0 {
		costs.DefaultListSize = defaultListSize
	}
	a := analyzer{
		doc:   doc,
		vars:  vars,
		costs: costs,
		memo:  map[memoKey]shape{},
		busy:  map[string]bool{},
	}
	s, err := a.selectionSet(op.SelectionSet, sizing{})
	if err != nil {
		return Report{}, err
	}
	return Report{Depth: s.depth, Aliases: s.aliases, RootFields: s.top, Fields: s.fields, Cost: s.cost}, nil
}

// shape is what a selection set contributes. All figures saturate.
type shape struct {
	top     int // fields at this level (through fragments), meta fields excluded
	depth   int
	fields  int
	aliases int
	cost    int
	intro   int // fields under __schema and __type (MeasureStructure only)
}

func (s *shape) add(o shape) {
	s.top = satAdd(s.top, o.top)
	s.fields = satAdd(s.fields, o.fields)
	s.aliases = satAdd(s.aliases, o.aliases)
	s.cost = satAdd(s.cost, o.cost)
	s.intro = satAdd(s.intro, o.intro)
	s.depth = max(s.depth, o.depth)
}

// sizing carries a connection's slicing size to its sized fields (edges,
// nodes), which are its direct children, possibly through fragments.
type sizing struct {
	fields string // the sized field names, NUL-separated; "" for none
	size   int
}

func (z sizing) sizes(name string) bool {
	if z.fields == "" {
		return false
	}
	for f := range strings.SplitSeq(z.fields, "\x00") {
		if f == name {
			return true
		}
	}
	return false
}

type memoKey struct {
	fragment string
	sizing   sizing
}

type analyzer struct {
	doc   *ast.QueryDocument
	vars  map[string]any
	costs Costs
	memo  map[memoKey]shape
	busy  map[string]bool
}

func (a *analyzer) selectionSet(set ast.SelectionSet, z sizing) (shape, error) {
	var s shape
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if !included(sel.Directives, a.vars) {
				continue
			}
			f, err := a.field(sel, z)
			if err != nil {
				return shape{}, err
			}
			s.add(f)
		case *ast.InlineFragment:
			if !included(sel.Directives, a.vars) {
				continue
			}
			f, err := a.selectionSet(sel.SelectionSet, z)
			if err != nil {
				return shape{}, err
			}
			s.add(f)
		case *ast.FragmentSpread:
			if !included(sel.Directives, a.vars) {
				continue
			}
			f, err := a.fragment(sel, z)
			if err != nil {
				return shape{}, err
			}
			s.add(f)
		}
	}
	return s, nil
}

func (a *analyzer) fragment(spread *ast.FragmentSpread, z sizing) (shape, error) {
	key := memoKey{fragment: spread.Name, sizing: z}
	if s, ok := a.memo[key]; ok {
		return s, nil
	}
	def := spread.Definition
	if def == nil && a.doc != nil {
		def = a.doc.Fragments.ForName(spread.Name)
	}
	if def == nil {
		return shape{}, fmt.Errorf("guard: unknown fragment %q", spread.Name)
	}
	if a.busy[spread.Name] {
		return shape{}, errFragmentCycle
	}
	a.busy[spread.Name] = true
	s, err := a.selectionSet(def.SelectionSet, z)
	a.busy[spread.Name] = false
	if err != nil {
		return shape{}, err
	}
	a.memo[key] = s
	return s, nil
}

func (a *analyzer) field(f *ast.Field, z sizing) (shape, error) {
	var s shape
	if f.Alias != "" && f.Alias != f.Name {
		s.aliases = 1
	}
	// Meta fields: __typename is free; introspection is bounded by
	// gqlparser's MaxIntrospectionDepth rule and off unless enabled.
	if strings.HasPrefix(f.Name, "__") {
		return s, nil
	}

	entry, hasEntry := FieldCost{}, false
	parent := ""
	if f.ObjectDefinition != nil {
		parent = f.ObjectDefinition.Name
		entry, hasEntry = a.costs.Fields[parent+"."+f.Name]
	}

	size := 1
	childSizing := sizing{}
	isList := f.Definition != nil && f.Definition.Type.Elem != nil
	switch {
	case hasEntry && len(entry.SizedFields) > 0:
		childSizing = sizing{fields: strings.Join(entry.SizedFields, "\x00"), size: a.slice(f, entry)}
	case hasEntry && entry.SlicingArgument != "":
		size = a.slice(f, entry)
	case z.sizes(f.Name):
		size = z.size
	case hasEntry && entry.AssumedSize > 0:
		size = entry.AssumedSize
	case isList:
		size = a.costs.DefaultListSize
	}

	children, err := a.selectionSet(f.SelectionSet, childSizing)
	if err != nil {
		return shape{}, err
	}

	weight := 0
	switch {
	case hasEntry:
		weight = entry.Weight
	case len(f.SelectionSet) > 0: // object type: validation requires a selection
		weight = 1
	}

	s.top = 1
	s.fields = satAdd(1, children.fields)
	s.aliases = satAdd(s.aliases, children.aliases)
	s.depth = satAdd(1, children.depth)
	s.cost = satMul(size, satAdd(weight, children.cost))
	return s, nil
}

// slice reads the field's slicing argument, variables resolved, falling back
// to its schema default and then to the entry's assumed size.
func (a *analyzer) slice(f *ast.Field, entry FieldCost) int {
	if arg := f.Arguments.ForName(entry.SlicingArgument); arg != nil && arg.Value != nil {
		var v any
		var err error
		if arg.Value.Kind == ast.Variable {
			v = a.vars[arg.Value.Raw] // absent or null: the default applies
		} else {
			v, err = arg.Value.Value(a.vars)
		}
		if n, ok := toInt(v); ok && err == nil {
			return max(n, 0)
		}
		if v != nil || err != nil {
			// A value was given that the estimate cannot read: never
			// assume the default for it.
			return saturated
		}
	}
	if f.Definition != nil {
		if def := f.Definition.Arguments.ForName(entry.SlicingArgument); def != nil && def.DefaultValue != nil {
			if v, err := def.DefaultValue.Value(nil); err == nil {
				if n, ok := toInt(v); ok {
					return max(n, 0)
				}
			}
		}
	}
	if entry.AssumedSize > 0 {
		return entry.AssumedSize
	}
	return a.costs.DefaultListSize
}

// included evaluates @skip and @include; anything it cannot evaluate counts
// as included, so the estimate errs on the high side.
func included(dirs ast.DirectiveList, vars map[string]any) bool {
	for _, d := range dirs {
		if d.Name != "skip" && d.Name != "include" {
			continue
		}
		arg := d.Arguments.ForName("if")
		if arg == nil || arg.Value == nil {
			continue
		}
		v, err := arg.Value.Value(vars)
		b, isBool := v.(bool)
		if err != nil || !isBool {
			continue
		}
		if (d.Name == "skip" && b) || (d.Name == "include" && !b) {
			return false
		}
	}
	return true
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(min(max(n, math.MinInt32), math.MaxInt32)), true
	case float64:
		if n != math.Trunc(n) || math.IsInf(n, 0) {
			return 0, false
		}
		return int(min(max(n, math.MinInt32), math.MaxInt32)), true
	case json.Number:
		i, err := n.Int64()
		if err != nil {
			return 0, false
		}
		return toInt(i)
	case string:
		// gqlparser lets "100" through for an Int variable, and gqlgen's
		// UnmarshalInt reads it with strconv.Atoi: so does the estimate.
		i, err := strconv.ParseInt(n, 10, 64)
		if err != nil {
			return 0, false
		}
		return toInt(i)
	}
	return 0, false
}

const saturated = math.MaxInt32

func satAdd(a, b int) int {
	if a >= saturated-b {
		return saturated
	}
	return a + b
}

func satMul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	if a >= saturated/b {
		return saturated
	}
	return a * b
}
