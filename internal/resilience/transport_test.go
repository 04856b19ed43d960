package resilience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/httpx"
)

// Distinctive strings that must never appear in an error or a log line.
const (
	pageToken   = "PAGETOKEN_resilience_q"
	bearerToken = "BEARER_resilience_h"
)

var epoch = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// clock is an injectable, manually advanced time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// sleeper records the waits a Transport asks for and returns at once.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.waits)
}

// backend answers hit n (from 0) with statuses[min(n, len-1)] and the body
// "hit n"; a 503 carries retryAfter when set.
type backend struct {
	hits atomic.Int32
	url  string
}

func newBackend(t *testing.T, statuses []int, retryAfter string) *backend {
	t.Helper()
	b := &backend{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(b.hits.Add(1)) - 1
		io.Copy(io.Discard, r.Body)
		code := statuses[min(n, len(statuses)-1)]
		if code == http.StatusServiceUnavailable && retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "hit %d", n)
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/base/items?page_token=" + pageToken
	return b
}

// policy is the test default: no real sleeping, fixed jitter, fake clock.
func policy(s *sleeper, c *clock) Policy {
	return Policy{Name: "github", Rand: func() float64 { return 0.5 }, Sleep: s.Sleep, Now: c.Now}
}

func do(t *testing.T, tr http.RoundTripper, ctx context.Context, method, url string, body io.Reader) (int, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+bearerToken)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestRetries(t *testing.T) {
	ms := time.Millisecond
	for _, tc := range []struct {
		name       string
		method     string
		statuses   []int
		retryAfter string
		tweak      func(*Policy)
		wantHits   int
		wantStatus int
		wantWaits  []time.Duration
	}{
		{"503 then ok", "GET", []int{503, 503, 200}, "", nil, 3, 200, []time.Duration{50 * ms, 100 * ms}},
		{"502 until out of retries", "GET", []int{502}, "", nil, 3, 502, []time.Duration{50 * ms, 100 * ms}},
		{"504 then ok", "GET", []int{504, 200}, "", nil, 2, 200, []time.Duration{50 * ms}},
		{"HEAD is retried", "HEAD", []int{503, 200}, "", nil, 2, 200, []time.Duration{50 * ms}},
		{"OPTIONS is retried", "OPTIONS", []int{503, 200}, "", nil, 2, 200, []time.Duration{50 * ms}},
		{"500 is not retried", "GET", []int{500, 200}, "", nil, 1, 500, nil},
		{"POST is never retried", "POST", []int{503, 200}, "", nil, 1, 503, nil},
		{"PUT is not retried", "PUT", []int{503, 200}, "", nil, 1, 503, nil},
		{"429 is not retried", "GET", []int{429, 200}, "", nil, 1, 429, nil},
		{"404 is not retried", "GET", []int{404, 200}, "", nil, 1, 404, nil},
		{"401 is not retried", "GET", []int{401, 200}, "", nil, 1, 401, nil},
		{"403 is not retried", "GET", []int{403, 200}, "", nil, 1, 403, nil},
		{"retries disabled", "GET", []int{503, 200}, "", func(p *Policy) { p.Retries = -1 }, 1, 503, nil},
		{"backoff doubles up to MaxBackoff", "GET", []int{503}, "", func(p *Policy) { p.Retries, p.BreakerFailures = 5, -1 }, 6, 503,
			[]time.Duration{50 * ms, 100 * ms, 200 * ms, 400 * ms, 500 * ms}},
		{"jitter can be zero", "GET", []int{503, 200}, "", func(p *Policy) { p.Rand = func() float64 { return 0 } }, 2, 200, []time.Duration{0}},
		{"Retry-After honoured", "GET", []int{503, 200}, "1", func(p *Policy) { p.MaxBackoff = 2 * time.Second }, 2, 200, []time.Duration{time.Second}},
		{"Retry-After date honoured", "GET", []int{503, 200}, epoch.Add(time.Second).Format(http.TimeFormat), nil, 2, 200, []time.Duration{time.Second}},
		{"Retry-After beyond MaxBackoff ends retries", "GET", []int{503, 200}, "120", nil, 1, 503, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newBackend(t, tc.statuses, tc.retryAfter)
			s, c := &sleeper{}, &clock{t: epoch}
			p := policy(s, c)
			if tc.tweak != nil {
				tc.tweak(&p)
			}
			tr := NewTransport(nil, p)
			var body io.Reader
			if tc.method == "POST" || tc.method == "PUT" {
				body = strings.NewReader("payload") // GetBody is set: only the method stops the retry
			}
			status, got, err := do(t, tr, context.Background(), tc.method, be.url, body)
			if err != nil {
				t.Fatalf("RoundTrip(%s) error: %v", tc.method, err)
			}
			if status != tc.wantStatus {
				t.Errorf("RoundTrip(%s) status = %d; want %d", tc.method, status, tc.wantStatus)
			}
			if want := fmt.Sprintf("hit %d", tc.wantHits-1); tc.method != "HEAD" && got != want {
				t.Errorf("RoundTrip(%s) body = %q; want the last answer %q", tc.method, got, want)
			}
			if n := int(be.hits.Load()); n != tc.wantHits {
				t.Errorf("backend hits = %d; want %d", n, tc.wantHits)
			}
			if w := s.Waits(); !slices.Equal(w, tc.wantWaits) {
				t.Errorf("waits = %v; want %v", w, tc.wantWaits)
			}
			st := tr.stats()
			if st.Attempts != int64(tc.wantHits) || st.Retries != int64(tc.wantHits-1) || st.InFlight != 0 {
				t.Errorf("stats() = %+v; want %d attempts, %d retries, 0 in flight", st, tc.wantHits, tc.wantHits-1)
			}
		})
	}
}

