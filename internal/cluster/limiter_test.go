package cluster

import (
	"context"
	"testing"
	"time"
)

// TestLimiterSharedAcrossReplicas: the burst holds for the cluster, not
// per replica.
func TestLimiterSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 3)
	ctx := context.Background()
	var lims []*Limiter
	for _, r := range rs {
		l, err := NewLimiter(r.Store, LimiterOptions{RPS: 0.5, Burst: 5, Now: r.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		lims = append(lims, l)
	}
	allowed := 0
	for i := range 15 {
		d := lims[i%3].Allow(ctx, "user|1")
		if d.Allowed {
			allowed++
			continue
		}
		if d.RetryAfter <= 0 || d.RetryAfter > 2*time.Second {
			t.Errorf("request %d refused with RetryAfter %v; want (0, 2s]", i, d.RetryAfter)
		}
	}
	if allowed != 5 {
		t.Errorf("allowed %d of 15 across 3 replicas; want the burst, 5", allowed)
	}
	if d := lims[0].Allow(ctx, "user|2"); !d.Allowed {
		t.Errorf("another user was refused")
	}
	for _, r := range rs {
		if r.Stats().Failures != 0 {
			t.Errorf("limiter calls failed: %+v", r.Stats())
		}
	}
}

func TestLimiterRetryAfter(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 1)
	ctx := context.Background()
	// One request per 1000s: the TAT is a µs timestamp 1e9 µs ahead, which
	// %.14g formatting would round; RetryAfter must be just under 1000s.
	d1, err := rs[0].Allow(ctx, "slow", 0.001, 1)
	if err != nil || !d1.Allowed {
		t.Fatalf("first = %+v, %v; want allowed", d1, err)
	}
	d2, err := rs[0].Allow(ctx, "slow", 0.001, 1)
	if err != nil || d2.Allowed || d2.RetryAfter < 999*time.Second || d2.RetryAfter > 1000*time.Second {
		t.Errorf("second = %+v, %v; want refused with RetryAfter in [999s, 1000s]", d2, err)
	}
	if _, err := rs[0].Allow(ctx, "x", 0, 1); err == nil {
		t.Errorf("Allow with rps 0: nil error")
	}
}

func TestLimiterLocal(t *testing.T) {
	t.Parallel()
	c := newClock()
	l, err := NewLimiter(nil, LimiterOptions{RPS: 2, Burst: 3, Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, want := range []bool{true, true, true, false} {
		if d := l.Allow(ctx, "u"); d.Allowed != want {
			t.Fatalf("request %d Allowed = %v; want %v", i, d.Allowed, want)
		}
	}
	if d := l.Allow(ctx, "u"); d.RetryAfter != 500*time.Millisecond {
		t.Errorf("RetryAfter = %v; want 500ms (one token at 2/s)", d.RetryAfter)
	}
	c.Advance(500 * time.Millisecond)
	if d := l.Allow(ctx, "u"); !d.Allowed {
		t.Errorf("after 500ms refused; want one token back")
	}
	for _, o := range []LimiterOptions{{RPS: 0, Burst: 1}, {RPS: 1, Burst: 0}, {RPS: 1, Burst: 1, MaxKeys: -1}} {
		if _, err := NewLimiter(nil, o); err == nil {
			t.Errorf("NewLimiter(%+v): nil error", o)
		}
	}
}
