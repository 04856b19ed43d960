package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// TestMemoryPerUser measures, with Redis's MEMORY USAGE, what one user
// with two identities costs in Redis: the README's sizing comes from it.
// Sizes are representative of the providers' tokens: a GitHub token is 40
// characters, a Google access token about 220 and its refresh token about
// 100; an Auth0 profile with two identities is about 2 KB of JSON.
func TestMemoryPerUser(t *testing.T) {
	t.Parallel()
	srv, rs := startCluster(t, 1)
	r := rs[0]
	ctx := context.Background()
	raw := srv.Client()
	user := "google-oauth2|109876543210987654321"

	tokens := NewTokens(r.Store, TokensOptions{})
	pairs := map[string]providers.Token{
		user + "\x00github|1234567": {AccessToken: secret.New("gho_" + strings.Repeat("a", 36))},
		user + "\x00google-oauth2|109876543210987654321": {
			AccessToken:  secret.New("ya29." + strings.Repeat("b", 215)),
			RefreshToken: secret.New("1//0" + strings.Repeat("c", 99)),
			Expiry:       time.Now().Add(time.Hour),
		},
	}
	for k, p := range pairs {
		if ok, err := tokens.CompareAndSwap(ctx, k, nil, p); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	_ = tokens.MarkSpent(ctx, secret.New("1//0"+strings.Repeat("d", 99)))
	profiles := profileCache(t, r)
	profiles.Set(ctx, user, profile{Name: strings.Repeat("p", 2000)}, time.Hour)
	lim, _ := NewLimiter(r.Store, LimiterOptions{RPS: 10, Burst: 40})
	lim.Allow(ctx, user)

	keys, err := raw.Keys(ctx, "test:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, k := range keys {
		n, err := raw.MemoryUsage(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		kind := strings.SplitN(strings.TrimPrefix(k, "test:"), ":", 2)[0]
		t.Logf("%-8s %5d bytes (value %d bytes)", kind, n, len(raw.Get(ctx, k).Val()))
		total += n
	}
	t.Logf("one user, two identities, one spent refresh token: %d bytes in %d keys", total, len(keys))
	if len(keys) != 5 || total > 8<<10 {
		t.Errorf("%d keys, %d bytes per user; want 5 keys within 8 KiB (README sizing)", len(keys), total)
	}
}