// hijacker drops the connection of the first n requests without answering.
func hijacker(t *testing.T, n int32) (*atomic.Int32, string) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) <= n {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			conn.Close()
			return
		}
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return &hits, srv.URL + "/?page_token=" + pageToken
}

func TestRetryTransportErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		drops    int32
		retries  int
		wantHits int32
		wantErr  bool
	}{
		{"recovers", 2, 0, 3, false},
		{"gives up", 5, 0, 3, true},
		{"no retries", 1, -1, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hits, url := hijacker(t, tc.drops)
			s, c := &sleeper{}, &clock{t: epoch}
			p := policy(s, c)
			p.Retries = tc.retries
			base := &http.Transport{} // no pooled connections shared with other tests
			defer base.CloseIdleConnections()
			tr := NewTransport(base, p)
			_, _, err := do(t, tr, context.Background(), "GET", url, nil)
			if (err != nil) != tc.wantErr {
				t.Errorf("RoundTrip() error = %v; want error %v", err, tc.wantErr)
			}
			if n := hits.Load(); n != tc.wantHits {
				t.Errorf("backend hits = %d; want %d", n, tc.wantHits)
			}
			if w := s.Waits(); len(w) != int(tc.wantHits)-1 {
				t.Errorf("waits = %v; want %d", w, tc.wantHits-1)
			}
		})
	}
}

func TestRetryRequestBodies(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(503)
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		body io.Reader
		want []string
	}{
		// strings.Reader gets a GetBody from http.NewRequest.
		{"rewindable body", strings.NewReader("query"), []string{"query", "query"}},
		// A plain io.Reader gets none, so it cannot be sent twice.
		{"one-shot body", io.MultiReader(strings.NewReader("query")), []string{"query"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			bodies = nil
			mu.Unlock()
			s, c := &sleeper{}, &clock{t: epoch}
			tr := NewTransport(nil, policy(s, c))
			do(t, tr, context.Background(), "GET", srv.URL, tc.body)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(bodies, tc.want) {
				t.Errorf("request bodies seen = %q; want %q", bodies, tc.want)
			}
		})
	}
}

// closeCounter wraps a real transport and counts response bodies opened
// and closed.
type closeCounter struct {
	base           http.RoundTripper
	opened, closed atomic.Int32
}

