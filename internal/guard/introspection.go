package guard

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// LimitIntrospection is extensions.limit of a rejected introspection query.
const LimitIntrospection = "introspection"

// NoIntrospection is a gqlgen handler extension that rejects, before any
// resolver runs, an operation selecting __schema or __type (directly, or
// through fragments) with GRAPHQL_VALIDATION_FAILED and the message
// "introspection is disabled". Without it, gqlgen executes such an
// operation's other fields and fails only the introspection field, with an
// error the presenter cannot tell from a bug. It is stateless and safe for
// concurrent use; its zero value is ready.
type NoIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = NoIntrospection{}

// ExtensionName implements graphql.HandlerExtension.
func (NoIntrospection) ExtensionName() string { return "NoIntrospection" }

// Validate implements graphql.HandlerExtension.
func (NoIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator.
func (NoIntrospection) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && selectsIntrospection(oc.Doc, oc.Operation.SelectionSet, map[string]bool{}) {
		return limitError(LimitIntrospection, "introspection is disabled")
	}
	return nil
}

// selectsIntrospection reports a __schema or __type field in set. Both
// exist only on the query root, so nested object selections need no walk:
// validation has rejected them there.
func selectsIntrospection(doc *ast.QueryDocument, set ast.SelectionSet, seen map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if selectsIntrospection(doc, s.SelectionSet, seen) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[s.Name] {
				continue
			}
			seen[s.Name] = true
			if f := doc.Fragments.ForName(s.Name); f != nil && selectsIntrospection(doc, f.SelectionSet, seen) {
				return true
			}
		}
	}
	return false
}
