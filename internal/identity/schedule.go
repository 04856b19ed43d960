package identity

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/fairq"
	"github.com/idpgate/idpgate/internal/httpx"
)

// Scheduling classes of Management API calls, served in this order.
const (
	classCold   = iota // a profile nobody has yet: user search, or by id for what search missed
	classReread        // Reload: a by-id re-read of a profile the gateway already holds
	numClasses
)

type classKey struct{}

// asReread marks ctx's by-id reads as re-reads, which the Scheduler serves
// after every cold load.
func asReread(ctx context.Context) context.Context {
	return context.WithValue(ctx, classKey{}, classReread)
}

type mergeKey struct{}

// mergeable marks ctx's by-id read as a cold load that a search may serve
// instead, when other users wait for one.
func mergeable(ctx context.Context) context.Context {
	return context.WithValue(ctx, mergeKey{}, true)
}

func classOf(ctx context.Context) int {
	if c, ok := ctx.Value(classKey{}).(int); ok {
		return c
	}
	return classCold
}

// SchedulerConfig configures a Scheduler. A zero field takes the default
// shown.
type SchedulerConfig struct {
	// RPS and Burst are the Management API budget the Scheduler hands out
	// (AUTH0_MGMT_RPS, AUTH0_MGMT_BURST). RPS 0 means no rate limit (the
	// MaxInFlight bound still applies); Burst defaults to 1.
	RPS   float64
	Burst int
	// MaxSearch is the most users asked for in one search call (default 50,
	// what one Auth0 search request carries).
	MaxSearch int
	// MaxInFlight bounds the calls under way at once (default 8).
	MaxInFlight int
	// Timeout bounds a search call, which serves several callers and so
	// runs detached from them (default 10s).
	Timeout time.Duration
	// Now and Sleep are the clock (default time.Now and a timer that
	// honours ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Scheduler stands between the Loader and the Management API and spends
// the tenant's budget (one token per call) in a fixed order: cold loads
// first (the by-id reads of users a search missed, then searches; a user
// the Loader reads alone is read by id when nobody else waits, else joins
// the search), re-reads after; within each class, users take turns (round robin),
// so one user with many requests gets no more than any other. Users to
// search for wait together: when a token comes, one search call asks for up
// to MaxSearch of everything queued, whichever batch each id came from, so
// fragmented batches still cost one call per MaxSearch users. Make it with
// NewScheduler; it is safe for concurrent use and satisfies Users. A
// goroutine runs only while work is queued.
type Scheduler struct {
	cfg   SchedulerConfig
	users Users
	lim   *rate.Limiter // nil: unlimited
	slots chan struct{}

	mu      sync.Mutex
	running bool
	search  []string                           // ids waiting for a search call, in arrival order
	waiting map[string][]*searchWaits          // id -> the SearchUsers calls that asked for it
	singles []*byIDWait                        // mergeable cold by-id reads, oldest first
	queues  [numClasses]fairq.Queue[*byIDWait] // by-id reads, users in turn
}

var _ Users = (*Scheduler)(nil)

// NewScheduler returns a Scheduler that calls users.
func NewScheduler(cfg SchedulerConfig, users Users) *Scheduler {
	if cfg.MaxSearch <= 0 {
		cfg.MaxSearch = 50
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 8
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = httpx.Sleep
	}
	s := &Scheduler{cfg: cfg, users: users, slots: make(chan struct{}, cfg.MaxInFlight), waiting: map[string][]*searchWaits{}}
	if cfg.RPS > 0 {
		s.lim = rate.NewLimiter(rate.Limit(cfg.RPS), max(cfg.Burst, 1))
	}
	return s
}

// searchWaits is one SearchUsers call waiting for its ids.
type searchWaits struct {
	ctx  context.Context
	mu   sync.Mutex
	left int
	err  error
	got  []*auth0.User
	done chan struct{}
}

func (w *searchWaits) answer(u *auth0.User, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if u != nil {
		w.got = append(w.got, u)
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	w.left--
	if w.left == 0 {
		close(w.done)
	}
}

// SearchUsers queues ids for the next search call(s) and returns what they
// found once every id was asked for. An id another caller already queued
// is asked for once. A failed call fails every caller whose ids it carried.
func (s *Scheduler) SearchUsers(ctx context.Context, ids []string) ([]*auth0.User, error) {
	seen := make(map[string]bool, len(ids))
	w := &searchWaits{ctx: ctx, done: make(chan struct{})}
	s.mu.Lock()
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if len(s.waiting[id]) == 0 {
			s.search = append(s.search, id)
		}
		s.waiting[id] = append(s.waiting[id], w)
		w.left++
	}
	if w.left == 0 {
		s.mu.Unlock()
		return nil, nil
	}
	s.kickLocked()
	s.mu.Unlock()
	select {
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.got, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// byIDWait is one User call waiting for its turn.
type byIDWait struct {
	ctx  context.Context
	id   string
	u    *auth0.User
	err  error
	done chan struct{}
}

// User queues a by-id read in its class (cold unless ctx was marked by
// Reload) behind the other users of that class, and makes it when its turn
// and a token come.
func (s *Scheduler) User(ctx context.Context, id string) (*auth0.User, error) {
	w := &byIDWait{ctx: ctx, id: id, done: make(chan struct{})}
	s.mu.Lock()
	if merge, _ := ctx.Value(mergeKey{}).(bool); merge && classOf(ctx) == classCold {
		s.singles = append(s.singles, w)
	} else {
		s.queues[classOf(ctx)].Push(id, w)
	}
	s.kickLocked()
	s.mu.Unlock()
	select {
	case <-w.done:
		return w.u, w.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Scheduler) kickLocked() {
	if !s.running {
		s.running = true
		go s.dispatch()
	}
}

// dispatch hands out tokens while work is queued. The work a token buys is
// chosen after the wait for it, so whatever arrived meanwhile shares it.
func (s *Scheduler) dispatch() {
	ctx := context.Background()
	for {
		s.mu.Lock()
		if !s.pendingLocked() {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if s.lim != nil {
			now := s.cfg.Now()
			if d := s.lim.ReserveN(now, 1).DelayFrom(now); d > 0 {
				_ = s.cfg.Sleep(ctx, d)
			}
		}
		s.slots <- struct{}{}
		s.mu.Lock()
		job := s.nextLocked()
		s.mu.Unlock()
		if job == nil { // every queued caller left meanwhile
			<-s.slots
			continue
		}
		go func() {
			defer func() { <-s.slots }()
			job()
		}()
	}
}

func (s *Scheduler) pendingLocked() bool {
	if len(s.search) > 0 || len(s.singles) > 0 {
		return true
	}
	for i := range s.queues {
		if !s.queues[i].Empty() {
			return true
		}
	}
	return false
}

// nextLocked picks the next call: a cold by-id read (of a user search
// missed: bounded by the searches, and older than anything queued for
// search), else a search for up to MaxSearch queued users (a lone user read
// by id), else a re-read; within a class users take turns. Requests whose
// callers all left are dropped.
func (s *Scheduler) nextLocked() func() {
	if job := s.popLocked(classCold); job != nil {
		return job
	}
	var ids []string
	var waits [][]*searchWaits
	for len(s.search) > 0 && len(ids) < s.cfg.MaxSearch {
		id := s.search[0]
		s.search = s.search[1:]
		ws := s.waiting[id]
		delete(s.waiting, id)
		live := ws[:0]
		for _, w := range ws {
			if w.ctx.Err() == nil {
				live = append(live, w)
			}
		}
		if len(live) == 0 {
			continue
		}
		ids = append(ids, id)
		waits = append(waits, live)
	}
	var singles []*byIDWait
	for len(s.singles) > 0 && len(ids)+len(singles) < s.cfg.MaxSearch {
		w := s.singles[0]
		s.singles = s.singles[1:]
		if w.ctx.Err() != nil {
			continue
		}
		singles = append(singles, w)
	}
	switch {
	case len(ids) == 0 && len(singles) == 1:
		return func() { s.runByID(singles[0]) }
	case len(ids)+len(singles) > 0:
		return func() { s.runSearch(ids, waits, singles) }
	}
	return s.popLocked(classReread)
}

func (s *Scheduler) popLocked(class int) func() {
	for {
		w, ok := s.queues[class].Pop()
		if !ok {
			return nil
		}
		if w.ctx.Err() != nil {
			continue
		}
		return func() { s.runByID(w) }
	}
}

func (s *Scheduler) runSearch(ids []string, waits [][]*searchWaits, singles []*byIDWait) {
	all := ids
	for _, w := range singles {
		all = append(all[:len(all):len(all)], w.id)
	}
	// The call serves several callers: none of them may cancel it.
	var parent context.Context
	if len(waits) > 0 {
		parent = waits[0][0].ctx
	} else {
		parent = singles[0].ctx
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), s.cfg.Timeout)
	defer cancel()
	found, err := s.users.SearchUsers(ctx, all)
	byID := make(map[string]*auth0.User, len(found))
	for _, u := range found {
		if u != nil {
			byID[u.UserID] = u
		}
	}
	for i, id := range ids {
		for _, w := range waits[i] {
			w.answer(byID[id], err)
		}
	}
	var missed []*byIDWait
	for _, w := range singles {
		if u := byID[w.id]; u != nil && err == nil {
			w.u = u
			close(w.done)
			continue
		}
		missed = append(missed, w) // read by id, as it would have been alone
	}
	if len(missed) > 0 {
		s.mu.Lock()
		for _, w := range missed {
			s.queues[classCold].Push(w.id, w)
		}
		s.kickLocked()
		s.mu.Unlock()
	}
}

func (s *Scheduler) runByID(w *byIDWait) {
	w.u, w.err = s.users.User(w.ctx, w.id)
	close(w.done)
}
