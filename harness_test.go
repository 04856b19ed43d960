package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/telemetry"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json")

// fixedNow anchors the sandbox's seed data so responses are reproducible.
var fixedNow = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

// syncBuffer collects log output from many goroutines. When wrote is set
// (a channel with a buffer of one), each Write signals it, so a test can
// wait for output without polling.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	wrote chan struct{}
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.wrote != nil {
		select {
		case s.wrote <- struct{}{}:
		default:
		}
	}
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is a gateway served over real HTTP and wired to the sandbox's
// emulators, with every log line and response kept for the leak check.
type testEnv struct {
	t   *testing.T
	sb  *sandbox.Sandbox
	gw  *gateway.Gateway
	srv *httptest.Server
	url string
	log *syncBuffer

	mu        sync.Mutex
	responses []string // bodies and headers seen by tests
}

type envOptions struct {
	env       map[string]string // extra configuration
	loadUsers int
	clock     *testClock // the gateway's clock (profile cache, token checks, JWKS); nil means time.Now
	telemetry *telemetry.Telemetry
}

// profileMaxTTL is the identity loader's default longest profile life:
// advancing a testClock by it expires every cached profile.
const profileMaxTTL = 5*time.Minute + time.Second

// testClock is time.Now moved forward by Advance.
type testClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func newEnv(t *testing.T, opts envOptions) *testEnv {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{Now: func() time.Time { return fixedNow }, LoadUsers: opts.loadUsers})
	if err != nil {
		t.Fatalf("sandbox.Start() error = %v", err)
	}
	t.Cleanup(sb.Close)
	vars := map[string]string{"UPSTREAM_TIMEOUT": "2s", "LOG_LEVEL": "debug"}
	for k, v := range opts.env {
		vars[k] = v
	}
	cfg, err := config.FromEnv(config.MapEnv(sb.Env).Over(vars))
	if err != nil {
		t.Fatalf("config.FromEnv() error = %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gopts := gateway.Options{Telemetry: opts.telemetry}
	if opts.clock != nil {
		gopts.Now = opts.clock.Now
	}
	gw, err := gateway.New(cfg, logger, gopts)
	if err != nil {
		t.Fatalf("gateway.New() error = %v", err)
	}
	srv := httptest.NewServer(gw.Handler())
	e := &testEnv{t: t, sb: sb, gw: gw, srv: srv, url: srv.URL, log: logs}
	t.Cleanup(func() {
		srv.Close()
		gw.Close()
		e.assertNoLeaks()
	})
	return e
}

// assertNoLeaks fails the test when a seeded IdP token, refresh token or
// client secret appears in a response or a log line.
func (e *testEnv) assertNoLeaks() {
	e.t.Helper()
	e.mu.Lock()
	seen := strings.Join(e.responses, "\n")
	e.mu.Unlock()
	for name, text := range map[string]string{"responses": seen, "logs": e.log.String()} {
		if i := strings.Index(text, sandbox.SecretMarker); i >= 0 {
			end := min(len(text), i+80)
			e.t.Errorf("%s contain a seeded secret: …%s…", name, text[max(0, i-80):end])
		}
	}
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

type gqlResponse struct {
	Status int
	Header http.Header
	Raw    []byte
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
}

func (r *gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		c, _ := e.Extensions["code"].(string)
		out = append(out, c)
	}
	return out
}

// post sends a GraphQL request with the bearer token (none when empty).
func (e *testEnv) post(ctx context.Context, token, query string, vars map[string]any) *gqlResponse {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return e.do(req)
}

func (e *testEnv) do(req *http.Request) *gqlResponse {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if req.Context().Err() != nil {
			return &gqlResponse{Status: -1}
		}
		e.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return &gqlResponse{Status: -1}
	}
	e.record(resp.Header, raw)
	out := &gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
	if len(raw) > 0 && (raw[0] == '{') {
		if err := json.Unmarshal(raw, out); err != nil {
			e.t.Fatalf("response is not JSON: %v: %s", err, raw)
		}
	}
	return out
}

func (e *testEnv) record(h http.Header, body []byte) {
	var sb strings.Builder
	for k, vs := range h {
		sb.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	sb.Write(body)
	e.mu.Lock()
	e.responses = append(e.responses, sb.String())
	e.mu.Unlock()
}

// golden compares got (JSON) with testdata/name.golden.json after
// replacing cursors, which are signed with a per-run key.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	v = scrubCursors(v)
	norm, _ := json.MarshalIndent(v, "", "  ")
	norm = append(norm, '\n')
	path := filepath.Join("testdata", name+".golden.json")
	if *update {
		if err := os.WriteFile(path, norm, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run go test -run %s -update): %v", t.Name(), err)
	}
	if !bytes.Equal(norm, want) {
		t.Errorf("response differs from %s (go test -update rewrites it):\n got: %s\nwant: %s", path, norm, want)
	}
}

func scrubCursors(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if (k == "cursor" || k == "endCursor" || k == "startCursor") && val != nil {
				x[k] = "<cursor>"
				continue
			}
			x[k] = scrubCursors(val)
		}
	case []any:
		for i := range x {
			x[i] = scrubCursors(x[i])
		}
	}
	return v
}
