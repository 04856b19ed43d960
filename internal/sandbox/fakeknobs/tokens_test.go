package fakeknobs

import (
	"sync"
	"testing"
	"time"
)

func TestTokenStates(t *testing.T) {
	tests := []struct {
		name  string
		set   func(ts *TokenStates)
		token string
		want  TokenState
	}{
		{"untouched", func(ts *TokenStates) {}, "tok-a", TokenState{}},
		{"revoked", func(ts *TokenStates) { ts.Revoke("tok-a") }, "tok-a", TokenState{Revoked: true}},
		{"expired", func(ts *TokenStates) { ts.Expire("tok-a") }, "tok-a", TokenState{Expired: true}},
		{"scope denied", func(ts *TokenStates) { ts.DenyScope("tok-a") }, "tok-a", TokenState{ScopeDenied: true}},
		{"flags add up", func(ts *TokenStates) {
			ts.Expire("tok-a")
			ts.DenyScope("tok-a")
			ts.Revoke("tok-a")
			ts.Expire("tok-a")
		}, "tok-a", TokenState{Revoked: true, Expired: true, ScopeDenied: true}},
		{"other tokens untouched", func(ts *TokenStates) {
			ts.Revoke("tok-a")
			ts.Expire("tok-a")
			ts.DenyScope("tok-a")
		}, "tok-b", TokenState{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ts TokenStates
			tt.set(&ts)
			if got := ts.State(tt.token); got != tt.want {
				t.Errorf("State(%q) = %+v; want %+v", tt.token, got, tt.want)
			}
		})
	}
}

func TestTokenStatesConcurrent(t *testing.T) {
	var ts TokenStates
	tokens := []string{"tok-a", "tok-b", "tok-c"}
	var wg sync.WaitGroup
	for _, tok := range tokens {
		for _, f := range []func(string){ts.Revoke, ts.Expire, ts.DenyScope} {
			wg.Add(1)
			go func() { defer wg.Done(); f(tok); _ = ts.State(tok) }()
		}
	}
	wg.Wait()
	want := TokenState{Revoked: true, Expired: true, ScopeDenied: true}
	for _, tok := range tokens {
		if got := ts.State(tok); got != want {
			t.Errorf("State(%q) = %+v; want %+v", tok, got, want)
		}
	}
}

func TestNow(t *testing.T) {
	fixed := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	if got := Now(func() time.Time { return fixed }); !got.Equal(fixed) {
		t.Errorf("Now(fixed clock) = %v; want %v", got, fixed)
	}
	before := time.Now()
	got := Now(nil)
	if got.Before(before) || got.After(time.Now()) {
		t.Errorf("Now(nil) = %v; want between %v and now", got, before)
	}
}
