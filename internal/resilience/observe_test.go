package resilience

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestObserver: every attempt is reported with its status, each retry
// once, a request the open breaker fails fast as rejected, and each
// breaker change with the state entered.
func TestObserver(t *testing.T) {
	var mu sync.Mutex
	var events []string
	record := func(s string) { mu.Lock(); events = append(events, s); mu.Unlock() }
	b := newBackend(t, []int{503, 200, 500, 500}, "")
	c := &clock{t: epoch}
	p := policy(&sleeper{}, c)
	p.BreakerFailures, p.BreakerCooldown = 3, time.Minute
	p.Observe = Observer{
		Attempt: func(status int, d time.Duration) {
			if d < 0 {
				t.Errorf("attempt duration %v < 0", d)
			}
			record(fmt.Sprint("attempt ", status))
		},
		Retry:    func() { record("retry") },
		Rejected: func() { record("rejected") },
		Breaker:  func(state string) { record("breaker " + state) },
	}
	tr := NewTransport(nil, p)
	ctx := context.Background()
	// 503 then 200: one retry.
	if code, _, err := do(t, tr, ctx, http.MethodGet, b.url, nil); err != nil || code != 200 {
		t.Fatalf("first request = %d, %v", code, err)
	}
	// Three 500s (never retried) open the breaker; the next request fails
	// fast.
	for range 3 {
		do(t, tr, ctx, http.MethodGet, b.url, nil)
	}
	if _, _, err := do(t, tr, ctx, http.MethodGet, b.url, nil); err == nil {
		t.Fatal("request with the circuit open succeeded; want ErrCircuitOpen")
	}
	want := []string{"attempt 503", "retry", "attempt 200", "attempt 500", "attempt 500", "attempt 500", "breaker open", "rejected"}
	if !slices.Equal(events, want) {
		t.Errorf("observed %v; want %v", events, want)
	}
}
