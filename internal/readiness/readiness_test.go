package readiness

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHandlerCaches(t *testing.T) {
	clock := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }

	var probes atomic.Int64
	var fail atomic.Value // time.Time: refused until; zero: ready
	fail.Store(time.Time{})
	check := Check{Name: "management api token", Probe: func(context.Context) (time.Time, error) {
		probes.Add(1)
		if until := fail.Load().(time.Time); !until.IsZero() {
			return until, errors.New("refused")
		}
		return time.Time{}, nil
	}}
	ts := httptest.NewServer(Handler([]Check{check}, Options{TTL: 5 * time.Second, Now: now}))
	defer ts.Close()
	get := func() (int, string, string) {
		resp, err := http.Get(ts.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Retry-After"), string(b)
	}

	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() { defer wg.Done(); get() }()
	}
	wg.Wait()
	if n := probes.Load(); n != 1 {
		t.Errorf("100 concurrent probes of /readyz made %d upstream checks; want 1", n)
	}

	// The upstream refuses and asks to wait 30s: the answer is kept 30s.
	advance(6 * time.Second)
	fail.Store(now().Add(30 * time.Second))
	for i := range 50 {
		status, retry, body := get()
		if status != http.StatusServiceUnavailable || retry == "" || body != "management api token: unavailable\n" {
			t.Fatalf("call %d: %d Retry-After %q %q; want 503 with Retry-After", i, status, retry, body)
		}
		advance(500 * time.Millisecond) // 25s in all: still inside the 30s
	}
	if n := probes.Load(); n != 2 {
		t.Errorf("upstream checks = %d; want 2 (Retry-After honoured)", n)
	}
	fail.Store(time.Time{})
	advance(6 * time.Second)
	if status, _, _ := get(); status != http.StatusOK || probes.Load() != 3 {
		t.Errorf("after the wait: %d, %d checks; want 200 after a third check", status, probes.Load())
	}
}

// TestHandlerStatus: Options.Status adds its line to every answer, ready
// or not, read at each request (not cached), and decides nothing.
func TestHandlerStatus(t *testing.T) {
	var line atomic.Value
	line.Store("shared state: redis ok")
	tests := []struct {
		name     string
		fail     bool
		status   string
		wantCode int
		wantBody string
	}{
		{"ready", false, "shared state: redis ok", 200, "ready\nshared state: redis ok\n"},
		{"ready, redis lost", false, "shared state: redis unavailable", 200, "ready\nshared state: redis unavailable\n"},
		{"not ready", true, "shared state: redis ok", 503, "jwks: unavailable\nshared state: redis ok\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line.Store(tt.status)
			check := Check{Name: "jwks", Probe: func(context.Context) (time.Time, error) {
				if tt.fail {
					return time.Time{}, errors.New("down")
				}
				return time.Time{}, nil
			}}
			rec := httptest.NewRecorder()
			Handler([]Check{check}, Options{Status: func() string { return line.Load().(string) }}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if rec.Code != tt.wantCode || rec.Body.String() != tt.wantBody {
				t.Errorf("= %d %q; want %d %q", rec.Code, rec.Body.String(), tt.wantCode, tt.wantBody)
			}
		})
	}
}
