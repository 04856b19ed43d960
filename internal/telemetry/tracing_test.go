package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
)

// TestOTLPTracerProviderExportsToTheEndpoint: the provider built from the
// standard variables sends spans over OTLP/HTTP to the endpoint set.
//
// OTel docs: https://opentelemetry.io/docs/specs/otlp/#otlphttp (POST
// /v1/traces, application/x-protobuf).
func TestOTLPTracerProviderExportsToTheEndpoint(t *testing.T) {
	var posts atomic.Int32
	var contentType atomic.Value
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
			contentType.Store(r.Header.Get("Content-Type"))
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")

	tp, err := NewOTLPTracerProvider(context.Background(), os.Getenv)
	if err != nil {
		t.Fatalf("NewOTLPTracerProvider() error = %v", err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil { // flushes
		t.Fatalf("Shutdown() error = %v", err)
	}
	if posts.Load() != 1 || contentType.Load() != "application/x-protobuf" {
		t.Errorf("collector got %d POST /v1/traces (content type %v); want 1 protobuf export", posts.Load(), contentType.Load())
	}
}

func TestOTLPTracerProviderRejectsAnUnknownProtocol(t *testing.T) {
	getenv := func(k string) string {
		if k == "OTEL_EXPORTER_OTLP_PROTOCOL" {
			return "http/json"
		}
		return ""
	}
	_, err := NewOTLPTracerProvider(context.Background(), getenv)
	if err == nil || !strings.HasPrefix(err.Error(), "OTEL_EXPORTER_OTLP_PROTOCOL") {
		t.Errorf("NewOTLPTracerProvider(http/json) error = %v; want one naming OTEL_EXPORTER_OTLP_PROTOCOL", err)
	}
}
