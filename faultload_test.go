package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/sandbox"
)

var faultloadDuration = flag.Duration("faultload.duration", 5*time.Second, "how long TestFaultLoad's clients send requests")

// faultloadClients is the number of concurrent clients of TestFaultLoad.
const faultloadClients = 200

// tolerateJWKSFetchFailure accepts 401s for tokens of the newly published
// key when the gateway's JWKS refetch for it failed. It does with this
// test's UPSTREAM_TIMEOUT of 300ms on a loaded machine: newGateway gives
// authn the upstream *http.Client, whose Timeout (UPSTREAM_TIMEOUT) then
// bounds the JWKS fetch instead of authn's own 10s, and authn answers an
// unknown kid whose refetch failed with 401 until
// JWKS_MIN_REFETCH_INTERVAL has passed. Set it to false once authn reads
// the JWKS with a client of its own.
const tolerateJWKSFetchFailure = false

// designCodes are the extensions.code values of the public contract
// (DESIGN.md) that a field may fail with.
var designCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "IDP_REAUTH_REQUIRED": true,
	"UPSTREAM_RATE_LIMITED": true, "UPSTREAM_UNAVAILABLE": true, "BAD_USER_INPUT": true,
	"IDENTITY_LIMIT_EXCEEDED": true,
}

// faultBodies are phrases of the emulators' injected error bodies: a
// response repeating one echoes an upstream body.
var faultBodies = []string{
	"Internal error", "Global limit has been reached", "Server Error", "exceeded a secondary rate limit",
	"Backend Error", "Rate Limit Exceeded", "Retry later", "500 Internal Server Error",
	"Something went wrong", "Rate limit for this resource", "generalException", "Too many requests.",
	"server_error", "temporarily_unavailable",
}

// tokenSet is the bearer tokens of one signing-key generation.
type tokenSet struct {
	gen    int
	byUser map[string]string
}

// faultReport is what one run observed.
type faultReport struct {
	requests, successes, partial, revoked401 int
	lateSuccesses                            int // of users first seen after the revocation
	current401                               int // 401 for a token of a published key
	successByGen                             [3]int
	codes                                    map[string]int // error codes in 200 responses
	messages                                 map[string]int // their messages
	failures                                 map[string]int // what the test rejects, by kind
	examples                                 []string       // one line per failure kind
	latencies                                []time.Duration
	injected                                 sandbox.FaultCounts
	heapDuring, logBytes                     uint64
	elapsed                                  time.Duration
	authnRejections                          map[string]int // reason (from the log) -> count
	jwksFetches, m2mTokens                   int
}

func (r *faultReport) fail(kind, example string) {
	if r.failures[kind] == 0 {
		r.examples = append(r.examples, kind+": "+example)
	}
	r.failures[kind]++
}

func (r *faultReport) merge(o *faultReport) {
	r.requests += o.requests
	r.successes += o.successes
	r.partial += o.partial
	r.revoked401 += o.revoked401
	r.lateSuccesses += o.lateSuccesses
	r.current401 += o.current401
	for i := range r.successByGen {
		r.successByGen[i] += o.successByGen[i]
	}
	for k, v := range o.codes {
		r.codes[k] += v
	}
	for k, v := range o.messages {
		r.messages[k] += v
	}
	for k, v := range o.failures {
		if r.failures[k] == 0 {
			for _, ex := range o.examples {
				if strings.HasPrefix(ex, k+": ") {
					r.examples = append(r.examples, ex)
				}
			}
		}
		r.failures[k] += v
	}
	r.latencies = append(r.latencies, o.latencies...)
}