type countedBody struct {
	io.ReadCloser
	c *closeCounter
}

func (b countedBody) Close() error { b.c.closed.Add(1); return b.ReadCloser.Close() }

func (c *closeCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(r)
	if err == nil {
		c.opened.Add(1)
		resp.Body = countedBody{resp.Body, c}
	}
	return resp, err
}

func TestRetriedResponsesAreClosed(t *testing.T) {
	be := newBackend(t, []int{503, 502, 200}, "")
	cc := &closeCounter{base: http.DefaultTransport}
	s, c := &sleeper{}, &clock{t: epoch}
	tr := NewTransport(cc, policy(s, c))
	if status, _, err := do(t, tr, context.Background(), "GET", be.url, nil); err != nil || status != 200 {
		t.Fatalf("RoundTrip() = %d, %v; want 200", status, err)
	}
	if o, c := cc.opened.Load(), cc.closed.Load(); o != 3 || c != 3 {
		t.Errorf("bodies opened, closed = %d, %d; want 3, 3", o, c)
	}
}

func TestRetryStopsAtDeadline(t *testing.T) {
	be := newBackend(t, []int{503, 200}, "")
	s := &sleeper{}
	tr := NewTransport(nil, Policy{Name: "github", BaseBackoff: time.Minute, MaxBackoff: time.Minute, Rand: func() float64 { return 0.9 }, Sleep: s.Sleep})
	// The deadline is on the real clock, as contexts are; the 54s wait
	// cannot fit in 30s however slow the machine.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	status, _, err := do(t, tr, ctx, "GET", be.url, nil)
	if err != nil || status != 503 {
		t.Errorf("RoundTrip() = %d, %v; want the 503 without a retry", status, err)
	}
	if n := be.hits.Load(); n != 1 {
		t.Errorf("backend hits = %d; want 1", n)
	}
	if w := s.Waits(); len(w) != 0 {
		t.Errorf("waits = %v; want none", w)
	}
}

func TestRetryWaitCancelled(t *testing.T) {
	be := newBackend(t, []int{503, 200}, "")
	ctx, cancel := context.WithCancel(context.Background())
	p := policy(&sleeper{}, &clock{t: epoch})
	p.Sleep = func(ctx context.Context, d time.Duration) error { cancel(); return ctx.Err() }
	tr := NewTransport(nil, p)
	_, _, err := do(t, tr, ctx, "GET", be.url, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip() = %v; want context.Canceled", err)
	}
	if n := be.hits.Load(); n != 1 {
		t.Errorf("backend hits = %d; want 1", n)
	}
	if st := tr.stats(); st.InFlight != 0 || st.State != Closed {
		t.Errorf("stats() = %+v; want nothing in flight, closed", st)
	}
}

// blocker is a backend whose requests wait for release; arrived receives
// one value per request that reached it.
type blocker struct {
	url            string
	arrived        chan struct{}
	release        chan struct{}
	inFlight, peak atomic.Int32
	status         atomic.Int32
}

