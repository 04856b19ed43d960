package cluster

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// bound is how long any call may take when Redis is lost: the 50ms
// timeout plus scheduling slack on a loaded machine under -race.
const bound = 400 * time.Millisecond

func timed(f func()) time.Duration {
	start := time.Now()
	f()
	return time.Since(start)
}

func TestKilledRedisFailsFastThenRecovers(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2, withTimeout(faultTimeout))
	a, b := rs[0], rs[1]
	ctx := context.Background()
	lim, err := NewLimiter(a.Store, LimiterOptions{RPS: 1, Burst: 2, Now: a.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.SetSealed(ctx, "v", "k", []byte("before"), time.Minute); err != nil {
		t.Fatalf("SetSealed: %v", err)
	}
	if !a.Healthy() || a.Status() != "shared state: redis ok" {
		t.Fatalf("Healthy, Status = %v, %q; want true, ok", a.Healthy(), a.Status())
	}

	srv.Kill()

	// The first call notices, within the timeout.
	var gerr error
	if d := timed(func() { _, _, gerr = a.GetSealed(ctx, "v", "k") }); d > bound {
		t.Errorf("first call after SIGKILL took %v; want under %v", d, bound)
	}
	if !errors.Is(gerr, ErrUnavailable) {
		t.Fatalf("GetSealed after SIGKILL: err = %v; want ErrUnavailable", gerr)
	}
	if a.Healthy() || !strings.Contains(a.Status(), "redis unavailable") {
		t.Errorf("Healthy, Status = %v, %q; want false, unavailable", a.Healthy(), a.Status())
	}
	// Later calls fail without touching the network, concurrently.
	before := a.Stats()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if d := timed(func() { _, _, gerr := a.GetSealed(ctx, "v", "k"); _ = gerr }); d > bound {
				t.Errorf("call while down took %v; want under %v", d, bound)
			}
		})
	}
	wg.Wait()
	if got := a.Stats().FastFails - before.FastFails; got != 20 {
		t.Errorf("fast fails while down = %d; want 20 (no network call before the probe interval)", got)
	}
	// The limiter falls back to its local bucket: burst 2, then refused.
	for i, want := range []bool{true, true, false} {
		if d := lim.Allow(ctx, "user"); d.Allowed != want {
			t.Errorf("local fallback request %d: Allowed = %v; want %v", i, d.Allowed, want)
		}
	}
	if n := a.logs.Count("redis unavailable"); n != 1 {
		t.Errorf("logged the outage %d times; want once:\n%s", n, a.logs)
	}

	srv.Restart()
	// Before the probe interval, still failing fast.
	if _, _, err := a.GetSealed(ctx, "v", "k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("before the probe interval: err = %v; want ErrUnavailable", err)
	}
	a.clock.Advance(time.Second)
	// The probe reconnects; the data died with the process.
	if _, ok, err := a.GetSealed(ctx, "v", "k"); err != nil || ok {
		t.Fatalf("after restart: ok, err = %v, %v; want a miss, no error", ok, err)
	}
	if !a.Healthy() {
		t.Errorf("Healthy after recovery = false")
	}
	if n := a.logs.Count("redis available again"); n != 1 {
		t.Errorf("logged the recovery %d times; want once:\n%s", n, a.logs)
	}
	for range 3 {
		_, _, _ = a.GetSealed(ctx, "v", "k")
	}
	if n := a.logs.Count("redis available again") + a.logs.Count("redis unavailable"); n != 2 {
		t.Errorf("log has %d state changes; want 2:\n%s", n, a.logs)
	}
	// Sharing resumes: what A writes, B reads (B's own state recovers by
	// itself on its first call after its probe interval).
	if err := a.SetSealed(ctx, "v", "k", []byte("after"), time.Minute); err != nil {
		t.Fatalf("SetSealed after recovery: %v", err)
	}
	b.clock.Advance(time.Second)
	if got, ok, err := b.GetSealed(ctx, "v", "k"); err != nil || !ok || string(got) != "after" {
		t.Errorf("B reads %q, %v, %v; want after", got, ok, err)
	}
}

