package cluster

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestSealedValues(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2)
	a, b := rs[0], rs[1]
	ctx := context.Background()
	raw := srv.Client()

	if err := a.SetSealed(ctx, "v", "k1", []byte("canary-at-rest"), time.Minute); err != nil {
		t.Fatal(err)
	}
	got, ok, err := b.GetSealed(ctx, "v", "k1")
	if err != nil || !ok || string(got) != "canary-at-rest" {
		t.Fatalf("B GetSealed = %q, %v, %v; want the value A sealed", got, ok, err)
	}
	stored, _ := raw.Get(ctx, "test:v:k1").Bytes()
	if bytes.Contains(stored, []byte("canary-at-rest")) {
		t.Errorf("Redis holds the plaintext")
	}
	if ttl := raw.PTTL(ctx, "test:v:k1").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("PTTL = %v; want (0, 1m]", ttl)
	}

	otherRing := newReplica(t, srv.URL(), randomKey(t))
	if err := otherRing.SetSealed(ctx, "v", "unknown", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw.Set(ctx, "test:v:moved", stored, time.Minute) // a value copied to another key
	raw.Set(ctx, "test:v:garbage", "not sealed at all", time.Minute)
	raw.Set(ctx, "test:v:truncated", stored[:len(stored)-5], time.Minute)
	raw.Set(ctx, "test:v:empty", "", time.Minute)
	for _, name := range []string{"absent", "unknown", "moved", "garbage", "truncated", "empty"} {
		t.Run(name, func(t *testing.T) {
			got, ok, err := a.GetSealed(ctx, "v", name)
			if err != nil || ok || got != nil {
				t.Errorf("GetSealed(%s) = %q, %v, %v; want a miss without error", name, got, ok, err)
			}
		})
	}
	if n := a.Stats().Unopenable; n != 5 {
		t.Errorf("Unopenable = %d; want 5", n)
	}
	if !a.Healthy() {
		t.Errorf("values that do not open marked Redis unhealthy")
	}
}

func TestKeyRotation(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	ctx := context.Background()
	oldKey, newKey := randomKey(t), randomKey(t)
	before := newReplica(t, srv.URL(), oldKey)
	if err := before.SetSealed(ctx, "v", "pair", []byte("sealed-with-old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	// The rotated deployment: the new key first, the old one second.
	after := newReplica(t, srv.URL(), nil, withRing(ring(t, newKey, oldKey)))
	if got, ok, err := after.GetSealed(ctx, "v", "pair"); err != nil || !ok || string(got) != "sealed-with-old" {
		t.Fatalf("after rotation, old value = %q, %v, %v; want it to open", got, ok, err)
	}
	if err := after.SetSealed(ctx, "v", "pair2", []byte("sealed-with-new"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := before.GetSealed(ctx, "v", "pair2"); ok {
		t.Errorf("a replica with only the old key opened a value written after rotation; want the new key to seal")
	}
	if got, ok, _ := newReplica(t, srv.URL(), newKey).GetSealed(ctx, "v", "pair2"); !ok || string(got) != "sealed-with-new" {
		t.Errorf("the new key alone does not open a value written after rotation")
	}
}

func TestCompareAndSwapSealed(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 1)
	a := rs[0]
	ctx := context.Background()
	eq := func(s string) func([]byte) bool { return func(b []byte) bool { return string(b) == s } }
	raw := srv.Client()
	raw.Set(ctx, "test:cas:garbage", "junk", time.Minute)
	if err := a.SetSealed(ctx, "cas", "present", []byte("v1"), time.Minute); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		key   string
		match func([]byte) bool
		want  bool
		after string // value readable afterwards ("" = none)
	}{
		{"absent, expect absent", "new", nil, true, "next"},
		{"absent, expect a value", "new2", eq("v1"), false, ""},
		{"present, expect absent", "present", nil, false, "v1"},
		{"present, stale expectation", "present", eq("v0"), false, "v1"},
		{"present, current expectation", "present", eq("v1"), true, "next"},
		{"garbage, expect absent", "garbage", nil, true, "next"},
	}
	for _, tt := range tests {
		swapped, err := a.CompareAndSwapSealed(ctx, "cas", tt.key, tt.match, []byte("next"), time.Minute)
		if err != nil || swapped != tt.want {
			t.Errorf("%s: CompareAndSwapSealed = %v, %v; want %v", tt.name, swapped, err, tt.want)
		}
		got, _, _ := a.GetSealed(ctx, "cas", tt.key)
		if string(got) != tt.after {
			t.Errorf("%s: value after = %q; want %q", tt.name, got, tt.after)
		}
	}
}

// TestCompareAndSwapFencing: replicas that read the same value race to
// replace it; exactly one wins, whatever the interleaving.
func TestCompareAndSwapFencing(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 3)
	ctx := context.Background()
	if err := rs[0].SetSealed(ctx, "cas", "k", []byte("old"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 30 {
		wg.Go(func() {
			r := rs[i%3]
			ok, err := r.CompareAndSwapSealed(ctx, "cas", "k", func(b []byte) bool { return string(b) == "old" }, []byte{byte('a' + i%26)}, time.Minute)
			if err != nil {
				t.Errorf("CompareAndSwapSealed: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d writers replaced the same value; want exactly 1", wins.Load())
	}
}

func TestDeleteSealed(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 1)
	a := rs[0]
	ctx := context.Background()
	_ = a.SetSealed(ctx, "d", "k", []byte("current"), time.Minute)
	if ok, err := a.DeleteSealed(ctx, "d", "k", func(b []byte) bool { return string(b) == "stale" }); ok || err != nil {
		t.Errorf("DeleteSealed(stale) = %v, %v; want false", ok, err)
	}
	if ok, err := a.DeleteSealed(ctx, "d", "k", func(b []byte) bool { return string(b) == "current" }); !ok || err != nil {
		t.Errorf("DeleteSealed(current) = %v, %v; want true", ok, err)
	}
	if _, ok, _ := a.GetSealed(ctx, "d", "k"); ok {
		t.Errorf("value still there after DeleteSealed")
	}
}
