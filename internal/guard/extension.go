package guard

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// CodeLimitExceeded is the extensions.code of every rejection by Extension.
// It is gqlgen's errcode.ValidationFailed, so gqlgen's transports answer
// with the status they use for validation errors.
const CodeLimitExceeded = errcode.ValidationFailed

// Names of the limits, as sent in extensions.limit.
const (
	LimitDepth      = "depth"
	LimitAliases    = "aliases"
	LimitRootFields = "rootFields"
	LimitDirectives = "directives"
	LimitTokens     = "tokens"
	LimitFields     = "fields"
	LimitCost       = "cost"
)

const extensionName = "Guard"

// Extension is a gqlgen handler extension enforcing Limits. Before gqlgen
// parses a document it scans it lexically (tokens, directives); after
// gqlgen has validated it, it measures the selected operation (Analyze) and
// rejects it before any resolver runs. Use it before APQ or Trusted (as
// Configure does) so that APQ never stores a document over the lexical
// limits.
//
// An Extension is immutable and safe for concurrent use. Create it with
// NewExtension; the zero value has every limit at 0 and rejects every
// operation.
type Extension struct {
	limits Limits
	costs  Costs
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
} = (*Extension)(nil)

// NewExtension returns an Extension enforcing l (zero fields take their
// defaults) with the cost table costs (a nil Fields map means
// DefaultCosts). The table is copied. Invalid limits and a table that does
// not match the schema are reported by Validate, which gqlgen's Server.Use
// calls (and panics on); Configure returns them as an error instead.
func NewExtension(l Limits, costs Costs) *Extension {
	if costs.Fields == nil {
		costs = DefaultCosts()
	}
	return &Extension{limits: l.withDefaults(), costs: costs.clone()}
}

// Limits returns the limits in force, defaults filled in.
func (e *Extension) Limits() Limits { return e.limits }

// ExtensionName implements graphql.HandlerExtension.
func (e *Extension) ExtensionName() string { return extensionName }

// Validate implements graphql.HandlerExtension: it checks the limits and the
// cost table against the schema.
func (e *Extension) Validate(es graphql.ExecutableSchema) error {
	if err := e.limits.Validate(); err != nil {
		return err
	}
	return e.costs.Check(es.Schema())
}

// MutateOperationParameters implements graphql.OperationParameterMutator:
// the lexical limits, checked before gqlgen parses (and APQ stores) the
// document. An empty query (an APQ or trusted-document hash alone) is left
// to the extensions that resolve it.
func (e *Extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if p.Query == "" {
		return nil
	}
	lx := Scan(p.Query, e.limits.MaxTokens)
	if lx.Tokens > e.limits.MaxTokens {
		return limitError(LimitTokens, fmt.Sprintf("query has more than %d tokens", e.limits.MaxTokens))
	}
	if lx.Directives > e.limits.MaxDirectives {
		return exceeded(LimitDirectives, "directive count", lx.Directives, e.limits.MaxDirectives)
	}
	return nil
}

// MutateOperationContext implements graphql.OperationContextMutator: the
// limits on the validated operation. The Report is stored in the operation's
// stats (ReportFromContext).
func (e *Extension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	r, err := Analyze(oc.Doc, oc.Operation, oc.Variables, e.costs)
	if err != nil { // impossible after validation (a fragment cycle)
		return &gqlerror.Error{Message: "query could not be measured", Extensions: map[string]any{"code": CodeLimitExceeded}}
	}
	oc.Stats.SetExtension(extensionName, &r)
	l := e.limits
	switch {
	case r.RootFields > l.MaxRootFields:
		return exceeded(LimitRootFields, "root field count", r.RootFields, l.MaxRootFields)
	case r.Depth > l.MaxDepth:
		return exceeded(LimitDepth, "query depth", r.Depth, l.MaxDepth)
	case r.Aliases > l.MaxAliases:
		return exceeded(LimitAliases, "alias count", r.Aliases, l.MaxAliases)
	case r.Fields > l.MaxFields:
		return exceeded(LimitFields, "field count", r.Fields, l.MaxFields)
	case r.Cost > l.MaxCost:
		return exceeded(LimitCost, "query cost", r.Cost, l.MaxCost)
	}
	return nil
}

// ReportFromContext returns the Report of the current operation, or nil
// when Extension did not measure it.
func ReportFromContext(ctx context.Context) *Report {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	r, _ := graphql.GetOperationContext(ctx).Stats.GetExtension(extensionName).(*Report)
	return r
}

func exceeded(limit, what string, got, max int) *gqlerror.Error {
	return limitError(limit, fmt.Sprintf("%s %d exceeds the limit of %d", what, got, max))
}

func limitError(limit, msg string) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    msg,
		Extensions: map[string]any{"code": CodeLimitExceeded, "limit": limit},
	}
}
