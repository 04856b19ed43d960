package resilience

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idpgate/idpgate/internal/httpx"
)

// Defaults for the zero fields of a Policy.
const (
	DefaultMaxConcurrent   = 64
	DefaultRetries         = 2
	DefaultBaseBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff      = time.Second
	DefaultBreakerFailures = 10
	DefaultBreakerCooldown = 5 * time.Second
)

// drainLimit bounds how much of a discarded response is read so that its
// connection can be reused; a longer body is closed unread.
const drainLimit = 64 << 10

// ErrCircuitOpen is returned, wrapped with the upstream's name, when the
// breaker is open: the request failed fast without touching the network.
var ErrCircuitOpen = errors.New("circuit open")

// Policy configures a Transport. Its zero value (plus a Name) is the
// recommended setting; see the Default constants.
type Policy struct {
	// Name is the upstream's name ("github") for logs and errors.
	Name string
	// Timeout bounds each request through the transport, from waiting for
	// a slot through the retries and the redirects to the end of its
	// response body, as http.Client.Timeout would. Set it here rather than on the Client: a
	// Client's Timeout over a RoundTripper it does not know costs a
	// goroutine and a timer per request (net/http's legacy cancellation).
	// 0 means no bound beyond the request's context.
	Timeout time.Duration
	// MaxConcurrent caps the requests in flight to this upstream, from the
	// first byte sent until the response body is closed or read to the end.
	// Waiting for a slot honours the request's context; waiters are served
	// round robin per user (WithUser), not first come, first served. 0
	// means 64; negative means no cap.
	MaxConcurrent int
	// PerUser, when set, also bounds each user's calls in flight; share one
	// between the Transports of all providers. It is taken before a slot.
	PerUser *PerUser
	// User names the user on whose behalf a request's call runs (the
	// bearer token's sub), read from the request's context: slots are
	// served round robin per user, and PerUser counts each user's calls.
	// Nil, or "", puts a call in one anonymous queue, unbounded by PerUser.
	User func(context.Context) string
	// Retries is how many extra attempts an idempotent request (GET, HEAD,
	// OPTIONS, with no body or with GetBody) gets after a transport error
	// or a 502, 503 or 504. 0 means 2; negative means none. A 500 is not
	// retried: it is as often a deterministic failure of that request as a
	// transient one, and retrying it multiplies the load on an upstream that
	// is already failing. 429 and other 4xx are never retried here; the
	// caller sees them and their Retry-After.
	Retries int
	// BaseBackoff and MaxBackoff shape the wait before retry n (from 0):
	// a random duration in [0, min(MaxBackoff, BaseBackoff·2ⁿ)) ("full
	// jitter"). A 503's Retry-After of at most MaxBackoff replaces it; a
	// longer one ends the retries. A retry whose wait would outlast the
	// request's deadline is not attempted. 0 means 100ms and 1s.
	BaseBackoff, MaxBackoff time.Duration
	// BreakerFailures is how many consecutive failed attempts (transport
	// errors, timeouts, 5xx answers) open the circuit. Any answer below 500
	// (4xx included: the upstream is up) resets the count; a request the
	// caller cancelled counts for nothing. 0 means 10; negative disables the
	// breaker.
	BreakerFailures int
	// BreakerCooldown is how long the circuit stays open before one probe
	// request is let through: success closes it, failure re-opens it. 0 or
	// negative means 5s.
	BreakerCooldown time.Duration
	// Now is the breaker's clock; nil means time.Now. Context deadlines are
	// always compared with the real clock.
	Now func() time.Time
	// Rand returns the jitter factor in [0, 1); nil means math/rand/v2.
	Rand func() float64
	// Sleep waits d or until ctx is done; nil means a timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// Logger receives retries (debug) and breaker changes (warn, info);
	// nil discards them.
	Logger *slog.Logger
	// Observe receives what the transport does, for metrics; nil fields
	// observe nothing.
	Observe Observer
}

