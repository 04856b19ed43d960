package httpmw

import (
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
