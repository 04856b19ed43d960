package guard

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
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
// parses a document it scans it lexically (tokens, directives), parses it
// and measures its structure (depth, aliases, fields including __typename,
// root fields; MeasureStructure), so a document over a limit is rejected
// before gqlparser's validation, whose cost grows with the document's
// shape, runs. It then validates the document itself with a capped error
// list (MaxErrors, then one "too many errors") and hands the validated
// document to gqlgen through the query cache. After gqlgen has coerced the
// variables, it measures the selected operation (Analyze) and rejects one
// over the cost before any resolver runs. With APQ enabled (Configure), it
// also resolves and registers automatic persisted queries, registering a
// query only once it has passed the limits and validated.
//
// An Extension is safe for concurrent use. Create it with NewExtension;
// the zero value has every limit at 0 and rejects every operation.
type Extension struct {
	limits Limits
	costs  Costs

	// Set by Configure and by Validate (the schema) before serving.
	schema *ast.Schema
	cache  graphql.Cache[*ast.QueryDocument]
	// reports keeps the Report of each operation without variables of a
	// cached document (the same *ast.OperationDefinition comes back for the
	// same query text): it depends on nothing else, so measuring it again
	// on every request is wasted work. Nil without a query cache. It holds
	// as many entries as the query cache and evicts on its own, so it may
	// keep alive up to that many documents the query cache has dropped
	// (each bounded by MAX_TOKENS).
	reports       *simplelru.LRU[*ast.OperationDefinition, Report]
	reportsMu     sync.Mutex
	apq           *apqStore
	suggestions   bool
	introspection bool
	scalars       map[string]ScalarCheck
}

// maxIntrospectionFields bounds the fields under __schema and __type when
// introspection is enabled: GraphiQL's introspection query has 229.
const maxIntrospectionFields = 300

// MaxErrors is how many validation errors a response carries; one more
// error says that the rest were left out.
const MaxErrors = 20

// msgTooManyErrors ends a capped error list; it carries gqlgen's
// validation code like the errors it stands for.
const msgTooManyErrors = "too many validation errors; only the first 20 are reported"

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
	graphql.OperationContextMutator
	graphql.ResponseInterceptor
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
// cost table against the schema, and keeps the schema to validate
// documents against.
func (e *Extension) Validate(es graphql.ExecutableSchema) error {
	if err := e.limits.Validate(); err != nil {
		return err
	}
	if err := e.costs.Check(es.Schema()); err != nil {
		return err
	}
	e.schema = es.Schema()
	return nil
}

// MutateOperationParameters implements graphql.OperationParameterMutator:
// APQ, then the lexical limits, then parsing, the structural limits and
// validation, all before gqlgen's own parse. A document that validated is
// put in the query cache, which gqlgen reads first, so gqlgen neither
// parses nor validates it again. An empty query (a trusted-document hash
// alone) is left to the extensions that resolve it.
func (e *Extension) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	var register string
	if e.apq != nil {
		var err *gqlerror.Error
		if register, err = e.apq.resolve(ctx, &p.Query, p.Extensions); err != nil {
			return err
		}
	}
	if p.Query == "" {
		return nil
	}
	if e.schema != nil && e.cache != nil {
		// Only documents that passed every check below are in the cache
		// (gqlgen reads it, but adds to it only what it parsed after this
		// method let the query through), so a hit skips them, the lexical
		// scan included.
		if doc, ok := e.cache.Get(ctx, p.Query); ok {
			return e.accept(ctx, doc, p, register)
		}
	}
	lx := Scan(p.Query, e.limits.MaxTokens)
	if lx.Tokens > e.limits.MaxTokens {
		return limitError(LimitTokens, fmt.Sprintf("query has more than %d tokens", e.limits.MaxTokens))
	}
	if lx.Directives > e.limits.MaxDirectives {
		return exceeded(LimitDirectives, "directive count", lx.Directives, e.limits.MaxDirectives)
	}
	if e.schema == nil { // not installed with Server.Use: lexical limits only
		return nil
	}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: p.Query}, e.limits.MaxTokens)
	if err != nil {
		var gerr *gqlerror.Error
		if !errors.As(err, &gerr) {
			gerr = gqlerror.Errorf("the query could not be parsed")
		}
		errcode.Set(gerr, errcode.ParseFailed)
		return gerr
	}
	if len(doc.Operations) == 0 {
		return nil // gqlgen answers "no operation provided"
	}
	if gerr := e.checkStructure(doc); gerr != nil {
		return gerr
	}
	if gerr := checkDefer(doc); gerr != nil {
		return gerr
	}
	if errs := validator.ValidateWithRules(e.schema, doc, e.rules()); len(errs) > 0 {
		for _, v := range errs {
			errcode.Set(v, errcode.ValidationFailed)
		}
		if graphql.HasOperationContext(ctx) && len(errs) > 1 {
			graphql.GetOperationContext(ctx).Stats.SetExtension(errorsExtension, errs[1:])
		}
		return errs[0]
	}
	if e.cache != nil {
		e.cache.Add(ctx, p.Query, doc)
	}
	return e.accept(ctx, doc, p, register)
}

// accept checks the operation p selects in doc, a document that passed the
// limits and validated, and then registers its APQ hash, if any.
func (e *Extension) accept(ctx context.Context, doc *ast.QueryDocument, p *graphql.RawParams, register string) *gqlerror.Error {
	if gerr := checkOperation(doc, p.OperationName, p.Variables); gerr != nil {
		return gerr
	}
	if register != "" {
		e.apq.add(ctx, register, p.Query)
	}
	return nil
}

