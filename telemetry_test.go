package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/telemetry"
)

// scrape reads the metrics listener over HTTP and parses the exposition
// with Prometheus's text parser. With IDPGATE_SCRAPE_FILE set, the raw
// scrape is also written there (.ci/run hands it to promtool check metrics).
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.StatusCode)
	}
	var raw strings.Builder
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(teeReader{resp.Body, &raw})
	if err != nil {
		t.Fatalf("parsing the scrape: %v", err)
	}
	if f := os.Getenv("IDPGATE_SCRAPE_FILE"); f != "" {
		if err := os.WriteFile(f, []byte(raw.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(raw.String(), sandbox.SecretMarker) {
		t.Error("the scrape holds a seeded secret")
	}
	return fams
}

type teeReader struct {
	r interface{ Read([]byte) (int, error) }
	w *strings.Builder
}

func (t teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.w.Write(p[:n])
	return n, err
}

// value is the value of the series of family name whose labels include
// every pair of want (name=value); 0 when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) float64 {
	f, ok := fams[name]
	if !ok {
		return 0
	}
	sum := 0.0
	for _, m := range f.Metric {
		if !hasLabels(m, want) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.Label {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// newMetricsEnv is a gateway with metrics on and its metrics listener.
func newMetricsEnv(t *testing.T, env map[string]string) (*testEnv, string) {
	t.Helper()
	m := telemetry.NewMetrics()
	e := newEnv(t, envOptions{env: env, telemetry: telemetry.New(m, telemetry.Tracing{})})
	admin := httptest.NewServer(telemetry.AdminHandler(m, false))
	t.Cleanup(admin.Close)
	return e, admin.URL
}

// TestMetricsAfterAKnownSequence scrapes the metrics listener after one
// token refresh, one provider 429 and one breaker opening, and checks the
// counters those requests must have moved, by exactly how much.
func TestMetricsAfterAKnownSequence(t *testing.T) {
	t.Parallel()
	e, metricsURL := newMetricsEnv(t, nil)
	token := e.sb.Token(sandbox.Grace)
	post := func(want string) {
		t.Helper()
		r := e.post(context.Background(), token, bothQuery, window())
		if got := strings.Join(r.codes(), ","); got != want {
			t.Fatalf("response codes = %q; want %q: %s", got, want, r.Raw)
		}
	}

	// The first profile read is answered 429 once; the client waits for
	// X-RateLimit-Reset and reads again.
	e.sb.Tenant.RateLimitNext(1, 0)
	post("") // loads the profile: one batch, a cache miss
	post("") // from the cache

	// One refresh: Google's access token expires, the gateway refreshes it.
	e.sb.Google.ExpireAccessToken(e.sb.AccessToken(sandbox.Grace, "google-oauth2"))
	post("")
	if got := e.sb.Google.Refreshes(); got != 1 {
		t.Fatalf("Google refreshes = %d; want 1", got)
	}

	// One 429 from GitHub.
	e.sb.GitHub.RateLimitNext(1, 30*time.Second)
	post("UPSTREAM_RATE_LIMITED")

	// The breaker opens after 10 consecutive 500s; the 11th fails fast.
	e.sb.GitHub.FailNext(100, http.StatusInternalServerError)
	for range 10 {
		post("UPSTREAM_UNAVAILABLE")
	}
	post("UPSTREAM_UNAVAILABLE")

	// A request with a bad token.
	if r := e.post(context.Background(), "not-a-jwt", bothQuery, window()); r.Status != http.StatusUnauthorized {
		t.Fatalf("bad token = %d; want 401", r.Status)
	}

	fams := scrape(t, metricsURL)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"idpgate_http_requests_total", []string{"route", "/graphql", "code", "2xx"}, 15},
		{"idpgate_http_requests_total", []string{"route", "/graphql", "code", "4xx"}, 1},
		{"idpgate_http_request_duration_seconds", []string{"route", "/graphql"}, 16},
		{"idpgate_graphql_operations_total", []string{"operation", "anonymous", "type", "query", "outcome", "ok"}, 3},
		{"idpgate_graphql_operations_total", []string{"outcome", "partial"}, 12},
		{"idpgate_graphql_errors_total", []string{"code", "UPSTREAM_RATE_LIMITED"}, 1},
		{"idpgate_graphql_errors_total", []string{"code", "UPSTREAM_UNAVAILABLE"}, 11},
		{"idpgate_token_refreshes_total", []string{"provider", "google-oauth2", "outcome", "ok"}, 1},
		{"idpgate_token_refreshes_total", nil, 1},
		{"idpgate_upstream_requests_total", []string{"upstream", "github", "code", "2xx"}, 3},
		{"idpgate_upstream_requests_total", []string{"upstream", "github", "code", "4xx"}, 1},
		{"idpgate_upstream_requests_total", []string{"upstream", "github", "code", "5xx"}, 10},
		{"idpgate_upstream_requests_total", []string{"upstream", "github", "code", "circuit_open"}, 1},
		{"idpgate_upstream_circuit_state", []string{"upstream", "github"}, 2},
		{"idpgate_upstream_circuit_transitions_total", []string{"upstream", "github", "state", "open"}, 1},
		{"idpgate_upstream_circuit_state", []string{"upstream", "auth0"}, 0},
		{"idpgate_profile_cache_requests_total", []string{"level", "local", "result", "miss"}, 1},
		{"idpgate_profile_cache_requests_total", []string{"level", "local", "result", "hit"}, 14},
		{"idpgate_auth0_management_batch_size", nil, 1},
		{"idpgate_auth0_management_requests_total", []string{"kind", "token", "code", "2xx"}, 1},
		{"idpgate_auth0_management_requests_total", []string{"kind", "by_id", "code", "2xx"}, 1},
		{"idpgate_auth0_management_requests_total", []string{"kind", "by_id", "code", "4xx"}, 1},
		{"idpgate_auth0_management_rate_limited_total", []string{"kind", "by_id"}, 1},
		{"idpgate_upstream_retries_total", []string{"upstream", "auth0"}, 1},
		{"idpgate_upstream_requests_total", []string{"upstream", "auth0", "code", "4xx"}, 1},
		{"idpgate_jwt_rejections_total", []string{"reason", "malformed_token"}, 1},
	}
	for _, c := range checks {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
	// The emulator's X-RateLimit-Remaining after the read that succeeded.
	if got := value(fams, "idpgate_auth0_management_ratelimit_remaining"); got <= 0 {
		t.Errorf("idpgate_auth0_management_ratelimit_remaining = %v; want the last X-RateLimit-Remaining (> 0)", got)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("scrape lacks %s", name)
		}
	}
}

// TestMetricsSeriesStayBounded sends 1,000 requests with distinct hostile
// operation names, users and cursors and checks that the number of series
// stays bounded: no label takes a value per request.
func TestMetricsSeriesStayBounded(t *testing.T) {
	t.Parallel()
	// Limits high enough that every request reaches GraphQL.
	e, metricsURL := newMetricsEnv(t, map[string]string{"USER_RPS": "1e6", "USER_BURST": "100000", "UNAUTH_RPS": "1e6", "UNAUTH_BURST": "100000"})
	series := func() (int, map[string]*dto.MetricFamily) {
		fams := scrape(t, metricsURL)
		n := 0
		for name, f := range fams {
			if strings.HasPrefix(name, "idpgate_") {
				n += len(f.Metric)
			}
		}
		return n, fams
	}
	users := []string{sandbox.Ada, sandbox.Grace}
	for i := range 1000 {
		op := fmt.Sprintf("Op%d_%s", i, strings.Repeat("x", i%100))
		var token string
		switch i % 4 {
		case 0:
			token = e.sb.Token(users[i%2])
		case 1:
			token = fmt.Sprintf("hostile.%d.token", i) // a different bad token each time
		case 2:
			token = e.sb.Token(users[i%2])
			op = fmt.Sprintf("%s\"} evil{label=\"%d", op, i) // not a GraphQL name: a parse error
		case 3:
			token = e.sb.Token(users[i%2])
		}
		q := fmt.Sprintf(`query %s($after: String) { me { identities { repos(first: 1, after: $after) { nodes { name } } } } }`, op)
		r := e.post(context.Background(), token, q, map[string]any{"after": fmt.Sprintf("cursor-%d", i)})
		if r.Status == -1 {
			t.Fatalf("request %d failed", i)
		}
	}
	n, fams := series()
	// Every label set is bounded: at most 100 operation names plus "other".
	if f := fams["idpgate_graphql_operations_total"]; f != nil {
		names := map[string]bool{}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "operation" {
					names[l.GetValue()] = true
				}
			}
		}
		// A name becomes a label only once 3 distinct users sent it: two
		// users sending 1,000 names of their own admit none.
		for name := range names {
			if name != telemetry.Other && name != "anonymous" {
				t.Errorf("operation label %q admitted from fewer than 3 users", name)
			}
		}
		if !names[telemetry.Other] {
			t.Errorf("operation labels lack %q after 1,000 distinct names", telemetry.Other)
		}
	}
	t.Logf("idpgate series after 1,000 hostile requests: %d; operations %v; http %v", n, value(fams, "idpgate_graphql_operations_total"), value(fams, "idpgate_http_requests_total", "code", "4xx"))
	if n > 600 {
		t.Errorf("idpgate series after 1,000 hostile requests = %d; want at most 600", n)
	}
	// No label value holds a user id, a token or a cursor.
	for name, f := range fams {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				v := l.GetValue()
				for _, bad := range []string{"auth0|", "github|", "hostile.", "cursor-", "evil", "eyJ"} {
					if strings.Contains(v, bad) {
						t.Errorf("%s has label %s=%q", name, l.GetName(), v)
					}
				}
			}
		}
	}
}

