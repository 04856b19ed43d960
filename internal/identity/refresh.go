package identity

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// TokensConfig configures Tokens.
type TokensConfig struct {
	// MaxEntries bounds the refreshed tokens kept (default 100,000).
	MaxEntries int
	// Timeout bounds one refresh exchange, detached from the request that
	// started it (default 10s).
	Timeout time.Duration
	Now     func() time.Time
	Logger  *slog.Logger
}

// Tokens keeps the provider tokens the gateway obtained by refreshing, so
// later requests use them instead of the stale ones Auth0 still holds, and
// makes sure each identity refreshes at most once at a time. A rotated
// refresh token replaces the old one, and a refresh token known to be spent
// is never sent again. Keys name an identity of a user (resolvers use
// "<sub>\x00<provider>|<id>"). Tokens is safe for concurrent use; it lives
// in one process (several replicas each refresh on their own).
type Tokens struct {
	cfg     TokensConfig
	entries *lru.Cache[string, providers.Token]
	spent   *lru.Cache[[32]byte, struct{}]
	group   singleflight.Group

	refreshes atomic.Int64
}

// NewTokens returns an empty store.
func NewTokens(cfg TokensConfig) *Tokens {
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = 100_000
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	entries, _ := lru.New[string, providers.Token](cfg.MaxEntries)
	spent, _ := lru.New[[32]byte, struct{}](cfg.MaxEntries)
	return &Tokens{cfg: cfg, entries: entries, spent: spent}
}

// Current returns the refreshed token of key, if one is kept. Its access
// token may have expired (see Expiry); its refresh token is still the one
// to use.
func (t *Tokens) Current(key string) (providers.Token, bool) {
	return t.entries.Get(key)
}

// Forget drops what is kept for key, as an eviction from the bounded store
// would; the spent refresh tokens stay remembered.
func (t *Tokens) Forget(key string) { t.entries.Remove(key) }

// Refreshes counts the refresh exchanges made.
func (t *Tokens) Refreshes() int64 { return t.refreshes.Load() }

// Refresh returns a usable access token for key after the provider
// rejected the access token rejected. If another request already replaced
// it, the newer token is returned without an exchange; otherwise one
// exchange runs through r (concurrent callers for key wait for it) with the
// kept refresh token, or refreshToken (Auth0's) when none is kept. A caller
// whose ctx ends stops waiting; the exchange itself finishes, so a rotated
// refresh token is never lost.
func (t *Tokens) Refresh(ctx context.Context, key string, r providers.Refresher, rejected, refreshToken secret.String) (providers.Token, error) {
	if tok, ok := t.usable(key, rejected); ok {
		return tok, nil
	}
	ch := t.group.DoChan(key, func() (any, error) {
		if tok, ok := t.usable(key, rejected); ok {
			return tok, nil
		}
		rt := refreshToken
		if kept, ok := t.entries.Get(key); ok && !kept.RefreshToken.IsZero() {
			rt = kept.RefreshToken
		}
		if rt.IsZero() {
			return nil, &providers.Error{Kind: providers.ReauthRequired, Message: "the access token was rejected and no refresh token is stored; sign in with this provider again"}
		}
		if _, ok := t.spent.Get(fingerprint(rt)); ok {
			return nil, &providers.Error{Kind: providers.ReauthRequired, Message: "the stored refresh token is no longer valid; sign in with this provider again"}
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), t.cfg.Timeout)
		defer cancel()
		t.refreshes.Add(1)
		tok, err := r.Refresh(rctx, rt)
		if err != nil {
			var pe *providers.Error
			if errors.As(err, &pe) && pe.Kind == providers.ReauthRequired {
				// The refresh token is dead: never send it again.
				t.spent.Add(fingerprint(rt), struct{}{})
				t.entries.Remove(key)
			}
			return nil, err
		}
		if tok.AccessToken.IsZero() {
			return nil, &providers.Error{Kind: providers.Unavailable, Message: "the token endpoint returned no access token"}
		}
		if tok.RefreshToken.IsZero() {
			tok.RefreshToken = rt // not rotated
		} else if !tok.RefreshToken.Equal(rt) {
			t.spent.Add(fingerprint(rt), struct{}{}) // rotated: the old one is spent
		}
		t.entries.Add(key, tok)
		t.cfg.Logger.Debug("identity: token refreshed", "rotated", !tok.RefreshToken.Equal(rt))
		return tok, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return providers.Token{}, res.Err
		}
		return res.Val.(providers.Token), nil
	case <-ctx.Done():
		return providers.Token{}, ctx.Err()
	}
}

// usable returns the kept token of key when it is not the rejected one and
// has not expired.
func (t *Tokens) usable(key string, rejected secret.String) (providers.Token, bool) {
	tok, ok := t.entries.Get(key)
	if !ok || tok.AccessToken.IsZero() || tok.AccessToken.Equal(rejected) {
		return providers.Token{}, false
	}
	if !tok.Expiry.IsZero() && !t.cfg.Now().Before(tok.Expiry) {
		return providers.Token{}, false
	}
	return tok, true
}

func fingerprint(s secret.String) [32]byte { return sha256.Sum256([]byte(s.Reveal())) }
