package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
)

const slotNS = "slot"

// SlotOptions configure NewTokenSlot.
type SlotOptions struct {
	// LeaseTTL bounds how long one replica may take to fetch before
	// another may try (default 15s).
	LeaseTTL time.Duration
	// Wait bounds how long a replica waits for another's fetch before
	// fetching itself (default 5s).
	Wait time.Duration
	// Now is the clock that judges expiry (default time.Now).
	Now func() time.Time
}

// TokenSlot is one token shared by the cluster — the Auth0 M2M token:
// fetched by one replica under a lease, stored sealed until its expiry,
// dropped cluster-wide when the API refuses it. Without Redis, each
// replica fetches its own. Safe for concurrent use; keep the token in
// memory too and call Token only when that copy is missing or expired.
type TokenSlot struct {
	s    *Store
	name string
	o    SlotOptions
}

// NewTokenSlot returns the slot name (e.g. the M2M client id); s may be
// nil (every call fetches).
func NewTokenSlot(s *Store, name string, o SlotOptions) *TokenSlot {
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 15 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &TokenSlot{s: s, name: name, o: o}
}

// Fetch gets a new token and when to stop using it.
type Fetch func(ctx context.Context) (secret.String, time.Time, error)

// slotValue is the sealed plaintext. The token is a plain string here
// only: secret.String would marshal as "[REDACTED]".
type slotValue struct {
	Token  string `json:"t"`
	Expiry int64  `json:"e"` // Unix ms
}

// Token returns the shared token if one is stored and not expired;
// otherwise it takes the lease and calls fetch (one replica fetches, the
// others wait for its result for at most Wait), and stores the result
// until its expiry. Whenever Redis cannot help, it calls fetch itself, so
// only fetch's errors are returned.
func (t *TokenSlot) Token(ctx context.Context, fetch Fetch) (secret.String, time.Time, error) {
	if tok, exp, ok := t.load(ctx); ok {
		return tok, exp, nil
	}
	lease, err := t.s.TryLease(ctx, slotNS+":"+t.name, t.o.LeaseTTL)
	switch {
	case err != nil:
		return fetch(ctx)
	case lease == nil:
		if err := t.s.WaitLease(ctx, slotNS+":"+t.name, t.o.Wait); err == nil {
			if tok, exp, ok := t.load(ctx); ok {
				return tok, exp, nil
			}
		}
		return fetch(ctx) // the holder failed or was too slow
	}
	defer func() { _, _ = lease.Release(ctx) }()
	if tok, exp, ok := t.load(ctx); ok { // stored while we took the lease
		return tok, exp, nil
	}
	tok, exp, err := fetch(ctx)
	if err != nil {
		return tok, exp, err
	}
	if life := exp.Sub(t.o.Now()); life > 0 && !tok.IsZero() {
		b, _ := json.Marshal(slotValue{Token: tok.Reveal(), Expiry: exp.UnixMilli()})
		_ = t.s.SetSealed(ctx, slotNS, t.name, b, life)
	}
	return tok, exp, nil
}

// Drop removes tok from the slot if it is still the one stored (the API
// answered 401 with it), so no replica uses it again; a newer token
// stored meanwhile stays.
func (t *TokenSlot) Drop(ctx context.Context, tok secret.String) error {
	_, err := t.s.DeleteSealed(ctx, slotNS, t.name, func(cur []byte) bool {
		var v slotValue
		return json.Unmarshal(cur, &v) == nil && v.Token == tok.Reveal()
	})
	return err
}

func (t *TokenSlot) load(ctx context.Context) (secret.String, time.Time, bool) {
	b, ok, err := t.s.GetSealed(ctx, slotNS, t.name)
	if err != nil || !ok {
		return secret.String{}, time.Time{}, false
	}
	var v slotValue
	if json.Unmarshal(b, &v) != nil || v.Token == "" {
		return secret.String{}, time.Time{}, false
	}
	exp := time.UnixMilli(v.Expiry)
	if !t.o.Now().Before(exp) {
		return secret.String{}, time.Time{}, false
	}
	return secret.New(v.Token), exp, true
}
