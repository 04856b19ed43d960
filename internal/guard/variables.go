package guard

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// A BAD_USER_INPUT refusal before execution (a variable or an argument
// that does not coerce, an APQ hash that does not match) is a request
// error: gqlgen then answers it as it does its own coercion errors (HTTP
// 400 to an application/graphql-response+json client, as GraphQL over
// HTTP asks; Conform makes it 200 for application/json). Registered once,
// before any server runs: gqlgen's table is not synchronized.
func init() {
	errcode.RegisterErrorType(gqlresp.CodeBadUserInput, errcode.KindProtocol)
}

// checkOperation runs on the validated document before gqlgen selects the
// operation and coerces the variables. A document with several operations
// and no operationName is one error saying that operationName is required
// (gqlgen would say "operation  not found"). A variable of type Int (or a
// list of Int) whose value is not a whole number from -2^31 to 2^31-1 (the
// spec's Int input coercion) is one BAD_USER_INPUT error naming it, before
// the query's cost is measured with it: gqlparser accepts a numeric string
// and reports a number out of range as "cannot use value 0".
func checkOperation(doc *ast.QueryDocument, name string, vars map[string]any) *gqlerror.Error {
	var op *ast.OperationDefinition
	switch {
	case name != "":
		op = doc.Operations.ForName(name)
	case len(doc.Operations) == 1:
		op = doc.Operations[0]
	default:
		err := gqlerror.Errorf("operationName is required: the document has %d operations", len(doc.Operations))
		errcode.Set(err, errcode.ValidationFailed)
		return err
	}
	if op == nil {
		return nil // gqlgen: operation not found
	}
	for _, def := range op.VariableDefinitions {
		if def.Type == nil || def.Type.Name() != "Int" {
			continue
		}
		v, ok := vars[def.Variable]
		if !ok {
			continue
		}
		if !intValue(v, def.Type) {
			err := gqlerror.ErrorPosf(def.Position, "variable \"$%s\": want an Int, a whole number from %d to %d", def.Variable, math.MinInt32, math.MaxInt32)
			err.Extensions = map[string]any{"code": gqlresp.CodeBadUserInput}
			return err
		}
	}
	return nil
}

// intValue reports whether v coerces to t, a possibly wrapped Int. null
// passes: gqlgen enforces non-null types.
func intValue(v any, t *ast.Type) bool {
	if v == nil {
		return true
	}
	if t.Elem != nil {
		list, ok := v.([]any)
		if !ok {
			return intValue(v, t.Elem) // a single value coerces to a list of one
		}
		for _, e := range list {
			if !intValue(e, t.Elem) {
				return false
			}
		}
		return true
	}
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(n.String(), 64) // never expands an exponent
		return err == nil && f == math.Trunc(f) && f >= math.MinInt32 && f <= math.MaxInt32
	case float64:
		return n == math.Trunc(n) && n >= math.MinInt32 && n <= math.MaxInt32
	case int:
		return n >= math.MinInt32 && n <= math.MaxInt32
	case int64:
		return n >= math.MinInt32 && n <= math.MaxInt32
	default:
		return false // a string, a boolean, an object
	}
}
