package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/loadtest"
)

// The worst documents the default limits accept, as in
// internal/guard/amplification_test.go (worstAccepted, typenames,
// worstConflicting). Each carries an operation name numbered per request,
// so none is served from the query cache: every one is lexed, parsed,
// checked and validated in full.
func hostileDocument(n int) string {
	switch n % 3 {
	case 0: // 199 fields under one response key (me included: 200)
		return fmt.Sprintf("query W%d { me { %s} }", n, strings.Repeat("id ", 199))
	case 1:
		return fmt.Sprintf("query W%d { me { %s} }", n, strings.Repeat("__typename ", 198))
	default: // 66 repos with different arguments: 2,145 conflicting pairs, fails validation
		var b strings.Builder
		fmt.Fprintf(&b, "query W%d { me { identities { ", n)
		for i := range 66 {
			fmt.Fprintf(&b, "repos(first: %d) { pageInfo { hasNextPage } } ", i)
		}
		b.WriteString("} } }")
		return b.String()
	}
}

// hostileReport is what one run of TestFaultLoadHostileUser observed.
type hostileReport struct {
	p50, p99, max                time.Duration
	samples, failed              int
	hostile                      map[int]int // status -> responses
	revoked                      map[int]int
	revokedReauth                int // revoked-account responses with IDP_REAUTH_REQUIRED
	hostileInvalid               int // hostile responses with GRAPHQL_VALIDATION_FAILED
	firstRejection               int // Management API calls of the revoked accounts' first rejections
	mgmtCalls                    int // Management API calls during the measured window
	serverErrors                 int // 5xx to anyone
	examples                     []string
	hostileSent, revokedRequests int
}