// fakeServer accepts connections and answers each with respond (nil: never
// answers).
func fakeServer(t *testing.T, respond []byte) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if respond != nil {
				go func() {
					buf := make([]byte, 4096)
					for {
						if _, err := c.Read(buf); err != nil {
							return
						}
						if _, err := c.Write(respond); err != nil {
							return
						}
					}
				}()
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "redis://" + ln.Addr().String() + "/0"
}

func TestBrokenRedisIsBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		respond []byte
		cause   string
	}{
		{"silent", nil, "timeout"},
		{"garbage", []byte("HTTP/1.1 400 Bad Request\r\n\r\n"), "protocol"},
		{"wrong type", []byte(":42\r\n"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newReplica(t, fakeServer(t, tt.respond), randomKey(t), withTimeout(faultTimeout))
			ctx := context.Background()
			var err error
			var ok bool
			if d := timed(func() { _, ok, err = r.GetSealed(ctx, "v", "k") }); d > bound {
				t.Errorf("GetSealed took %v; want under %v", d, bound)
			}
			if !errors.Is(err, ErrUnavailable) || ok {
				t.Fatalf("GetSealed = ok %v, err %v; want ErrUnavailable", ok, err)
			}
			if tt.cause != "" && !strings.Contains(r.Status(), tt.cause) {
				t.Errorf("Status = %q; want cause %q", r.Status(), tt.cause)
			}
			lim, _ := NewLimiter(r.Store, LimiterOptions{RPS: 1, Burst: 1, Now: r.clock.Now})
			if d := lim.Allow(ctx, "u"); !d.Allowed {
				t.Errorf("limiter with broken Redis refused the first request; want the local bucket to allow it")
			}
		})
	}
}

func TestCallerCancellationDoesNotMarkDown(t *testing.T) {
	t.Parallel()
	r := newReplica(t, fakeServer(t, nil), randomKey(t), withTimeout(faultTimeout))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := r.GetSealed(ctx, "v", "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v; want ErrUnavailable", err)
	}
	if !r.Healthy() || r.logs.String() != "" {
		t.Errorf("a caller's cancellation marked Redis down: Healthy %v, logs %q", r.Healthy(), r.logs)
	}
}

func TestNilStore(t *testing.T) {
	t.Parallel()
	var s *Store
	ctx := context.Background()
	if _, _, err := s.GetSealed(ctx, "v", "k"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("GetSealed on nil Store: %v; want ErrUnavailable", err)
	}
	if err := s.SetSealed(ctx, "v", "k", nil, time.Second); !errors.Is(err, ErrUnavailable) {
		t.Errorf("SetSealed on nil Store: %v; want ErrUnavailable", err)
	}
	if l, err := s.TryLease(ctx, "x", time.Second); l != nil || !errors.Is(err, ErrUnavailable) {
		t.Errorf("TryLease on nil Store = %v, %v; want nil, ErrUnavailable", l, err)
	}
	if s.Healthy() || s.Status() != "shared state: none (in memory)" || s.Close() != nil || s.Stats() != (Stats{}) {
		t.Errorf("nil Store: Healthy %v, Status %q", s.Healthy(), s.Status())
	}
}

func TestNewErrors(t *testing.T) {
	t.Parallel()
	if _, err := New(Options{URL: "redis://localhost:6379"}); err == nil {
		t.Error("New without a ring: nil error")
	}
	_, err := New(Options{URL: "redis://u:pw-canary@localhost:port", Ring: ring(t, randomKey(t))})
	if err == nil || strings.Contains(err.Error(), "pw-canary") {
		t.Errorf("New(bad URL) error = %v; want one without the password", err)
	}
}
