package httpmw

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestCORSRefusalIsLogged: a refused preflight tells the operator which
// origin was refused and which setting allows it; allowed origins and
// ordinary requests log nothing.
func TestCORSRefusalIsLogged(t *testing.T) {
	var logs lockedBuffer
	// Each request a minute after the last: every refusal is logged.
	var clock atomic.Int64
	now := func() time.Time { return time.Unix(clock.Add(60), 0) }
	mw, err := CORS(CORSOptions{AllowedOrigins: []string{"http://localhost:5173"}, Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, mw(ok))
	cases := []struct {
		name, method, origin string
		preflight            bool
		wantStatus           int
		wantLog              []string
	}{
		{"refused preflight", http.MethodOptions, "http://evil.example:8000", true, http.StatusForbidden, []string{`"origin":"http://evil.example:8000"`, "ALLOWED_ORIGINS", `"level":"WARN"`}},
		{"huge origin is clipped", http.MethodOptions, "http://" + strings.Repeat("a", 5000), true, http.StatusForbidden, []string{`"origin":"http://aaaa`, "…"}},
		{"allowed preflight", http.MethodOptions, "http://localhost:5173", true, http.StatusNoContent, nil},
		{"no origin", http.MethodPost, "", false, http.StatusOK, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(logs.String())
			req, _ := http.NewRequest(tc.method, url+"/graphql", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.preflight {
				req.Header.Set("Access-Control-Request-Method", "POST")
			}
			resp, _ := do(t, req)
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("status = %d; want %d", resp.StatusCode, tc.wantStatus)
			}
			got := logs.String()[before:]
			if tc.wantLog == nil && got != "" {
				t.Errorf("logged %q; want nothing", got)
			}
			for _, w := range tc.wantLog {
				if !strings.Contains(got, w) {
					t.Errorf("log %q lacks %q", got, w)
				}
			}
			if len(got) > 1000 {
				t.Errorf("log line is %d bytes; want the origin clipped", len(got))
			}
		})
	}
}

// TestCORSRefusalLogIsSampled: anyone can send preflights, so refusals are
// logged at most once per 10 s, the next line counting those left out.
func TestCORSRefusalLogIsSampled(t *testing.T) {
	var logs lockedBuffer
	var clock atomic.Int64 // seconds
	mw, err := CORS(CORSOptions{AllowedOrigins: []string{"http://localhost:5173"}, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Now: func() time.Time { return time.Unix(clock.Load(), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, mw(ok))
	refuse := func() {
		req, _ := http.NewRequest(http.MethodOptions, url+"/graphql", nil)
		req.Header.Set("Origin", "http://evil.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		if resp, _ := do(t, req); resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d; want 403", resp.StatusCode)
		}
	}
	for range 100 {
		refuse()
	}
	if n := strings.Count(logs.String(), "CORS preflight refused"); n != 1 {
		t.Fatalf("100 refusals within 10 s logged %d lines; want 1", n)
	}
	clock.Add(11)
	refuse()
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"suppressed":99`) {
		t.Errorf("after the interval: %q; want a second line with suppressed 99", lines)
	}
}
