package cluster

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// TestRefusingRedisIsUnavailable: a Redis that answers every command with
// a server-state error (memory full under noeviction, a replica after
// failover, a wrong password) is as unusable as one that is down: the
// Store marks it unavailable once, names the error code (never the
// message, never the password) in /readyz's line, and callers fall back.
// An error of one command (WRONGTYPE on one key) leaves it up.
func TestRefusingRedisIsUnavailable(t *testing.T) {
	t.Parallel()
	const password = "s3cret-Redis-pw"
	cases := []struct {
		name     string
		wrongPw  bool                                        // the replica connects with a wrong password
		break_   func(t *testing.T, r *replica, addr string) // turns the server bad
		repair   func(t *testing.T, r *replica)
		read     bool // the failing call is a read (GET) rather than a write
		wantDown bool
		wantCode string
	}{
		{
			name: "memory full under noeviction",
			break_: func(t *testing.T, r *replica, _ string) {
				rc := r.rdb
				mustDo(t, rc.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err())
				mustDo(t, rc.ConfigSet(context.Background(), "maxmemory", "1").Err())
			},
			repair: func(t *testing.T, r *replica) {
				mustDo(t, r.rdb.ConfigSet(context.Background(), "maxmemory", "0").Err())
			},
			wantDown: true, wantCode: "OOM",
		},
		{
			name: "read-only replica after a failover",
			break_: func(t *testing.T, r *replica, _ string) {
				mustDo(t, r.rdb.SlaveOf(context.Background(), "127.0.0.1", "1").Err())
			},
			repair: func(t *testing.T, r *replica) {
				mustDo(t, r.rdb.SlaveOf(context.Background(), "NO", "ONE").Err())
			},
			wantDown: true, wantCode: "READONLY",
		},
		{
			name:    "wrong password",
			wrongPw: true,
			break_: func(t *testing.T, r *replica, _ string) {
			},
			wantDown: true, wantCode: "WRONGPASS",
		},
		{
			name: "wrong type on one key",
			break_: func(t *testing.T, r *replica, _ string) {
				mustDo(t, r.rdb.LPush(context.Background(), r.key("v", "k"), "x").Err())
			},
			read: true, wantDown: false,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t)
			admin := newReplica(t, srv.URL(), randomKey(t))
			mustDo(t, admin.rdb.ConfigSet(context.Background(), "requirepass", password).Err())
			// The admin connection stays authenticated; new ones need it.
			pw := password
			if tc.wrongPw {
				pw = "not-the-" + password
			}
			r := newReplica(t, "redis://:"+pw+"@"+srv.Addr()+"/0", randomKey(t))
			ctx := context.Background()
			if !tc.wrongPw {
				if err := r.SetSealed(ctx, "v", "warm", []byte("x"), time.Minute); err != nil {
					t.Fatalf("SetSealed before the fault: %v", err)
				}
			}
			tc.break_(t, admin, srv.Addr())

			for range 3 {
				var err error
				if tc.read {
					_, _, err = r.GetSealed(ctx, "v", "k")
				} else {
					err = r.SetSealed(ctx, "v", "k", []byte("value"), time.Minute)
				}
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("SetSealed on the bad server: err = %v; want ErrUnavailable", err)
				}
			}
			if r.Healthy() == tc.wantDown {
				t.Errorf("Healthy = %v; want %v", r.Healthy(), !tc.wantDown)
			}
			status := r.Status()
			if tc.wantDown {
				want := "redis unavailable (server: " + tc.wantCode + ")"
				if !strings.Contains(status, want) {
					t.Errorf("Status = %q; want it to contain %q", status, want)
				}
				if n := r.logs.Count("redis unavailable"); n != 1 {
					t.Errorf("logged the outage %d times; want once:\n%s", n, r.logs)
				}
				if !strings.Contains(r.logs.String(), "server: "+tc.wantCode) {
					t.Errorf("the log does not name %s:\n%s", tc.wantCode, r.logs)
				}
			} else if status != "shared state: redis ok" {
				t.Errorf("Status = %q; want ok", status)
			}
			if strings.Contains(r.logs.String()+status, password) {
				t.Error("the password reached a log line or the status")
			}
			if tc.repair == nil || !tc.wantDown {
				return
			}
			// Reads may work while writes are refused: a probe that only
			// reads must not bring it back.
			r.clock.Advance(time.Second)
			_, _, _ = r.GetSealed(ctx, "v", "warm")
			if r.Healthy() {
				t.Error("a probe that read while writes are still refused marked Redis up")
			}
			tc.repair(t, admin)
			r.clock.Advance(time.Second)
			if _, _, err := r.GetSealed(ctx, "v", "warm"); err != nil {
				t.Errorf("GetSealed after the repair: %v", err)
			}
			if !r.Healthy() {
				t.Errorf("not healthy after the repair: %q", r.Status())
			}
		})
	}
}

