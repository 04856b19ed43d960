package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/sandbox"
)

// The tests of issue 9's phase 2: several gateway replicas (gateway.New,
// each with its own HTTP server, caches and clients), one real
// redis-server (redistest: skipped where it is not installed, a failure
// with IDPGATE_REQUIRE_REDIS=1) and one set of emulators, so that every
// upstream call the cluster makes is counted once.

// clusterEnv is one sandbox and one Redis shared by replicas.
type clusterEnv struct {
	t        *testing.T
	sb       *sandbox.Sandbox
	redis    *redistest.Server
	key      string // REDIS_ENCRYPTION_KEY of the replicas made by add
	replicas []*testEnv
}

func newKey(t *testing.T) string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// newCluster starts Redis, the sandbox and n replicas configured with
// env on top of the sandbox's settings.
func newCluster(t *testing.T, n int, env map[string]string) *clusterEnv {
	t.Helper()
	return newClusterOf(t, n, env, 0)
}

// newClusterOf is newCluster with loadUsers extra users in the sandbox.
func newClusterOf(t *testing.T, n int, env map[string]string, loadUsers int) *clusterEnv {
	t.Helper()
	rs := redistest.Start(t)
	sb, err := sandbox.Start(sandbox.Options{Now: func() time.Time { return fixedNow }, LoadUsers: loadUsers})
	if err != nil {
		t.Fatalf("sandbox.Start() error = %v", err)
	}
	t.Cleanup(sb.Close)
	c := &clusterEnv{t: t, sb: sb, redis: rs, key: newKey(t)}
	for range n {
		c.add(env)
	}
	return c
}

// add starts one more replica; env overrides the defaults (Redis URL and
// key included).
func (c *clusterEnv) add(env map[string]string) *testEnv {
	t := c.t
	t.Helper()
	vars := map[string]string{
		"UPSTREAM_TIMEOUT":     "2s",
		"LOG_LEVEL":            "debug",
		"REDIS_URL":            c.redis.URL(),
		"REDIS_ENCRYPTION_KEY": c.key,
		// Generous for -race on a shared machine: a call past it counts
		// as Redis lost (the replica then refreshes alone), which these
		// tests would read as a failure to share. Losing Redis is tested
		// with SIGKILL, which fails calls at once.
		"REDIS_TIMEOUT": "1s",
	}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.FromEnv(config.MapEnv(c.sb.Env).Over(vars))
	if err != nil {
		t.Fatalf("config.FromEnv() error = %v", err)
	}
	logs := &syncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gw, err := gateway.New(cfg, logger, gateway.Options{})
	if err != nil {
		t.Fatalf("gateway.New() error = %v", err)
	}
	srv := httptest.NewServer(gw.Handler())
	e := &testEnv{t: t, sb: c.sb, gw: gw, srv: srv, url: srv.URL, log: logs}
	t.Cleanup(func() {
		srv.Close()
		gw.Close()
		e.assertNoLeaks()
	})
	c.replicas = append(c.replicas, e)
	return e
}

