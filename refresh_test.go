package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
	"github.com/idpgate/idpgate/internal/sandbox/fakegoogle"
)

// The end-to-end tests of issue 3's refresh and multi-provider behaviour:
// every request goes over real HTTP through the gateway to the sandbox's
// emulators. Where a test must see or hold what crosses the wire (the
// tokens a provider issues, the moment four providers are called), it puts
// a small reverse proxy of its own between the gateway and an emulator.

// rfAllQuery asks every identity for both capabilities; a field the
// identity's provider lacks is null without an error.
const rfAllQuery = `query($from: DateTime, $to: DateTime) {
  me { identities { id provider connection
    repos(first: 2) { nodes { name } }
    calendar(from: $from, to: $to, first: 2) { nodes { title } }
  } }
}`

const rfCalendarQuery = `query($from: DateTime, $to: DateTime) {
  me { identities { provider connection calendar(from: $from, to: $to, first: 2) { nodes { title } } } }
}`

const rfReposQuery = `{ me { identities { provider connection repos(first: 2) { nodes { name } } } } }`

// rfCapability names the field an identity of a seeded connection serves
// ("" for none).
func rfCapability(connection string) string {
	switch connection {
	case "github", "gitlab", "bitbucket":
		return "repos"
	case "google-oauth2", "windowslive", "waad":
		return "calendar"
	}
	return ""
}

type rfConnection struct {
	Nodes []json.RawMessage `json:"nodes"`
}

type rfIdentity struct {
	Provider   string        `json:"provider"`
	Connection string        `json:"connection"`
	Repos      *rfConnection `json:"repos"`
	Calendar   *rfConnection `json:"calendar"`
}

// field returns the identity's capability field (nil when it is null or
// was not asked for).
func (r rfIdentity) field() *rfConnection {
	if rfCapability(r.Connection) == "repos" {
		return r.Repos
	}
	return r.Calendar
}