func newFaultReport() *faultReport {
	return &faultReport{codes: map[string]int{}, messages: map[string]int{}, failures: map[string]int{}}
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// TestFaultLoad runs 200 concurrent clients against the gateway while the
// emulators fail 5% of API calls with 500, 2% with 429 and hang 1% until
// the gateway gives up, and the Auth0 tenant rotates its signing key twice:
// after a quarter of the run it adds a key and signs with it (Auth0's
// "rotate": the previous key stays published), at half time it replaces
// every key (Auth0's "revoke": tokens signed before, the gateway's M2M
// token included, stop verifying). Clients switch to freshly minted tokens at
// each rotation. The gateway must answer no 5xx, fail only with the
// contract's codes, answer 401 only to tokens of a revoked key, leave no
// goroutine behind after shutdown, hold a bounded heap, and leak no seeded
// secret (checked per response here and in the logs by the harness).
// Long: it runs with IDPGATE_LONG_TESTS=1 (.ci/run sets it).
func TestFaultLoad(t *testing.T) {
	longTest(t)
	testFaultLoad(t, nil)
}

func testFaultLoad(t *testing.T, rs *redistest.Server) {
	runtime.GC()
	baseGoroutines := runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc

	var rep *faultReport
	t.Run("load", func(t *testing.T) { rep = runFaultLoad(t, *faultloadDuration, rs) })
	if rep == nil {
		return
	}

	// Everything is closed now (the subtest's cleanups ran): goroutines
	// must return to the baseline. Stragglers get a bounded grace period.
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(10 * time.Second); after > baseGoroutines+5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > baseGoroutines+5 {
		var buf bytes.Buffer
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("goroutines after shutdown = %d; want at most %d (baseline %d + 5):\n%.6000s", after, baseGoroutines+5, baseGoroutines, buf.String())
	}
	runtime.GC()
	runtime.ReadMemStats(&ms)
	heapAfter := ms.HeapAlloc
	// The heap returns to the baseline once the gateway is gone: nothing
	// it allocated is still referenced (a global cache, a leaked request).
	if heapAfter > baseHeap+32<<20 {
		t.Errorf("heap after shutdown = %d MiB; want at most the baseline %d MiB + 32 MiB", heapAfter>>20, baseHeap>>20)
	}

	sort.Slice(rep.latencies, func(i, j int) bool { return rep.latencies[i] < rep.latencies[j] })
	var codes []string
	for c, n := range rep.codes {
		codes = append(codes, fmt.Sprintf("%s=%d", c, n))
	}
	slices.Sort(codes)
	t.Logf("fault load: %d clients, %v, %d requests (%.0f/s): %d fully successful (%d of users first seen after the revocation), %d with field errors, %d 401 for revoked-key tokens",
		faultloadClients, rep.elapsed.Round(100*time.Millisecond), rep.requests, float64(rep.requests)/rep.elapsed.Seconds(), rep.successes, rep.lateSuccesses, rep.partial, rep.revoked401)
	t.Logf("successes by key generation: %v; error codes in 200 responses: %s", rep.successByGen, strings.Join(codes, " "))
	type count struct {
		msg string
		n   int
	}
	var msgs []count
	for m, n := range rep.messages {
		msgs = append(msgs, count{m, n})
	}
	sort.Slice(msgs, func(i, j int) bool {
		return msgs[i].n > msgs[j].n || msgs[i].n == msgs[j].n && msgs[i].msg < msgs[j].msg
	})
	for _, m := range msgs[:min(len(msgs), 12)] {
		t.Logf("  %5d× %s", m.n, m.msg)
	}
	t.Logf("latency p50 %v, p90 %v, p99 %v, max %v", percentile(rep.latencies, 0.50).Round(time.Millisecond),
		percentile(rep.latencies, 0.90).Round(time.Millisecond), percentile(rep.latencies, 0.99).Round(time.Millisecond),
		percentile(rep.latencies, 1).Round(time.Millisecond))
	t.Logf("injected: %d eligible upstream calls, %d 500s, %d 429s, %d hangs; %d JWKS fetches, %d M2M tokens",
		rep.injected.Eligible, rep.injected.ServerError, rep.injected.RateLimited, rep.injected.Hang, rep.jwksFetches, rep.m2mTokens)
	t.Logf("authentication rejections by reason (log): %v", rep.authnRejections)
	t.Logf("goroutines: %d before, %d after shutdown; heap after GC: %d MiB before, %d MiB at the end of the load (of which %d MiB of logs kept by the test), %d MiB after shutdown",
		baseGoroutines, after, baseHeap>>20, rep.heapDuring>>20, rep.logBytes>>20, heapAfter>>20)
}

func runFaultLoad(t *testing.T, duration time.Duration, rs *redistest.Server) *faultReport {
	env := map[string]string{
		"UPSTREAM_TIMEOUT":          "1s",
		"JWKS_MIN_REFETCH_INTERVAL": "20ms",
		// The 200 clients share 127.0.0.1, where a deployment sees as many
		// addresses: the per-address budget of 401s (connlimit) must not
		// turn the revoked-key tokens' 401s into 429s for everyone.
		"UNAUTH_BURST": "100000",
		// Four clients per user: a load generator, not one person. The
		// per-user bound on provider calls in flight (8) would make it
		// measure that queue instead of the faults.
		"USER_UPSTREAM_CONCURRENCY": "64",
	}
	if rs != nil {
		env["REDIS_URL"], env["REDIS_ENCRYPTION_KEY"] = rs.URL(), newKey(t)
	}
	e := newEnv(t, envOptions{loadUsers: 56, env: env})
	e.sb.GitHub.RateLimit = 1 << 30 // GitHub's hourly limit is not what this test is about
	// Late users first send requests after the revocation: their profiles
	// are read with a new M2M token, as the one cached was signed by a
	// revoked key.
	users := append([]string{sandbox.Ada, sandbox.Grace, sandbox.Linus}, e.sb.LoadUsers...)
	users, late := users[:53:53], users[53:]
	mint := func(gen int) *tokenSet {
		ts := &tokenSet{gen: gen, byUser: map[string]string{}}
		for _, u := range slices.Concat(users, late) {
			ts.byUser[u] = e.sb.Token(u)
		}
		return ts
	}
	var current atomic.Pointer[tokenSet]
	current.Store(mint(0))
	// Tokens of generations below revokedBelow were signed by a key the
	// tenant no longer publishes: only they may be answered 401.
	var revokedBelow atomic.Int32

	// As a load balancer would, wait for /readyz (JWKS and M2M token
	// obtained) before sending traffic.
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(e.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /readyz: not ready within 10s (%v)", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.sb.InjectFaults(sandbox.Faults{ServerError: 0.05, RateLimited: 0.02, Hang: 0.01, Seed: 20261201, MaxHang: 10 * time.Second})

	body := func(full bool) []byte {
		q := map[string]any{"query": `{ me { id name } }`}
		if full {
			q = map[string]any{
				"query": `query($from: DateTime, $to: DateTime) { me { id name identities { id provider
					repos(first: 5) { nodes { name } pageInfo { hasNextPage endCursor } }
					calendar(from: $from, to: $to, first: 5) { nodes { title start } } } } }`,
				"variables": window(),
			}
		}
		b, _ := json.Marshal(q)
		return b
	}
	full, cheap := body(true), body(false)

	transport := &http.Transport{MaxIdleConnsPerHost: faultloadClients, IdleConnTimeout: 30 * time.Second}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	// The run: a quarter of the duration with the first key, a quarter
	// with the added key, then half with the key that replaced both. A
	// phase starts once its tokens are minted (generating a key takes a
	// while on a loaded machine), so the run may last a little longer.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer cancel()
		phase := func(d time.Duration) bool {
			select {
			case <-time.After(d):
				return true
			case <-ctx.Done():
				return false
			}
		}
		if !phase(duration / 4) {
			return
		}
		e.sb.Tenant.AddKey()
		current.Store(mint(1))
		if !phase(duration / 4) {
			return
		}
		revokedBelow.Store(2)
		e.sb.Tenant.RotateKeys()
		current.Store(mint(2))
		if rs == nil {
			phase(duration / 2)
			return
		}
		// The Redis variant loses Redis (SIGKILL) for the third quarter
		// and gets it back, empty, for the last.
		if !phase(duration / 4) {
			return
		}
		rs.Kill()
		if !phase(duration / 8) {
			return
		}
		rs.Restart()
		phase(duration / 8)
	}()

	started := time.Now()
	reports := make([]*faultReport, faultloadClients)
	var wg sync.WaitGroup
	for i := range faultloadClients {
		rep := newFaultReport()
		reports[i] = rep
		wg.Go(func() {
			for n := 0; ctx.Err() == nil; n++ {
				ts := current.Load()
				user, isLate := users[i%len(users)], false
				if ts.gen == 2 && i%10 == 0 {
					user, isLate = late[i/10%len(late)], true
				}
				b := full
				if (i+n)%4 == 3 {
					b = cheap
				}
				req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(b))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+ts.byUser[user])
				start := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					rep.requests++
					rep.fail("transport error", err.Error())
					continue
				}
				raw, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				rep.latencies = append(rep.latencies, time.Since(start))
				rep.requests++
				if err != nil {
					rep.fail("reading the response", err.Error())
					continue
				}
				if classify(rep, resp, raw, ts.gen, int(revokedBelow.Load())) && isLate {
					rep.lateSuccesses++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(started)

	total := newFaultReport()
	for _, r := range reports {
		total.merge(r)
	}
	total.elapsed = elapsed
	total.injected = e.sb.FaultCounts()
	c := e.sb.Tenant.Calls()
	total.jwksFetches, total.m2mTokens = c.JWKS, c.Token
	e.sb.InjectFaults(sandbox.Faults{})
	transport.CloseIdleConnections()

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	total.heapDuring = ms.HeapAlloc
	logs := e.log.String()
	total.logBytes = uint64(len(logs))
	total.authnRejections = map[string]int{}
	for line := range strings.SplitSeq(logs, "\n") {
		if strings.Contains(line, `"msg":"authn: request rejected"`) {
			var l struct{ Reason string }
			_ = json.Unmarshal([]byte(line), &l)
			total.authnRejections[l.Reason]++
		}
	}

	if rs != nil {
		// Each change of Redis's state is logged once: a loss, then its
		// recovery. Under this load (200 clients on a shared machine) a
		// call may also pass REDIS_TIMEOUT (50ms) before the kill, which
		// is a loss too (a kill while Redis is already counted lost adds
		// none).
		lost, back := strings.Count(logs, "redis unavailable;"), strings.Count(logs, "redis available again;")
		if lost == 0 || lost-back < 0 || lost-back > 1 {
			t.Errorf("Redis state changes logged: %d losses, %d recoveries; want at least the kill, each change once", lost, back)
		}
		t.Logf("redis: %d losses logged (%d by timeout), %d recoveries", lost, strings.Count(logs, `"cause":"timeout"`), back)
	}
	if total.current401 > 0 {
		jwksFailed := strings.Contains(logs, `"msg":"authn: jwks fetch failed"`)
		if tolerateJWKSFetchFailure && jwksFailed {
			t.Logf("KNOWN BUG: %d requests with a token of a published key were answered 401 after the JWKS refetch for the new key failed (authn reads the JWKS with the UPSTREAM_TIMEOUT client; see tolerateJWKSFetchFailure)", total.current401)
		} else {
			t.Errorf("%d requests with a token of a published key were answered 401 (JWKS fetch failed: %v); want none", total.current401, jwksFailed)
		}
	}
	for _, ex := range total.examples {
		t.Errorf("%d× %.600s", total.failures[strings.SplitN(ex, ":", 2)[0]], ex)
	}
	// The run must have met every fault and still served: otherwise the
	// checks above prove nothing.
	inj := total.injected
	if inj.ServerError == 0 || inj.RateLimited == 0 || inj.Hang == 0 {
		t.Errorf("injected faults = %+v; want some of each kind", inj)
	}
	if total.codes["UPSTREAM_UNAVAILABLE"] == 0 || total.codes["UPSTREAM_RATE_LIMITED"] == 0 {
		t.Errorf("error codes = %v; want UPSTREAM_UNAVAILABLE and UPSTREAM_RATE_LIMITED among them", total.codes)
	}
	for gen, n := range total.successByGen {
		if n == 0 {
			t.Errorf("no successful request with a token of key generation %d (of 0, 1, 2)", gen)
		}
	}
	if total.lateSuccesses == 0 {
		t.Errorf("no successful request of a user first seen after the revocation (M2M tokens fetched: %d)", total.m2mTokens)
	}
	if total.successes < total.requests/10 {
		t.Errorf("fully successful requests = %d of %d; want at least a tenth", total.successes, total.requests)
	}
	// Heap at the end of the load, after GC, less the logs this test
	// keeps: the profile cache of 53 users, connection pools, gqlgen's
	// caches. Generous; a leak of one response per request would pass
	// 100 MiB within the default run.
	if live := total.heapDuring - min(total.heapDuring, total.logBytes); live > 100<<20 {
		t.Errorf("heap after GC at the end of the load = %d MiB (less %d MiB of logs); want under 100 MiB", live>>20, total.logBytes>>20)
	}
	return total
}

// classify checks one response, records it in rep and reports whether it
// was a complete success.
func classify(rep *faultReport, resp *http.Response, raw []byte, gen, revokedBelow int) bool {
	text := string(raw)
	for k, vs := range resp.Header {
		text += "\n" + k + ": " + strings.Join(vs, ",")
	}
	if strings.Contains(text, sandbox.SecretMarker) {
		rep.fail("seeded secret in a response", "")
		return false
	}
	for _, phrase := range faultBodies {
		if strings.Contains(string(raw), phrase) {
			rep.fail("upstream body echoed", fmt.Sprintf("%q in %s", phrase, raw))
			return false
		}
	}
	if resp.StatusCode >= 500 {
		rep.fail(fmt.Sprintf("HTTP %d", resp.StatusCode), string(raw))
		return false
	}
	var out gqlResponse
	if err := json.Unmarshal(raw, &out); err != nil {
		rep.fail("response is not JSON", fmt.Sprintf("%d %q", resp.StatusCode, raw))
		return false
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusUnauthorized:
		if gen < revokedBelow && strings.Join(out.codes(), ",") == "UNAUTHENTICATED" {
			rep.revoked401++
			return false
		}
		rep.current401++ // judged after the run, with the logs
		return false
	default:
		rep.fail(fmt.Sprintf("HTTP %d", resp.StatusCode), string(raw))
		return false
	}
	if len(out.Data) == 0 || string(out.Data) == "null" {
		if len(out.Errors) == 0 {
			rep.fail("200 without data or errors", string(raw))
			return false
		}
	}
	for _, e := range out.Errors {
		code, _ := e.Extensions["code"].(string)
		if !designCodes[code] || code == "UNAUTHENTICATED" {
			// Every load user exists: UNAUTHENTICATED in a 200 means the
			// profile read failed in a way the contract does not name.
			rep.fail("error code "+code, string(raw))
			return false
		}
		rep.codes[code]++
		rep.messages[code+" "+e.Message]++
	}
	if len(out.Errors) > 0 {
		rep.partial++
		return false
	}
	rep.successes++
	rep.successByGen[gen]++
	return true
}

// TestFaultLoadRedis is TestFaultLoad with the shared state on a real
// redis-server, which is SIGKILLed for a quarter of the run and comes back
// empty: the same guarantees hold (no 5xx, only the contract's codes, no
// leak, goroutines and heap back to the baseline). Long: it runs with
// IDPGATE_LONG_TESTS=1.
func TestFaultLoadRedis(t *testing.T) {
	longTest(t)
	testFaultLoad(t, redistest.Start(t))
}
