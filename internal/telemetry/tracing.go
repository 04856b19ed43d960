package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TracerName names idpgate's tracer (the instrumentation scope).
const TracerName = "github.com/idpgate/idpgate"

// NewOTLPTracerProvider returns a tracer provider exporting over OTLP, as
// the standard variables configure it: OTEL_EXPORTER_OTLP_PROTOCOL
// (http/protobuf, the default, or grpc), OTEL_EXPORTER_OTLP_[TRACES_]
// ENDPOINT, _HEADERS, _TIMEOUT, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER[_ARG]. The SDK reads them from the process
// environment; getenv is consulted only for the protocol. Call it only when
// an endpoint is set (config.TelemetryConfig.Tracing). Shut the provider
// down to flush the last spans.
//
// OTel docs: https://opentelemetry.io/docs/languages/sdk-configuration/otlp-exporter/
// and https://opentelemetry.io/docs/languages/sdk-configuration/general/
func NewOTLPTracerProvider(ctx context.Context, getenv func(string) string) (*sdktrace.TracerProvider, error) {
	protocol := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"))
	if protocol == "" {
		protocol = strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_PROTOCOL"))
	}
	var client otlptrace.Client
	switch protocol {
	case "", "http/protobuf":
		client = otlptracehttp.NewClient()
	case "grpc":
		client = otlptracegrpc.NewClient()
	default:
		return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not supported (http/protobuf or grpc)", protocol)
	}
	exp, err := otlptrace.New(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceVersion(version())))
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) {
		return nil, fmt.Errorf("telemetry: resource: %w", err)
	}
	if os.Getenv("OTEL_SERVICE_NAME") == "" && !strings.Contains(os.Getenv("OTEL_RESOURCE_ATTRIBUTES"), "service.name=") {
		res, _ = resource.Merge(res, resource.NewSchemaless(semconv.ServiceName("idpgate")))
	}
	// The sampler comes from OTEL_TRACES_SAMPLER (default parentbased_always_on).
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// version is the main module's version from the build information
// ("(devel)" for a plain go build).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Tracing is the tracer the gateway's spans come from and the decisions
// around them. The zero value is off.
type Tracing struct {
	// Provider makes the tracer; nil is off (a no-op tracer).
	Provider trace.TracerProvider
	// RecordUserID puts the Auth0 user id on the operation span.
	RecordUserID bool
	// PropagateUpstream sends traceparent to the upstreams.
	PropagateUpstream bool
	// TrustTraceparent makes an incoming traceparent the parent of the
	// server span (its trace id, its sampling decision). Off, the server
	// span starts a new trace and links the incoming context: a client
	// cannot choose our trace ids nor force sampling.
	TrustTraceparent bool
}

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

func (t Tracing) on() bool { return t.Provider != nil }

func (t Tracing) tracer() trace.Tracer {
	if t.Provider == nil {
		return noop.NewTracerProvider().Tracer(TracerName)
	}
	return t.Provider.Tracer(TracerName)
}
