package cluster

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestAPQShared(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2)
	ctx := context.Background()
	a, _ := NewAPQ(rs[0].Store, APQOptions{MaxQueryBytes: 64, TTL: time.Hour})
	b, _ := NewAPQ(rs[1].Store, APQOptions{MaxQueryBytes: 64, TTL: time.Hour})

	a.Add(ctx, "h1", "{ me { id } }")
	if q, ok := b.Get(ctx, "h1"); !ok || q != "{ me { id } }" {
		t.Fatalf("B Get(h1) = %q, %v; want the query A registered", q, ok)
	}
	trips := rs[1].Stats().RoundTrips
	if _, ok := b.Get(ctx, "h1"); !ok || rs[1].Stats().RoundTrips != trips {
		t.Errorf("second Get on B went to Redis; want the local LRU")
	}
	if ttl := srv.Client().TTL(ctx, "test:apq:h1").Val(); ttl <= 0 || ttl > time.Hour {
		t.Errorf("TTL = %v; want (0, 1h]", ttl)
	}
	a.Add(ctx, "big", strings.Repeat("x", 65))
	if _, ok := b.Get(ctx, "big"); ok {
		t.Errorf("a query over MaxQueryBytes was shared")
	}
	if _, ok := a.Get(ctx, "big"); ok {
		t.Errorf("a query over MaxQueryBytes was kept locally")
	}
	if _, ok := b.Get(ctx, strings.Repeat("f", 200)); ok {
		t.Errorf("an overlong hash hit")
	}
	if _, ok := b.Get(ctx, "unknown"); ok {
		t.Errorf("unknown hash hit")
	}
}

func TestAPQLocalOnly(t *testing.T) {
	t.Parallel()
	a, err := NewAPQ(nil, APQOptions{LocalSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a.Add(ctx, "h1", "q1")
	if q, ok := a.Get(ctx, "h1"); !ok || q != "q1" {
		t.Errorf("Get = %q, %v; want q1", q, ok)
	}
	a.Add(ctx, "h2", "q2")
	if _, ok := a.Get(ctx, "h1"); ok {
		t.Errorf("LocalSize 1 kept two queries")
	}
	if _, err := NewAPQ(nil, APQOptions{TTL: -1}); err == nil {
		t.Errorf("negative TTL accepted")
	}
}