func newBlocker(t *testing.T) *blocker {
	t.Helper()
	b := &blocker{arrived: make(chan struct{}, 100), release: make(chan struct{}, 100)}
	b.status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := b.inFlight.Add(1)
		defer b.inFlight.Add(-1)
		for {
			p := b.peak.Load()
			if n <= p || b.peak.CompareAndSwap(p, n) {
				break
			}
		}
		b.arrived <- struct{}{}
		select {
		case <-b.release:
			w.WriteHeader(int(b.status.Load()))
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/?page_token=" + pageToken
	return b
}

func (b *blocker) waitArrival(t *testing.T) {
	t.Helper()
	select {
	case <-b.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no request reached the backend")
	}
}

func TestConcurrencyCap(t *testing.T) {
	b := newBlocker(t)
	p := policy(&sleeper{}, &clock{t: epoch})
	p.MaxConcurrent = 3
	tr := NewTransport(nil, p)
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 10 {
		wg.Go(func() {
			if status, _, err := do(t, tr, context.Background(), "GET", b.url, nil); err != nil || status != 200 {
				errs <- fmt.Errorf("RoundTrip() = %d, %v; want 200", status, err)
			}
		})
	}
	for range 3 {
		b.waitArrival(t)
	}
	// From here on, one finishes before the next may start.
	for range 7 {
		b.release <- struct{}{}
		b.waitArrival(t)
	}
	for range 3 {
		b.release <- struct{}{}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if peak := b.peak.Load(); peak != 3 {
		t.Errorf("backend saw at most %d requests at once; want 3", peak)
	}
	if st := tr.stats(); st.MaxInFlight != 3 || st.InFlight != 0 || st.Attempts != 10 {
		t.Errorf("stats() = %+v; want max in flight 3, none in flight, 10 attempts", st)
	}
}

func TestSlotHeldUntilBodyClosed(t *testing.T) {
	be := newBackend(t, []int{200}, "")
	p := policy(&sleeper{}, &clock{t: epoch})
	p.MaxConcurrent = 1
	tr := NewTransport(nil, p)
	req, _ := http.NewRequest("GET", be.url, nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	if n := tr.stats().InFlight; n != 1 {
		t.Errorf("InFlight with an open body = %d; want 1", n)
	}
	// The only slot is taken: a caller whose context ends waits no longer.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = do(t, tr, ctx, "GET", be.url, nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("RoundTrip(while full) = %v; want context.Canceled", err)
	}
	if strings.Contains(fmt.Sprint(err), pageToken) {
		t.Errorf("RoundTrip(while full) error %q contains the query", err)
	}
	if n := be.hits.Load(); n != 1 {
		t.Errorf("backend hits = %d; want 1", n)
	}
	resp.Body.Close()
	resp.Body.Close() // a second Close must not free a second slot
	if n := tr.stats().InFlight; n != 0 {
		t.Errorf("InFlight after Close = %d; want 0", n)
	}
	if status, _, err := do(t, tr, context.Background(), "GET", be.url, nil); err != nil || status != 200 {
		t.Errorf("RoundTrip(after Close) = %d, %v; want 200", status, err)
	}
}

// breakerBackend answers with its current status.
type breakerBackend struct {
	hits   atomic.Int32
	status atomic.Int32
	url    string
}

func newBreakerBackend(t *testing.T) *breakerBackend {
	t.Helper()
	b := &breakerBackend{}
	b.status.Store(503)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		w.WriteHeader(int(b.status.Load()))
	}))
	t.Cleanup(srv.Close)
	b.url = srv.URL + "/?page_token=" + pageToken
	return b
}

func TestBreaker(t *testing.T) {
	be := newBreakerBackend(t)
	c := &clock{t: epoch}
	p := policy(&sleeper{}, c)
	p.Retries, p.BreakerFailures, p.BreakerCooldown = -1, 3, 10*time.Second
	tr := NewTransport(nil, p)
	get := func() (int, error) {
		t.Helper()
		status, _, err := do(t, tr, context.Background(), "GET", be.url, nil)
		return status, err
	}
	wantOpen := func(step string) {
		t.Helper()
		before := be.hits.Load()
		_, err := get()
		if !errors.Is(err, ErrCircuitOpen) || !strings.Contains(err.Error(), "github") {
			t.Errorf("%s: RoundTrip() = %v; want ErrCircuitOpen naming the upstream", step, err)
		}
		if n := be.hits.Load(); n != before {
			t.Errorf("%s: backend hits went from %d to %d; want no request", step, before, n)
		}
	}
	wantState := func(step string, want State) {
		t.Helper()
		if got := tr.stats().State; got != want {
			t.Errorf("%s: State = %v; want %v", step, got, want)
		}
	}

	for i := range 3 {
		wantState(fmt.Sprintf("before failure %d", i+1), Closed)
		if status, err := get(); status != 503 || err != nil {
			t.Fatalf("RoundTrip() = %d, %v; want 503", status, err)
		}
	}
	wantState("after 3 failures", Open)
	wantOpen("open")
	wantOpen("open again")
	if n := tr.stats().Rejected; n != 2 {
		t.Errorf("Rejected = %d; want 2", n)
	}

	c.Advance(9 * time.Second)
	wantOpen("before the cooldown ends")
	c.Advance(time.Second)
	wantState("after the cooldown", HalfOpen)
	if status, err := get(); status != 503 || err != nil {
		t.Fatalf("probe RoundTrip() = %d, %v; want 503", status, err)
	}
	wantState("after a failed probe", Open)
	wantOpen("re-opened")

	c.Advance(10 * time.Second)
	be.status.Store(200)
	if status, err := get(); status != 200 || err != nil {
		t.Fatalf("probe RoundTrip() = %d, %v; want 200", status, err)
	}
	wantState("after a good probe", Closed)
	be.status.Store(503)
	for i := range 2 {
		if status, err := get(); status != 503 || err != nil {
			t.Fatalf("RoundTrip(%d) = %d, %v; want 503: the count restarted", i, status, err)
		}
	}
	wantState("after 2 new failures", Closed)
}

