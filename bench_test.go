package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/loadtest"
	"github.com/idpgate/idpgate/internal/sandbox"
)

// benchEnv boots the sandbox (no added latency) and the gateway over
// loopback HTTP, and returns a function that sends one request.
func benchEnv(b *testing.B, query string) func() {
	b.Helper()
	return benchEnvWith(b, query, benchOptions{})
}

// benchOptions are the gateway's options, or Floor: the load run's floor
// handler (internal/loadtest) in the gateway's place, for the ratio.
type benchOptions struct {
	gateway.Options
	Floor     bool
	RealClock bool // the emulators on the real clock, as with Floor
}

// benchEnvWith is benchEnv with the gateway's options (telemetry).
func benchEnvWith(b *testing.B, query string, gopts benchOptions) func() {
	b.Helper()
	sbo := sandbox.Options{Now: func() time.Time { return fixedNow }}
	if gopts.Floor || gopts.RealClock {
		sbo.Now = nil // the floor asks for the events from now on, as the gateway's default window does
	}
	sb, err := sandbox.Start(sbo)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(sb.Close)
	sb.GitHub.RateLimit = 1 << 30 // one user sends every request: lift GitHub's hourly limit
	// One user sends every request: lift the per-user limit.
	limits := map[string]string{"USER_RPS": "1000000", "USER_BURST": "1000000"}
	cfg, err := config.FromEnv(config.MapEnv(sb.Env).Over(limits))
	if err != nil {
		b.Fatal(err)
	}
	var h http.Handler
	if gopts.Floor {
		fl, closeFloor := loadtest.Floor(sb, 64)
		b.Cleanup(closeFloor)
		h = fl
	} else {
		gw, err := gateway.New(cfg, slog.New(slog.DiscardHandler), gopts.Options)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(gw.Close)
		h = gw.Handler()
	}
	srv := httptest.NewServer(h)
	b.Cleanup(srv.Close)
	body, _ := json.Marshal(map[string]any{"query": query, "variables": window()})
	token := sb.Token(sandbox.Grace)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	send := func() {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || bytes.Contains(out, []byte(`"errors"`)) {
			b.Fatalf("response %d %s", resp.StatusCode, out)
		}
	}
	send() // warm the profile cache and the JWKS
	return send
}

// BenchmarkProfileOnly measures the gateway's own overhead on the request
// path: JWT validation, the cached profile, gqlgen execution, the
// middleware chain (warm caches, no provider call).
func BenchmarkProfileOnly(b *testing.B) {
	benchLoop(b, benchEnv(b, `{ me { id name email identities { id provider capabilities } } }`))
}

// BenchmarkReposAndCalendar adds the two provider calls (GitHub repos and
// Google events, to loopback emulators without latency) of a typical query.
func BenchmarkReposAndCalendar(b *testing.B) {
	benchLoop(b, benchEnv(b, bothQuery))
}

// BenchmarkLoadQuery and BenchmarkLoadQueryFloor send the load run's
// request (loadtest.Query: five repositories and five events) to the
// gateway and to the load run's floor (the same two provider calls, no
// token validation, no GraphQL engine): the ratio of their cpu-ns/op is
// the load run's CPU-per-request ratio without the network latency or the
// noise of a saturated machine.
func BenchmarkLoadQuery(b *testing.B) {
	benchLoop(b, benchEnvWith(b, loadtest.Query, benchOptions{RealClock: true}))
}

func BenchmarkLoadQueryFloor(b *testing.B) {
	benchLoop(b, benchEnvWith(b, loadtest.Query, benchOptions{Floor: true}))
}

// benchLoop sends one request per iteration and reports allocations and
// the process's CPU per request.
func benchLoop(b *testing.B, send func()) {
	b.ReportAllocs()
	cpu := loadtest.CPUTime()
	for b.Loop() {
		send()
	}
	reportCPU(b, cpu)
}

// BenchmarkReposAndCalendarParallel is the same query from many clients.
func BenchmarkReposAndCalendarParallel(b *testing.B) {
	send := benchEnv(b, bothQuery)
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	cpu := loadtest.CPUTime()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			send()
		}
	})
	reportCPU(b, cpu)
}

// reportCPU reports the process's CPU time per operation since start — the
// gateway's, the emulators' and the client's, as the load run counts it —
// the figure the performance targets are about (ns/op is wall time).
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(loadtest.CPUTime()-start)/float64(b.N), "cpu-ns/op")
}