// TestMetricsOfGuards: APQ misses and hits, a query-limit rejection and a
// per-user rate-limit rejection are counted.
func TestMetricsOfGuards(t *testing.T) {
	t.Parallel()
	e, metricsURL := newMetricsEnv(t, map[string]string{"MAX_DEPTH": "3", "USER_RPS": "0.001", "USER_BURST": "5"})
	token := e.sb.Token(sandbox.Grace)
	const query = `{ me { name } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	send := func(body map[string]any) *gqlResponse {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		return e.do(req)
	}
	apq := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	steps := []struct {
		body map[string]any
		want string
	}{
		{map[string]any{"extensions": apq}, "PERSISTED_QUERY_NOT_FOUND"},                                             // miss
		{map[string]any{"query": query, "extensions": apq}, ""},                                                      // registers
		{map[string]any{"extensions": apq}, ""},                                                                      // hit
		{map[string]any{"query": `{ me { identities { repos { nodes { name } } } } }`}, "GRAPHQL_VALIDATION_FAILED"}, // depth 5 > 3
		{map[string]any{"query": query}, ""},
		{map[string]any{"query": query}, "RATE_LIMITED"}, // the sixth within the burst of 5
	}
	for i, s := range steps {
		if got := strings.Join(send(s.body).codes(), ","); got != s.want {
			t.Fatalf("step %d codes = %q; want %q", i, got, s.want)
		}
	}
	fams := scrape(t, metricsURL)
	checks := []struct {
		name   string
		labels []string
		want   float64
	}{
		{"idpgate_apq_requests_total", []string{"result", "miss"}, 1},
		{"idpgate_apq_requests_total", []string{"result", "hit"}, 1},
		{"idpgate_graphql_limit_rejections_total", []string{"limit", "depth"}, 1},
		{"idpgate_graphql_errors_total", []string{"code", "PERSISTED_QUERY_NOT_FOUND"}, 1},
		{"idpgate_rate_limit_rejections_total", nil, 1},
		{"idpgate_http_requests_total", []string{"route", "/graphql", "code", "4xx"}, 1},
	}
	for _, c := range checks {
		if got := value(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v; want %v", c.name, c.labels, got, c.want)
		}
	}
}
