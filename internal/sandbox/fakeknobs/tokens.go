package fakeknobs

import (
	"sync"
	"time"
)

// TokenState is what a test made of one token through TokenStates. The
// zero value is a token nobody touched. What each flag means on the wire
// is the fake's business (which status, which error body, which check
// comes first).
type TokenState struct {
	// Revoked is set by TokenStates.Revoke.
	Revoked bool
	// Expired is set by TokenStates.Expire.
	Expired bool
	// ScopeDenied is set by TokenStates.DenyScope.
	ScopeDenied bool
}

// TokenStates records, per token, the test knobs that outlive one request:
// revoked, expired, lacking a scope. Flags are only ever set; seeding the
// token again does not clear them.
//
// The zero value is ready to use and knows no token. It is safe for
// concurrent use and must not be copied after first use.
type TokenStates struct {
	mu     sync.Mutex
	states map[string]TokenState
}

// Revoke marks token revoked.
func (t *TokenStates) Revoke(token string) {
	t.update(token, func(s *TokenState) { s.Revoked = true })
}

// Expire marks token expired.
func (t *TokenStates) Expire(token string) {
	t.update(token, func(s *TokenState) { s.Expired = true })
}

// DenyScope marks token as lacking the scope the fake's API requires.
func (t *TokenStates) DenyScope(token string) {
	t.update(token, func(s *TokenState) { s.ScopeDenied = true })
}

// State returns what Revoke, Expire and DenyScope made of token.
func (t *TokenStates) State(token string) TokenState {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.states[token]
}

func (t *TokenStates) update(token string, f func(*TokenState)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.states == nil {
		t.states = make(map[string]TokenState)
	}
	s := t.states[token]
	f(&s)
	t.states[token] = s
}

// Now returns clock(), or time.Now() when clock is nil: the fakes' Now
// field with its documented default.
func Now(clock func() time.Time) time.Time {
	if clock != nil {
		return clock()
	}
	return time.Now()
}
