package credentials

import (
	"context"
	"errors"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/internal/tokenvault"
	"github.com/idpgate/idpgate/providers"
)

// TokenSource says where a connection's provider access tokens come from.
type TokenSource int

const (
	// SourceAuto uses the identities[] access token when Auth0 stores one,
	// else Token Vault when an Exchanger is configured.
	SourceAuto TokenSource = iota
	// SourceIdentities uses identities[] tokens only (and refreshes them).
	SourceIdentities
	// SourceVault uses Token Vault only and never reads identities[].
	SourceVault
)

// Exchanger trades the caller's Auth0 access token for the provider
// access token Token Vault holds for the user's connection
// (tokenvault.Client). Its errors are *providers.Error.
type Exchanger interface {
	Exchange(ctx context.Context, subject secret.String, connection, loginHint string) (providers.Token, error)
}

// Vault configures the Token Vault source of a Broker.
type Vault struct {
	// Exchanger runs the exchange; nil means Token Vault is not configured
	// (SourceVault connections then answer Unavailable).
	Exchanger Exchanger
	// Sources maps providers.ConnectionKey of a connection to its source;
	// absent means SourceAuto.
	Sources map[string]TokenSource
	// DefaultTTL is how long an exchanged token without expires_in is kept
	// (default 5 minutes).
	DefaultTTL time.Duration
}

// VaultKey names the exchanged token of a user's connection in the Store:
// Key with an empty identity id, which no identity has. One user holds one
// tokenset per connection at Token Vault, so the key is the user and the
// connection, never the caller's bearer token.
func VaultKey(userID, connection string) string { return Key(userID, connection, "") }

// fromVault reports whether req's token comes from Token Vault.
func (b *Broker) fromVault(req Request) bool {
	var buf [64]byte
	switch b.cfg.Vault.Sources[string(providers.AppendConnectionKey(buf[:0], req.Connection))] {
	case SourceVault:
		return true
	case SourceIdentities:
		return false
	}
	return req.Grant.AccessToken.IsZero() && b.cfg.Vault.Exchanger != nil
}

// doVault is Do for a Token Vault identity: the kept exchanged token while
// it is valid, else one exchange; when the provider refuses the token, one
// fresh exchange and the call again. A vault token is never refreshed at
// the provider: Token Vault refreshes it itself.
func (b *Broker) doVault(ctx context.Context, req Request, call func(ctx context.Context, tok secret.String) error) error {
	if b.cfg.Vault.Exchanger == nil {
		return &providers.Error{Kind: providers.Unavailable, Provider: req.Provider,
			Message: "this connection's tokens are in Token Vault, which is not configured"}
	}
	key := VaultKey(req.UserID, req.Connection)
	var rejected secret.String
	for attempt := 0; ; attempt++ {
		tok, err := b.vaultToken(ctx, key, req, rejected)
		if err != nil {
			return withProvider(err, req.Provider)
		}
		cerr := call(ctx, tok)
		if !isReauth(cerr) {
			return cerr
		}
		if attempt == 1 {
			// A freshly exchanged token refused too: the connected account
			// no longer grants access; the user must connect it again.
			var pe *providers.Error
			if errors.As(cerr, &pe) {
				c := *pe
				c.ConnectAccount = true
				return withProvider(&c, req.Provider)
			}
			return cerr
		}
		rejected = tok
	}
}

// vaultToken returns a token other than rejected: the kept one when it is
// valid beyond Margin, else the result of one exchange shared by the
// concurrent callers for key (singleflight here, Store.Lease across
// replicas), detached from ctx.
func (b *Broker) vaultToken(ctx context.Context, key string, req Request, rejected secret.String) (secret.String, error) {
	p, ok, err := b.store.Get(ctx, key)
	if err != nil {
		b.cfg.Logger.Warn("credentials: reading the kept vault token failed", "provider", req.Provider, "err", err)
	}
	if err == nil && ok && b.vaultUsable(p, rejected) {
		return p.AccessToken, nil
	}
	// A flight that started before rejected was refused may hand it back:
	// then one more flight, which exchanges.
	for range 2 {
		ch := b.group.DoChan(key, func() (any, error) {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Timeout)
			defer cancel()
			return b.exchangeVault(rctx, key, req, rejected)
		})
		select {
		case res := <-ch:
			if res.Err != nil {
				return secret.String{}, res.Err
			}
			p := res.Val.(Pair)
			if !p.AccessToken.Equal(rejected) {
				return p.AccessToken, nil
			}
		case <-ctx.Done():
			return secret.String{}, ctx.Err()
		}
	}
	return secret.String{}, &providers.Error{Kind: providers.Unavailable, Message: "Token Vault returned the refused token again"}
}

// vaultUsable reports whether a kept exchanged token can be sent: another
// token than rejected, not within Margin of its expiry.
func (b *Broker) vaultUsable(p Pair, rejected secret.String) bool {
	if p.AccessToken.IsZero() || p.AccessToken.Equal(rejected) {
		return false
	}
	return p.Expiry.IsZero() || b.cfg.Now().Add(b.cfg.Margin).Before(p.Expiry)
}

func (b *Broker) exchangeVault(ctx context.Context, key string, req Request, rejected secret.String) (Pair, error) {
	kept, hadKept, release, err := b.leaseKept(ctx, key, "Token Vault exchange")
	if err != nil {
		return Pair{}, err
	}
	defer release()
	if hadKept && b.vaultUsable(kept, rejected) {
		return kept, nil // another replica exchanged while we waited
	}
	tok, err := b.cfg.Vault.Exchanger.Exchange(ctx, req.Subject, req.Connection, req.LoginHint)
	if b.cfg.Observe.VaultExchange != nil {
		b.cfg.Observe.VaultExchange(req.Provider, vaultOutcome(err))
	}
	if err != nil {
		if hadKept && isReauth(err) {
			_, _ = b.store.CompareAndDelete(ctx, key, kept)
		}
		return Pair{}, err
	}
	if tok.AccessToken.IsZero() {
		return Pair{}, &providers.Error{Kind: providers.Unavailable, Message: "Token Vault returned no access token"}
	}
	next := Pair{AccessToken: tok.AccessToken, Expiry: tok.Expiry}
	if next.Expiry.IsZero() {
		ttl := b.cfg.Vault.DefaultTTL
		if ttl <= 0 {
			ttl = 5 * time.Minute
		}
		next.Expiry = b.cfg.Now().Add(ttl)
	}
	b.keep(ctx, key, kept, hadKept, next, "exchanged")
	b.cfg.Logger.Debug("credentials: token exchanged at Token Vault", "provider", req.Provider, "connection", req.Connection)
	return next, nil
}

// withProvider returns err with provider when err is a *providers.Error
// without one (copied: exchange errors are shared by waiters).
func withProvider(err error, provider string) error {
	var pe *providers.Error
	if errors.As(err, &pe) && (pe.Provider == "" || pe.Provider == "auth0") {
		c := *pe
		c.Provider = provider
		return &c
	}
	return err
}

// vaultOutcome classifies an exchange's error for the metrics.
func vaultOutcome(err error) string {
	var pe *providers.Error
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, tokenvault.ErrMisconfigured):
		return "misconfigured"
	case errors.As(err, &pe) && pe.Kind == providers.RateLimited:
		return "rate_limited"
	case errors.As(err, &pe) && pe.ConnectAccount:
		return "not_connected"
	default:
		return "error"
	}
}
