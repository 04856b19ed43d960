package authn

import (
	"net/http"
	"testing"
	"time"
)

// TestVerifiedTokenCache checks that remembering verified tokens changes
// nothing a client can observe: a remembered token is still rejected once
// it expires or once its key is no longer published.
func TestVerifiedTokenCache(t *testing.T) {
	old, next := key(0, "kid-old"), key(1, "kid-new")
	f := newFixture(t, func(c *Config) { c.MinRefetchInterval = time.Second }, old)
	tok := rsToken(t, old, claimsAt(f.base, nil))

	for i := 0; i < 3; i++ {
		if got := f.bearer(tok); got.status != http.StatusOK {
			t.Fatalf("request %d with a valid token = %d; want 200", i, got.status)
		}
	}
	if n := f.auth.verified.Len(); n != 1 {
		t.Errorf("verified tokens remembered = %d; want 1", n)
	}

	// The key is withdrawn: after the cache TTL the remembered token fails.
	f.jwks.setKeys(next)
	f.clock.Add(DefaultCacheTTL + time.Second)
	if got := f.bearer(tok); got.status != http.StatusUnauthorized {
		t.Errorf("remembered token of a withdrawn key = %d; want 401", got.status)
	}

	// A remembered token past its expiry fails.
	tok2 := rsToken(t, next, claimsAt(f.base, nil))
	if got := f.bearer(tok2); got.status != http.StatusOK {
		t.Fatalf("token of the new key = %d; want 200", got.status)
	}
	f.clock.Add(2 * time.Hour)
	if got := f.bearer(tok2); got.status != http.StatusUnauthorized {
		t.Errorf("remembered token after exp = %d; want 401", got.status)
	}
	if _, ok := f.auth.verified.Peek(sha256Of(tok2)); ok {
		t.Error("an expired token stays remembered")
	}
}

// TestVerifiedTokenKeyMaterial: a remembered token is only as good as the
// key it was verified with. When the tenant publishes other key material
// under the same kid, the token is verified afresh (and fails, its
// signature being the old key's), while tokens of the new material pass;
// once the old material is back, the old token passes again.
func TestVerifiedTokenKeyMaterial(t *testing.T) {
	before, reused := key(0, "kid-a"), key(1, "kid-a")
	f := newFixture(t, func(c *Config) { c.MinRefetchInterval = time.Second }, before)
	tok := rsToken(t, before, claimsAt(f.base, nil))
	for i := 0; i < 2; i++ {
		if got := f.bearer(tok); got.status != http.StatusOK {
			t.Fatalf("request %d with a valid token = %d; want 200", i, got.status)
		}
	}

	f.jwks.setKeys(reused)
	f.clock.Add(DefaultCacheTTL + time.Second)
	if got := f.bearer(tok); got.status != http.StatusUnauthorized {
		t.Errorf("remembered token after its kid names other key material = %d; want 401", got.status)
	}
	if _, ok := f.auth.verified.Peek(sha256Of(tok)); ok {
		t.Error("a token whose key material changed stays remembered")
	}
	if got := f.bearer(rsToken(t, reused, claimsAt(f.base, nil))); got.status != http.StatusOK {
		t.Errorf("token of the new material = %d; want 200", got.status)
	}

	f.jwks.setKeys(before)
	f.clock.Add(DefaultCacheTTL + time.Second)
	if got := f.bearer(tok); got.status != http.StatusOK {
		t.Errorf("token of the restored material = %d; want 200", got.status)
	}
}