func mustDo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestTenantsDoNotShare: two deployments (other Auth0 tenant or API) on
// one Redis and one prefix, sealing with the same key, find nothing of
// each other's; two replicas of one deployment share.
func TestTenantsDoNotShare(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	key := randomKey(t)
	tenant := func(s string) replicaOpt { return func(o *Options) { o.Tenant = s } }
	a := newReplica(t, srv.URL(), key, tenant("https://a.eu.auth0.com/\x00https://api"))
	a2 := newReplica(t, srv.URL(), key, tenant("https://a.eu.auth0.com/\x00https://api"))
	b := newReplica(t, srv.URL(), key, tenant("https://b.eu.auth0.com/\x00https://api"))
	c := newReplica(t, srv.URL(), key, tenant("https://a.eu.auth0.com/\x00https://other-api"))
	ctx := context.Background()
	if err := a.SetSealed(ctx, "profile", "auth0|ada", []byte("ada's profile"), time.Minute); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		r    *replica
		want bool
	}{
		{"same deployment", a2, true},
		{"other tenant", b, false},
		{"other audience", c, false},
	}
	for _, tc := range cases {
		if _, ok, err := tc.r.GetSealed(ctx, "profile", "auth0|ada"); err != nil || ok != tc.want {
			t.Errorf("%s: found %v, err %v; want found %v", tc.name, ok, err, tc.want)
		}
	}
	keys := srv.Client().Keys(ctx, "test:profile:*").Val()
	if len(keys) != 1 || !strings.HasPrefix(keys[0], "test:profile:") || strings.Count(keys[0], ":") < 3 {
		t.Errorf("keys = %v; want one key with the tenant's segment after the namespace", keys)
	}
}

// TestTenantReadsLegacyPairs: a token pair (and a spent marker) written
// before keys named the deployment is still found after the upgrade: a
// rotated refresh token kept only there must not cost a sign-in.
func TestTenantReadsLegacyPairs(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	key := randomKey(t)
	old := NewTokens(newReplica(t, srv.URL(), key).Store, TokensOptions{})
	upgraded := NewTokens(newReplica(t, srv.URL(), key, func(o *Options) { o.Tenant = "https://a.eu.auth0.com/\x00https://api" }).Store, TokensOptions{})
	ctx := context.Background()
	pair := providers.Token{AccessToken: secret.New("at-legacy"), RefreshToken: secret.New("rt-legacy")}
	if ok, err := old.CompareAndSwap(ctx, "auth0|ada\x00gitlab\x00gitlab|1", nil, pair); err != nil || !ok {
		t.Fatalf("legacy CompareAndSwap = %v, %v", ok, err)
	}
	if err := old.MarkSpent(ctx, secret.New("rt-before")); err != nil {
		t.Fatal(err)
	}
	got, ok, err := upgraded.Get(ctx, "auth0|ada\x00gitlab\x00gitlab|1")
	if err != nil || !ok || !samePair(got, pair) {
		t.Errorf("Get after the upgrade = %v, %v; want the legacy pair", ok, err)
	}
	if spent, err := upgraded.IsSpent(ctx, secret.New("rt-before")); err != nil || !spent {
		t.Errorf("IsSpent after the upgrade = %v, %v; want the legacy marker", spent, err)
	}
}

// TestTokensTTL: a pair with a refresh token lives TTL; a token without
// one (Token Vault) lives until its expiry, not 90 days.
func TestTokensTTL(t *testing.T) {
	t.Parallel()
	srv := startServer(t)
	tokens := NewTokens(newReplica(t, srv.URL(), randomKey(t)).Store, TokensOptions{TTL: 90 * 24 * time.Hour})
	ctx := context.Background()
	cases := []struct {
		name string
		tok  providers.Token
		min  time.Duration
		max  time.Duration
	}{
		{"refreshable", providers.Token{AccessToken: secret.New("a1"), RefreshToken: secret.New("r1"), Expiry: time.Now().Add(time.Hour)}, 89 * 24 * time.Hour, 90 * 24 * time.Hour},
		{"vault token", providers.Token{AccessToken: secret.New("a2"), Expiry: time.Now().Add(10 * time.Minute)}, 9 * time.Minute, 10 * time.Minute},
		{"no expiry", providers.Token{AccessToken: secret.New("a3")}, 89 * 24 * time.Hour, 90 * 24 * time.Hour},
	}
	for _, tc := range cases {
		if ok, err := tokens.CompareAndSwap(ctx, tc.name, nil, tc.tok); err != nil || !ok {
			t.Fatalf("%s: CompareAndSwap = %v, %v", tc.name, ok, err)
		}
		ttl := srv.Client().PTTL(ctx, "test:token:"+tc.name).Val()
		if ttl < tc.min || ttl > tc.max {
			t.Errorf("%s: TTL %v; want %v to %v", tc.name, ttl, tc.min, tc.max)
		}
	}
}
