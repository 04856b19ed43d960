package telemetry

import (
	"net/http"
	"net/http/pprof"
)

// AdminHandler serves the metrics listener: /metrics (m's exposition
// format; 404 when m is nil) and, when withPprof is set, net/http/pprof
// under /debug/pprof/. Mount it only on METRICS_ADDR, never on the public
// listener: profiles reveal the program's internals and cost CPU.
func AdminHandler(m *Metrics, withPprof bool) http.Handler {
	mux := http.NewServeMux()
	if m != nil {
		mux.Handle("GET /metrics", m.Handler())
	}
	if withPprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
