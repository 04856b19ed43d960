package httpmw

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// logBuffer collects JSON log lines; safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines decodes the JSON log lines.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(b.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func newLogger() (*slog.Logger, *logBuffer) {
	b := &logBuffer{}
	return slog.New(slog.NewJSONHandler(b, nil)), b
}

func TestRequestID(t *testing.T) {
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"none", "", false},
		{"sane", "abc-123_X.y", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"65 characters", strings.Repeat("a", 65), false},
		{"log injection", "abc\ninjected=1", false},
		{"space", "abc def", false},
		{"unicode", "abcé", false},
	}
	logger, logs := newLogger()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ctxID string
			h := RequestID(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ctxID = RequestIDFrom(r.Context())
				Logger(r.Context()).Info("inside")
			}))
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != "" {
				r.Header.Set("X-Request-Id", tt.incoming)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get("X-Request-Id")
			if tt.keep && got != tt.incoming {
				t.Errorf("X-Request-Id = %q; want the incoming %q", got, tt.incoming)
			}
			if !tt.keep && !hex32.MatchString(got) {
				t.Errorf("X-Request-Id = %q; want 32 generated hex digits", got)
			}
			if ctxID != got {
				t.Errorf("RequestIDFrom(ctx) = %q; want %q", ctxID, got)
			}
			lines := logs.lines(t)
			if last := lines[len(lines)-1]; last["request_id"] != got || last["msg"] != "inside" {
				t.Errorf("Logger(ctx) line = %v; want request_id %q", last, got)
			}
		})
	}
	if RequestIDFrom(httptest.NewRequest(http.MethodGet, "/", nil).Context()) != "" {
		t.Errorf("RequestIDFrom(no middleware) != \"\"")
	}
}

func mux() http.Handler {
	m := http.NewServeMux()
	m.Handle("/graphql", ok)
	m.Handle("GET /graphiql/", ok)
	return m
}

func TestAccessLog(t *testing.T) {
	const token = "eyJhbGciOiJSUzI1NiJ9.SECRET-TOKEN-d41d8cd9"
	logger, logs := newLogger()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time {
		clock = clock.Add(1500 * time.Millisecond)
		return clock
	}
	tests := []struct {
		name       string
		h          http.Handler
		method     string
		target     string
		wantRoute  string
		wantStatus float64
		wantBytes  float64
	}{
		{"implicit 200", ok, http.MethodPost, "/graphql?access_token=" + token, "unmatched", 200, 2},
		{"route, not the path", mux(), http.MethodPost, "/graphql?access_token=" + token, "/graphql", 200, 2},
		{"token in the path", mux(), http.MethodGet, "/graphiql/" + token, "GET /graphiql/", 200, 2},
		{"no route", mux(), http.MethodGet, "/" + token, "unmatched", 404, 19},
		{"explicit status", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "short and stout")
		}), http.MethodGet, "/graphiql/", "unmatched", 418, 15},
		{"nothing written", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), http.MethodGet, "/healthz", "unmatched", 200, 0},
		{"error", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			WriteError(w, r, http.StatusBadRequest, "X", "m")
		}), http.MethodPost, "/graphql", "unmatched", 400, float64(len(`{"errors":[{"message":"m","extensions":{"code":"X"}}]}`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := RequestID(logger)(AccessLog(now)(tt.h))
			r := httptest.NewRequest(tt.method, tt.target, strings.NewReader(`{"query":"`+token+`"}`))
			r.Header.Set("Authorization", "Bearer "+token)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			lines := logs.lines(t)
			got := lines[len(lines)-1]
			want := map[string]any{
				"msg": "request", "level": "INFO", "method": tt.method, "route": tt.wantRoute,
				"status": tt.wantStatus, "bytes": tt.wantBytes, "duration": float64(1500 * time.Millisecond),
				"request_id": w.Header().Get("X-Request-Id"),
			}
			for k, v := range want {
				if got[k] != v {
					t.Errorf("log %s = %v; want %v (line %v)", k, got[k], v, got)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "SECRET-TOKEN") {
		t.Errorf("the access log contains the token:\n%s", logs)
	}
}

// TestAccessLogSamplesRejections: a flood of 401s writes one line per 10s,
// the next one counting those left out.
func TestAccessLogSamplesRejections(t *testing.T) {
	logger, logs := newLogger()
	clock := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := func() time.Time { return clock }
	h := RequestID(logger)(AccessLog(now)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		WriteError(w, r, http.StatusUnauthorized, "UNAUTHENTICATED", "missing bearer token")
	})))
	for range 100 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	}
	clock = clock.Add(11 * time.Second)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/graphql", nil))
	lines := logs.lines(t)
	if len(lines) != 2 {
		t.Fatalf("%d lines for 101 rejections; want 2", len(lines))
	}
	if got := lines[1]["suppressed"]; got != float64(99) {
		t.Errorf("suppressed = %v; want 99", got)
	}
}

func TestRecover(t *testing.T) {
	const token = "gho_SECRET-TOKEN-0123456789"
	tests := []struct {
		name      string
		h         http.HandlerFunc
		wantPanic string // logged panic value; "" for none
		wantType  string
	}{
		{"string panic with a token", func(w http.ResponseWriter, r *http.Request) {
			panic("refresh failed for " + token)
		}, "", "string"},
		{"runtime error", func(w http.ResponseWriter, r *http.Request) {
			var m map[string]int
			m["x"] = 1
		}, "assignment to entry in nil map", "runtime.plainError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logger, logs := newLogger()
			h := RequestID(logger)(Recover(logger)(tt.h))
			req, _ := http.NewRequest(http.MethodPost, serve(t, h), nil)
			resp, body := do(t, req)
			if resp.StatusCode != http.StatusInternalServerError {
				t.Errorf("status = %d; want 500", resp.StatusCode)
			}
			msg, code := decodeError(t, body)
			if msg != "internal server error" || code != gqlresp.CodeInternal {
				t.Errorf("error = %q, %q; want internal server error, %s", msg, code, gqlresp.CodeInternal)
			}
			lines := logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("log lines = %v; want 1", lines)
			}
			line := lines[0]
			if line["level"] != "ERROR" || line["request_id"] != resp.Header.Get("X-Request-Id") || line["panic_type"] != tt.wantType {
				t.Errorf("log = %v; want level ERROR, request_id %q, panic_type %q", line, resp.Header.Get("X-Request-Id"), tt.wantType)
			}
			if stack, _ := line["stack"].(string); !strings.Contains(stack, "httpmw.TestRecover") {
				t.Errorf("log stack = %q; want the panicking function", stack)
			}
			if got, _ := line["panic"].(string); !strings.Contains(got, tt.wantPanic) || (tt.wantPanic == "" && got != "") {
				t.Errorf("log panic = %q; want %q", got, tt.wantPanic)
			}
			if strings.Contains(logs.String()+string(body), "SECRET-TOKEN") {
				t.Errorf("the token leaked: log %s body %s", logs, body)
			}
		})
	}
}

func TestRecoverAfterWrite(t *testing.T) {
	logger, logs := newLogger()
	h := Recover(logger)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"data":`)
		w.(http.Flusher).Flush()
		panic("late")
	}))
	resp, err := http.Get(serve(t, h))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Errorf("reading a response whose handler panicked after writing succeeded; want an error (aborted connection)")
	}
	if !strings.Contains(logs.String(), "panic serving request") {
		t.Errorf("log = %q; want the panic logged", logs)
	}
}