// Observer is the callbacks of a Transport's metrics. Each nil field is
// skipped.
type Observer struct {
	// Attempt follows each round trip of the base transport: the status,
	// or 0 for no answer, and the time until the response headers.
	Attempt func(status int, d time.Duration)
	// Retry is called before each repeat of a failed attempt.
	Retry func()
	// Rejected is called for a request the open breaker failed fast.
	Rejected func()
	// Breaker is called with the state entered ("closed", "open",
	// "half-open") on each change.
	Breaker func(state string)
}

// stats is a snapshot of a Transport's counters, for the package's tests
// (the metrics come through Policy.Observe).
type stats struct {
	Attempts    int64 // round trips handed to the base transport
	Retries     int64 // of those, repeats of an earlier attempt
	Rejected    int64 // requests failed fast by the open breaker
	InFlight    int   // slots held now
	MaxInFlight int   // the most slots ever held at once
	State       State // the breaker's state now
}

// Transport is an http.RoundTripper that adds a concurrency cap, retries
// and a circuit breaker to a base RoundTripper for one upstream. Create it
// with NewTransport; it is safe for concurrent use. Callers must close
// response bodies (as net/http requires anyway): an open body holds one of
// the MaxConcurrent slots.
type Transport struct {
	base    http.RoundTripper
	p       Policy
	slots   *fairSlots // nil: no cap
	breaker *breaker
	log     *slog.Logger

	attempts, retries, rejected atomic.Int64
	inFlight, maxInFlight       atomic.Int64
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport wraps base (nil means http.DefaultTransport) with p,
// filling p's zero fields with the defaults.
func NewTransport(base http.RoundTripper, p Policy) *Transport {
	if base == nil {
		base = http.DefaultTransport
	}
	if p.MaxConcurrent == 0 {
		p.MaxConcurrent = DefaultMaxConcurrent
	}
	if p.Retries == 0 {
		p.Retries = DefaultRetries
	}
	if p.BaseBackoff <= 0 {
		p.BaseBackoff = DefaultBaseBackoff
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = DefaultMaxBackoff
	}
	if p.BreakerFailures == 0 {
		p.BreakerFailures = DefaultBreakerFailures
	}
	if p.BreakerCooldown <= 0 {
		p.BreakerCooldown = DefaultBreakerCooldown
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Rand == nil {
		p.Rand = rand.Float64
	}
	if p.Sleep == nil {
		p.Sleep = httpx.Sleep
	}
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("upstream", p.Name)
	t := &Transport{base: base, p: p, log: log}
	if p.MaxConcurrent > 0 {
		t.slots = newFairSlots(p.MaxConcurrent)
	}
	t.breaker = &breaker{
		threshold: p.BreakerFailures,
		cooldown:  p.BreakerCooldown,
		now:       p.Now,
		onChange: func(from, to State, failures int) {
			level := slog.LevelInfo
			if to == Open {
				level = slog.LevelWarn
			}
			log.Log(context.Background(), level, "resilience: circuit "+to.String(), "from", from.String(), "consecutive_failures", failures)
			if p.Observe.Breaker != nil {
				p.Observe.Breaker(to.String())
			}
		},
	}
	return t
}

// stats returns a snapshot of t's counters and breaker state.
func (t *Transport) stats() stats {
	return stats{
		Attempts:    t.attempts.Load(),
		Retries:     t.retries.Load(),
		Rejected:    t.rejected.Load(),
		InFlight:    int(t.inFlight.Load()),
		MaxInFlight: int(t.maxInFlight.Load()),
		State:       t.breaker.snapshot(),
	}
}

// CloseIdleConnections forwards to the base transport, so that
// http.Client.CloseIdleConnections keeps working.
func (t *Transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// RoundTrip implements http.RoundTripper. Errors it makes itself name the
// upstream and the cause, never the URL or a header; errors of the base
// transport are returned as they are.
//
// Every request leaves with the product User-Agent (httpx.UserAgent): this
// is the one place all upstream traffic passes.
func (t *Transport) RoundTrip(req *http.Request) (resp *http.Response, err error) {
	req = httpx.WithUserAgent(req)
	if t.p.Timeout > 0 {
		ctx, cancel := context.WithTimeout(req.Context(), t.p.Timeout)
		if req.Response != nil && req.Response.Request != nil {
			// A redirect's next hop: http.Client calls RoundTrip once per
			// hop, and the bound is on the whole chain, as Client.Timeout's.
			if dl, ok := req.Response.Request.Context().Deadline(); ok {
				cancel()
				ctx, cancel = context.WithDeadline(req.Context(), dl)
			}
		}
		req = req.WithContext(ctx)
		defer func() {
			if err != nil || resp == nil || resp.Body == nil {
				cancel()
				return
			}
			// The deadline goes on bounding the body until it is closed or
			// read to its end.
			if rb, ok := resp.Body.(*releasingBody); ok {
				release := rb.release
				rb.release = func() { release(); cancel() }
			} else {
				resp.Body = &releasingBody{ReadCloser: resp.Body, release: cancel}
			}
		}()
	}
	return t.roundTrip(req)
}

func (t *Transport) roundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	retryable := t.p.Retries > 0 && idempotent(req.Method) &&
		(req.Body == nil || req.Body == http.NoBody || req.GetBody != nil)
	for attempt := 0; ; attempt++ {
		ok, probe := t.breaker.admit()
		if !ok {
			t.rejected.Add(1)
			t.observeRejected()
			closeBody(req, attempt)
			return nil, fmt.Errorf("resilience: %s: %w", t.p.Name, ErrCircuitOpen)
		}
		queued := time.Now()
		if err := t.acquire(ctx); err != nil {
			t.breaker.record(probe, neutral)
			closeBody(req, attempt)
			return nil, fmt.Errorf("resilience: %s: waiting for a connection slot: %w", t.p.Name, err)
		}
		r := req
		if attempt > 0 {
			var err error
			if r, err = rewind(req); err != nil {
				t.release(ctx)
				t.breaker.record(probe, neutral)
				return nil, fmt.Errorf("resilience: %s: %w", t.p.Name, err)
			}
		}
		t.attempts.Add(1)
		sent := time.Now()
		resp, err := t.base.RoundTrip(r)
		t.observeAttempt(resp, sent)
		o := judge(ctx, resp, err)
		if o == failure && err != nil && ctx.Err() != nil && sent.Sub(queued) > time.Since(sent) {
			// The deadline ran out mostly while queued for a place (a user
			// over their PerUser bound): that says nothing about the
			// upstream, and must not open the circuit for every user.
			o = neutral
		}
		t.breaker.record(probe, o)

		wait, retry := t.retryAfter(ctx, attempt, retryable, resp, err)
		if !retry {
			if err != nil || resp.StatusCode == http.StatusSwitchingProtocols {
				t.release(ctx)
				return resp, err
			}
			resp.Body = &releasingBody{ReadCloser: resp.Body, release: func() { t.release(ctx) }}
			return resp, nil
		}
		t.log.Debug("resilience: retrying", "method", req.Method, "attempt", attempt+1, "cause", cause(resp, err), "wait", wait)
		if resp != nil {
			drain(resp.Body)
		}
		t.release(ctx)
		if err := t.p.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("resilience: %s: waiting to retry: %w", t.p.Name, err)
		}
		t.retries.Add(1)
		if t.p.Observe.Retry != nil {
			t.p.Observe.Retry()
		}
	}
}

func (t *Transport) observeAttempt(resp *http.Response, start time.Time) {
	if t.p.Observe.Attempt == nil {
		return
	}
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	t.p.Observe.Attempt(status, time.Since(start))
}

func (t *Transport) observeRejected() {
	if t.p.Observe.Rejected != nil {
		t.p.Observe.Rejected()
	}
}

// retryAfter decides whether the result of attempt is retried, and after
// how long.
func (t *Transport) retryAfter(ctx context.Context, attempt int, retryable bool, resp *http.Response, err error) (time.Duration, bool) {
	if !retryable || attempt >= t.p.Retries || ctx.Err() != nil {
		return 0, false
	}
	if err == nil {
		switch resp.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		default:
			return 0, false
		}
	}
	wait := t.backoff(attempt)
	if resp != nil && resp.StatusCode == http.StatusServiceUnavailable {
		if ra, ok := httpx.ParseRetryAfter(resp.Header, t.p.Now()); ok {
			if ra > t.p.MaxBackoff {
				return 0, false // the upstream asks for longer than we wait
			}
			wait = ra
		}
	}
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return 0, false // the retry could not finish in time
	}
	if !t.breaker.wouldAdmit() {
		return 0, false // the circuit opened: keep this answer
	}
	return wait, true
}

