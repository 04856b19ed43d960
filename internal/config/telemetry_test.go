package config

import (
	"strings"
	"testing"
)

func TestTelemetry(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		want    TelemetryConfig
		wantErr string
	}{
		{"defaults", nil, TelemetryConfig{MetricsAddr: ":9090"}, ""},
		{"empty turns metrics off", map[string]string{"METRICS_ADDR": ""}, TelemetryConfig{}, ""},
		{"off turns metrics off", map[string]string{"METRICS_ADDR": "off"}, TelemetryConfig{}, ""},
		{"own address and pprof", map[string]string{"METRICS_ADDR": "127.0.0.1:9100", "PPROF": "true"}, TelemetryConfig{MetricsAddr: "127.0.0.1:9100", Pprof: true}, ""},
		{"endpoint turns tracing on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_RECORD_USER_ID": "true", "OTEL_PROPAGATE_UPSTREAM": "1"},
			TelemetryConfig{MetricsAddr: ":9090", Tracing: true, RecordUserID: true, PropagateUpstream: true}, ""},
		{"traces endpoint alone", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, TelemetryConfig{MetricsAddr: ":9090", Tracing: true}, ""},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, TelemetryConfig{MetricsAddr: ":9090"}, ""},
		{"sdk disabled", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, TelemetryConfig{MetricsAddr: ":9090"}, ""},
		{"unknown exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, TelemetryConfig{}, "OTEL_TRACES_EXPORTER"},
		{"bad address", map[string]string{"METRICS_ADDR": "9090"}, TelemetryConfig{}, "METRICS_ADDR"},
		{"same port as the public listener", map[string]string{"PORT": "9090"}, TelemetryConfig{}, "METRICS_ADDR"},
		{"pprof without listener", map[string]string{"METRICS_ADDR": "", "PPROF": "true"}, TelemetryConfig{}, "PPROF"},
		{"bad bool", map[string]string{"OTEL_RECORD_USER_ID": "yes please"}, TelemetryConfig{}, "OTEL_RECORD_USER_ID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			for k, v := range tt.set {
				m[k] = v
			}
			c, err := FromEnv(env(m))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("FromEnv() error = %v; want one naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv() error = %v", err)
			}
			if c.Telemetry != tt.want {
				t.Errorf("Telemetry = %+v; want %+v", c.Telemetry, tt.want)
			}
		})
	}
}
