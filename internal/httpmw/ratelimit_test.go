package httpmw

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// fakeClock is an injected clock; safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// userKey reads the user from a test header, standing in for authn.UserID.
func userKey(r *http.Request) (string, bool) {
	u := r.Header.Get("X-Test-User")
	return u, u != ""
}

func TestRateLimitOptionsValidate(t *testing.T) {
	tests := []struct {
		o    RateLimitOptions
		want string
	}{
		{RateLimitOptions{RPS: 1, Burst: 1, Key: userKey}, ""},
		{RateLimitOptions{RPS: 0, Burst: 1, Key: userKey}, "RPS is 0"},
		{RateLimitOptions{RPS: 1, Burst: 0, Key: userKey}, "Burst is 0"},
		{RateLimitOptions{RPS: 1, Burst: 1}, "Key is nil"},
		{RateLimitOptions{RPS: 1, Burst: 1, Key: userKey, MaxKeys: -1}, "MaxKeys is -1"},
	}
	for _, tt := range tests {
		_, err := RateLimit(tt.o)
		if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("RateLimit(%+v) = %v; want %q", tt.o, err, tt.want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	mw, err := RateLimit(RateLimitOptions{RPS: 0.4, Burst: 2, Key: userKey, MaxKeys: 2, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, mw(ok))
	// Each step: advance the clock, send as user, expect status and Retry-After.
	steps := []struct {
		advance    time.Duration
		user       string
		wantStatus int
		wantRetry  string
	}{
		{0, "alice", 200, ""},
		{0, "alice", 200, ""},
		{0, "alice", 429, "3"}, // 1 token at 0.4/s: 2.5 s, rounded up
		{0, "alice", 429, "3"}, // the rejection consumed nothing
		{0, "", 200, ""},       // unauthenticated: not limited here
		{0, "bob", 200, ""},    // another key has its own bucket
		{2 * time.Second, "alice", 429, "1"},
		{500 * time.Millisecond, "alice", 200, ""},
		{0, "alice", 429, "3"},
		// MaxKeys 2: carol evicts bob (least recently used), not alice.
		{0, "carol", 200, ""},
		{0, "alice", 429, "3"},
		{0, "bob", 200, ""}, // a new, full bucket for bob
		{0, "bob", 200, ""},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		req, _ := http.NewRequest(http.MethodPost, url, nil)
		req.Header.Set("Accept", "application/graphql-response+json")
		if s.user != "" {
			req.Header.Set("X-Test-User", s.user)
		}
		resp, body := do(t, req)
		if resp.StatusCode != s.wantStatus || resp.Header.Get("Retry-After") != s.wantRetry {
			t.Fatalf("step %d (%s): status %d, Retry-After %q; want %d, %q", i, s.user, resp.StatusCode, resp.Header.Get("Retry-After"), s.wantStatus, s.wantRetry)
		}
		if s.wantStatus == 429 {
			msg, code := decodeError(t, body)
			if want := "too many requests; retry in " + s.wantRetry + " second"; !strings.HasPrefix(msg, want) || code != gqlresp.CodeRateLimited {
				t.Errorf("step %d: error %q, %q; want %q…, %q", i, msg, code, want, gqlresp.CodeRateLimited)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/graphql-response+json; charset=utf-8" {
				t.Errorf("step %d: Content-Type = %q; want application/graphql-response+json", i, ct)
			}
		}
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	mw, err := RateLimit(RateLimitOptions{RPS: 1, Burst: 10, Key: userKey, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	var passed atomic.Int64
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { passed.Add(1) }))
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Header.Set("X-Test-User", "alice")
			h.ServeHTTP(httptest.NewRecorder(), r)
		})
	}
	wg.Wait()
	if got := passed.Load(); got != 10 {
		t.Errorf("requests passed = %d; want the burst, 10", got)
	}
}

// TestRateLimitDecide: with Decide (the cluster's shared limit), its
// answer replaces the local buckets: the request passes, or gets 429 with
// Retry-After rounded up to whole seconds (at least 1) and the same body;
// unauthenticated requests are not asked about.
func TestRateLimitDecide(t *testing.T) {
	tests := []struct {
		name       string
		user       string
		allowed    bool
		wait       time.Duration
		wantStatus int
		wantRetry  string
		wantAsked  bool
	}{
		{"allowed", "alice", true, 0, 200, "", true},
		{"refused, 1.5s", "alice", false, 1500 * time.Millisecond, 429, "2", true},
		{"refused, under a second", "bob", false, 10 * time.Millisecond, 429, "1", true},
		{"unauthenticated", "", false, time.Hour, 200, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var asked string
			rejected := 0 // OnReject (the rate_limit_rejections_total metric) counts the shared limit's refusals too
			mw, err := RateLimit(RateLimitOptions{RPS: 1, Burst: 1, Key: userKey, OnReject: func() { rejected++ }, Decide: func(_ context.Context, key string) (bool, time.Duration) {
				asked = key
				return tt.allowed, tt.wait
			}})
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			if tt.user != "" {
				r.Header.Set("X-Test-User", tt.user)
			}
			mw(ok).ServeHTTP(rec, r)
			if rec.Code != tt.wantStatus || rec.Header().Get("Retry-After") != tt.wantRetry {
				t.Errorf("status %d, Retry-After %q; want %d, %q", rec.Code, rec.Header().Get("Retry-After"), tt.wantStatus, tt.wantRetry)
			}
			if (asked != "") != tt.wantAsked || (tt.wantAsked && asked != tt.user) {
				t.Errorf("Decide asked for %q; want asked %v for %q", asked, tt.wantAsked, tt.user)
			}
			if want := map[bool]int{true: 1}[tt.wantStatus == 429]; rejected != want {
				t.Errorf("OnReject called %d times; want %d", rejected, want)
			}
			if tt.wantStatus == 429 && !strings.Contains(rec.Body.String(), string(gqlresp.CodeRateLimited)) {
				t.Errorf("body %s lacks the code", rec.Body.String())
			}
		})
	}
}