// TestFaultLoadHostileUser (issue 10, tests): five well-behaved users send
// the README's query (repos + calendar) at 8 req/s each, under the
// production per-user rate (USER_RPS 10, USER_BURST 40), with every
// emulator answering in 20 ms. The same run is repeated while a hostile
// user sends the worst documents the default limits accept at three times
// its allowed rate (the limiter, not the client, sets its pace; its 429s are
// expected) and eight accounts whose GitHub and Google tokens were revoked
// keep querying at their allowed rate. The well-behaved users' p99 with the
// hostile load must stay within 2× of the quiet run's, plus 20 ms: on a
// 2-core machine shared with other work, a quiet p99 of a few tens of ms
// moves by that much between two identical runs. No request may get a 5xx,
// no well-behaved request may fail, and the revoked accounts may cost no
// Management API call once each has been told IDP_REAUTH_REQUIRED.
// Long: it runs with IDPGATE_LONG_TESTS=1 (.ci/run sets it), without the
// race detector, which multiplies the CPU the worst documents take to check
// and so measures the detector: under -race the bound does not hold.
func TestFaultLoadHostileUser(t *testing.T) {
	longTest(t)
	if raceEnabled {
		t.Skip("measures latency bounds that the race detector's CPU cost breaks; .ci/run runs it without -race")
	}
	const (
		wellBehaved, revokedAccounts = 5, 8
		wellBehavedRPS               = 8 // under the default USER_RPS
		window                       = 4 * time.Second
		latency                      = 20 * time.Millisecond
		floor                        = 20 * time.Millisecond
	)
	defaults := config.Default()
	run := func(t *testing.T, hostile bool) hostileReport {
		e := newEnv(t, envOptions{loadUsers: wellBehaved + revokedAccounts + 1, env: map[string]string{
			"LOG_LEVEL": "warn",
			// The sandbox raises both for demos; this test runs at the
			// production defaults.
			"USER_RPS": fmt.Sprint(defaults.UserRPS), "USER_BURST": fmt.Sprint(defaults.UserBurst),
		}})
		e.sb.SetLatency(latency)
		good := e.sb.LoadUsers[:wellBehaved]
		revoked := e.sb.LoadUsers[wellBehaved : wellBehaved+revokedAccounts]
		mallory := e.sb.LoadUsers[wellBehaved+revokedAccounts]
		tokens := map[string]string{}
		for _, id := range e.sb.LoadUsers {
			tokens[id] = e.sb.Token(id)
		}
		transport := &http.Transport{MaxIdleConnsPerHost: 64}
		defer transport.CloseIdleConnections()
		client := &http.Client{Transport: transport, Timeout: 30 * time.Second}
		send := func(ctx context.Context, token, query string) (int, []string, time.Duration) {
			body, _ := json.Marshal(map[string]any{"query": query})
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url+"/graphql", bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+token)
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				return -1, []string{err.Error()}, time.Since(t0)
			}
			raw, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			d := time.Since(t0)
			if err != nil {
				return -1, []string{err.Error()}, d
			}
			e.record(resp.Header, raw)
			var r gqlResponse
			_ = json.Unmarshal(raw, &r)
			return resp.StatusCode, r.codes(), d
		}

		// Profiles cached; each revoked account has had its first rejection
		// (one re-read each) before the window.
		for _, id := range slices.Concat(good, revoked, []string{mallory}) {
			if st, _, _ := send(t.Context(), tokens[id], loadtest.Query); st != 200 {
				t.Fatalf("warm-up for %s: status %d", id, st)
			}
		}
		told := e.sb.Tenant.Calls()
		for _, id := range revoked {
			e.sb.GitHub.Revoke(e.sb.AccessToken(id, "github"))
			e.sb.Google.Revoke(e.sb.AccessToken(id, "google-oauth2"))
			if _, codes, _ := send(t.Context(), tokens[id], loadtest.Query); !slices.Contains(codes, gqlresp.CodeReauthRequired) {
				t.Fatalf("revoked account %s: codes %v; want %s", id, codes, gqlresp.CodeReauthRequired)
			}
		}

		rep := hostileReport{hostile: map[int]int{}, revoked: map[int]int{}}
		c := e.sb.Tenant.Calls()
		rep.firstRejection = c.Search + c.UserByID - told.Search - told.UserByID
		var mu sync.Mutex
		note := func(kind string, status int, codes []string) {
			if status >= 500 || status < 0 {
				rep.serverErrors++
				if len(rep.examples) < 5 {
					rep.examples = append(rep.examples, fmt.Sprintf("%s: status %d %v", kind, status, codes))
				}
			}
		}
		// paced calls f every interval until the window ends (a load
		// generator's pacing, not a wait for the code under test).
		paced := func(ctx context.Context, interval time.Duration, f func(n int)) {
			tick := time.NewTicker(interval)
			defer tick.Stop()
			for n := 0; ; n++ {
				f(n)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}
		before := e.sb.Tenant.Calls()
		ctx, cancel := context.WithTimeout(t.Context(), window)
		defer cancel()
		var wg sync.WaitGroup
		if hostile {
			wg.Go(func() {
				paced(ctx, time.Duration(float64(time.Second)/(3*defaults.UserRPS)), func(n int) {
					st, codes, _ := send(ctx, tokens[mallory], hostileDocument(n))
					if ctx.Err() != nil {
						return
					}
					mu.Lock()
					defer mu.Unlock()
					rep.hostileSent++
					rep.hostile[st]++
					if slices.Contains(codes, "GRAPHQL_VALIDATION_FAILED") {
						rep.hostileInvalid++
					}
					note("hostile", st, codes)
				})
			})
			for _, id := range revoked {
				wg.Go(func() {
					paced(ctx, time.Duration(float64(time.Second)/defaults.UserRPS), func(int) {
						st, codes, _ := send(ctx, tokens[id], loadtest.Query)
						if ctx.Err() != nil {
							return
						}
						mu.Lock()
						defer mu.Unlock()
						rep.revokedRequests++
						rep.revoked[st]++
						if slices.Contains(codes, gqlresp.CodeReauthRequired) {
							rep.revokedReauth++
						}
						note("revoked", st, codes)
					})
				})
			}
		}
		var lat []time.Duration
		for _, id := range good {
			wg.Go(func() {
				paced(ctx, time.Second/wellBehavedRPS, func(int) {
					// Its own context: a request in flight when the window
					// closes completes and is measured.
					st, codes, d := send(t.Context(), tokens[id], loadtest.Query)
					mu.Lock()
					defer mu.Unlock()
					lat = append(lat, d)
					note("well-behaved", st, codes)
					if st != 200 || len(codes) > 0 {
						rep.failed++
						if len(rep.examples) < 5 {
							rep.examples = append(rep.examples, fmt.Sprintf("well-behaved: status %d %v", st, codes))
						}
					}
				})
			})
		}
		wg.Wait()
		after := e.sb.Tenant.Calls()
		rep.mgmtCalls = after.Search + after.UserByID - before.Search - before.UserByID
		slices.Sort(lat)
		rep.samples = len(lat)
		rep.p50, rep.p99, rep.max = percentile(lat, 0.50), percentile(lat, 0.99), percentile(lat, 1)
		return rep
	}

	var quiet, loud hostileReport
	t.Run("quiet", func(t *testing.T) { quiet = run(t, false) })
	t.Run("hostile", func(t *testing.T) { loud = run(t, true) })
	ms := func(d time.Duration) time.Duration { return d.Round(100 * time.Microsecond) }
	t.Logf("well-behaved users (%d × %d req/s, emulators at %v): quiet p50 %v p99 %v max %v (%d requests); with the hostile load p50 %v p99 %v max %v (%d requests)",
		wellBehaved, wellBehavedRPS, latency, ms(quiet.p50), ms(quiet.p99), ms(quiet.max), quiet.samples, ms(loud.p50), ms(loud.p99), ms(loud.max), loud.samples)
	t.Logf("hostile user (worst accepted documents at 3× USER_RPS %v, burst %d): %d sent, %d accepted (%d of them failing validation), %d answered 429",
		defaults.UserRPS, defaults.UserBurst, loud.hostileSent, loud.hostileSent-loud.hostile[429], loud.hostileInvalid, loud.hostile[429])
	t.Logf("%d revoked accounts: %d requests (%d answered %s, %d answered 429); Management API calls in the window: %d (quiet run: %d), before it for their first rejections: %d",
		revokedAccounts, loud.revokedRequests, loud.revokedReauth, gqlresp.CodeReauthRequired, loud.revoked[429], loud.mgmtCalls, quiet.mgmtCalls, loud.firstRejection)

	for name, r := range map[string]hostileReport{"quiet": quiet, "hostile": loud} {
		if r.samples < 100 {
			t.Errorf("%s run: %d well-behaved requests; want at least 100 for a p99", name, r.samples)
		}
		if r.failed > 0 || r.serverErrors > 0 {
			t.Errorf("%s run: %d well-behaved requests failed, %d 5xx or transport errors: %v", name, r.failed, r.serverErrors, r.examples)
		}
		if r.mgmtCalls != 0 {
			t.Errorf("%s run: %d Management API calls in the window; want 0 (profiles cached, revoked accounts already told)", name, r.mgmtCalls)
		}
	}
	// The hostile load happened: the limiter answered the hostile user with
	// 429s after admitting its burst, and the revoked accounts were served.
	if loud.hostile[429] == 0 || loud.hostileSent-loud.hostile[429] < defaults.UserBurst {
		t.Errorf("hostile user: %v by status; want at least USER_BURST (%d) accepted and some 429s", loud.hostile, defaults.UserBurst)
	}
	if loud.revokedReauth == 0 {
		t.Errorf("revoked accounts: %v by status, none answered %s", loud.revoked, gqlresp.CodeReauthRequired)
	}
	if limit := 2*quiet.p99 + floor; loud.p99 > limit {
		t.Errorf("well-behaved p99 with the hostile load = %v; want at most 2× the quiet run's %v + %v = %v", loud.p99, quiet.p99, floor, limit)
	}
}
