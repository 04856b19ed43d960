package config

import (
	"errors"
	"net"
	"slices"
	"strings"
)

// TelemetryConfig is the observability settings: the metrics listener and
// the two tracing settings that are idpgate's own. The OpenTelemetry SDK
// reads the standard OTEL_* variables (exporter protocol, headers, service
// name, sampler) itself; FromEnv reads only whether an endpoint is set,
// because tracing is off without one.
type TelemetryConfig struct {
	// MetricsAddr is METRICS_ADDR, the listener serving /metrics (and
	// /debug/pprof/ with PPROF=true), never the public one. Default ":9090";
	// set and empty (or "off") turns it off.
	MetricsAddr string
	// Pprof is PPROF: mount net/http/pprof on the metrics listener.
	Pprof bool
	// Tracing is true when OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set and OTEL_TRACES_EXPORTER
	// and OTEL_SDK_DISABLED do not turn it off.
	Tracing bool
	// RecordUserID is OTEL_RECORD_USER_ID: put the Auth0 user id on the
	// GraphQL operation span. Off by default: a trace backend is often
	// more widely readable than the logs.
	RecordUserID bool
	// PropagateUpstream is OTEL_PROPAGATE_UPSTREAM: send traceparent to
	// the providers and Auth0. Off by default, so third parties do not
	// learn our trace ids; turn it on for self-hosted upstreams.
	PropagateUpstream bool
	// TrustTraceparent is OTEL_TRUST_INCOMING_TRACEPARENT: continue the
	// trace of an incoming W3C traceparent (and follow its sampling
	// decision). Off by default: on a public listener the client would
	// choose the trace ids in our logs and what is sampled, so the
	// incoming context is only linked. Turn it on behind a proxy that
	// sets (or strips) traceparent itself.
	TrustTraceparent bool
}

// DefaultMetricsAddr is METRICS_ADDR's default.
const DefaultMetricsAddr = ":9090"

// telemetry reads METRICS_ADDR, PPROF and the OTEL_* switches. names are
// the variables set, so that METRICS_ADDR set to "" is told from unset.
func (r *reader) telemetry(dst *TelemetryConfig, names []string) {
	if slices.Contains(names, "METRICS_ADDR") {
		dst.MetricsAddr = strings.TrimSpace(r.getenv("METRICS_ADDR"))
	}
	if strings.EqualFold(dst.MetricsAddr, "off") {
		dst.MetricsAddr = ""
	}
	r.bool("PPROF", &dst.Pprof)
	endpoint := strings.TrimSpace(r.getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) != "" ||
		strings.TrimSpace(r.getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) != ""
	exporter := strings.ToLower(strings.TrimSpace(r.getenv("OTEL_TRACES_EXPORTER")))
	disabled := false
	r.bool("OTEL_SDK_DISABLED", &disabled)
	if exporter != "" && exporter != "otlp" && exporter != "none" {
		r.fail("OTEL_TRACES_EXPORTER", "must be otlp or none (the only exporter built in)")
	}
	dst.Tracing = endpoint && exporter != "none" && !disabled
	r.bool("OTEL_RECORD_USER_ID", &dst.RecordUserID)
	r.bool("OTEL_PROPAGATE_UPSTREAM", &dst.PropagateUpstream)
	r.bool("OTEL_TRUST_INCOMING_TRACEPARENT", &dst.TrustTraceparent)
}

// validate checks METRICS_ADDR against the public listener.
func (c TelemetryConfig) validate(listenAddr string) error {
	if c.MetricsAddr == "" {
		if c.Pprof {
			return errors.New("PPROF: needs METRICS_ADDR (pprof is served only on the metrics listener)")
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.MetricsAddr)
	if err != nil {
		return errors.New("METRICS_ADDR: must be host:port or :port, or empty to turn metrics off")
	}
	lhost, lport, _ := net.SplitHostPort(listenAddr)
	if port != "0" && port == lport && (host == lhost || host == "" || lhost == "") {
		return errors.New("METRICS_ADDR: must differ from the public listener (LISTEN_ADDR/PORT)")
	}
	return nil
}
