package cluster

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// rotatingIdP is a token endpoint that rotates refresh tokens: a refresh
// token works once.
type rotatingIdP struct {
	mu        sync.Mutex
	valid     string
	presented map[string]int
	calls     atomic.Int64
}

func (p *rotatingIdP) refresh(rt secret.String) (providers.Token, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.calls.Add(1)
	p.presented[rt.Reveal()]++
	if rt.Reveal() != p.valid {
		return providers.Token{}, &providers.Error{Kind: providers.ReauthRequired, Message: "refresh token spent"}
	}
	p.valid = fmt.Sprintf("rt-canary-%d", n)
	return providers.Token{AccessToken: secret.New(fmt.Sprintf("at-canary-%d", n)), RefreshToken: secret.New(p.valid), Expiry: time.Now().Add(time.Hour)}, nil
}

// refreshLikeBroker is the cluster path of a refresh, as the credentials
// broker will run it over Tokens: read, lease, re-read, exchange, CAS,
// mark spent, release; the others wait and read the result.
func refreshLikeBroker(ctx context.Context, ts *Tokens, idp *rotatingIdP, key string, rejected providers.Token) (providers.Token, error) {
	for range 3 {
		cur, ok, err := ts.Get(ctx, key)
		if err != nil {
			return providers.Token{}, err
		}
		if ok && !cur.AccessToken.Equal(rejected.AccessToken) {
			return cur, nil
		}
		lease, err := ts.Lock(ctx, key)
		if err != nil {
			return providers.Token{}, err
		}
		if lease == nil {
			if err := ts.Wait(ctx, key); err != nil {
				return providers.Token{}, err
			}
			continue
		}
		defer lease.Release(ctx)
		cur, ok, _ = ts.Get(ctx, key)
		if ok && !cur.AccessToken.Equal(rejected.AccessToken) {
			return cur, nil
		}
		old := rejected
		if ok {
			old = cur
		}
		if spent, _ := ts.IsSpent(ctx, old.RefreshToken); spent {
			return providers.Token{}, fmt.Errorf("refresh token spent")
		}
		next, err := idp.refresh(old.RefreshToken)
		if err != nil {
			return providers.Token{}, err
		}
		_ = ts.MarkSpent(ctx, old.RefreshToken)
		var expect *providers.Token
		if ok {
			expect = &cur
		}
		if swapped, err := ts.CompareAndSwap(ctx, key, expect, next); err != nil || !swapped {
			return providers.Token{}, fmt.Errorf("fenced: swapped %v, err %v", swapped, err)
		}
		return next, nil
	}
	return providers.Token{}, fmt.Errorf("no result")
}

func TestTokensOneRefreshAcrossReplicas(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 3)
	ctx := context.Background()
	idp := &rotatingIdP{valid: "rt-canary-0", presented: map[string]int{}}
	auth0Pair := providers.Token{AccessToken: secret.New("at-canary-0"), RefreshToken: secret.New("rt-canary-0")}
	var stores []*Tokens
	for _, r := range rs {
		stores = append(stores, NewTokens(r.Store, TokensOptions{}))
	}
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			tok, err := refreshLikeBroker(ctx, stores[i%3], idp, "auth0|u1\x00github|1", auth0Pair)
			canary := tok.AccessToken.Reveal() == "at-canary-1" // compared here; only the outcome is printed
			if err != nil || !canary {
				t.Errorf("request %d: err %v, got the canary pair: %v; want it", i, err, canary)
			}
		})
	}
	wg.Wait()
	if n := idp.calls.Load(); n != 1 {
		t.Errorf("%d token endpoint calls for 30 requests on 3 replicas; want 1", n)
	}
	for rt, n := range idp.presented {
		if n > 1 {
			t.Errorf("refresh token %s presented %d times", rt, n)
		}
	}
	if spent, err := stores[2].IsSpent(ctx, secret.New("rt-canary-0")); !spent || err != nil {
		t.Errorf("the rotated refresh token is not marked spent: %v, %v", spent, err)
	}
}

// TestTokensFencing: a holder whose lease expired while it refreshed does
// not overwrite the pair a second holder stored meanwhile.
func TestTokensFencing(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2)
	ctx := context.Background()
	a, b := NewTokens(rs[0].Store, TokensOptions{}), NewTokens(rs[1].Store, TokensOptions{})
	p0 := providers.Token{AccessToken: secret.New("at-0"), RefreshToken: secret.New("rt-0")}
	if ok, err := a.CompareAndSwap(ctx, "k", nil, p0); !ok || err != nil {
		t.Fatalf("initial CAS = %v, %v", ok, err)
	}
	slow, _ := a.Lock(ctx, "k")
	if slow == nil {
		t.Fatal("A Lock failed")
	}
	seen, _, _ := a.Get(ctx, "k") // A reads p0, then stalls
	srv.Client().Del(ctx, "test:lease:token:k")
	fast, _ := b.Lock(ctx, "k")
	if fast == nil {
		t.Fatal("B Lock after A's expiry failed")
	}
	p1 := providers.Token{AccessToken: secret.New("at-1"), RefreshToken: secret.New("rt-1")}
	if ok, err := b.CompareAndSwap(ctx, "k", &seen, p1); !ok || err != nil {
		t.Fatalf("B CAS = %v, %v; want stored", ok, err)
	}
	p2 := providers.Token{AccessToken: secret.New("at-2"), RefreshToken: secret.New("rt-2")}
	if ok, err := a.CompareAndSwap(ctx, "k", &seen, p2); ok || err != nil {
		t.Errorf("slow A CAS = %v, %v; want refused", ok, err)
	}
	if got, _, _ := b.Get(ctx, "k"); got.RefreshToken.Reveal() != "rt-1" {
		t.Error("stored refresh token is not rt-1; want rt-1 (the slow holder must not overwrite it)")
	}
	if ok, _ := a.Delete(ctx, "k", p0); ok {
		t.Errorf("Delete of a stale pair removed the current one")
	}
	if ok, _ := a.Delete(ctx, "k", p1); !ok {
		t.Errorf("Delete of the current pair failed")
	}
}
