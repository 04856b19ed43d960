package cluster

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// TestDumpHoldsNoTokenInClear writes every kind of value the gateway
// shares, then reads back all Redis holds — the RDB snapshot and every key
// with its DUMP — and looks for the token canaries.
func TestDumpHoldsNoTokenInClear(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 1)
	r := rs[0]
	ctx := context.Background()
	raw := srv.Client()
	canaries := []string{
		"gho_ACCESS_canary_7f3a", "ghr_REFRESH_canary_91bc", "m2m_TOKEN_canary_55de",
		"ya29_PROFILE_canary_0a1b", "1//REFRESH_profile_canary_c3d4",
	}

	// Control: a canary written in clear is found, so the scan can fail.
	raw.Set(ctx, "control", "plain-control-canary-4242", time.Minute)
	if snap := srv.Snapshot(); !bytes.Contains(snap, []byte("plain-control-canary-4242")) {
		t.Fatal("control canary not found in the snapshot; the scan cannot see values")
	}
	raw.Del(ctx, "control")

	tokens := NewTokens(r.Store, TokensOptions{})
	pair := providers.Token{AccessToken: secret.New(canaries[0]), RefreshToken: secret.New(canaries[1]), Expiry: time.Now().Add(time.Hour)}
	if ok, err := tokens.CompareAndSwap(ctx, "auth0|u\x00github|1", nil, pair); !ok || err != nil {
		t.Fatalf("CAS = %v, %v", ok, err)
	}
	if err := tokens.MarkSpent(ctx, secret.New(canaries[1])); err != nil {
		t.Fatal(err)
	}
	slot := NewTokenSlot(r.Store, "m2m", SlotOptions{})
	if _, _, err := slot.Token(ctx, func(context.Context) (secret.String, time.Time, error) {
		return secret.New(canaries[2]), time.Now().Add(time.Hour), nil
	}); err != nil {
		t.Fatal(err)
	}
	profiles := profileCache(t, r)
	profiles.Set(ctx, "auth0|u", profile{Name: "Ann", Token: canaries[3] + " " + canaries[4]}, time.Hour)
	lim, _ := NewLimiter(r.Store, LimiterOptions{RPS: 1, Burst: 1})
	lim.Allow(ctx, "auth0|u")
	apq, _ := NewAPQ(r.Store, APQOptions{})
	apq.Add(ctx, "abc", "{ me { id } }")
	if r.Stats().Failures != 0 {
		t.Fatalf("writes failed: %+v", r.Stats())
	}

	var everything bytes.Buffer
	everything.Write(srv.Snapshot())
	keys, err := raw.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 6 {
		t.Errorf("only %d keys in Redis: %v; want every kind written", len(keys), keys)
	}
	for _, k := range keys {
		everything.WriteString(k)
		d, err := raw.Dump(ctx, k).Bytes()
		if err != nil {
			t.Fatalf("DUMP %q: %v", k, err)
		}
		everything.Write(d)
	}
	for _, c := range canaries {
		for _, part := range []string{c, c[:12], c[len(c)-12:]} {
			if bytes.Contains(everything.Bytes(), []byte(part)) {
				t.Errorf("Redis holds %q in clear", part)
			}
		}
	}
}