func TestBreakerHalfOpenLetsOneProbe(t *testing.T) {
	b := newBlocker(t)
	c := &clock{t: epoch}
	p := policy(&sleeper{}, c)
	p.Retries, p.BreakerFailures = -1, 1
	tr := NewTransport(nil, p)

	b.status.Store(500)
	b.release <- struct{}{}
	if status, _, err := do(t, tr, context.Background(), "GET", b.url, nil); status != 500 || err != nil {
		t.Fatalf("RoundTrip() = %d, %v; want 500", status, err)
	}
	b.waitArrival(t)
	if st := tr.stats().State; st != Open {
		t.Fatalf("State after a 500 = %v; want open", st)
	}
	c.Advance(DefaultBreakerCooldown)
	b.status.Store(200)
	done := make(chan error, 1)
	go func() {
		status, _, err := do(t, tr, context.Background(), "GET", b.url, nil)
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d", status)
		}
		done <- err
	}()
	b.waitArrival(t) // the probe is at the backend
	if _, _, err := do(t, tr, context.Background(), "GET", b.url, nil); !errors.Is(err, ErrCircuitOpen) {
		t.Errorf("RoundTrip(during the probe) = %v; want ErrCircuitOpen", err)
	}
	b.release <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("probe RoundTrip() = %v; want 200", err)
	}
	if st := tr.stats(); st.State != Closed || st.Attempts != 2 || st.Rejected != 1 {
		t.Errorf("stats() = %+v; want closed, 2 attempts, 1 rejected", st)
	}
}

func TestBreakerCountsOnlyUpstreamFailures(t *testing.T) {
	be := newBreakerBackend(t)
	p := policy(&sleeper{}, &clock{t: epoch})
	p.Retries, p.BreakerFailures = -1, 2
	tr := NewTransport(nil, p)
	// Every 5xx is followed by a 4xx, which proves the upstream is up.
	for _, status := range []int{503, 404, 500, 429, 502, 401, 504, 403, 503, 400} {
		be.status.Store(int32(status))
		if got, _, err := do(t, tr, context.Background(), "GET", be.url, nil); got != status || err != nil {
			t.Fatalf("RoundTrip() = %d, %v; want %d", got, err, status)
		}
	}
	if st := tr.stats().State; st != Closed {
		t.Errorf("State after alternating 5xx and 4xx = %v; want closed", st)
	}
	be.status.Store(500)
	for range 2 {
		do(t, tr, context.Background(), "GET", be.url, nil)
	}
	if st := tr.stats().State; st != Open {
		t.Errorf("State after 2 consecutive 500s = %v; want open", st)
	}
}

