package telemetry

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/idpgate/idpgate/graph/model"
)

// upstreamFields are the fields whose resolvers call a provider: each gets
// a span of its own.
var upstreamFields = map[string]bool{"repos": true, "calendar": true}

// graphQLExtension counts answered operations by bounded name, type and
// outcome, the error codes and query-limit rejections of every response,
// and, with tracing on, spans the operation and each upstream-calling
// field. It never records the query text or variables.
type graphQLExtension struct {
	metrics *Metrics
	tracing Tracing
	tracer  trace.Tracer
	userID  func(context.Context) (string, bool)
}

var (
	_ graphql.HandlerExtension     = graphQLExtension{}
	_ graphql.OperationInterceptor = graphQLExtension{}
	_ graphql.ResponseInterceptor  = graphQLExtension{}
	_ graphql.FieldInterceptor     = tracingExtension{}
)

// tracingExtension is graphQLExtension with the field spans: only with
// tracing on is it a FieldInterceptor, because gqlgen runs every field of
// every response through each field interceptor registered.
type tracingExtension struct{ graphQLExtension }

func (graphQLExtension) ExtensionName() string                   { return "Telemetry" }
func (graphQLExtension) Validate(graphql.ExecutableSchema) error { return nil }
func (e tracingExtension) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Object != "Identity" || !upstreamFields[fc.Field.Name] {
		return next(ctx)
	}
	attrs := []attribute.KeyValue{attribute.String("graphql.field.name", fc.Field.Name)}
	if id := parentIdentity(fc); id != nil {
		attrs = append(attrs, attribute.String("idpgate.provider", id.Provider), attribute.String("idpgate.connection", id.Connection))
	}
	ctx, span := e.tracer.Start(ctx, "graphql.field "+fc.Field.Name, trace.WithAttributes(attrs...))
	defer span.End()
	res, err := next(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "field failed")
	}
	return res, err
}

// parentIdentity is the Identity whose field fc resolves.
func parentIdentity(fc *graphql.FieldContext) *model.Identity {
	if fc.Parent == nil {
		return nil
	}
	switch v := fc.Parent.Result.(type) {
	case *model.Identity:
		return v
	case **model.Identity:
		if v != nil {
			return *v
		}
	}
	return nil
}

// InterceptOperation starts the operation span: its name and type, and the
// user id only when RecordUserID is set.
func (e graphQLExtension) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if !e.tracing.on() {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	name, typ := operationOf(oc)
	attrs := []attribute.KeyValue{
		attribute.String("graphql.operation.name", name),
		attribute.String("graphql.operation.type", typ),
	}
	if e.tracing.RecordUserID && e.userID != nil {
		if id, ok := e.userID(ctx); ok {
			attrs = append(attrs, attribute.String("enduser.id", id))
		}
	}
	ctx, span := e.tracer.Start(ctx, "graphql.operation "+typ, trace.WithAttributes(attrs...))
	handler := next(ctx)
	return func(ctx context.Context) *graphql.Response {
		resp := handler(ctx)
		if resp == nil || resp.HasNext == nil || !*resp.HasNext {
			if resp != nil && len(resp.Errors) > 0 {
				span.SetStatus(codes.Error, "errors in response")
			}
			span.End()
		}
		return resp
	}
}

func operationOf(oc *graphql.OperationContext) (name, typ string) {
	if oc == nil {
		return "", ""
	}
	name = oc.OperationName
	if oc.Operation != nil {
		typ = string(oc.Operation.Operation)
		if name == "" {
			name = oc.Operation.Name
		}
	}
	return name, typ
}

// InterceptResponse counts each final response of an operation (one per
// operation, @defer included) and every error code in every response.
func (e graphQLExtension) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	resp := next(ctx)
	if e.metrics == nil || resp == nil {
		return resp
	}
	var codes, limits []string
	for _, err := range resp.Errors {
		if c, ok := err.Extensions["code"].(string); ok {
			codes = append(codes, c)
		}
		if l, ok := err.Extensions["limit"].(string); ok {
			limits = append(limits, l)
		}
	}
	e.metrics.responseErrors(codes, limits)
	if resp.HasNext != nil && *resp.HasNext {
		return resp
	}
	var name, typ string
	if graphql.HasOperationContext(ctx) {
		name, typ = operationOf(graphql.GetOperationContext(ctx))
	}
	if typ == "" {
		typ = "unknown" // rejected before an operation was selected
		name = ""
	}
	outcome := "ok"
	switch {
	case len(resp.Errors) > 0 && len(resp.Data) > 0 && string(resp.Data) != "null":
		outcome = "partial"
	case len(resp.Errors) > 0:
		outcome = "error"
	}
	var user string
	if e.userID != nil {
		user, _ = e.userID(ctx)
	}
	e.metrics.operation(name, user, typ, outcome)
	return resp
}