// postSpread sends n requests at once, request i to replica i mod len.
func (c *clusterEnv) postSpread(n int, token, query string, vars map[string]any) []*gqlResponse {
	out := make([]*gqlResponse, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = c.replicas[i%len(c.replicas)].post(context.Background(), token, query, vars)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// assertSealed scans everything Redis holds (its RDB file) for the
// canaries: the seeded secrets, the tokens the emulators issued, the M2M
// JWT. It first checks that there is something to scan.
func (c *clusterEnv) assertSealed(extra ...string) {
	t := c.t
	t.Helper()
	dump := c.redis.Snapshot()
	keys := c.redis.Client().Keys(context.Background(), "idpgate:*").Val()
	if len(keys) == 0 {
		t.Fatal("Redis holds no idpgate key; nothing was shared")
	}
	canaries := append([]string{sandbox.SecretMarker, "fakegitlab-access-", "fakegitlab-refresh-",
		"fakebitbucket-access-", "fakebitbucket-refresh-", "ya29.fakegoogle-", "eyJhbGciOi"}, extra...)
	for _, s := range canaries {
		if s != "" && bytes.Contains(dump, []byte(s)) {
			t.Errorf("the Redis dump holds %q in clear", s)
		}
	}
}

func keysLike(c *clusterEnv, pattern string) int {
	return len(c.redis.Client().Keys(context.Background(), pattern).Val())
}

// TestClusterRefreshOncePerIdentity: with an expired token, 30 concurrent
// requests spread over three replicas, then 10 more, all resolve with
// exactly one call to the provider's token endpoint: for a provider that
// rotates refresh tokens (GitLab: the spent one is never presented
// again) and for one that does not (Google).
func TestClusterRefreshOncePerIdentity(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, nil)
	c.sb.SetLatency(30 * time.Millisecond) // the burst overlaps the refresh
	token := c.sb.Token(sandbox.Ada)

	t.Run("gitlab rotates", func(t *testing.T) {
		c.sb.GitLab.Advance(fakeGitLabLifetime)
		for _, n := range []int{30, 10} {
			for i, r := range c.postSpread(n, token, rfReposQuery, nil) {
				if r.Status != http.StatusOK || len(r.Errors) > 0 {
					t.Errorf("request %d of %d = %d %s; want success", i, n, r.Status, r.Raw)
					continue
				}
				rfExpectResolved(t, r, rfAdaRepos())
			}
		}
		if got := c.sb.GitLab.Refreshes(); got != 1 {
			t.Errorf("GitLab token endpoint calls = %d; want 1 for the cluster", got)
		}
		if got := c.sb.GitLab.SpentRefreshTokenUses(); got != 0 {
			t.Errorf("spent refresh tokens presented = %d; want 0", got)
		}
		if p := c.sb.GitLab.PresentedRefreshTokens(); len(p) != 1 {
			t.Errorf("refresh tokens presented = %d; want 1", len(p))
		}
	})
	t.Run("google does not rotate", func(t *testing.T) {
		for _, n := range []int{30, 10} {
			for i, r := range c.postSpread(n, token, rfCalendarQuery, window()) {
				if r.Status != http.StatusOK || len(r.Errors) > 0 {
					t.Errorf("request %d of %d = %d %s; want success", i, n, r.Status, r.Raw)
					continue
				}
				rfExpectResolved(t, r, rfAdaCalendars())
			}
		}
		if got := c.sb.Google.Refreshes(); got != 1 {
			t.Errorf("Google token endpoint calls = %d; want 1 for the cluster", got)
		}
	})
	if got := keysLike(c, "idpgate:token:*"); got < 2 {
		t.Errorf("token pairs in Redis = %d; want the GitLab and Google ones", got)
	}
	c.assertSealed(c.sb.GitLab.PresentedRefreshTokens()...)
}

// TestClusterSharesM2MTokenAndProfiles: the replicas fetch one M2M token
// for the cluster, and a profile replica A loaded costs replica B no
// Management API call.
func TestClusterSharesM2MTokenAndProfiles(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.replicas[0], c.replicas[1]
	token := c.sb.Token(sandbox.Grace)
	r := a.post(context.Background(), token, rfReposQuery, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("A: %d %s; want success", r.Status, r.Raw)
	}
	before := c.sb.Tenant.Calls()
	if before.Token != 1 || before.UserByID+before.Search == 0 {
		t.Fatalf("after A: token calls %d, user reads %d; want 1 and some", before.Token, before.UserByID+before.Search)
	}
	r = b.post(context.Background(), token, rfReposQuery, nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("B: %d %s; want success", r.Status, r.Raw)
	}
	after := c.sb.Tenant.Calls()
	if after.UserByID+after.Search != before.UserByID+before.Search {
		t.Errorf("B's Management API reads = %d; want 0 (A's profile is shared)", after.UserByID+after.Search-before.UserByID-before.Search)
	}
	// Another user on B: B needs the Management API, with the cluster's
	// M2M token.
	r = b.post(context.Background(), c.sb.Token(sandbox.Ada), rfReposQuery, nil)
	if r.Status != http.StatusOK {
		t.Fatalf("B, Ada: %d %s", r.Status, r.Raw)
	}
	if got := c.sb.Tenant.Calls(); got.Token != 1 || got.UserByID+got.Search == after.UserByID+after.Search {
		t.Errorf("token endpoint calls = %d (user reads %d → %d); want 1 M2M token for the cluster and a read for Ada", got.Token, after.UserByID+after.Search, got.UserByID+got.Search)
	}
	if keysLike(c, "idpgate:slot:*") != 1 || keysLike(c, "idpgate:profile:*") != 2 {
		t.Errorf("slot keys %d, profile keys %d; want 1 and 2", keysLike(c, "idpgate:slot:*"), keysLike(c, "idpgate:profile:*"))
	}
	c.assertSealed()
}

// TestClusterLimitsAndAPQ: the per-user limit holds for the cluster, not
// per replica; a persisted query registered on A is found on B, for its
// user only.
func TestClusterLimitsAndAPQ(t *testing.T) {
	t.Parallel()
	const burst = 6
	c := newCluster(t, 3, map[string]string{"USER_BURST": fmt.Sprint(burst), "USER_RPS": "0.01"})
	token := c.sb.Token(sandbox.Grace)
	query := `query Repos { me { identities { repos(first: 2) { nodes { name } } } } }`
	hash := sha256Hex(query)

	r := c.replicas[0].send(http.MethodPost, token, "application/json", persisted(hash, query), nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("register on A = %d %s", r.Status, r.Raw)
	}
	r = c.replicas[1].send(http.MethodPost, token, "application/json", persisted(hash, ""), nil)
	if r.Status != http.StatusOK || len(r.Errors) > 0 || !strings.Contains(string(r.Data), "grace-project") {
		t.Errorf("hash alone on B = %d %s; want the result", r.Status, r.Raw)
	}
	r = c.replicas[2].send(http.MethodPost, c.sb.Token(sandbox.Ada), "application/json", persisted(hash, ""), nil)
	if len(r.codes()) != 1 || r.codes()[0] != "PERSISTED_QUERY_NOT_FOUND" {
		t.Errorf("Grace's hash sent by Ada on C = %d %s; want PERSISTED_QUERY_NOT_FOUND", r.Status, r.Raw)
	}

	// Grace spent 2 of her burst above; 2×burst more, spread.
	passed, limited := 2, 0
	for i := range 2 * burst {
		r := c.replicas[i%3].post(context.Background(), token, `{ me { name } }`, nil)
		switch r.Status {
		case http.StatusOK:
			passed++
		case http.StatusTooManyRequests:
			limited++
			if r.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Errorf("request %d = %d %s", i, r.Status, r.Raw)
		}
	}
	if passed != burst || limited != 2*burst+2-burst {
		t.Errorf("passed %d, limited %d with USER_BURST=%d over 3 replicas; want %d passed", passed, limited, burst, burst)
	}
}

// TestClusterSurvivesRedisLoss: Redis is SIGKILLed while the replicas
// serve: no request fails or hangs; once Redis is back, the replicas
// share again without a restart.
func TestClusterSurvivesRedisLoss(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	token := c.sb.Token(sandbox.Grace)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	served := 0
	killed, enough := make(chan struct{}), make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
				r := c.replicas[(w+i)%2].post(rctx, token, rfReposQuery, nil)
				rcancel()
				mu.Lock()
				served++
				if r.Status != http.StatusOK || len(r.Errors) > 0 {
					bad = append(bad, fmt.Sprintf("%d %s", r.Status, r.Raw))
				}
				n := served
				mu.Unlock()
				switch n {
				case 40:
					close(killed)
				case 120:
					close(enough)
				}
			}
		}()
	}
	<-killed
	c.redis.Kill()
	<-enough // 80 more answers with Redis gone
	cancel()
	wg.Wait()
	if len(bad) > 0 {
		t.Errorf("%d of %d answers failed while Redis died, first: %s", len(bad), served, bad[0])
	}
	for i, e := range c.replicas {
		if got := strings.Count(e.log.String(), "redis unavailable"); got != 1 {
			t.Errorf("replica %d logged the loss %d times; want once", i, got)
		}
	}

	// /readyz stays ready and says why the replica serves alone.
	if status, body := readyz(t, c.replicas[0]); status != http.StatusOK || !strings.Contains(body, "shared state: redis unavailable") {
		t.Errorf("/readyz with Redis gone = %d %q; want 200 naming the lost Redis", status, body)
	}

	// Back: an APQ registration on A is found on B once A's probe (1s)
	// has found Redis again. Each attempt registers a new query.
	c.redis.Restart()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for attempt := 0; ; attempt++ {
		q := fmt.Sprintf(`query Attempt%d { me { name } }`, attempt)
		c.replicas[0].send(http.MethodPost, token, "application/json", persisted(sha256Hex(q), q), nil)
		r := c.replicas[1].send(http.MethodPost, token, "application/json", persisted(sha256Hex(q), ""), nil)
		if r.Status == http.StatusOK && len(r.Errors) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Redis restarted, a query registered on A is still unknown on B: %s", r.Raw)
		}
		<-tick.C
	}
	if status, body := readyz(t, c.replicas[0]); status != http.StatusOK || !strings.Contains(body, "shared state: redis ok") {
		t.Errorf("/readyz with Redis back = %d %q; want 200, redis ok", status, body)
	}
	for i, e := range c.replicas {
		if !strings.Contains(e.log.String(), "redis available again") {
			t.Errorf("replica %d did not log the recovery", i)
		}
	}
}