func TestBreakerIgnoresCancellation(t *testing.T) {
	b := newBlocker(t)
	p := policy(&sleeper{}, &clock{t: epoch})
	p.BreakerFailures = 1
	tr := NewTransport(nil, p)
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			// Cancel once the request is at the backend (or give up
			// waiting; the assertion below then fails).
			select {
			case <-b.arrived:
			case <-time.After(10 * time.Second):
			}
			cancel()
		}()
		if _, _, err := do(t, tr, ctx, "GET", b.url, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("RoundTrip(cancelled) = %v; want context.Canceled", err)
		}
		cancel()
	}
	if st := tr.stats(); st.State != Closed || st.Attempts != 3 {
		t.Errorf("stats() after 3 cancellations = %+v; want closed, 3 attempts (no retries)", st)
	}
	// A deadline that expires at the upstream is a timeout, and counts.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := do(t, tr, ctx, "GET", b.url, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("RoundTrip(timeout) = %v; want context.DeadlineExceeded", err)
	}
	if st := tr.stats().State; st != Open {
		t.Errorf("State after a timeout = %v; want open", st)
	}
}

func TestBreakerOpeningEndsRetries(t *testing.T) {
	be := newBreakerBackend(t)
	s := &sleeper{}
	p := policy(s, &clock{t: epoch})
	p.Retries, p.BreakerFailures = 5, 2
	tr := NewTransport(nil, p)
	status, _, err := do(t, tr, context.Background(), "GET", be.url, nil)
	if status != 503 || err != nil {
		t.Errorf("RoundTrip() = %d, %v; want the last 503 rather than ErrCircuitOpen", status, err)
	}
	if n := be.hits.Load(); n != 2 {
		t.Errorf("backend hits = %d; want 2", n)
	}
	if w := s.Waits(); len(w) != 1 {
		t.Errorf("waits = %v; want 1", w)
	}
}

func TestNothingLeaks(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	be := newBreakerBackend(t)
	p := policy(&sleeper{}, &clock{t: epoch})
	p.BreakerFailures, p.Logger = 2, log
	tr := NewTransport(nil, p)
	var errs []error
	for range 2 { // retries, opens the circuit
		do(t, tr, context.Background(), "GET", be.url, nil)
	}
	_, _, err := do(t, tr, context.Background(), "GET", be.url, nil)
	if !errors.Is(err, ErrCircuitOpen) {
		t.Fatalf("third RoundTrip() = %v; want ErrCircuitOpen", err)
	}
	errs = append(errs, err)
	// A slot wait that ends, and a retry wait that ends.
	p2 := policy(&sleeper{}, &clock{t: epoch})
	p2.Logger, p2.MaxConcurrent = log, 1
	p2.Sleep = func(context.Context, time.Duration) error { return context.Canceled }
	tr2 := NewTransport(nil, p2)
	be.status.Store(503)
	_, _, err = do(t, tr2, context.Background(), "GET", be.url, nil)
	errs = append(errs, err)
	req, _ := http.NewRequest("GET", be.url, nil)
	be.status.Store(200)
	held, err := tr2.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err = do(t, tr2, ctx, "GET", be.url, nil)
	errs = append(errs, err)
	held.Body.Close()

	for i, err := range errs {
		if err == nil {
			t.Errorf("case %d: RoundTrip() = nil; want an error", i)
			continue
		}
		if s := err.Error(); strings.Contains(s, pageToken) || strings.Contains(s, bearerToken) || strings.Contains(s, "page_token") {
			t.Errorf("case %d: error %q holds the query or a header", i, s)
		}
	}
	out := logs.String()
	if !strings.Contains(out, `"upstream":"github"`) || !strings.Contains(out, "circuit open") || !strings.Contains(out, "retrying") {
		t.Errorf("logs = %s; want retries and the circuit opening, named by upstream", out)
	}
	if strings.Contains(out, pageToken) || strings.Contains(out, bearerToken) || strings.Contains(out, "page_token") {
		t.Errorf("logs = %s; hold the query or a header", out)
	}
}

func TestDefaults(t *testing.T) {
	tr := NewTransport(nil, Policy{Name: "x"})
	p := tr.p
	if p.MaxConcurrent != 64 || p.Retries != 2 || p.BaseBackoff != 100*time.Millisecond || p.MaxBackoff != time.Second ||
		p.BreakerFailures != 10 || p.BreakerCooldown != 5*time.Second || tr.slots.cap != 64 {
		t.Errorf("NewTransport(zero Policy) = %+v; want the documented defaults", p)
	}
	if tr := NewTransport(nil, Policy{MaxConcurrent: -1, BreakerFailures: -1}); tr.slots != nil || tr.breaker.threshold > 0 {
		t.Errorf("NewTransport(negative) kept a cap or a breaker; want none")
	}
}

