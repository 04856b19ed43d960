package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const tokensNS = "token"

// TokensOptions configure NewTokens.
type TokensOptions struct {
	// TTL is how long a refreshed pair is kept after its last write
	// (default 90 days). Keep it above the providers' refresh token
	// lifetime: once a rotated pair is gone, the gateway falls back to the
	// refresh token Auth0 holds, which rotation has spent.
	TTL time.Duration
	// SpentTTL is how long a spent refresh token is remembered (default
	// 24h). A rotated-away token can only come back from a stale copy in
	// some replica's memory, which lives far shorter; Auth0's own copy is
	// superseded by the pair stored here for TTL. Each rotation costs one
	// marker of about 120 bytes for SpentTTL.
	SpentTTL time.Duration
	// LeaseTTL bounds one refresh exchange: past it another replica may
	// refresh (default 30s; above the refresh timeout).
	LeaseTTL time.Duration
	// Wait bounds how long a replica waits for another's refresh (default
	// 10s).
	Wait time.Duration
}

// Tokens keeps the provider token pairs the gateway obtained by
// refreshing, per identity key, sealed in Redis, with the cluster-wide
// refresh lease and the set of spent refresh tokens. It is the shared
// level of the credentials broker's token store: every method returns
// ErrUnavailable (errors.Is) when Redis cannot be asked, and the broker
// then uses its in-process store and singleflight. Safe for concurrent
// use.
type Tokens struct {
	s *Store
	o TokensOptions
}

// NewTokens returns the store; s may be nil (every call ErrUnavailable).
func NewTokens(s *Store, o TokensOptions) *Tokens {
	if o.TTL <= 0 {
		o.TTL = 90 * 24 * time.Hour
	}
	if o.SpentTTL <= 0 {
		o.SpentTTL = 24 * time.Hour
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = 30 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = 10 * time.Second
	}
	return &Tokens{s: s, o: o}
}

// tokenValue is the sealed plaintext of a pair. Plain strings here only:
// secret.String marshals as "[REDACTED]".
type tokenValue struct {
	Access  string `json:"a"`
	Refresh string `json:"r,omitempty"`
	Expiry  int64  `json:"e,omitempty"` // Unix ms; 0: unknown
}

func encodeToken(t providers.Token) []byte {
	v := tokenValue{Access: t.AccessToken.Reveal(), Refresh: t.RefreshToken.Reveal()}
	if !t.Expiry.IsZero() {
		v.Expiry = t.Expiry.UnixMilli()
	}
	b, _ := json.Marshal(v) // cannot fail: strings and an int
	return b
}

func decodeToken(b []byte) (providers.Token, bool) {
	var v tokenValue
	if json.Unmarshal(b, &v) != nil || v.Access == "" {
		return providers.Token{}, false
	}
	t := providers.Token{AccessToken: secret.New(v.Access), RefreshToken: secret.New(v.Refresh)}
	if v.Expiry != 0 {
		t.Expiry = time.UnixMilli(v.Expiry)
	}
	return t, true
}

func samePair(a, b providers.Token) bool {
	return a.AccessToken.Equal(b.AccessToken) && a.RefreshToken.Equal(b.RefreshToken)
}

// OnRecover registers f, called when Redis is back after an outage
// (Store.OnRecover).
func (t *Tokens) OnRecover(f func()) { t.s.OnRecover(f) }

// Get returns the pair stored for key. A value that does not open or
// decode is a miss.
func (t *Tokens) Get(ctx context.Context, key string) (providers.Token, bool, error) {
	b, ok, err := t.s.GetSealed(ctx, tokensNS, key)
	if err == nil && !ok && t.s != nil {
		// A pair written before keys named the deployment: its rotated
		// refresh token may be the only valid one. The next refresh
		// stores its successor under the new key.
		b, ok, err = t.s.getSealedLegacy(ctx, tokensNS, key)
	}
	if err != nil || !ok {
		return providers.Token{}, false, err
	}
	tok, ok := decodeToken(b)
	if !ok {
		t.s.unopenable.Add(1)
	}
	return tok, ok, nil
}