// TestClusterSealing: values a replica cannot open are misses, never
// errors: a profile sealed with a retired key still opens while that key
// is second in REDIS_ENCRYPTION_KEY; a replica with an unknown key, or
// reading garbage, reads Auth0 again and answers the same.
func TestClusterSealing(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 1, nil)
	token := c.sb.Token(sandbox.Grace)
	want := c.replicas[0].post(context.Background(), token, `{ me { name email } }`, nil)
	if want.Status != http.StatusOK || len(want.Errors) > 0 {
		t.Fatalf("A: %d %s", want.Status, want.Raw)
	}
	reads := func() int { n := c.sb.Tenant.Calls(); return n.UserByID + n.Search }
	cases := []struct {
		name      string
		key       string
		garbage   bool
		wantReads int
	}{
		{"rotated: new key first, old second", newKey(t) + "," + c.key, false, 0},
		{"unknown key", newKey(t), false, 1},
		{"garbage value", c.key, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.garbage {
				rc := c.redis.Client()
				for _, k := range rc.Keys(context.Background(), "idpgate:profile:*").Val() {
					rc.Set(context.Background(), k, "\x00garbage"+sandbox.Grace, time.Minute)
				}
			}
			e := c.add(map[string]string{"REDIS_ENCRYPTION_KEY": tc.key})
			before := reads()
			r := e.post(context.Background(), token, `{ me { name email } }`, nil)
			if r.Status != http.StatusOK || string(r.Data) != string(want.Data) {
				t.Errorf("answer = %d %s; want %s", r.Status, r.Raw, want.Raw)
			}
			if got := reads() - before; got != tc.wantReads {
				t.Errorf("Management API reads = %d; want %d", got, tc.wantReads)
			}
		})
	}
}

