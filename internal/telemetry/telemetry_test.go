package telemetry

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/idpgate/idpgate/providers"
)

// TestUpstreamPropagation: traceparent reaches an upstream only with
// PropagateUpstream; the client span is recorded either way.
func TestUpstreamPropagation(t *testing.T) {
	for _, propagate := range []bool{false, true} {
		t.Run(fmt.Sprint("propagate=", propagate), func(t *testing.T) {
			var got string
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = r.Header.Get("traceparent")
			}))
			defer up.Close()
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			tel := New(nil, Tracing{Provider: tp, PropagateUpstream: propagate})
			hc := &http.Client{Transport: tel.Transport(http.DefaultTransport, "github")}
			ctx, span := tp.Tracer("test").Start(context.Background(), "request")
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, up.URL+"/user/repos?access_token=secret", nil)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			span.End()
			if (got != "") != propagate {
				t.Errorf("traceparent sent = %q; want sent only with propagate=%v", got, propagate)
			}
			if propagate && !strings.Contains(got, span.SpanContext().TraceID().String()) {
				t.Errorf("traceparent = %q; want trace %s", got, span.SpanContext().TraceID())
			}
			spans := exp.GetSpans()
			if len(spans) != 2 || spans[0].Name != "upstream github" {
				t.Fatalf("spans = %v; want the client span then the request", spans)
			}
			for _, a := range spans[0].Attributes {
				if v := a.Value.Emit(); strings.Contains(v, "secret") || strings.Contains(v, "/user/repos") {
					t.Errorf("client span attribute %s = %q holds the path or query", a.Key, v)
				}
			}
		})
	}
}

func TestNilTelemetryIsOff(t *testing.T) {
	var tel *Telemetry
	h := http.NotFoundHandler()
	if got := tel.Handler(h); fmt.Sprint(got) != fmt.Sprint(h) {
		t.Errorf("nil Handler wraps; want h itself")
	}
	if tel.GraphQL(nil) != nil || tel.APQHook() != nil || tel.RateLimitHook() != nil || tel.ManagementHook() != nil {
		t.Error("nil telemetry returns hooks; want nil")
	}
	if c, j, b := tel.ProfileHooks(); c != nil || j != nil || b != nil {
		t.Error("nil telemetry returns profile hooks; want nil")
	}
	if u := tel.Upstream("x"); u.Attempt != nil || u.Breaker != nil {
		t.Error("nil telemetry returns upstream hooks; want nil")
	}
}

func TestBounded(t *testing.T) {
	b := newBounded(2)
	tests := []struct{ in, want string }{
		{"A", "A"}, {"B", "B"}, {"C", Other}, {"A", "A"}, {strings.Repeat("x", 65), Other}, {"", ""},
	}
	for _, tt := range tests {
		if got := b.value(tt.in); got != tt.want {
			t.Errorf("value(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// TestPopular: an operation name becomes a label value only once three
// distinct users sent it; one user sending 200 names (or one name many
// times) admits nothing and leaves room for the names many users send.
func TestPopular(t *testing.T) {
	p := newPopular(newBounded(100))
	for i := range 200 {
		if got := p.value(fmt.Sprintf("Flood%d", i), "auth0|mallory"); got != Other {
			t.Fatalf("one user's name %d = %q; want %q", i, got, Other)
		}
	}
	steps := []struct{ name, user, want string }{
		{"Me", "auth0|a", Other},
		{"Me", "auth0|a", Other}, // the same user again
		{"Me", "", Other},        // unknown users do not count
		{"Me", "auth0|b", Other},
		{"Me", "auth0|c", "Me"}, // third distinct user: admitted
		{"Me", "auth0|mallory", "Me"},
		{"Flood1", "auth0|a", Other},
		{strings.Repeat("x", 65), "auth0|d", Other},
	}
	for i, s := range steps {
		if got := p.value(s.name, s.user); got != s.want {
			t.Errorf("step %d: value(%q, %q) = %q; want %q", i, s.name, s.user, got, s.want)
		}
	}
	if n := len(p.set.seen); n != 1 {
		t.Errorf("admitted names = %d; want 1", n)
	}
}

func TestLogHandlerAddsTraceIDs(t *testing.T) {
	var buf bytes.Buffer
	tp := sdktrace.NewTracerProvider()
	logger := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("request_id", "r1")
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	logger.InfoContext(ctx, "in a request")
	logger.Info("outside")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := `"trace_id":"` + span.SpanContext().TraceID().String() + `","span_id":"` + span.SpanContext().SpanID().String() + `"`
	if len(lines) != 2 || !strings.Contains(lines[0], want) || !strings.Contains(lines[0], `"request_id":"r1"`) {
		t.Errorf("log line = %s; want %s next to the request id", lines[0], want)
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Errorf("log line without a span = %s; want no trace_id", lines[1])
	}
}

func TestAdminHandler(t *testing.T) {
	tests := []struct {
		name          string
		metrics       *Metrics
		pprof         bool
		path          string
		want          int
		wantSubstring string
	}{
		{"metrics", NewMetrics(), false, "/metrics", 200, "go_goroutines"},
		{"pprof off by default", NewMetrics(), false, "/debug/pprof/", 404, ""},
		{"pprof on", NewMetrics(), true, "/debug/pprof/", 200, "goroutine"},
		{"no metrics", nil, true, "/metrics", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(AdminHandler(tt.metrics, tt.pprof))
			defer srv.Close()
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			b.ReadFrom(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want || !strings.Contains(b.String(), tt.wantSubstring) {
				t.Errorf("GET %s = %d; want %d with %q", tt.path, resp.StatusCode, tt.want, tt.wantSubstring)
			}
		})
	}
}

func TestRefreshOutcome(t *testing.T) {
	tests := []struct {
		rotated bool
		err     error
		want    string
	}{
		{false, nil, RefreshOK},
		{true, nil, RefreshRotated},
		{false, misconfiguredErr{}, RefreshMisconfigured},
		{false, &providers.Error{Kind: providers.ReauthRequired, Provider: "gitlab"}, RefreshInvalidGrant},
		{false, fmt.Errorf("x"), RefreshError},
	}
	for _, tt := range tests {
		if got := RefreshOutcome(tt.rotated, tt.err); got != tt.want {
			t.Errorf("RefreshOutcome(%v, %v) = %q; want %q", tt.rotated, tt.err, got, tt.want)
		}
	}
}

type misconfiguredErr struct{}

func (misconfiguredErr) Error() string       { return "misconfigured" }
func (misconfiguredErr) Misconfigured() bool { return true }

// TestJoinsStayBounded: waiters no batch took are pruned once stale, so the
// link bookkeeping never grows past maxJoins.
func TestJoinsStayBounded(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	tel := New(nil, Tracing{Provider: tp})
	ctx, span := tp.Tracer("test").Start(context.Background(), "request")
	defer span.End()
	for i := range maxJoins + 10 {
		tel.ProfileJoined(ctx, fmt.Sprint("user", i))
	}
	if tel.joins.n != maxJoins || len(tel.joins.byKey) != maxJoins {
		t.Fatalf("joins = %d in %d keys; want the bound %d", tel.joins.n, len(tel.joins.byKey), maxJoins)
	}
	tel.joins.mu.Lock()
	tel.joins.pruneLocked(time.Now().Add(joinTTL))
	tel.joins.mu.Unlock()
	if tel.joins.n != 0 || len(tel.joins.byKey) != 0 {
		t.Errorf("after joinTTL, joins = %d in %d keys; want none", tel.joins.n, len(tel.joins.byKey))
	}
	_, end := tel.ProfileBatch(ctx, []string{"user1"})
	end()
}