// CompareAndSwap stores next for key if the stored pair is still old
// (same access and refresh token), or, old nil, if none is stored. It
// reports whether it stored next; false means another replica wrote a
// newer pair first: read it with Get and use it.
func (t *Tokens) CompareAndSwap(ctx context.Context, key string, old *providers.Token, next providers.Token) (bool, error) {
	var match func([]byte) bool
	if old != nil {
		want := *old
		match = func(cur []byte) bool {
			tok, ok := decodeToken(cur)
			return ok && samePair(tok, want)
		}
	}
	return t.s.CompareAndSwapSealed(ctx, tokensNS, key, match, encodeToken(next), t.ttl(next))
}

// ttl is how long next is kept: TTL, or, for a token that cannot be
// refreshed (no refresh token: a Token Vault exchange) and expires, until
// its expiry, past which it is of no use.
func (t *Tokens) ttl(next providers.Token) time.Duration {
	if !next.RefreshToken.IsZero() || next.Expiry.IsZero() {
		return t.o.TTL
	}
	return min(t.o.TTL, max(time.Until(next.Expiry), time.Millisecond))
}

// Delete drops key's pair if it is still old (its refresh token was
// rejected); a newer pair stays.
func (t *Tokens) Delete(ctx context.Context, key string, old providers.Token) (bool, error) {
	return t.s.DeleteSealed(ctx, tokensNS, key, func(cur []byte) bool {
		tok, ok := decodeToken(cur)
		return ok && samePair(tok, old)
	})
}

// Fingerprint is the SHA-256 of a credential, the name under which it is
// remembered as spent (the identity package's in-process set uses the
// same).
func Fingerprint(s secret.String) [32]byte { return sha256.Sum256([]byte(s.Reveal())) }

// MarkSpent remembers cluster-wide that refreshToken must not be sent
// again (rotated away or rejected).
func (t *Tokens) MarkSpent(ctx context.Context, refreshToken secret.String) error {
	return t.s.MarkSpent(ctx, Fingerprint(refreshToken), t.o.SpentTTL)
}

// MarkSpentFingerprint is MarkSpent for a caller that holds only the
// credential's Fingerprint.
func (t *Tokens) MarkSpentFingerprint(ctx context.Context, fp [32]byte) error {
	return t.s.MarkSpent(ctx, fp, t.o.SpentTTL)
}

// IsSpentFingerprint is IsSpent by Fingerprint.
func (t *Tokens) IsSpentFingerprint(ctx context.Context, fp [32]byte) (bool, error) {
	spent, err := t.s.IsSpent(ctx, fp)
	if err == nil && !spent && t.s != nil && t.s.tenant != "" {
		// Marked before keys named the deployment.
		spent, err = t.s.isSpentKey(ctx, t.s.legacyKey(spentNS, hex.EncodeToString(fp[:])))
	}
	return spent, err
}

// IsSpent reports whether refreshToken was marked spent.
func (t *Tokens) IsSpent(ctx context.Context, refreshToken secret.String) (bool, error) {
	return t.IsSpentFingerprint(ctx, Fingerprint(refreshToken))
}

// Lock takes key's refresh lease: nil, nil when another replica holds it
// (then Wait for it and Get its result).
func (t *Tokens) Lock(ctx context.Context, key string) (*Lease, error) {
	return t.s.TryLease(ctx, tokensNS+":"+key, t.o.LeaseTTL)
}

// Wait waits, at most the configured Wait, until key's refresh lease is
// free. nil means the holder finished (or died and the lease expired):
// Get the result. Anything else: refresh in-process.
func (t *Tokens) Wait(ctx context.Context, key string) error {
	return t.s.WaitLease(ctx, tokensNS+":"+key, t.o.Wait)
}
