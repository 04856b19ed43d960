package guard

import (
	"fmt"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// ScalarCheck reports whether an input value (a literal's value or a
// variable's, as JSON decodes it) coerces to a custom scalar. Its error
// says what is expected and holds nothing of the value.
type ScalarCheck func(v any) error

// checkArguments coerces, once per request and before execution, every
// argument of op typed with a scalar in checks: gqlparser does not look
// inside custom scalars, and gqlgen would coerce them once per resolved
// field (once per identity), answering each failure on its own. The first
// failure is one BAD_USER_INPUT error naming the argument (and the
// variable it came from).
func checkArguments(doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, checks map[string]ScalarCheck) *gqlerror.Error {
	if len(checks) == 0 || op == nil {
		return nil
	}
	seen := map[string]bool{}
	var walk func(ast.SelectionSet) *gqlerror.Error
	walk = func(set ast.SelectionSet) *gqlerror.Error {
		for _, sel := range set {
			switch s := sel.(type) {
			case *ast.Field:
				if err := checkField(s, vars, checks); err != nil {
					return err
				}
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			case *ast.InlineFragment:
				if err := walk(s.SelectionSet); err != nil {
					return err
				}
			case *ast.FragmentSpread:
				if seen[s.Name] {
					continue
				}
				seen[s.Name] = true
				if f := doc.Fragments.ForName(s.Name); f != nil {
					if err := walk(f.SelectionSet); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return walk(op.SelectionSet)
}

func checkField(f *ast.Field, vars map[string]any, checks map[string]ScalarCheck) *gqlerror.Error {
	if f.Definition == nil {
		return nil
	}
	for _, arg := range f.Arguments {
		def := f.Definition.Arguments.ForName(arg.Name)
		if def == nil || arg.Value == nil {
			continue
		}
		check := checks[def.Type.Name()]
		if check == nil {
			continue
		}
		where := fmt.Sprintf("argument %q of %s.%s", arg.Name, parentName(f), f.Name)
		if arg.Value.Kind == ast.Variable {
			where = fmt.Sprintf("variable \"$%s\" (%s)", arg.Value.Raw, where)
		}
		v, err := arg.Value.Value(vars)
		if err == nil {
			err = checkValue(v, check)
		} else {
			err = check(struct{}{}) // a literal that is no value at all: say what is expected
		}
		if err != nil {
			gerr := gqlerror.ErrorPosf(arg.Position, "%s: %v", where, err)
			gerr.Extensions = map[string]any{"code": gqlresp.CodeBadUserInput}
			return gerr
		}
	}
	return nil
}

// checkValue checks v, each element of a list; null passes (gqlgen
// enforces non-null types).
func checkValue(v any, check ScalarCheck) error {
	switch v := v.(type) {
	case nil:
		return nil
	case []any:
		for _, e := range v {
			if err := checkValue(e, check); err != nil {
				return err
			}
		}
		return nil
	}
	return check(v)
}

func parentName(f *ast.Field) string {
	if f.ObjectDefinition != nil {
		return f.ObjectDefinition.Name
	}
	return "?"
}
