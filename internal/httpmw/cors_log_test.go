package httpmw

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
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
	mw, err := CORS(CORSOptions{AllowedOrigins: []string{"http://localhost:5173"}, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
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
