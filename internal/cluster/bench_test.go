package cluster

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// Benchmarks against a real redis-server on loopback: what one call of
// each kind costs a request.
func BenchmarkStore(b *testing.B) {
	_, rs := startCluster(b, 1)
	r := rs[0]
	ctx := context.Background()
	_ = r.SetSealed(ctx, "v", "k", make([]byte, 400), time.Hour)
	lim, _ := NewLimiter(r.Store, LimiterOptions{RPS: 1e6, Burst: 1e6})
	b.Run("GetSealed", func(b *testing.B) {
		for b.Loop() {
			if _, ok, err := r.GetSealed(ctx, "v", "k"); !ok || err != nil {
				b.Fatal(ok, err)
			}
		}
	})
	b.Run("LimiterAllow", func(b *testing.B) {
		for b.Loop() {
			if d := lim.Allow(ctx, "u"); !d.Allowed {
				b.Fatal("refused")
			}
		}
	})
	cache := profileCacheB(b, r)
	for i := range 2 {
		cache.Set(ctx, "u"+strconv.Itoa(i), profile{Name: string(make([]byte, 2000))}, time.Hour)
	}
	b.Run("TwoLevelHit", func(b *testing.B) {
		for b.Loop() {
			if _, ok := cache.Get(ctx, "u0"); !ok {
				b.Fatal("miss")
			}
		}
	})
	b.Run("TwoLevelMiss", func(b *testing.B) {
		small, _ := NewTwoLevel(r.Store, TwoLevelOptions[profile]{Namespace: "profile", LocalSize: 1, Encode: cache.o.Encode, Decode: cache.o.Decode})
		i := 0
		for b.Loop() {
			i++
			if _, ok := small.Get(ctx, "u"+strconv.Itoa(i%2)); !ok { // LocalSize 1: always the other one
				b.Fatal("miss")
			}
		}
	})
}
