package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/telemetry"
)

// TestTraces drives the gateway with tracing on (every span kept in
// memory) and checks the span tree of one request that carries a W3C
// traceparent, the token refresh span, and that no attribute or event
// holds a token, a secret, an Authorization header or a query string.
//
// By default the caller's traceparent is only a link of the server span
// (a public listener must not let a client choose our trace ids or force
// sampling); with OTEL_TRUST_INCOMING_TRACEPARENT it is the parent.
func TestTraces(t *testing.T) {
	t.Parallel()
	for _, trust := range []bool{false, true} {
		t.Run(map[bool]string{false: "linked by default", true: "parent when trusted"}[trust], func(t *testing.T) {
			t.Parallel()
			testTraces(t, trust)
		})
	}
}

func testTraces(t *testing.T, trust bool) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	e := newEnv(t, envOptions{telemetry: telemetry.New(nil, telemetry.Tracing{Provider: tp, TrustTraceparent: trust})})
	bearer := e.sb.Token(sandbox.Grace)
	googleAT := e.sb.AccessToken(sandbox.Grace, "google-oauth2")
	e.sb.Google.ExpireAccessToken(googleAT) // the request refreshes it

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	body, _ := json.Marshal(map[string]any{"query": bothQuery, "variables": window()})
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	if r := e.do(req); len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Fatalf("request = %d %s", r.Status, r.Raw)
	}
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Fatalf("Google refreshes = %d; want 1", got)
	}
	tp.ForceFlush(context.Background())
	spans := exp.GetSpans()

	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	find := func(name string, attrs ...attribute.KeyValue) []tracetest.SpanStub {
		var out []tracetest.SpanStub
	next:
		for _, s := range spans {
			if s.Name != name {
				continue
			}
			for _, want := range attrs {
				if !hasAttr(s.Attributes, want) {
					continue next
				}
			}
			out = append(out, s)
		}
		return out
	}
	// ancestor reports whether a is an ancestor of s in the recorded tree.
	ancestor := func(s, a tracetest.SpanStub) bool {
		for p := s.Parent; p.IsValid(); {
			if p.SpanID() == a.SpanContext.SpanID() {
				return true
			}
			parent, ok := byID[p.SpanID()]
			if !ok {
				return false
			}
			p = parent.Parent
		}
		return false
	}
	one := func(name string, attrs ...attribute.KeyValue) tracetest.SpanStub {
		t.Helper()
		got := find(name, attrs...)
		if len(got) != 1 {
			var names []string
			for _, s := range spans {
				names = append(names, s.Name)
			}
			t.Fatalf("spans named %q with %v = %d; want 1 among %v", name, attrs, len(got), names)
		}
		return got[0]
	}

	server := one("POST /graphql")
	if server.SpanKind != trace.SpanKindServer {
		t.Errorf("server span kind = %v; want server", server.SpanKind)
	}
	if trust {
		if server.SpanContext.TraceID().String() != traceID || !server.Parent.IsRemote() {
			t.Errorf("server span trace %v remote parent %v; want it continuing the caller's trace", server.SpanContext.TraceID(), server.Parent.IsRemote())
		}
	} else {
		if server.SpanContext.TraceID().String() == traceID || server.Parent.IsValid() {
			t.Errorf("server span trace %v parent %v; want a new trace, not the caller's", server.SpanContext.TraceID(), server.Parent)
		}
		if len(server.Links) != 1 || server.Links[0].SpanContext.TraceID().String() != traceID {
			t.Errorf("server span links = %v; want one link to the caller's context", server.Links)
		}
	}
	requestTrace := server.SpanContext.TraceID().String()
	op := one("graphql.operation query", attribute.String("graphql.operation.type", "query"))
	if op.Parent.SpanID() != server.SpanContext.SpanID() {
		t.Errorf("operation span parent = %v; want the server span", op.Parent.SpanID())
	}
	repos := one("graphql.field repos", attribute.String("idpgate.provider", "github"), attribute.String("idpgate.connection", "github"))
	calendar := one("graphql.field calendar", attribute.String("idpgate.provider", "google-oauth2"))
	for _, f := range []tracetest.SpanStub{repos, calendar} {
		if !ancestor(f, op) {
			t.Errorf("%s is not under the operation span", f.Name)
		}
	}
	github := one("upstream github")
	if github.SpanKind != trace.SpanKindClient || github.Parent.SpanID() != repos.SpanContext.SpanID() {
		t.Errorf("GitHub client span kind %v parent %v; want a client span under the repos field", github.SpanKind, github.Parent.SpanID())
	}
	if !hasAttr(github.Attributes, attribute.Int("http.response.status_code", 200)) {
		t.Errorf("GitHub client span attributes = %v; want the status", github.Attributes)
	}
	refresh := one("token refresh", attribute.String("idpgate.provider", "google-oauth2"), attribute.String("idpgate.refresh.outcome", "ok"))
	if !ancestor(refresh, calendar) {
		t.Errorf("token refresh span is not under the calendar field")
	}
	batch := one("auth0.profile_batch")
	if batch.Parent.IsValid() || len(batch.Links) != 1 || batch.Links[0].SpanContext.TraceID().String() != requestTrace {
		t.Errorf("batch span parent %v links %v; want a root linked to the request", batch.Parent, batch.Links)
	}
	for _, s := range find("upstream auth0") {
		if !ancestor(s, batch) {
			t.Errorf("an auth0 client span is outside the batch span")
		}
	}

	// No attribute or event carries a secret, a token, a header, a user id
	// or an upstream query string.
	canaries := []string{sandbox.SecretMarker, bearer, googleAT, "Bearer", "authorization", sandbox.Grace, "?", "access_token", "refresh_token"}
	for _, s := range spans {
		var values []string
		for _, a := range s.Attributes {
			values = append(values, string(a.Key)+"="+a.Value.Emit())
		}
		for _, ev := range s.Events {
			values = append(values, ev.Name)
			for _, a := range ev.Attributes {
				values = append(values, string(a.Key)+"="+a.Value.Emit())
			}
		}
		values = append(values, s.Name, s.Status.Description)
		for _, v := range values {
			for _, c := range canaries {
				if strings.Contains(strings.ToLower(v), strings.ToLower(c)) {
					t.Errorf("span %q holds %q: %s", s.Name, c, v)
				}
			}
		}
	}

	// The request's log lines carry the request's trace id next to the
	// request id: the caller's only when trusted.
	found, callers := false, false
	for _, line := range strings.Split(e.log.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"trace_id":"`+requestTrace+`"`) && strings.Contains(line, `"request_id"`) {
			found = true
		}
		callers = callers || strings.Contains(line, traceID)
	}
	if !found {
		t.Errorf("no access log line with trace_id %s and request_id", requestTrace)
	}
	if callers != trust {
		t.Errorf("the caller's trace id in the logs: %v; want %v", callers, trust)
	}
}

func hasAttr(attrs []attribute.KeyValue, want attribute.KeyValue) bool {
	for _, a := range attrs {
		if a.Key == want.Key && a.Value == want.Value {
			return true
		}
	}
	return false
}
