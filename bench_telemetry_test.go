package main

import (
	"context"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/telemetry"
)

// processCPU is the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkTelemetry measures the request path of a typical query (GitHub
// repos and Google events from loopback emulators) with telemetry off,
// with metrics on, and with metrics and tracing (every request sampled,
// spans kept in memory). cpu-ns/op is the process CPU time per request;
// client and emulators run in the same process and cost the same in each
// mode, so the differences are the telemetry's.
func BenchmarkTelemetry(b *testing.B) {
	modes := []struct {
		name string
		tel  func(b *testing.B) *telemetry.Telemetry
	}{
		{"off", func(*testing.B) *telemetry.Telemetry { return nil }},
		{"metrics", func(*testing.B) *telemetry.Telemetry {
			return telemetry.New(telemetry.NewMetrics(), telemetry.Tracing{})
		}},
		{"metrics+tracing", func(b *testing.B) *telemetry.Telemetry {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
			b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			go func() { // keep the in-memory exporter from growing without bound
				for {
					select {
					case <-b.Context().Done():
						return
					case <-time.After(100 * time.Millisecond):
						exp.Reset()
					}
				}
			}()
			return telemetry.New(telemetry.NewMetrics(), telemetry.Tracing{Provider: tp})
		}},
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			send := benchEnvWith(b, bothQuery, benchOptions{Options: gateway.Options{Telemetry: m.tel(b)}})
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU(b)
			for b.Loop() {
				send()
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}
