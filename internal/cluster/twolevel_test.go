package cluster

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

type profile struct{ Name, Token string }

func profileCache(t *testing.T, r *replica) *TwoLevel[profile] { return profileCacheB(t, r) }

func profileCacheB(t testing.TB, r *replica) *TwoLevel[profile] {
	t.Helper()
	c, err := NewTwoLevel(r.Store, TwoLevelOptions[profile]{
		Namespace: "profile",
		LocalTTL:  5 * time.Second,
		Encode:    func(p profile) ([]byte, error) { return []byte(p.Name + "\x00" + p.Token), nil },
		Decode: func(b []byte) (profile, error) {
			name, tok, ok := bytes.Cut(b, []byte{0})
			if !ok {
				return profile{}, errors.New("bad profile")
			}
			return profile{string(name), string(tok)}, nil
		},
		Now: r.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTwoLevelRoundTrips(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 2)
	a, b := rs[0], rs[1]
	ca, cb := profileCache(t, a), profileCache(t, b)
	ctx := context.Background()

	ca.Set(ctx, "u1", profile{"Ann", "gho_profile_canary"}, time.Minute)
	ca.Set(ctx, "u2", profile{"Bob", "ya29_profile_canary"}, 2*time.Second)
	if raw := srv.Client().Get(ctx, "test:profile:u1").Val(); raw == "" || bytes.Contains([]byte(raw), []byte("canary")) {
		t.Errorf("profile stored in clear or not at all: %d bytes", len(raw))
	}

	steps := []struct {
		name  string
		ids   []string
		trips int64 // round trips this step may cost
		want  int   // values found
	}{
		{"cold on B: one pipelined trip for three ids", []string{"u1", "u2", "u3"}, 1, 2},
		{"warm on B: none", []string{"u1", "u2"}, 0, 2},
		{"u3 still missing: one trip", []string{"u3"}, 1, 0},
	}
	for _, st := range steps {
		before := b.Stats().RoundTrips
		got := cb.GetMany(ctx, st.ids)
		if n := b.Stats().RoundTrips - before; n != st.trips || len(got) != st.want {
			t.Errorf("%s: %d round trips, %d values; want %d, %d", st.name, n, len(got), st.trips, st.want)
		}
	}
	if p, ok := cb.Get(ctx, "u1"); !ok || p.Token != "gho_profile_canary" {
		t.Errorf("B Get(u1) = %+v, %v", p, ok)
	}
	// The first level keeps a value no longer than Redis does (u2: 2s).
	b.clock.Advance(2 * time.Second)
	before := b.Stats().RoundTrips
	got := cb.GetMany(ctx, []string{"u1", "u2"})
	if n := b.Stats().RoundTrips - before; n != 1 || len(got) < 1 {
		t.Errorf("after u2's TTL: %d round trips, %d values; want 1 trip for u2", n, len(got))
	}
	// LocalTTL bounds how long a value Redis no longer holds lives in a
	// replica's memory.
	if err := srv.Client().Del(ctx, "test:profile:u1").Err(); err != nil {
		t.Fatal(err)
	}
	if _, ok := cb.Get(ctx, "u1"); !ok {
		t.Errorf("B no longer serves u1 within LocalTTL; want its own copy")
	}
	b.clock.Advance(5 * time.Second)
	if _, ok := cb.Get(ctx, "u1"); ok {
		t.Errorf("B serves u1 past LocalTTL after Redis dropped it")
	}
}

func TestTwoLevelWithoutRedis(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 1, withTimeout(faultTimeout))
	a := rs[0]
	ca := profileCache(t, a)
	ctx := context.Background()
	ca.Set(ctx, "u1", profile{"Ann", "t"}, time.Minute)
	srv.Kill()
	if d := timed(func() {
		if p, ok := ca.Get(ctx, "u1"); !ok || p.Name != "Ann" {
			t.Errorf("first level lost with Redis down: %+v, %v", p, ok)
		}
		if _, ok := ca.Get(ctx, "u9"); ok {
			t.Errorf("u9 found")
		}
		ca.Set(ctx, "u2", profile{"Bob", "t"}, time.Minute)
	}); d > bound {
		t.Errorf("cache calls with Redis down took %v; want under %v", d, bound)
	}
	if p, ok := ca.Get(ctx, "u2"); !ok || p.Name != "Bob" {
		t.Errorf("Set with Redis down not kept locally")
	}
	if _, err := NewTwoLevel(nil, TwoLevelOptions[profile]{}); err == nil {
		t.Errorf("NewTwoLevel without codec: nil error")
	}
}

func TestTwoLevelUndecodable(t *testing.T) {
	t.Parallel()
	_, rs := startCluster(t, 1)
	ctx := context.Background()
	// Sealed correctly, but not a profile: a miss, counted.
	if err := rs[0].SetSealed(ctx, "profile", "u1", []byte("no separator"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if p, ok := profileCache(t, rs[0]).Get(ctx, "u1"); ok {
		t.Errorf("Get = %+v; want a miss", p)
	}
	if n := rs[0].Stats().Unopenable; n != 1 {
		t.Errorf("Unopenable = %d; want 1", n)
	}
}
