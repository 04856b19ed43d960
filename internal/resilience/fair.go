package resilience

import (
	"context"
	"sync"

	"github.com/idpgate/idpgate/internal/fairq"
)

// PerUser bounds how many upstream calls each user has in flight, over
// every Transport that shares it (give one to the Transport of each
// provider, so one user's fan-out cannot hold more than Max of anyone's
// connections). A call holds its place from the first byte sent until the
// response body is closed or read to the end, as a Transport slot does.
// Calls without a user (Policy.User) are not bounded. Make it with NewPerUser;
// it is safe for concurrent use.
type PerUser struct {
	max   int
	mu    sync.Mutex
	users map[string]*userSem
}

type userSem struct {
	ch   chan struct{}
	refs int // holders and waiters
}

// NewPerUser returns a bound of n calls in flight per user (n < 1
// means 1).
func NewPerUser(n int) *PerUser {
	return &PerUser{max: max(n, 1), users: map[string]*userSem{}}
}

// acquire takes one of user's places, or fails when ctx ends first.
func (p *PerUser) acquire(ctx context.Context, user string) error {
	if p == nil || user == "" {
		return nil
	}
	p.mu.Lock()
	s := p.users[user]
	if s == nil {
		s = &userSem{ch: make(chan struct{}, p.max)}
		p.users[user] = s
	}
	s.refs++
	p.mu.Unlock()
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		p.drop(user, s)
		return ctx.Err()
	}
}

func (p *PerUser) release(user string) {
	if p == nil || user == "" {
		return
	}
	p.mu.Lock()
	s := p.users[user]
	p.mu.Unlock()
	<-s.ch
	p.drop(user, s)
}

func (p *PerUser) drop(user string, s *userSem) {
	p.mu.Lock()
	s.refs--
	if s.refs == 0 {
		delete(p.users, user)
	}
	p.mu.Unlock()
}

// fairSlots is a counting semaphore whose waiters are served round robin
// per user rather than first come, first served: a user with many calls
// queued waits behind every other user's next call, so users at their
// allowed rate cannot fill the queue ahead of a quiet one.
type fairSlots struct {
	cap int

	mu      sync.Mutex
	inUse   int
	waiters fairq.Queue[*slotWaiter] // per user, oldest first

	onQueue func(user string) // test hook: a waiter queued
}

type slotWaiter struct {
	ready   chan struct{}
	granted bool // guarded by fairSlots.mu
}

func newFairSlots(n int) *fairSlots {
	return &fairSlots{cap: n}
}

// acquire takes a slot for user, or fails when ctx ends first.
func (f *fairSlots) acquire(ctx context.Context, user string) error {
	f.mu.Lock()
	if f.inUse < f.cap && f.waiters.Empty() {
		f.inUse++
		f.mu.Unlock()
		return nil
	}
	w := &slotWaiter{ready: make(chan struct{})}
	f.waiters.Push(user, w)
	hook := f.onQueue
	f.mu.Unlock()
	if hook != nil {
		hook(user)
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	f.mu.Lock()
	if w.granted { // the slot came as ctx ended: pass it on
		f.mu.Unlock()
		f.release()
		return ctx.Err()
	}
	f.waiters.Remove(user, w)
	f.mu.Unlock()
	return ctx.Err()
}

// release hands the slot to the oldest waiter of the user whose turn it
// is, or frees it.
func (f *fairSlots) release() {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.waiters.Pop()
	if !ok {
		f.inUse--
		return
	}
	w.granted = true
	close(w.ready)
}