// TestClusterWarmRequestRoundTrips counts the Redis round trips of one
// request. Warm (profile, token pairs and M2M token in the replica's first
// levels): one, the per-user limit's script, which an exact cluster-wide
// limit cannot avoid. On a replica whose first levels are empty, the
// profile costs one pipelined round trip (GET and PTTL) and each identity
// the request resolves one GET of its token pair; no M2M token is needed,
// since the profile comes from Redis.
func TestClusterWarmRequestRoundTrips(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 2, nil)
	a, b := c.replicas[0], c.replicas[1]
	token := c.sb.Token(sandbox.Grace)
	for range 2 {
		if r := a.post(context.Background(), token, rfReposQuery, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("A: %d %s", r.Status, r.Raw)
		}
	}
	trips := func(e *testEnv, name string) int64 {
		before := e.gw.SharedStats().RoundTrips
		if r := e.post(context.Background(), token, rfReposQuery, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("%s: %d %s", name, r.Status, r.Raw)
		}
		n := e.gw.SharedStats().RoundTrips - before
		t.Logf("%s: %d Redis round trips", name, n)
		return n
	}
	if got := trips(a, "warm request"); got != 1 {
		t.Errorf("warm request: %d Redis round trips; want 1 (the rate limit)", got)
	}
	identities := len(rfIdentities(t, a.post(context.Background(), token, rfReposQuery, nil)))
	cold := trips(b, "first request on B")
	// Limit, profile (pipelined), one GET per identity at most.
	if max := int64(2 + identities); cold > max || cold < 2 {
		t.Errorf("first request on B: %d Redis round trips; want 2 to %d", cold, max)
	}
	if got := c.sb.Tenant.Calls().Token; got != 1 {
		t.Errorf("M2M tokens fetched = %d; want 1 (B needed none)", got)
	}
	if got := trips(b, "second request on B"); got != 1 {
		t.Errorf("second request on B: %d Redis round trips; want 1 (the rate limit)", got)
	}
}

