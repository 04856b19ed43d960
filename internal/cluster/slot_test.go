package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
)

// fetcher counts fetches and hands out numbered tokens.
type fetcher struct {
	n    atomic.Int64
	life time.Duration
	now  func() time.Time
	err  error
}

func (f *fetcher) fetch(ctx context.Context) (secret.String, time.Time, error) {
	n := f.n.Add(1)
	if f.err != nil {
		return secret.String{}, time.Time{}, f.err
	}
	return secret.New(fmt.Sprintf("m2m-canary-%d", n)), f.now().Add(f.life), nil
}

func TestTokenSlotOneFetchPerCluster(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 3)
	ctx := context.Background()
	f := &fetcher{life: time.Hour, now: time.Now}
	var slots []*TokenSlot
	for _, r := range rs {
		slots = append(slots, NewTokenSlot(r.Store, "client-a", SlotOptions{}))
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			tok, exp, err := slots[i%3].Token(ctx, f.fetch)
			if err != nil || tok.Reveal() != "m2m-canary-1" || exp.IsZero() {
				t.Errorf("Token: is m2m-canary-1 %v, expiry %v, err %v; want m2m-canary-1", tok.Reveal() == "m2m-canary-1", exp, err)
			}
		})
	}
	wg.Wait()
	if n := f.n.Load(); n != 1 {
		t.Fatalf("%d fetches for 30 calls on 3 replicas; want 1", n)
	}

	// A 401 on replica B drops it for everyone; the next call fetches.
	if err := slots[1].Drop(ctx, secret.New("m2m-canary-1")); err != nil {
		t.Fatal(err)
	}
	if tok, _, _ := slots[2].Token(ctx, f.fetch); tok.Reveal() != "m2m-canary-2" {
		t.Error("after Drop, Token is not m2m-canary-2; want a new fetch")
	}
	// Dropping a stale token keeps the newer one.
	_ = slots[0].Drop(ctx, secret.New("m2m-canary-1"))
	if tok, _, _ := slots[0].Token(ctx, f.fetch); tok.Reveal() != "m2m-canary-2" || f.n.Load() != 2 {
		t.Errorf("stale Drop removed the current token: Token is m2m-canary-2 %v, fetches %d", tok.Reveal() == "m2m-canary-2", f.n.Load())
	}
}

func TestTokenSlotExpiryAndFallback(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 1, withTimeout(faultTimeout))
	ctx := context.Background()
	c := newClock()
	f := &fetcher{life: time.Hour, now: c.Now}
	s := NewTokenSlot(rs[0].Store, "client-b", SlotOptions{Now: c.Now})
	if tok, _, _ := s.Token(ctx, f.fetch); tok.Reveal() != "m2m-canary-1" {
		t.Fatal("first Token is not m2m-canary-1")
	}
	c.Advance(time.Hour) // past the expiry the fetcher gave
	if tok, _, _ := s.Token(ctx, f.fetch); tok.Reveal() != "m2m-canary-2" {
		t.Error("expired token served; want a new fetch, m2m-canary-2")
	}

	srv.Kill()
	var tok secret.String
	if d := timed(func() { tok, _, _ = s.Token(ctx, f.fetch) }); d > bound {
		t.Errorf("Token with Redis down took %v", d)
	}
	if tok.Reveal() != "m2m-canary-3" {
		t.Error("with Redis down Token is not m2m-canary-3; want a direct fetch")
	}
	boom := errors.New("token endpoint down")
	f.err = boom
	if _, _, err := s.Token(ctx, f.fetch); !errors.Is(err, boom) {
		t.Errorf("fetch error = %v; want it returned as is", err)
	}
	if nilSlot := NewTokenSlot(nil, "x", SlotOptions{}); true {
		f.err = nil
		if tok, _, err := nilSlot.Token(ctx, f.fetch); err != nil || tok.IsZero() {
			t.Errorf("slot without Redis: %v", err)
		}
	}
}
