// Package telemetry holds idpgate's observability: the Prometheus registry
// and every metric the gateway exports (Metrics), the OpenTelemetry tracer
// provider configured from the standard OTEL_* variables (Tracing), and the
// slog handler that adds trace_id and span_id to request log lines
// (LogHandler).
//
// Other packages never import this one: they expose small function fields
// (nil meaning off), and the gateway fills them from a *Telemetry. Nothing
// is kept at package level: each Metrics has its own registry.
//
// No label ever carries a user id, a token, a query text or another
// unbounded value. Labels fed from request data (operation names, error
// codes, reasons) go through a bounded set: the first N values seen are
// kept, the rest are counted as "other".
package telemetry
