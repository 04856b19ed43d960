package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/telemetry"
)

// TestClusterRotationSurvivesRedisLoss: Redis dies after the warm-up and
// GitLab's access token expires during the outage. Each replica then
// refreshes alone: one wins the rotating exchange, the others present the
// refresh token it spent and must answer IDP_REAUTH_REQUIRED (unavoidable
// without a shared store). Once Redis is back the winner writes its pair
// there, and every replica serves it: none keeps failing.
func TestClusterRotationSurvivesRedisLoss(t *testing.T) {
	c := newCluster(t, 3, nil)
	c.sb.SetLatency(30 * time.Millisecond)
	token := c.sb.Token(sandbox.Ada)
	for _, r := range c.postSpread(3, token, rfReposQuery, nil) {
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("warm-up: %d %s", r.Status, r.Raw)
		}
	}
	c.redis.Kill()
	c.sb.GitLab.Advance(fakeGitLabLifetime)
	during := 0
	for _, n := range []int{30, 10} {
		for _, r := range c.postSpread(n, token, rfReposQuery, nil) {
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				during++
			}
		}
	}
	refreshes := c.sb.GitLab.Refreshes()
	t.Logf("Redis down: %d of 40 requests failed; GitLab refreshes %d; spent refresh tokens presented %d",
		during, refreshes, c.sb.GitLab.SpentRefreshTokenUses())

	c.redis.Restart()
	// Each replica finds Redis back by itself (no traffic needed), and
	// the winner's pair reaches Redis.
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok := keysLike(c, "idpgate:token:*") > 0
		for _, e := range c.replicas {
			if _, body := readyz(t, e); !strings.Contains(body, "shared state: redis ok") {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10s after Redis restarted: %d token pairs in Redis; replicas not all back", keysLike(c, "idpgate:token:*"))
		}
		<-tick.C
	}
	after := 0
	for _, r := range c.postSpread(9, token, rfReposQuery, nil) {
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			after++
			if after == 1 {
				t.Logf("first failure after recovery: %s", r.Raw)
			}
		}
	}
	if after > 0 {
		t.Errorf("after Redis is back, %d of 9 requests failed; want none", after)
	}
	if got := c.sb.GitLab.Refreshes() - refreshes; got != 0 {
		t.Errorf("GitLab refreshes after recovery = %d; want 0 (the shared pair is valid)", got)
	}
}

// TestClusterKeysNameTheDeployment: every key a gateway writes carries a
// hash of its Auth0 issuer and audience after the namespace, so another
// deployment sharing the Redis and REDIS_KEY_PREFIX reads none of them
// (internal/cluster's TestTenantsDoNotShare checks the reads).
func TestClusterKeysNameTheDeployment(t *testing.T) {
	c := newCluster(t, 1, nil)
	token := c.sb.Token(sandbox.Grace)
	if r := c.replicas[0].post(context.Background(), token, rfReposQuery, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("request: %d %s", r.Status, r.Raw)
	}
	cfg, err := config.FromEnv(config.MapEnv(c.sb.Env))
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256([]byte(cfg.Auth0Issuer + "\x00" + cfg.Auth0Audience))
	segment := hex.EncodeToString(h[:6]) + ":"
	keys := c.redis.Client().Keys(context.Background(), "idpgate:*").Val()
	if len(keys) == 0 {
		t.Fatal("no key in Redis")
	}
	for _, k := range keys {
		ns, rest, _ := strings.Cut(strings.TrimPrefix(k, "idpgate:"), ":")
		if ns == "lease" {
			_, rest, _ = strings.Cut(rest, ":")
		}
		if !strings.HasPrefix(rest, segment) && !strings.HasPrefix(k, "idpgate:lease:"+segment) {
			t.Errorf("key %q does not name the deployment (%s)", k, segment)
		}
	}
}

// TestClusterRedisMetrics: idpgate_redis_up follows Redis's state and
// idpgate_redis_failures_total counts the calls that fell back, by cause.
func TestClusterRedisMetrics(t *testing.T) {
	c := newCluster(t, 0, nil)
	cfg, err := config.FromEnv(config.MapEnv(c.sb.Env).Over(map[string]string{
		"REDIS_URL": c.redis.URL(), "REDIS_ENCRYPTION_KEY": c.key, "REDIS_TIMEOUT": "1s",
	}))
	if err != nil {
		t.Fatal(err)
	}
	m := telemetry.NewMetrics()
	gw, err := gateway.New(cfg, slog.New(slog.DiscardHandler), gateway.Options{Telemetry: telemetry.New(m, telemetry.Tracing{})})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.Close(); gw.Close() })
	e := &testEnv{t: t, sb: c.sb, gw: gw, srv: srv, url: srv.URL, log: &syncBuffer{}}
	token := c.sb.Token(sandbox.Grace)
	gather := func() map[string]*dto.MetricFamily {
		fams, err := m.Registry().Gather()
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*dto.MetricFamily{}
		for _, f := range fams {
			out[f.GetName()] = f
		}
		return out
	}
	if r := e.post(context.Background(), token, rfReposQuery, nil); r.Status != http.StatusOK {
		t.Fatalf("request: %d %s", r.Status, r.Raw)
	}
	if got := value(gather(), "idpgate_redis_up"); got != 1 {
		t.Errorf("redis_up with Redis = %v; want 1", got)
	}
	c.redis.Kill()
	for range 3 {
		e.post(context.Background(), token, rfReposQuery, nil)
	}
	fams := gather()
	if got := value(fams, "idpgate_redis_up"); got != 0 {
		t.Errorf("redis_up with Redis killed = %v; want 0", got)
	}
	if got := value(fams, "idpgate_redis_failures_total", "cause", "connection"); got < 1 {
		t.Errorf("redis_failures_total{cause=connection} = %v; want at least 1", got)
	}
	if got := value(fams, "idpgate_redis_failures_total", "cause", "unavailable"); got < 1 {
		t.Errorf("redis_failures_total{cause=unavailable} = %v; want at least 1 (fallbacks while lost)", got)
	}
	c.redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for value(gather(), "idpgate_redis_up") != 1 {
		if time.Now().After(deadline) {
			t.Fatal("redis_up still 0 10s after Redis restarted")
		}
		<-tick.C
	}
}