const errorsExtension = "GuardValidationErrors"

// checkStructure applies the limits that do not need the schema to the
// parsed document.
func (e *Extension) checkStructure(doc *ast.QueryDocument) *gqlerror.Error {
	st := MeasureStructure(doc)
	switch {
	case st.Cycle:
		err := gqlerror.Errorf("a fragment spreads itself")
		errcode.Set(err, errcode.ValidationFailed)
		return err
	case st.IntrospectionFields > 0 && !e.introspection:
		return limitError(LimitIntrospection, "introspection is disabled")
	case st.IntrospectionFields > maxIntrospectionFields:
		return exceeded(LimitFields, "introspection field count", st.IntrospectionFields, maxIntrospectionFields)
	}
	return e.limits.checkShape(st.RootFields, st.Depth, st.Aliases, st.Fields)
}

// checkShape applies the root field, depth, alias and field count limits,
// in that order, to counts measured by checkStructure or Analyze.
func (l Limits) checkShape(rootFields, depth, aliases, fields int) *gqlerror.Error {
	switch {
	case rootFields > l.MaxRootFields:
		return exceeded(LimitRootFields, "root field count", rootFields, l.MaxRootFields)
	case depth > l.MaxDepth:
		return exceeded(LimitDepth, "query depth", depth, l.MaxDepth)
	case aliases > l.MaxAliases:
		return exceeded(LimitAliases, "alias count", aliases, l.MaxAliases)
	case fields > l.MaxFields:
		return exceeded(LimitFields, "field count", fields, l.MaxFields)
	}
	return nil
}

// rules returns a fresh validation rule set whose error list stops at
// MaxErrors plus one "too many errors".
func (e *Extension) rules() *rules.Rules {
	var rs *rules.Rules
	if e.suggestions {
		rs = rules.NewDefaultRules()
	} else {
		rs = RulesWithoutSuggestions()
	}
	return CapErrors(rs, MaxErrors)
}

// InterceptResponse implements graphql.ResponseInterceptor: a request
// rejected by validation carries the validation errors after the first
// (MutateOperationParameters returns only one), and a response without data
// never carries more than MaxErrors+1 errors, whoever produced them.
func (e *Extension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	if graphql.HasOperationContext(ctx) {
		if rest, ok := graphql.GetOperationContext(ctx).Stats.GetExtension(errorsExtension).(gqlerror.List); ok {
			for _, err := range rest {
				graphql.AddError(ctx, err)
			}
		}
	}
	resp := next(ctx)
	if resp != nil && resp.Data == nil && len(resp.Errors) > MaxErrors+1 {
		resp.Errors = append(resp.Errors[:MaxErrors:MaxErrors], tooManyErrors())
	}
	return resp
}

func tooManyErrors() *gqlerror.Error {
	err := gqlerror.Errorf(msgTooManyErrors)
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// CapErrors wraps every rule of rs so that, together, they report at most
// max errors and then one "too many errors"; later errors are dropped. The
// count is shared by the returned set: use a fresh set per validation.
func CapErrors(rs *rules.Rules, max int) *rules.Rules {
	n := 0
	for name, fn := range rs.GetInner() {
		rs.ReplaceRule(name, func(observers *core.Events, addError core.AddErrFunc) {
			fn(observers, func(options ...core.ErrorOption) {
				n++
				switch {
				case n <= max:
					addError(options...)
				case n == max+1:
					addError(core.Message(msgTooManyErrors))
				}
			})
		})
	}
	return rs
}

// MutateOperationContext implements graphql.OperationContextMutator: the
// arguments of checked scalars (Options.Scalars) coerce, then the limits
// on the validated operation. The Report is stored in the operation's
// stats (ReportFromContext).
func (e *Extension) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if err := checkArguments(oc.Doc, oc.Operation, oc.Variables, e.scalars); err != nil {
		return err
	}
	r, err := e.analyze(oc)
	if err != nil { // impossible after validation (a fragment cycle)
		return &gqlerror.Error{Message: "query could not be measured", Extensions: map[string]any{"code": CodeLimitExceeded}}
	}
	oc.Stats.SetExtension(extensionName, &r)
	if err := e.limits.checkShape(r.RootFields, r.Depth, r.Aliases, r.Fields); err != nil {
		return err
	}
	if r.Cost > e.limits.MaxCost {
		return exceeded(LimitCost, "query cost", r.Cost, e.limits.MaxCost)
	}
	return nil
}

// analyze is Analyze of oc's operation, from e.reports when the operation
// declares no variables (its figures then depend on the document alone).
func (e *Extension) analyze(oc *graphql.OperationContext) (Report, error) {
	if e.reports == nil || len(oc.Operation.VariableDefinitions) > 0 {
		return Analyze(oc.Doc, oc.Operation, oc.Variables, e.costs)
	}
	e.reportsMu.Lock()
	r, ok := e.reports.Get(oc.Operation)
	e.reportsMu.Unlock()
	if ok {
		return r, nil
	}
	r, err := Analyze(oc.Doc, oc.Operation, nil, e.costs)
	if err != nil {
		return r, err
	}
	e.reportsMu.Lock()
	e.reports.Add(oc.Operation, r)
	e.reportsMu.Unlock()
	return r, nil
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
