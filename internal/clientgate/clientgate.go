// Package clientgate remembers that an upstream rejected the gateway's own
// OAuth client (a wrong id or secret, a missing grant), so that a
// misconfiguration costs one request per period instead of one per user.
// The providers' refresh clients and the Token Vault exchange share it.
package clientgate

import (
	"context"
	"sync"
	"time"
)

// DefaultPeriod is how long a rejected client is remembered when
// Gate.Period is zero.
const DefaultPeriod = time.Minute

// Gate admits the requests that authenticate with one OAuth client. While
// the client is not known to work (before the endpoint's first answer, and
// after a period ends) one request probes it and the others wait for its
// outcome; during a period every request gets the remembered error.
//
// Set the fields before first use; a Gate is then safe for concurrent use
// and must not be copied.
type Gate struct {
	// Period is how long a rejected client is remembered (zero means
	// DefaultPeriod).
	Period time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu       sync.Mutex
	verified bool          // the endpoint accepted the client last time
	badUntil time.Time     // end of the current period
	badErr   error         // what the period answers
	probe    chan struct{} // closed when the probing request settles
}

// Admit decides whether a request may go to the endpoint. bad is the
// remembered error while a period runs (the caller answers it, copied if
// it is shared); err is ctx's error when ctx ended while waiting for a
// probe. When probe is true the caller must call Settle.
func (g *Gate) Admit(ctx context.Context) (probe bool, bad error, err error) {
	for {
		g.mu.Lock()
		switch {
		case g.badErr != nil && g.now().Before(g.badUntil):
			e := g.badErr
			g.mu.Unlock()
			return false, e, nil
		case g.probe != nil:
			ch := g.probe
			g.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return false, nil, ctx.Err()
			}
		case g.verified:
			g.mu.Unlock()
			return false, nil, nil
		default:
			g.probe = make(chan struct{})
			g.mu.Unlock()
			return true, nil, nil
		}
	}
}

// Settle records a request's outcome. misconfigured non-nil (the endpoint
// rejected the client) starts a period answering it, and Settle reports
// started = true once per period, for the caller's one log line. Any other
// answer from the endpoint (answered) marks the client verified; a probe
// that got no answer (a transport failure) leaves it unverified, so the
// next request probes again.
func (g *Gate) Settle(probe, answered bool, misconfigured error) (started bool, period time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if probe && g.probe != nil {
		close(g.probe)
		g.probe = nil
	}
	switch {
	case misconfigured == nil:
		if answered {
			g.verified, g.badErr = true, nil
		}
		return false, 0
	case g.badErr != nil && g.now().Before(g.badUntil):
		return false, 0 // a concurrent request already started this period
	}
	period = g.Period
	if period <= 0 {
		period = DefaultPeriod
	}
	g.verified = false
	g.badErr, g.badUntil = misconfigured, g.now().Add(period)
	return true, period
}

// Status reports whether the client is verified and whether a probe is in
// flight (for tests and diagnostics).
func (g *Gate) Status() (verified, probing bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.verified, g.probe != nil
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}