// TestUserAgent: every attempt, retries included, leaves with the product
// User-Agent, whatever the caller set; the caller's request is unchanged.
func TestUserAgent(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.UserAgent())
		n++
		first := n == 1
		mu.Unlock()
		if first {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	tr := NewTransport(srv.Client().Transport, Policy{Name: "ua", Sleep: func(context.Context, time.Duration) error { return nil }})
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("User-Agent", "curl/8")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != httpx.UserAgent() || seen[1] != httpx.UserAgent() {
		t.Errorf("upstream saw User-Agents %q; want %q twice", seen, httpx.UserAgent())
	}
	if req.Header.Get("User-Agent") != "curl/8" {
		t.Error("RoundTrip changed the caller's request")
	}
}

// TestTimeout: Policy.Timeout bounds the whole call as http.Client.Timeout
// would — the wait for the headers and the read of the body — and frees
// the slot when it ends; a call that finishes in time keeps its body
// readable to the end.
func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow-headers":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		case "/slow-body":
			w.Write([]byte("first part;"))
			w.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
			}
		default:
			w.Write([]byte("all of it"))
		}
	}))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		path     string
		wantErr  bool // from RoundTrip
		wantBody string
		readErr  bool // from reading the body
	}{
		{path: "/fast", wantBody: "all of it"},
		{path: "/slow-headers", wantErr: true},
		{path: "/slow-body", wantBody: "first part;", readErr: true},
	} {
		t.Run(tc.path, func(t *testing.T) {
			p := policy(&sleeper{}, &clock{t: epoch})
			p.Timeout, p.MaxConcurrent, p.Retries = 150*time.Millisecond, 1, -1
			tr := NewTransport(nil, p)
			// The caller's own deadline is far later: an error before it
			// comes from Policy.Timeout.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+tc.path, nil)
			resp, err := tr.RoundTrip(req)
			if tc.wantErr {
				if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
					t.Fatalf("RoundTrip(%s) = %v (caller's context: %v); want Policy.Timeout's deadline", tc.path, err, ctx.Err())
				}
			} else {
				if err != nil {
					t.Fatalf("RoundTrip(%s) = %v", tc.path, err)
				}
				body, err := io.ReadAll(resp.Body)
				if tc.readErr && ctx.Err() != nil {
					t.Errorf("reading %s ended with the caller's deadline; want Policy.Timeout's", tc.path)
				}
				if string(body) != tc.wantBody || (err != nil) != tc.readErr {
					t.Errorf("reading %s = %q, %v; want %q, error %v", tc.path, body, err, tc.wantBody, tc.readErr)
				}
				resp.Body.Close()
			}
			if n := tr.stats().InFlight; n != 0 {
				t.Errorf("InFlight after %s = %d; want 0", tc.path, n)
			}
		})
	}
}

// TestTimeoutCoversRedirects: http.Client calls RoundTrip once per
// redirect hop; Policy.Timeout bounds the whole chain, as
// http.Client.Timeout does, not each hop.
func TestTimeoutCoversRedirects(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // every hop takes 100 ms
		case <-time.After(100 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		if n := len(r.URL.Path); n < 8 {
			http.Redirect(w, r, r.URL.Path+"r", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	p := policy(&sleeper{}, &clock{t: epoch})
	p.Timeout, p.Retries = 250*time.Millisecond, -1
	hc := &http.Client{Transport: NewTransport(nil, p)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	resp, err := hc.Do(req) // 8 hops of 100 ms
	if err == nil {
		resp.Body.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		t.Fatalf("Do(8 hops of 100 ms, Timeout 250ms) = %v (caller's context: %v); want Policy.Timeout's deadline", err, ctx.Err())
	}
}
