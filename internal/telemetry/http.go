package telemetry

import (
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// route is the bounded route label of a public request path.
func route(path string) string {
	switch {
	case path == "/graphql", path == "/healthz", path == "/readyz", path == "/":
		return path
	case strings.HasPrefix(path, "/graphiql/"):
		return "/graphiql/"
	}
	return Other
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// serverMetrics counts requests by route and status class and observes
// their latency.
func (m *Metrics) serverMetrics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r) // httpmw.Recover, inside, answers panics
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		m.request(route(r.URL.Path), status, time.Since(start))
	})
}

// serverSpan is otelhttp's server span: it names the span after the
// bounded route and records method, route, path and status (never the
// query string, which a GET /graphql fills with the query). An incoming
// W3C traceparent is only a link (otelhttp.WithPublicEndpointFn: a new
// root, sampled by our own sampler; see the option's documentation at
// https://pkg.go.dev/go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp#WithPublicEndpointFn),
// unless TrustTraceparent makes it the parent.
func (t Tracing) serverSpan(next http.Handler) http.Handler {
	opts := []otelhttp.Option{
		otelhttp.WithTracerProvider(t.Provider),
		otelhttp.WithPropagators(propagator),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + route(r.URL.Path) }),
		// Probes would fill the trace backend with nothing of interest.
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" && r.URL.Path != "/readyz" }),
	}
	if !t.TrustTraceparent {
		opts = append(opts, otelhttp.WithPublicEndpointFn(func(*http.Request) bool { return true }))
	}
	return otelhttp.NewHandler(next, "http.server", opts...)
}

// clientSpans makes each upstream attempt a client span named after the
// upstream. Its attributes are the method, the host and the status: not
// the path (an Auth0 by-id path holds a user id) nor the query string (a
// search holds user ids, a provider call may hold a token), nor any header
// or body. traceparent is sent only when propagate is set.
type clientSpans struct {
	base      http.RoundTripper
	tracer    trace.Tracer
	upstream  string
	propagate bool
}

func (c clientSpans) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, span := c.tracer.Start(req.Context(), "upstream "+c.upstream,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("idpgate.upstream", c.upstream),
			attribute.String("http.request.method", req.Method),
			attribute.String("server.address", req.URL.Hostname()),
		))
	defer span.End()
	if c.propagate {
		req = req.Clone(ctx)
		propagator.Inject(ctx, propagation.HeaderCarrier(req.Header))
	} else {
		req = req.WithContext(ctx)
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		span.SetStatus(codes.Error, "transport error")
		return nil, err
	}
	span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	if resp.StatusCode >= 500 {
		span.SetStatus(codes.Error, http.StatusText(resp.StatusCode))
	}
	return resp, nil
}

// CloseIdleConnections forwards to the base transport.
func (c clientSpans) CloseIdleConnections() {
	if ci, ok := c.base.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}