func rfIdentities(t *testing.T, r *gqlResponse) []rfIdentity {
	t.Helper()
	var d struct {
		Me *struct {
			Identities []rfIdentity `json:"identities"`
		} `json:"me"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.Me == nil {
		t.Fatalf("data = %s (%v); want me", r.Raw, err)
	}
	return d.Me.Identities
}

// rfExpectResolved checks that every identity whose connection is in asked
// returned its field with at least one node, except the connections in
// failing, whose field is null with one error each (extensions.connection
// names it).
func rfExpectResolved(t *testing.T, r *gqlResponse, asked []string, failing ...string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status = %d (%s); want 200", r.Status, r.Raw)
	}
	var problems []string
	var errConns []string
	for _, e := range r.Errors {
		p, _ := e.Extensions["connection"].(string)
		errConns = append(errConns, p)
	}
	slices.Sort(errConns)
	want := slices.Sorted(slices.Values(failing))
	if !slices.Equal(errConns, want) {
		problems = append(problems, fmt.Sprintf("errors for %q; want errors for %q only", errConns, want))
	}
	seen := map[string]bool{}
	for _, idn := range rfIdentities(t, r) {
		if !slices.Contains(asked, idn.Connection) {
			continue
		}
		seen[idn.Connection] = true
		f := idn.field()
		switch {
		case slices.Contains(failing, idn.Connection) && f != nil:
			problems = append(problems, fmt.Sprintf("%s %s has %d nodes; want null", idn.Connection, rfCapability(idn.Connection), len(f.Nodes)))
		case !slices.Contains(failing, idn.Connection) && (f == nil || len(f.Nodes) == 0):
			problems = append(problems, fmt.Sprintf("%s %s is null or empty; want nodes", idn.Connection, rfCapability(idn.Connection)))
		}
	}
	for _, p := range asked {
		if !seen[p] {
			problems = append(problems, "no "+p+" identity")
		}
	}
	if len(problems) > 0 {
		t.Errorf("%s\nin response %s", strings.Join(problems, "; "), r.Raw)
	}
}

// rfAdaRepos and rfAdaCalendars are Ada's identities with each capability.
func rfAdaRepos() []string     { return []string{"github", "gitlab", "bitbucket"} }
func rfAdaCalendars() []string { return []string{"google-oauth2", "windowslive"} }
func rfAdaAll() []string       { return append(rfAdaRepos(), rfAdaCalendars()...) }

// rfErrorFor returns the error whose extensions name connection.
func rfErrorFor(t *testing.T, r *gqlResponse, connection string) gqlError {
	t.Helper()
	for _, e := range r.Errors {
		if e.Extensions["connection"] == connection {
			return e
		}
	}
	t.Fatalf("no error for %s in %s", connection, r.Raw)
	return gqlError{}
}

// rfBurstEnv adds to env the setting of tests that send one user's
// requests in a concurrent burst (rfPostAll): they are about refreshing
// once, not about the per-user bound on provider calls in flight
// (USER_UPSTREAM_CONCURRENCY, 8), behind which a burst of 40 requests
// queues past UPSTREAM_TIMEOUT on a busy machine.
func rfBurstEnv(env map[string]string) map[string]string {
	out := map[string]string{"USER_UPSTREAM_CONCURRENCY": "1000"}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// rfPostAll sends n copies of a request at once (released together) and
// returns the responses in order.
func rfPostAll(e *testEnv, n int, token, query string, vars map[string]any) []*gqlResponse {
	out := make([]*gqlResponse, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = e.post(context.Background(), token, query, vars)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

// rfMgmtCalls is the number of Management API user reads the tenant served.
func rfMgmtCalls(sb *sandbox.Sandbox) int {
	c := sb.Tenant.Calls()
	return c.UserByID + c.Search
}

// TestRefreshExpiredGoogleToken: Ada's seeded Google token has expired;
// her calendar query refreshes it once at Google's token endpoint and
// succeeds, while her other identities resolve as usual.
func TestRefreshExpiredGoogleToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), rfAllQuery, window())
	rfExpectResolved(t, r, rfAdaAll())
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Errorf("Google token endpoint calls = %d; want 1", got)
	}
	// Nothing else is refreshed: the other tokens were accepted.
	if bb, ms := e.sb.Bitbucket.Refreshes(), e.sb.MSGraph.Refreshes(); bb != 0 || ms != 0 {
		t.Errorf("Bitbucket, Microsoft token endpoint calls = %d, %d; want 0, 0", bb, ms)
	}
}

// TestRefreshIsSharedByConcurrentRequests: 50 requests of Ada at once all
// meet the expired Google token, and exactly one refresh serves them all.
func TestRefreshIsSharedByConcurrentRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: rfBurstEnv(nil)})
	// Every emulator answers after 50ms, so the 50 requests overlap the
	// one refresh rather than arriving after it.
	e.sb.SetLatency(50 * time.Millisecond)
	const n = 50
	for i, r := range rfPostAll(e, n, e.sb.Token(sandbox.Ada), rfCalendarQuery, window()) {
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Errorf("request %d = %d %s; want success", i, r.Status, r.Raw)
			continue
		}
		rfExpectResolved(t, r, rfAdaCalendars())
	}
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Errorf("Google token endpoint calls for %d concurrent requests = %d; want 1", n, got)
	}
	if got := e.sb.Google.Calls(); got < n+1 {
		t.Errorf("Calendar API calls = %d; want at least %d (every request met the expired token or used the new one)", got, n+1)
	}
}

// rfTokenTap is a reverse proxy in front of a provider's OAuth token
// endpoint that records the tokens the provider issues: a test can then
// expire the access token the gateway holds right now, and check that no
// issued token reaches a response or a log. Safe for concurrent use.
type rfTokenTap struct {
	srv *httptest.Server

	mu       sync.Mutex
	upstream *url.URL // the emulator; set once it runs
	access   []string // issued access tokens, oldest first
	refresh  []string // issued refresh tokens
}

func rfNewTokenTap(t *testing.T) *rfTokenTap {
	tp := &rfTokenTap{}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			tp.mu.Lock()
			u := tp.upstream
			tp.mu.Unlock()
			pr.SetURL(u)
		},
		ModifyResponse: func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var tr struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}
			if json.Unmarshal(body, &tr) == nil && tr.AccessToken != "" {
				tp.mu.Lock()
				tp.access = append(tp.access, tr.AccessToken)
				if tr.RefreshToken != "" {
					tp.refresh = append(tp.refresh, tr.RefreshToken)
				}
				tp.mu.Unlock()
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
	tp.srv = httptest.NewServer(proxy)
	t.Cleanup(tp.srv.Close)
	return tp
}

func (tp *rfTokenTap) setUpstream(raw string) {
	u, err := url.Parse(raw)
	if err != nil {
		panic(err)
	}
	tp.mu.Lock()
	tp.upstream = u
	tp.mu.Unlock()
}

// issued returns how many access tokens were issued and the newest.
func (tp *rfTokenTap) issued() (int, string) {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	if len(tp.access) == 0 {
		return 0, ""
	}
	return len(tp.access), tp.access[len(tp.access)-1]
}

func (tp *rfTokenTap) all() []string {
	tp.mu.Lock()
	defer tp.mu.Unlock()
	return append(slices.Clone(tp.access), tp.refresh...)
}

// rfAssertNotSeen fails when one of secrets appears in a response or a log
// line of e (the harness only knows the seeded ones).
func rfAssertNotSeen(t *testing.T, e *testEnv, secrets []string) {
	t.Helper()
	e.mu.Lock()
	seen := strings.Join(e.responses, "\n")
	e.mu.Unlock()
	logs := e.log.String()
	for i, s := range secrets {
		if strings.Contains(seen, s) {
			t.Errorf("issued token %d appears in a response", i)
		}
		if strings.Contains(logs, s) {
			t.Errorf("issued token %d appears in the logs", i)
		}
	}
}

// TestRotatingRefreshTokenIsNeverReused: Bitbucket and Microsoft rotate
// the refresh token on every use. Over several rounds, the access token the
// gateway holds expires and a burst of concurrent requests meets it; each
// round must cost exactly one exchange, and the emulator must never see a
// refresh token that was already exchanged.
func TestRotatingRefreshTokenIsNeverReused(t *testing.T) {
	t.Parallel()
	type rotating interface {
		ExpireAccessToken(token string)
		Refreshes() int
		SpentRefreshTokenUses() int
	}
	cases := []struct {
		provider string
		tokenEnv string // where the gateway sends refreshes
		path     string // the token endpoint's path at the emulator
		query    string
		vars     map[string]any
		fake     func(*sandbox.Sandbox) (rotating, string)
	}{
		{"bitbucket", "BITBUCKET_TOKEN_URL", "/site/oauth2/access_token", rfReposQuery, nil,
			func(sb *sandbox.Sandbox) (rotating, string) { return sb.Bitbucket, sb.BitbucketURL }},
		{"windowslive", "MICROSOFT_TOKEN_URL", "/common/oauth2/v2.0/token", rfCalendarQuery, window(),
			func(sb *sandbox.Sandbox) (rotating, string) { return sb.MSGraph, sb.MSGraphURL }},
		{"gitlab", "GITLAB_TOKEN_URL", "/oauth/token", rfReposQuery, nil,
			func(sb *sandbox.Sandbox) (rotating, string) { return sb.GitLab, sb.GitLabURL }},
	}
	const rounds, burst = 3, 8
	for _, tc := range cases {
		t.Run(tc.provider, func(t *testing.T) {
			tap := rfNewTokenTap(t)
			e := newEnv(t, envOptions{env: rfBurstEnv(map[string]string{tc.tokenEnv: tap.srv.URL + tc.path})})
			fake, base := tc.fake(e.sb)
			tap.setUpstream(base)
			e.sb.SetLatency(20 * time.Millisecond) // the burst overlaps each refresh
			token := e.sb.Token(sandbox.Ada)

			current := e.sb.AccessToken(sandbox.Ada, tc.provider)
			for round := 1; round <= rounds; round++ {
				fake.ExpireAccessToken(current)
				for i, r := range rfPostAll(e, burst, token, tc.query, tc.vars) {
					if r.Status != http.StatusOK || slices.Contains(r.codes(), "IDP_REAUTH_REQUIRED") {
						t.Errorf("round %d request %d = %d %s; want success", round, i, r.Status, r.Raw)
					}
					for _, idn := range rfIdentities(t, r) {
						if idn.Provider == tc.provider && idn.field() == nil {
							t.Errorf("round %d request %d: %s %s is null: %s", round, i, tc.provider, rfCapability(tc.provider), r.Raw)
						}
					}
				}
				if got := fake.Refreshes(); got != round {
					t.Errorf("after round %d: token endpoint calls = %d; want %d (one per expiry)", round, got, round)
				}
				if got := fake.SpentRefreshTokenUses(); got != 0 {
					t.Fatalf("after round %d: exchanges of an already used refresh token = %d; want 0", round, got)
				}
				n, latest := tap.issued()
				if n != round {
					t.Fatalf("after round %d: access tokens issued = %d; want %d", round, n, round)
				}
				current = latest
			}
			rfAssertNotSeen(t, e, tap.all())
		})
	}
}

// TestInvalidGrantIsReauthRequired: when Google refuses the refresh token
// (the user revoked the grant), Ada's Google field fails with
// IDP_REAUTH_REQUIRED, her other identities still resolve, the message
// holds no token, and the dead refresh token is not sent again.
func TestInvalidGrantIsReauthRequired(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Google.Revoke(e.sb.AccessToken(sandbox.Ada, "google-oauth2"))
	token := e.sb.Token(sandbox.Ada)

	r := e.post(context.Background(), token, rfAllQuery, window())
	rfExpectResolved(t, r, rfAdaAll(), "google-oauth2")
	ge := rfErrorFor(t, r, "google-oauth2")
	if ge.Extensions["code"] != "IDP_REAUTH_REQUIRED" {
		t.Errorf("google error = %+v; want IDP_REAUTH_REQUIRED", ge)
	}
	for _, bad := range []string{sandbox.SecretMarker, "ya29", "Bearer", "invalid_grant", "Token has been expired or revoked"} {
		if strings.Contains(ge.Message, bad) {
			t.Errorf("google error message %q contains %q", ge.Message, bad)
		}
	}
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Errorf("Google token endpoint calls = %d; want 1", got)
	}

	// The refresh token is known to be dead: the next request is told to
	// sign in again without another exchange.
	r = e.post(context.Background(), token, rfAllQuery, window())
	rfExpectResolved(t, r, rfAdaAll(), "google-oauth2")
	if ge := rfErrorFor(t, r, "google-oauth2"); ge.Extensions["code"] != "IDP_REAUTH_REQUIRED" {
		t.Errorf("second google error = %+v; want IDP_REAUTH_REQUIRED", ge)
	}
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Errorf("Google token endpoint calls after the second request = %d; want still 1", got)
	}
}

// TestFailedRefreshIsNotCached: a token endpoint failure that is not
// invalid_grant is UPSTREAM_UNAVAILABLE, and the next request refreshes
// again and succeeds: neither the failure nor the refresh token's fate was
// remembered.
func TestFailedRefreshIsNotCached(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Google.FailNextRefresh(1, http.StatusInternalServerError)
	token := e.sb.Token(sandbox.Ada)

	r := e.post(context.Background(), token, rfCalendarQuery, window())
	rfExpectResolved(t, r, rfAdaCalendars(), "google-oauth2")
	if ge := rfErrorFor(t, r, "google-oauth2"); ge.Extensions["code"] != "UPSTREAM_UNAVAILABLE" {
		t.Errorf("google error = %+v; want UPSTREAM_UNAVAILABLE", ge)
	}
	r = e.post(context.Background(), token, rfCalendarQuery, window())
	rfExpectResolved(t, r, rfAdaCalendars())
	if got := e.sb.Google.Refreshes(); got != 2 {
		t.Errorf("Google token endpoint calls = %d; want 2 (the failure, then the retry)", got)
	}
}

// TestRefreshedTokenIsReused: after a refresh, Ada's next request sends the
// new token straight to Google: no Management API call, no refresh, and a
// single Calendar API call.
func TestRefreshedTokenIsReused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	r := e.post(context.Background(), token, rfCalendarQuery, window())
	rfExpectResolved(t, r, rfAdaCalendars())
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Fatalf("first request: Google token endpoint calls = %d; want 1", got)
	}

	mgmt, refreshes, calls := rfMgmtCalls(e.sb), e.sb.Google.Refreshes(), e.sb.Google.Calls()
	r = e.post(context.Background(), token, rfCalendarQuery, window())
	rfExpectResolved(t, r, rfAdaCalendars())
	if got := rfMgmtCalls(e.sb) - mgmt; got != 0 {
		t.Errorf("Management API calls for the second request = %d; want 0", got)
	}
	if got := e.sb.Google.Refreshes() - refreshes; got != 0 {
		t.Errorf("refreshes for the second request = %d; want 0", got)
	}
	if got := e.sb.Google.Calls() - calls; got != 1 {
		t.Errorf("Calendar API calls for the second request = %d; want 1 (the refreshed token, accepted at once)", got)
	}
}

// rfGate holds the API requests of its upstreams until every one of them
// has a request waiting at the same moment, then lets everything through.
// If the gateway called the upstreams one after another, each request
// would wait alone until the gateway gave up on it, and the gate would
// never open: opening proves that all of them were in flight at once,
// without timing anything. Safe for concurrent use.
type rfGate struct {
	want int
	open chan struct{}

	mu     sync.Mutex
	opened bool
	held   map[string]int // requests waiting, by upstream
	peak   int            // most upstreams seen waiting at once
}

func rfNewGate(want int) *rfGate {
	return &rfGate{want: want, open: make(chan struct{}), held: map[string]int{}}
}

// hold blocks r's request until the gate opens or the client gives up.
func (g *rfGate) hold(name string, r *http.Request) {
	g.mu.Lock()
	if g.opened {
		g.mu.Unlock()
		return
	}
	g.held[name]++
	g.peak = max(g.peak, len(g.held))
	if len(g.held) == g.want {
		g.opened = true
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-r.Context().Done():
		g.mu.Lock()
		if g.held[name]--; g.held[name] == 0 {
			delete(g.held, name)
		}
		g.mu.Unlock()
	}
}

func (g *rfGate) peakHeld() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peak
}

// rfGatedProxy forwards to the emulator at *upstream (set once it runs)
// after g lets the request through. It keeps the client's Host, so the
// emulators build their next links under the proxy.
func rfGatedProxy(t *testing.T, g *rfGate, name string, upstream *string, mu *sync.Mutex) *httptest.Server {
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		mu.Lock()
		u, _ := url.Parse(*upstream)
		mu.Unlock()
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hold(name, r)
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestFourIdentitiesResolveConcurrently: Ada's GitHub, GitLab, Google and
// Microsoft identities are resolved in one query with their provider calls
// in flight at the same time, so the query takes about as long as the
// slowest provider rather than the sum. The proof is a gate in front of
// the four APIs that opens only once all four have a request waiting.
func TestFourIdentitiesResolveConcurrently(t *testing.T) {
	t.Parallel()
	names := []string{"github", "gitlab", "google-oauth2", "windowslive"}
	g := rfNewGate(len(names))
	var mu sync.Mutex
	upstreams := make([]string, len(names))
	env := map[string]string{"UPSTREAM_TIMEOUT": "1s"} // bounds the wait when the gate never opens
	vars := []string{"GITHUB_API_URL", "GITLAB_API_URL", "GOOGLE_API_URL", "MSGRAPH_API_URL"}
	for i, name := range names {
		env[vars[i]] = rfGatedProxy(t, g, name, &upstreams[i], &mu).URL + "/"
	}
	e := newEnv(t, envOptions{env: env})
	mu.Lock()
	copy(upstreams, []string{e.sb.GitHubURL, e.sb.GitLabURL, e.sb.GoogleURL, e.sb.MSGraphURL})
	mu.Unlock()

	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), rfAllQuery, window())
	select {
	case <-g.open:
	default:
		t.Fatalf("most providers with a request in flight at once = %d; want all %d of %q", g.peakHeld(), len(names), names)
	}
	rfExpectResolved(t, r, rfAdaAll())
}

// TestForbiddenIsNotReauth: a token that lacks a scope yields FORBIDDEN
// with a message naming the missing permission, and is not refreshed (a
// new token would lack it too); a revoked grant yields
// IDP_REAUTH_REQUIRED. The user's other identities resolve either way.
func TestForbiddenIsNotReauth(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		user      string
		asked     []string
		break_    func(sb *sandbox.Sandbox, tok func(provider string) string)
		provider  string
		code      string
		msg       string // what the message must name
		refreshes func(sb *sandbox.Sandbox) int
		wantRefr  int
	}{
		{"google scope removed", sandbox.Grace, []string{"github", "google-oauth2"},
			func(sb *sandbox.Sandbox, tok func(string) string) {
				sb.Google.RemoveCalendarScope(tok("google-oauth2"))
			},
			"google-oauth2", "FORBIDDEN", "scope", func(sb *sandbox.Sandbox) int { return sb.Google.Refreshes() }, 0},
		{"google grant revoked", sandbox.Grace, []string{"github", "google-oauth2"},
			func(sb *sandbox.Sandbox, tok func(string) string) { sb.Google.Revoke(tok("google-oauth2")) },
			"google-oauth2", "IDP_REAUTH_REQUIRED", "Google", func(sb *sandbox.Sandbox) int { return sb.Google.Refreshes() }, 1},
		{"gitlab scope denied", sandbox.Ada, rfAdaAll(),
			func(sb *sandbox.Sandbox, tok func(string) string) { sb.GitLab.DenyScope(tok("gitlab")) },
			"gitlab", "FORBIDDEN", "scope", func(sb *sandbox.Sandbox) int { return 0 }, 0},
		{"bitbucket scope denied", sandbox.Ada, rfAdaAll(),
			func(sb *sandbox.Sandbox, tok func(string) string) { sb.Bitbucket.DenyScope(tok("bitbucket")) },
			"bitbucket", "FORBIDDEN", "scope", func(sb *sandbox.Sandbox) int { return sb.Bitbucket.Refreshes() }, 0},
		{"microsoft permission denied", sandbox.Ada, rfAdaAll(),
			func(sb *sandbox.Sandbox, tok func(string) string) { sb.MSGraph.DenyScope(tok("windowslive")) },
			"windowslive", "FORBIDDEN", "Calendars.Read", func(sb *sandbox.Sandbox) int { return sb.MSGraph.Refreshes() }, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			tc.break_(e.sb, func(p string) string { return e.sb.AccessToken(tc.user, p) })
			r := e.post(context.Background(), e.sb.Token(tc.user), rfAllQuery, window())
			rfExpectResolved(t, r, tc.asked, tc.provider)
			got := rfErrorFor(t, r, tc.provider)
			if got.Extensions["code"] != tc.code || !strings.Contains(got.Message, tc.msg) {
				t.Errorf("error = %q %v; want %s with a message naming %q", got.Message, got.Extensions, tc.code, tc.msg)
			}
			if n := tc.refreshes(e.sb); n != tc.wantRefr {
				t.Errorf("token endpoint calls = %d; want %d", n, tc.wantRefr)
			}
		})
	}
}

// TestProviderErrorsThroughTheGateway: each provider's failure reaches the
// client as its contract code (with retryAfter when the provider sent
// one) on that identity alone, while Ada's other identities resolve.
func TestProviderErrorsThroughTheGateway(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		break_     func(sb *sandbox.Sandbox)
		provider   string
		code       string
		retryAfter float64 // the extensions.retryAfter wanted; 0 leaves it unchecked
	}{
		{"gitlab 401", func(sb *sandbox.Sandbox) { sb.GitLab.Revoke(sb.AccessToken(sandbox.Ada, "gitlab")) }, "gitlab", "IDP_REAUTH_REQUIRED", 0},
		{"gitlab 429", func(sb *sandbox.Sandbox) { sb.GitLab.RateLimitNext(1, 15*time.Second) }, "gitlab", "UPSTREAM_RATE_LIMITED", 15},
		{"gitlab 500", func(sb *sandbox.Sandbox) { sb.GitLab.FailNext(1, http.StatusInternalServerError) }, "gitlab", "UPSTREAM_UNAVAILABLE", 0},
		{"microsoft 429", func(sb *sandbox.Sandbox) { sb.MSGraph.RateLimitNext(1, 20*time.Second) }, "windowslive", "UPSTREAM_RATE_LIMITED", 20},
		{"microsoft 503", func(sb *sandbox.Sandbox) { sb.MSGraph.FailNext(1, http.StatusServiceUnavailable) }, "windowslive", "UPSTREAM_UNAVAILABLE", 0},
		{"bitbucket 429", func(sb *sandbox.Sandbox) { sb.Bitbucket.RateLimitNext(1, 30*time.Second) }, "bitbucket", "UPSTREAM_RATE_LIMITED", 30},
		{"bitbucket malformed", func(sb *sandbox.Sandbox) { sb.Bitbucket.MalformedNext(1) }, "bitbucket", "UPSTREAM_UNAVAILABLE", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{})
			tc.break_(e.sb)
			r := e.post(context.Background(), e.sb.Token(sandbox.Ada), rfAllQuery, window())
			rfExpectResolved(t, r, rfAdaAll(), tc.provider)
			got := rfErrorFor(t, r, tc.provider)
			if got.Extensions["code"] != tc.code {
				t.Errorf("error = %q %v; want %s", got.Message, got.Extensions, tc.code)
			}
			if ra := got.Extensions["retryAfter"]; tc.retryAfter > 0 && ra != tc.retryAfter {
				t.Errorf("retryAfter = %v; want %v", ra, tc.retryAfter)
			}
			if strings.Contains(got.Message, sandbox.SecretMarker) {
				t.Errorf("message %q holds a token", got.Message)
			}
		})
	}
}

// TestStaleSearchTokenIsReadAgainByID: the user search index lags behind
// the tenant. A user whose GitHub token changed a moment ago is loaded in a
// batch with another user, so through search, with the old token, which
// GitHub now refuses; the gateway reads the user again by id, once, and the
// query succeeds with the new token.
//
// Which requests share a dataloader batch depends on when they arrive, so
// each attempt fires a few users at once and counts only when a stale
// token was in fact used (the loader's reload counter moved); a failing
// request fails the test whatever the batching was.
func TestStaleSearchTokenIsReadAgainByID(t *testing.T) {
	t.Parallel()
	const perAttempt, attempts = 4, 10
	e := newEnv(t, envOptions{loadUsers: perAttempt * attempts})
	// Warm the JWKS and M2M token caches, so the attempts' requests arrive
	// together.
	if r := e.post(context.Background(), e.sb.Token(sandbox.Linus), `{ me { id } }`, nil); len(r.Errors) > 0 {
		t.Fatalf("warm-up = %s", r.Raw)
	}
	// The token changes below stay out of the search index for the rest of
	// the test; the load users, indexed at once when the sandbox started,
	// stay visible to search.
	e.sb.Tenant.SetSearchIndexLag(time.Hour)

	for a := range attempts {
		users := e.sb.LoadUsers[a*perAttempt : (a+1)*perAttempt]
		for i, id := range users {
			old := e.sb.AccessToken(id, "github")
			fresh := fmt.Sprintf("%s-gho-rotated-%d-%d", sandbox.SecretMarker, a, i)
			e.sb.GitHub.AddUser(fresh, []fakegithub.Repo{{ID: int64(900000 + a*10 + i), Name: "moved", FullName: "load/moved", HTMLURL: "https://github.com/load/moved"}})
			e.sb.GitHub.Revoke(old)
			if !e.sb.Tenant.UpdateIdentity(id, "github", func(idn *fakeauth0.Identity) { idn.AccessToken = fresh }) {
				t.Fatalf("UpdateIdentity(%q) = false", id)
			}
		}
		before := e.sb.Tenant.Calls()
		out := make([]*gqlResponse, len(users))
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, id := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out[i] = e.post(context.Background(), e.sb.Token(id), rfReposQuery, nil)
			}()
		}
		close(start)
		wg.Wait()
		for i, r := range out {
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Fatalf("attempt %d user %d = %d %s; want success", a, i, r.Status, r.Raw)
			}
			for _, idn := range rfIdentities(t, r) {
				if idn.Provider == "github" && (idn.Repos == nil || len(idn.Repos.Nodes) != 1) {
					t.Fatalf("attempt %d user %d: github repos = %s; want the repository the new token reaches", a, i, r.Raw)
				}
			}
		}
		after := e.sb.Tenant.Calls()
		reloads := after.UserByID - before.UserByID
		if after.Search == before.Search || reloads == 0 {
			continue // nobody came through search this time: try again
		}
		if reloads > perAttempt {
			t.Errorf("reads by id = %d for %d users; want at most one each", reloads, perAttempt)
		}
		t.Logf("attempt %d: %d searches, %d of %d users read by id after GitHub refused the searched token", a, after.Search-before.Search, reloads, perAttempt)
		return
	}
	t.Fatalf("in %d attempts no user's profile came through user search; cannot check the re-read", attempts)
}

// TestSigningInAgainEndsReauthRequired: after IDP_REAUTH_REQUIRED the
// client does what the code asks and the user signs in with Google again,
// so Auth0 holds a new access and refresh token, and the client a new
// bearer token (a later iat). The next request with that bearer must use
// the new provider tokens, not the dead ones of the profile the gateway
// cached before, with the Management API budget (AUTH0_RELOAD_INTERVAL,
// AUTH0_RECONSENT_TTL) on at its defaults; requests with the old bearer
// still cost no Management API call.
func TestSigningInAgainEndsReauthRequired(t *testing.T) {
	t.Parallel()
	clock := &testClock{}
	e := newEnv(t, envOptions{clock: clock})
	mint := func() string {
		now := clock.Now()
		return e.sb.Tenant.Mint(fakeauth0.TokenSpec{Subject: sandbox.Grace, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(time.Hour), Scope: "openid profile email"})
	}
	mgmtCalls := func() int { c := e.sb.Tenant.Calls(); return c.UserByID + c.Search }
	oldBearer := mint()
	asked := []string{"github", "google-oauth2"}
	rfExpectResolved(t, e.post(context.Background(), oldBearer, rfAllQuery, window()), asked)

	e.sb.Google.Revoke(e.sb.AccessToken(sandbox.Grace, "google-oauth2"))
	expectReauth := func(step string) {
		t.Helper()
		r := e.post(context.Background(), oldBearer, rfAllQuery, window())
		rfExpectResolved(t, r, asked, "google-oauth2")
		if ge := rfErrorFor(t, r, "google-oauth2"); ge.Extensions["code"] != "IDP_REAUTH_REQUIRED" {
			t.Fatalf("%s: %+v; want IDP_REAUTH_REQUIRED", step, ge)
		}
	}
	expectReauth("after the revocation") // one re-read by id
	before := mgmtCalls()
	expectReauth("again with the same bearer")
	if got := mgmtCalls(); got != before {
		t.Errorf("Management API calls for a repeated rejection = %d; want 0", got-before)
	}

	// Grace signs in with Google again: Auth0 stores the new provider
	// tokens and issues her client a new bearer token, a second later
	// (iat has whole seconds).
	at, rt := sandbox.SecretMarker+"-ya29-grace-again", sandbox.SecretMarker+"-google-rt-grace-again"
	e.sb.Google.AddUser(at, rt, []fakegoogle.Event{{ID: "again001", Summary: "back again",
		Start: fakegoogle.EventDateTime{DateTime: fixedNow.Add(48 * time.Hour).Format(time.RFC3339)},
		End:   fakegoogle.EventDateTime{DateTime: fixedNow.Add(49 * time.Hour).Format(time.RFC3339)}}})
	e.sb.Tenant.UpdateIdentity(sandbox.Grace, "google-oauth2", func(idn *fakeauth0.Identity) {
		idn.AccessToken, idn.RefreshToken = at, rt
	})
	clock.Advance(time.Second)
	newBearer := mint()

	before = mgmtCalls()
	expectReauth("with the old bearer after signing in again")
	if got := mgmtCalls(); got != before {
		t.Errorf("Management API calls for the old bearer = %d; want 0", got-before)
	}

	before = mgmtCalls()
	r := e.post(context.Background(), newBearer, rfAllQuery, window())
	rfExpectResolved(t, r, asked)
	if got := mgmtCalls() - before; got != 1 {
		t.Errorf("Management API calls for the new bearer = %d; want 1 (a re-read by id)", got)
	}

	// The profile the gateway holds now has the new tokens, for either bearer.
	before = mgmtCalls()
	rfExpectResolved(t, e.post(context.Background(), oldBearer, rfAllQuery, window()), asked)
	rfExpectResolved(t, e.post(context.Background(), newBearer, rfAllQuery, window()), asked)
	if got := mgmtCalls(); got != before {
		t.Errorf("Management API calls after the re-read = %d; want 0", got-before)
	}
}

// TestRefreshedTokenRejectedEarlyWithSearchedProfile: the gateway holds a
// refreshed Google token that Google stops accepting before its expiry
// (revoked access token, clock skew) while the refresh token still works,
// and the user's cached profile came from user search. The gateway re-reads
// the profile by id, Auth0's token is stale too, and it must then refresh
// rather than retry the refreshed token Google has just refused.
func TestRefreshedTokenRejectedEarlyWithSearchedProfile(t *testing.T) {
	t.Parallel()
	tap := rfNewTokenTap(t)
	const others, attempts = 3, 10
	clock := &testClock{}
	e := newEnv(t, envOptions{loadUsers: others * attempts, clock: clock, env: map[string]string{"GOOGLE_TOKEN_URL": tap.srv.URL + "/token"}})
	tap.setUpstream(e.sb.GoogleURL)
	ada := e.sb.Token(sandbox.Ada)
	rfExpectResolved(t, e.post(context.Background(), ada, rfCalendarQuery, window()), rfAdaCalendars())

	for a := range attempts {
		// Ada's cached profile expires, and Google refuses the token the
		// gateway refreshed before.
		clock.Advance(profileMaxTTL)
		_, current := tap.issued()
		e.sb.Google.ExpireAccessToken(current)

		before := e.sb.Tenant.Calls()
		var adaResp *gqlResponse
		start := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1 + others)
		go func() {
			defer wg.Done()
			<-start
			adaResp = e.post(context.Background(), ada, rfCalendarQuery, window())
		}()
		for _, id := range e.sb.LoadUsers[a*others : (a+1)*others] {
			go func() { defer wg.Done(); <-start; e.post(context.Background(), e.sb.Token(id), `{ me { id } }`, nil) }()
		}
		close(start)
		wg.Wait()
		after := e.sb.Tenant.Calls()
		searched := after.Search > before.Search && after.UserByID > before.UserByID
		if !searched {
			// Ada was read by id: the plain refresh path, which must work.
			rfExpectResolved(t, adaResp, rfAdaCalendars())
			continue
		}
		rfExpectResolved(t, adaResp, rfAdaCalendars())
		return
	}
	t.Fatalf("in %d attempts Ada's profile never came through user search", attempts)
}
