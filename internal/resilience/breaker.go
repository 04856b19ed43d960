package resilience

import (
	"sync"
	"time"
)

// State is a circuit breaker's state.
type State int

const (
	// Closed: requests flow; consecutive failures are counted.
	Closed State = iota
	// Open: requests fail fast with ErrCircuitOpen until the cooldown ends.
	Open
	// HalfOpen: the cooldown has ended; one probe request may go through.
	HalfOpen
)

func (s State) String() string {
	switch s {
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	default:
		return "closed"
	}
}

// outcome is what one attempt says about the upstream's health.
type outcome int

const (
	success outcome = iota // an answer below 500: the upstream is up
	failure                // a transport error, a timeout or a 5xx
	neutral                // says nothing (the caller cancelled)
)

// breaker counts consecutive failures. Its zero value is not usable; the
// Transport builds it. It is safe for concurrent use.
type breaker struct {
	threshold int // <= 0 disables the breaker
	cooldown  time.Duration
	now       func() time.Time
	onChange  func(from, to State, failures int)

	mu       sync.Mutex
	state    State // Closed or Open; HalfOpen is derived from openedAt
	failures int
	openedAt time.Time
	probing  bool // a half-open probe is in flight
}

// admit reports whether a request may go out, and whether it is the
// half-open probe whose outcome decides the state.
func (b *breaker) admit() (ok, probe bool) {
	if b.threshold <= 0 {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Closed {
		return true, false
	}
	if b.probing || b.now().Sub(b.openedAt) < b.cooldown {
		return false, false
	}
	b.probing = true
	return true, true
}

// wouldAdmit reports, without taking the probe, whether admit could
// succeed now.
func (b *breaker) wouldAdmit() bool {
	if b.threshold <= 0 {
		return true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state == Closed || (!b.probing && b.now().Sub(b.openedAt) >= b.cooldown)
}

// record applies the outcome of an admitted request.
func (b *breaker) record(probe bool, o outcome) {
	if b.threshold <= 0 {
		return
	}
	b.mu.Lock()
	from := b.stateLocked()
	switch {
	case probe:
		b.probing = false
		switch o {
		case success:
			b.state, b.failures = Closed, 0
		case failure:
			b.openedAt = b.now()
		}
	case b.state != Closed:
		// A request admitted before the circuit opened: its outcome is
		// old news, and only the probe may close the circuit.
	case o == success:
		b.failures = 0
	case o == failure:
		b.failures++
		if b.failures >= b.threshold {
			b.state, b.openedAt = Open, b.now()
		}
	}
	to, failures := b.stateLocked(), b.failures
	b.mu.Unlock()
	if to != from && b.onChange != nil {
		b.onChange(from, to, failures)
	}
}

// snapshot returns the state as a reader would see it now.
func (b *breaker) snapshot() State {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.stateLocked()
}

func (b *breaker) stateLocked() State {
	if b.state == Closed {
		return Closed
	}
	if b.probing || b.now().Sub(b.openedAt) >= b.cooldown {
		return HalfOpen
	}
	return Open
}
