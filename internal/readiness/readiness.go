// Package readiness serves /readyz from a cached answer, so that an
// unauthenticated caller cannot turn each probe into a request to an
// upstream (the JWKS, Auth0's token endpoint), and so that an upstream
// that asked the gateway to wait (Retry-After, X-RateLimit-Reset) is not
// asked again before then.
package readiness

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Check is one dependency: its name (shown in the 503 body), and a probe
// returning nil when ready, or an error and, when the upstream said so,
// the time before which it should not be asked again (zero: no hint).
type Check struct {
	Name  string
	Probe func(ctx context.Context) (notBefore time.Time, err error)
}

// Options configure Handler. Zero fields take the defaults.
type Options struct {
	// TTL is how long an answer is reused (0: 5s).
	TTL time.Duration
	// Timeout bounds one round of probes (0: 5s).
	Timeout time.Duration
	// Logger records failed probes (nil: slog.Default()).
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Status, when set, adds a line to every answer that does not decide
	// readiness (the shared state: a replica serves without Redis).
	Status func() string
}

// Handler answers 200 "ready" when every check passed, else 503 naming the
// first failing check, with Retry-After when an upstream gave a time. The
// answer is computed at most once per TTL (or until the upstream's time,
// if later), by one request while the others wait for it. It is safe for
// concurrent use.
func Handler(checks []Check, o Options) http.Handler {
	if o.TTL <= 0 {
		o.TTL = 5 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	h := &handler{checks: checks, o: o}
	return h
}

type handler struct {
	checks []Check
	o      Options

	mu      sync.Mutex // held while probing: one round at a time
	valid   time.Time  // the answer is reused until then
	failed  string     // name of the failing check; "" when ready
	retryAt time.Time
}

func (h *handler) answer(ctx context.Context) (failed string, retryAt time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.o.Now()
	if now.Before(h.valid) {
		return h.failed, h.retryAt
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.o.Timeout)
	defer cancel()
	h.failed, h.retryAt = "", time.Time{}
	for _, c := range h.checks {
		notBefore, err := c.Probe(ctx)
		if err == nil {
			continue
		}
		h.o.Logger.Warn("readyz: "+c.Name+" unavailable", "err", err)
		h.failed, h.retryAt = c.Name, notBefore
		break
	}
	h.valid = now.Add(h.o.TTL)
	if h.retryAt.After(h.valid) {
		h.valid = h.retryAt
	}
	return h.failed, h.retryAt
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	failed, retryAt := h.answer(r.Context())
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	status := ""
	if h.o.Status != nil {
		status = h.o.Status() + "\n"
	}
	if failed == "" {
		io.WriteString(w, "ready\n"+status)
		return
	}
	if wait := retryAt.Sub(h.o.Now()); wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
	}
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, failed+": unavailable\n"+status)
}
