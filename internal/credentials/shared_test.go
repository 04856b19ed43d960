package credentials

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/seal"
	"github.com/idpgate/idpgate/internal/secret"
)

// sharedClock is the Store's health clock: the test moves it past the
// probe interval instead of waiting.
type sharedClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *sharedClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *sharedClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSharedStore: two replicas' SharedStores over one real Redis see
// each other's pairs and spent tokens, the compare-and-swap fences a stale
// writer, one lease holder at a time, and when Redis is lost and comes
// back empty a replica still has the pair it kept and stores its next one
// as the first.
func TestSharedStore(t *testing.T) {
	rs := redistest.Start(t)
	ring, err := seal.NewRing(bytes.Repeat([]byte{7}, seal.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	clk := &sharedClock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)}
	st, err := cluster.New(cluster.Options{URL: rs.URL(), Ring: ring, Timeout: time.Second, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	a := NewSharedStore(cluster.NewTokens(st, cluster.TokensOptions{}), nil, -1)
	b := NewSharedStore(cluster.NewTokens(st, cluster.TokensOptions{}), nil, -1)
	ctx := context.Background()
	const key = "auth0|ada\x00gitlab\x00oauth2|7"
	pair := func(n string) Pair {
		return Pair{AccessToken: secret.New("at-" + n), RefreshToken: secret.New("rt-" + n), Expiry: time.UnixMilli(1_800_000_000_000)}
	}

	if ok, err := a.CompareAndSwap(ctx, key, Pair{}, false, pair("1")); !ok || err != nil {
		t.Fatalf("A stores the first pair: %v, %v", ok, err)
	}
	if p, ok, _ := b.Get(ctx, key); !ok || !p.same(pair("1")) {
		t.Fatalf("B reads %v %v; want A's pair", p.AccessToken.Equal(pair("1").AccessToken), ok)
	}
	if ok, _ := b.CompareAndSwap(ctx, key, pair("0"), true, pair("x")); ok {
		t.Error("B swapped against a pair that is no longer stored; want the fence to refuse")
	}
	if ok, _ := b.CompareAndSwap(ctx, key, Pair{}, false, pair("x")); ok {
		t.Error("B stored a first pair over A's; want refused")
	}
	fp := FingerprintOf(secret.New("rt-0"))
	_ = a.MarkSpent(ctx, fp)
	if spent, _ := b.IsSpent(ctx, fp); !spent {
		t.Error("B does not know the refresh token A marked spent")
	}

	// One lease holder at a time: B takes it only after A released it.
	releaseA, err := a.Lease(ctx, key, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var aHolds atomic.Bool
	aHolds.Store(true)
	got := make(chan bool)
	go func() {
		release, err := b.Lease(ctx, key, time.Second)
		if err != nil {
			got <- false
			return
		}
		got <- !aHolds.Load()
		release()
	}()
	aHolds.Store(false)
	releaseA()
	if !<-got {
		t.Error("B held the lease while A did")
	}

	// Redis dies and comes back empty.
	rs.Kill()
	rs.Restart()
	if p, ok, err := a.Get(ctx, key); !ok || err != nil || !p.same(pair("1")) {
		t.Errorf("A.Get after losing Redis = %v, %v; want its own copy of the pair", ok, err)
	}
	if spent, _ := a.IsSpent(ctx, fp); !spent {
		t.Error("A forgot a spent refresh token with Redis")
	}
	clk.Advance(2 * time.Second) // past the probe interval: the next call finds Redis again
	if ok, err := a.CompareAndSwap(ctx, key, pair("1"), true, pair("2")); !ok || err != nil {
		t.Fatalf("A stores its next pair into the empty Redis: %v, %v", ok, err)
	}
	if !st.Healthy() {
		t.Fatal("Redis not found again")
	}
	if p, ok, _ := b.Get(ctx, key); !ok || !p.same(pair("2")) {
		t.Errorf("B reads %v; want A's new pair from Redis", ok)
	}
	// A's refresh with it was refused: as the broker does, the refresh
	// token is marked spent, then the pair deleted.
	_ = a.MarkSpent(ctx, FingerprintOf(pair("2").RefreshToken))
	if ok, _ := a.CompareAndDelete(ctx, key, pair("2")); !ok {
		t.Error("A could not delete its rejected pair")
	}
	if _, ok, _ := b.Get(ctx, key); ok {
		t.Error("B still reads the deleted pair")
	}
}
