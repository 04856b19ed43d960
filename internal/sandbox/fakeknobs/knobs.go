package fakeknobs

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Kind says what an injected Fault does. Fakes answer the common kinds
// below in their API's shape and number their own kinds from Custom.
type Kind int

const (
	// None is no fault: the request is served normally. Next returns it
	// when the queue is empty.
	None Kind = iota
	// Fail answers Fault.Status with the API's error body.
	Fail
	// RateLimit answers the API's rate-limit error, with Fault.RetryAfter.
	RateLimit
	// Hang gives no answer until the client gives up or Close is called.
	Hang
	// Malformed answers 200 with a truncated JSON body.
	Malformed
	// Custom is the first kind free for a fake's own faults (Custom,
	// Custom+1, …).
	Custom
)

// Fault is one injected failure, taken by one request. The zero value is
// no fault (Kind None).
type Fault struct {
	Kind Kind
	// Status is the status a Fail fault answers.
	Status int
	// RetryAfter is how long a rate-limit fault tells the client to wait;
	// zero means the fake leaves the hint out.
	RetryAfter time.Duration
}

// Queue is a first-in first-out queue of faults. The zero value is an
// empty queue ready to use; it is safe for concurrent use.
type Queue struct {
	mu     sync.Mutex
	faults []Fault
}

// Push appends n copies of f; n <= 0 appends nothing.
func (q *Queue) Push(n int, f Fault) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for range n {
		q.faults = append(q.faults, f)
	}
}

// Next removes and returns the oldest fault, or the zero Fault (Kind
// None) when the queue is empty.
func (q *Queue) Next() Fault {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.faults) == 0 {
		return Fault{}
	}
	f := q.faults[0]
	q.faults = q.faults[1:]
	return f
}

// Knobs is the shared state behind an emulator's test knobs: its fault
// Queue (Push, Next), call counters, requests in flight and the stop
// signal Close sends to delayed and hung requests.
//
// The zero value is ready to use: no faults, no calls, not closed. It is
// safe for concurrent use and must not be copied after first use.
type Knobs struct {
	Queue

	mu          sync.Mutex
	calls       map[string]int
	inFlight    int
	maxInFlight int
	stop        chan struct{} // closed by Close
}

// Count records one call to endpoint (a name the fake chooses).
func (k *Knobs) Count(endpoint string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.calls == nil {
		k.calls = make(map[string]int)
	}
	k.calls[endpoint]++
}

// Calls returns how many calls to endpoint Count recorded.
func (k *Knobs) Calls(endpoint string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls[endpoint]
}

// Enter records a request starting to be served; call Leave when it ends.
func (k *Knobs) Enter() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inFlight++
	k.maxInFlight = max(k.maxInFlight, k.inFlight)
}

// Leave records the end of a request Enter recorded.
func (k *Knobs) Leave() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.inFlight--
}

// InFlight returns how many requests are between Enter and Leave now.
func (k *Knobs) InFlight() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.inFlight
}

// MaxInFlight returns the most requests ever between Enter and Leave at
// once.
func (k *Knobs) MaxInFlight() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.maxInFlight
}

// stopped returns the channel Close closes.
func (k *Knobs) stopped() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stop == nil {
		k.stop = make(chan struct{})
	}
	return k.stop
}

// Delay waits d, cut short by Close. It reports false when ctx ended
// first (the client gave up: the fake should not answer). A d <= 0 does
// not wait and reports true.
func (k *Knobs) Delay(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
		return false
	case <-k.stopped():
	}
	return true
}

// Hold blocks a hung request until ctx ends or Close is called; after
// Close it returns at once.
func (k *Knobs) Hold(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-k.stopped():
	}
}

// Close releases the requests in Hold and Delay, and makes later ones
// return at once. Calling it again does nothing.
func (k *Knobs) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.stop == nil {
		k.stop = make(chan struct{})
	}
	select {
	case <-k.stop:
	default:
		close(k.stop)
	}
}

// SetRetryAfter sets the Retry-After header to d in whole seconds
// (rounded), or leaves it out when d is not positive.
func SetRetryAfter(h http.Header, d time.Duration) {
	if d > 0 {
		h.Set("Retry-After", strconv.Itoa(int(d.Round(time.Second)/time.Second)))
	}
}

// WriteMalformed answers 200 with contentType and body, which should be
// JSON cut short in the API's shape.
func WriteMalformed(w http.ResponseWriter, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body))
}

// UserAgents counts the User-Agent headers an emulator received, so tests
// can check that every request named its product (GitHub requires a
// User-Agent: https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent).
// The zero value is ready to use; it is safe for concurrent use.
type UserAgents struct {
	mu   sync.Mutex
	seen map[string]int
}

// Record counts r's User-Agent ("" when it sent none).
func (u *UserAgents) Record(r *http.Request) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = map[string]int{}
	}
	u.seen[r.Header.Get("User-Agent")]++
}

// Seen returns a copy of the counts by User-Agent value.
func (u *UserAgents) Seen() map[string]int {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make(map[string]int, len(u.seen))
	for k, v := range u.seen {
		out[k] = v
	}
	return out
}