// backoff is the full-jitter wait before retry attempt+1.
func (t *Transport) backoff(attempt int) time.Duration {
	return httpx.Backoff{Base: t.p.BaseBackoff, Max: t.p.MaxBackoff, Rand: t.p.Rand}.Wait(attempt)
}

// acquire takes the user's place (PerUser) and a concurrency slot, or
// fails when ctx ends first.
func (t *Transport) acquire(ctx context.Context) error {
	user := t.userOf(ctx)
	if err := t.p.PerUser.acquire(ctx, user); err != nil {
		return err
	}
	if t.slots != nil {
		if err := t.slots.acquire(ctx, user); err != nil {
			t.p.PerUser.release(user)
			return err
		}
	}
	n := t.inFlight.Add(1)
	for {
		m := t.maxInFlight.Load()
		if n <= m || t.maxInFlight.CompareAndSwap(m, n) {
			return nil
		}
	}
}

func (t *Transport) release(ctx context.Context) {
	t.inFlight.Add(-1)
	if t.slots != nil {
		t.slots.release()
	}
	t.p.PerUser.release(t.userOf(ctx))
}

func (t *Transport) userOf(ctx context.Context) string {
	if t.p.User == nil {
		return ""
	}
	return t.p.User(ctx)
}

// judge says what an attempt's result tells about the upstream.
func judge(ctx context.Context, resp *http.Response, err error) outcome {
	switch {
	case err != nil && errors.Is(ctx.Err(), context.Canceled):
		return neutral // the caller gave up; the upstream may be fine
	case err != nil:
		return failure // including a deadline: the upstream was too slow
	case resp.StatusCode >= 500:
		return failure
	default:
		return success
	}
}