func readyz(t *testing.T, e *testEnv) (int, string) {
	t.Helper()
	resp, err := http.Get(e.url + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestClusterM2MTokenReplacedOnce: the tenant revokes its signing keys,
// so the cluster's M2M token is refused (401). The replica that meets the
// refusal first drops it cluster-wide and fetches the next one; the other
// replica, refused too with its own copy, takes the shared new token
// instead of fetching a third.
func TestClusterM2MTokenReplacedOnce(t *testing.T) {
	t.Parallel()
	c := newClusterOf(t, 2, map[string]string{"JWKS_MIN_REFETCH_INTERVAL": "20ms"}, 4)
	a, b := c.replicas[0], c.replicas[1]
	users := c.sb.LoadUsers
	query := `{ me { id } }`
	for i, e := range []*testEnv{a, b} {
		if r := e.post(context.Background(), c.sb.Token(users[i]), query, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("before the revocation, replica %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if got := c.sb.Tenant.Calls().Token; got != 1 {
		t.Fatalf("M2M tokens before the revocation = %d; want 1", got)
	}
	c.sb.Tenant.RotateKeys()
	for i, e := range []*testEnv{a, b} {
		if r := e.post(context.Background(), c.sb.Token(users[2+i]), query, nil); r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("after the revocation, replica %d: %d %s", i, r.Status, r.Raw)
		}
	}
	if got := c.sb.Tenant.Calls().Token; got != 2 {
		t.Errorf("M2M tokens = %d; want 2 (one per signing key for the cluster)", got)
	}
	c.assertSealed()
}

// TestClusterTokenVaultOneExchange: a token Token Vault issued is shared
// through the cluster's Store like a refreshed pair: Hedy's requests
// spread over three replicas, first one at a time and then 30 at once,
// cost one exchange for the cluster, and the exchanged token is kept in
// Redis sealed.
func TestClusterTokenVaultOneExchange(t *testing.T) {
	t.Parallel()
	c := newCluster(t, 3, nil)
	bearer := c.sb.Token(sandbox.Hedy)
	for i, e := range c.replicas {
		r := e.post(context.Background(), bearer, vaultQuery, window())
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("replica %d: %d %s; want success", i, r.Status, r.Raw)
		}
	}
	for i, r := range c.postSpread(30, bearer, vaultQuery, window()) {
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("request %d of 30 = %d %s; want success", i, r.Status, r.Raw)
		}
	}
	if got := c.sb.Tenant.VaultExchanges(); got != 1 {
		t.Errorf("Token Vault exchanges = %d; want 1 for the cluster", got)
	}
	if got := c.sb.Google.Refreshes(); got != 0 {
		t.Errorf("Google refresh grants = %d; want 0", got)
	}
	c.assertSealed(bearer)
}
