package cluster

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// progress counts operations and lets the test wait for a number of them
// without sleeping.
type progress struct {
	mu   sync.Mutex
	cond *sync.Cond
	n    int
}

func newProgress() *progress {
	p := &progress{}
	p.cond = sync.NewCond(&p.mu)
	return p
}

func (p *progress) add() {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
	p.cond.Broadcast()
}

func (p *progress) waitFor(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.n < n {
		p.cond.Wait()
	}
}

func (p *progress) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// TestKillUnderLoad: workers use every helper while Redis is SIGKILLed and
// restarted. No call exceeds the bound, none panics, the outage and the
// recovery are logged once each, and sharing resumes.
func TestKillUnderLoad(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2, withTimeout(faultTimeout))
	a, b := rs[0], rs[1]
	ctx := context.Background()
	lim, _ := NewLimiter(a.Store, LimiterOptions{RPS: 1e6, Burst: 1e6})
	cache := profileCacheB(t, a)
	toks := NewTokens(a.Store, TokensOptions{})
	apq, _ := NewAPQ(a.Store, APQOptions{})
	slot := NewTokenSlot(a.Store, "m2m", SlotOptions{})
	fetch := func(context.Context) (secret.String, time.Time, error) {
		return secret.New("m2m-load"), time.Now().Add(time.Hour), nil
	}

	prog := newProgress()
	stop := make(chan struct{})
	var slowest atomic.Int64
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := strconv.Itoa((w*1000 + i) % 50)
				d := timed(func() {
					switch i % 5 {
					case 0:
						lim.Allow(ctx, "u"+id)
					case 1:
						if _, ok := cache.Get(ctx, id); !ok {
							cache.Set(ctx, id, profile{Name: id}, time.Minute)
						}
					case 2:
						_, _, _ = toks.Get(ctx, id)
						_, _ = toks.CompareAndSwap(ctx, id, nil, providers.Token{AccessToken: secret.New("at-" + id)})
					case 3:
						if _, ok := apq.Get(ctx, id); !ok {
							apq.Add(ctx, id, "{ me { id } }")
						}
					case 4:
						_, _, _ = slot.Token(ctx, fetch)
					}
				})
				for {
					old := slowest.Load()
					if int64(d) <= old || slowest.CompareAndSwap(old, int64(d)) {
						break
					}
				}
				prog.add()
			}
		})
	}
	prog.waitFor(300)
	srv.Kill()
	prog.waitFor(prog.count() + 300)
	if a.Healthy() {
		t.Errorf("Healthy after SIGKILL under load")
	}
	srv.Restart()
	// One probe a second of the Store's clock; a probe can itself time out
	// on a loaded machine, so give it a few chances. Each chance waits for
	// its probe to be sent and to end (while Redis is down only the probe
	// makes a round trip); the other workers' calls fail fast meanwhile,
	// so counting them would not wait for the probe.
	probing := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.probing
	}
	for i := 0; i < 20 && !a.Healthy(); i++ {
		a.clock.Advance(time.Second)
		sent := a.roundTrips.Load()
		for j := 0; j < 1e6 && (a.roundTrips.Load() == sent || probing()); j++ {
			prog.waitFor(prog.count() + 1)
		}
	}
	prog.waitFor(prog.count() + 300)
	close(stop)
	wg.Wait()

	if d := time.Duration(slowest.Load()); d > bound {
		t.Errorf("slowest call %v; want under %v", d, bound)
	}
	if !a.Healthy() {
		t.Fatalf("not recovered after restart: %s", a.Status())
	}
	if n, m := a.logs.Count("redis unavailable"), a.logs.Count("redis available again"); n != 1 || m != 1 {
		t.Errorf("logged %d outages and %d recoveries; want 1 and 1:\n%s", n, m, a.logs)
	}
	apq.Add(ctx, "after", "{ me { name } }")
	bq, _ := NewAPQ(b.Store, APQOptions{})
	b.clock.Advance(time.Second)
	if q, ok := bq.Get(ctx, "after"); !ok || q != "{ me { name } }" {
		t.Errorf("after recovery B does not see A's query: %q, %v", q, ok)
	}
}
