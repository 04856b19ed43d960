package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkRequestMetrics is the metrics work of one typical request in
// isolation: the HTTP counter and histogram (through the middleware), the
// operation, a profile cache hit, and two upstream attempts.
func BenchmarkRequestMetrics(b *testing.B) {
	m := NewMetrics()
	h := m.serverMetrics(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	github, google := m.Upstream("github"), m.Upstream("google-oauth2")
	req := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, req)
		m.operation("Me", "auth0|bench", "query", "ok")
		m.responseErrors(nil, nil)
		m.ProfileCache(LevelLocal, true)
		github.Attempt(200, 40*time.Millisecond)
		google.Attempt(200, 40*time.Millisecond)
	}
}
