package identity

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/idpgate/idpgate/internal/telemetry"
)

// TestBatchSpanLinksEveryJoiner: a batch serves several requests, so its
// span is a root linked to each of their spans, parented under none.
func TestBatchSpanLinksEveryJoiner(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tel := telemetry.New(nil, telemetry.Tracing{Provider: tp})
	cfg := pairConfig(newClock()) // the batch runs once both keys are queued
	cfg.Observe.Cache, cfg.Observe.Joined, cfg.Observe.Batch = tel.ProfileHooks()
	d := newDirectory(user("auth0|a", 3600), user("auth0|b", 3600))
	l := New(cfg, d.fake())

	tr := tp.Tracer("test")
	var requests []trace.SpanContext
	done := make(chan error, 2)
	for _, id := range []string{"auth0|a", "auth0|b"} {
		ctx, span := tr.Start(t.Context(), "request "+id)
		requests = append(requests, span.SpanContext())
		go func(ctx context.Context) {
			defer span.End()
			_, err := l.Load(ctx, id)
			done <- err
		}(ctx)
	}
	for range 2 {
		if err := within(t, done, "Load"); err != nil {
			t.Fatalf("Load() error = %v", err)
		}
	}

	var batch *tracetest.SpanStub
	spans := exp.GetSpans()
	for i := range spans {
		if spans[i].Name == "auth0.profile_batch" {
			if batch != nil {
				t.Fatalf("two batch spans; want one batch for both users")
			}
			batch = &spans[i]
		}
	}
	if batch == nil {
		t.Fatalf("no auth0.profile_batch span among %d spans", len(spans))
	}
	if batch.Parent.IsValid() {
		t.Errorf("batch span parent = %v; want none (a root linked to its requests)", batch.Parent.SpanID())
	}
	linked := map[trace.SpanID]bool{}
	for _, link := range batch.Links {
		linked[link.SpanContext.SpanID()] = true
	}
	for _, sc := range requests {
		if !linked[sc.SpanID()] {
			t.Errorf("batch links %v; want a link to request span %v", batch.Links, sc.SpanID())
		}
		if batch.SpanContext.TraceID() == sc.TraceID() {
			t.Errorf("batch span is in request trace %v; want a trace of its own", sc.TraceID())
		}
	}
	if len(batch.Links) != 2 {
		t.Errorf("batch links = %d; want 2", len(batch.Links))
	}
}