// cause describes a retried result for the log: a status or an error class,
// never the error's text (a base transport's error may quote a URL or a
// token endpoint's body).
func cause(resp *http.Response, err error) string {
	if err == nil {
		return strconv.Itoa(resp.StatusCode)
	}
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return "timeout"
	}
	return "transport error"
}

func idempotent(method string) bool {
	switch method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	}
	return false
}

// rewind returns a copy of req for another attempt, with a fresh body.
func rewind(req *http.Request) (*http.Request, error) {
	r := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return r, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, errors.New("rewinding the request body failed")
	}
	r.Body = body
	return r, nil
}

// closeBody closes the body of a request that fails before its first
// attempt, as the RoundTripper contract asks; after one, the base transport
// has closed it.
func closeBody(req *http.Request, attempt int) {
	if attempt == 0 && req.Body != nil {
		req.Body.Close()
	}
}

// drain reads a bounded part of a discarded body, so its connection can be
// reused, and closes it.
func drain(body io.ReadCloser) {
	io.Copy(io.Discard, io.LimitReader(body, drainLimit))
	body.Close()
}

// releasingBody gives the concurrency slot back when the body is closed or
// read to its end, whichever comes first.
type releasingBody struct {
	io.ReadCloser
	once    sync.Once
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.release)
	}
	return n, err
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}
