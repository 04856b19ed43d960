package credentials

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Config configures a Broker. The zero value is usable.
type Config struct {
	// Store keeps the refreshed pairs, the spent refresh tokens and the
	// refresh leases; nil means NewMemoryStore(0).
	Store Store
	// Margin: a kept token this close to its expiry is refreshed before use
	// rather than sent and rejected (default 30s).
	Margin time.Duration
	// Timeout bounds one refresh (lease wait plus exchange), detached from
	// the request that started it (default 10s).
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger *slog.Logger
	// Vault serves the identities whose tokens Auth0 keeps in Token Vault
	// (vault.go); the zero value serves every identity from identities[].
	Vault Vault
	// Observe receives the refreshes (metrics, traces); nil fields observe
	// nothing.
	Observe Observer
}

// Observer is the callbacks of a Broker's telemetry. Each nil field is
// skipped.
type Observer struct {
	// Refresh wraps each refresh exchange with the provider: it returns the
	// context the exchange runs in and a func called with its result
	// (rotated: the provider returned a new refresh token).
	Refresh func(ctx context.Context, provider string) (context.Context, func(rotated bool, err error))
	// JoinWait is called with how long a request waited for a refresh
	// another request had started.
	JoinWait func(provider string, d time.Duration)
	// VaultExchange is called with the outcome of each Token Vault
	// exchange: ok, not_connected, rate_limited, misconfigured, error.
	VaultExchange func(provider, outcome string)
}

// Broker hands out provider access tokens per identity; see the package
// documentation. Use New; a Broker is safe for concurrent use.
type Broker struct {
	cfg   Config
	store Store
	group singleflight.Group
}

// New returns a Broker for cfg.
func New(cfg Config) *Broker {
	if cfg.Store == nil {
		cfg.Store = NewMemoryStore(0)
	}
	if cfg.Margin <= 0 {
		cfg.Margin = 30 * time.Second
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
	return &Broker{cfg: cfg, store: cfg.Store}
}

// Key names an identity of a user in the Store: the Auth0 user id, the
// connection and the identity id ("<provider>|<user id>"), joined by NUL
// (which none of them can contain).
func Key(userID, connection, identityID string) string {
	return userID + "\x00" + connection + "\x00" + identityID
}

// Grant is the token pair Auth0 holds for an identity.
type Grant struct {
	AccessToken  secret.String
	RefreshToken secret.String
}

// Request names the identity a Source serves and what the caller already
// knows of it.
type Request struct {
	UserID, Connection, IdentityID string
	// Provider is Auth0's provider name, carried by the errors.
	Provider string
	// Grant is what the profile the caller read holds.
	Grant Grant
	// FromSearch is true when that profile came from Auth0's eventually
	// consistent user search.
	FromSearch bool
	// Reread reads the identity's grant again from the profile by id (not
	// search); found is false when the identity is no longer linked. Nil
	// means never re-read.
	Reread func(ctx context.Context) (g Grant, found bool, err error)
	// Refresher exchanges refresh tokens for the identity's connection; nil
	// means the tokens cannot be refreshed.
	Refresher providers.Refresher
	// Subject is the caller's Auth0 access token, exchanged at Token
	// Vault when the connection's tokens come from there. It is never a
	// key and never logged.
	Subject secret.String
	// LoginHint, when not empty, picks one of several connected accounts
	// of the connection at Token Vault.
	LoginHint string
}

// Source serves one call's tokens for one identity: Token first, then
// Reject for each token the provider refused. It is not safe for
// concurrent use; make one per call with Broker.Source.
type Source struct {
	b         *Broker
	req       Request
	key       string
	grant     Grant
	reread    bool // a re-read by id ran
	refreshed bool // the current grant was refreshed
}

// Source returns a Source for req.
func (b *Broker) Source(req Request) *Source {
	return &Source{b: b, req: req, key: Key(req.UserID, req.Connection, req.IdentityID), grant: req.Grant}
}

// Token returns the access token to send: the kept one while it is valid,
// else Auth0's. A kept token near its expiry is refreshed first. The token
// may be zero (Auth0 holds none): treat it as rejected.
func (s *Source) Token(ctx context.Context) (secret.String, error) {
	p, ok, err := s.b.store.Get(ctx, s.key)
	if err != nil {
		s.b.cfg.Logger.Warn("credentials: reading the kept token failed; using Auth0's", "provider", s.req.Provider, "err", err)
		ok = false
	}
	if !ok || p.AccessToken.IsZero() {
		return s.grant.AccessToken, nil
	}
	if p.Expiry.IsZero() || s.b.cfg.Now().Add(s.b.cfg.Margin).Before(p.Expiry) {
		return p.AccessToken, nil
	}
	return s.next(ctx, p.AccessToken, s.reauth("the access token has expired"), true)
}

// Reject reports that the provider refused tok (cause is its error, of
// kind ReauthRequired) and returns the next token to try, or the error to
// answer when none is left.
func (s *Source) Reject(ctx context.Context, tok secret.String, cause error) (secret.String, error) {
	return s.next(ctx, tok, cause, false)
}

func (s *Source) next(ctx context.Context, rejected secret.String, cause error, expired bool) (secret.String, error) {
	if !expired && s.req.FromSearch && !s.reread {
		if tok, ok := s.rereadGrant(ctx); ok {
			return tok, nil
		}
	}
	if !s.refreshed && s.req.Refresher != nil {
		s.refreshed = true
		p, err := s.b.refresh(ctx, s.key, s.req.Provider, s.req.Refresher, rejected, s.grant.RefreshToken)
		if err == nil {
			return p.AccessToken, nil
		}
		if !isReauth(err) {
			return secret.String{}, s.named(err)
		}
		cause = err
	}
	if !s.reread {
		if tok, ok := s.rereadGrant(ctx); ok {
			return tok, nil
		}
	}
	return secret.String{}, s.named(cause)
}

// rereadGrant reads the grant by id and reports whether Auth0 now holds
// another access token, which becomes the current grant (and may be
// refreshed once in its turn).
func (s *Source) rereadGrant(ctx context.Context) (secret.String, bool) {
	s.reread = true
	if s.req.Reread == nil {
		return secret.String{}, false
	}
	g, found, err := s.req.Reread(ctx)
	if err != nil || !found || g.AccessToken.IsZero() || g.AccessToken.Equal(s.grant.AccessToken) {
		return secret.String{}, false
	}
	s.grant, s.refreshed = g, false
	return g.AccessToken, true
}

func (s *Source) reauth(msg string) *providers.Error {
	return &providers.Error{Kind: providers.ReauthRequired, Provider: s.req.Provider, Message: msg}
}

// named returns err with the Source's provider when err is a
// *providers.Error without one. Refresh errors are shared by the waiters
// of one exchange, so it copies rather than edits.
func (s *Source) named(err error) error {
	var pe *providers.Error
	if errors.As(err, &pe) && pe.Provider == "" {
		c := *pe
		c.Provider = s.req.Provider
		return &c
	}
	return err
}

// Do calls call with the identity's token, and again with the next token
// while the provider refuses them (call returns an error of kind
// ReauthRequired), until one works, call fails otherwise, or none is left.
func (b *Broker) Do(ctx context.Context, req Request, call func(ctx context.Context, tok secret.String) error) error {
	if b.fromVault(req) {
		return b.doVault(ctx, req, call)
	}
	s := b.Source(req)
	tok, err := s.Token(ctx)
	for err == nil {
		var cerr error
		if tok.IsZero() {
			cerr = s.reauth("no valid access token is stored for this identity")
		} else {
			cerr = call(ctx, tok)
		}
		if !isReauth(cerr) {
			return cerr
		}
		tok, err = s.Reject(ctx, tok, cerr)
	}
	return err
}

func isReauth(err error) bool {
	k, ok := providers.KindOf(err)
	return ok && k == providers.ReauthRequired
}

// usable reports whether p can be sent instead of rejected: it is another
// token and has not expired.
func (b *Broker) usable(p Pair, rejected secret.String) bool {
	if p.AccessToken.IsZero() || p.AccessToken.Equal(rejected) {
		return false
	}
	return p.Expiry.IsZero() || b.cfg.Now().Before(p.Expiry)
}

// refresh returns a pair whose access token is not rejected: the kept one
// when another request already replaced rejected, else the result of one
// exchange (shared by the concurrent callers for key, detached from ctx).
// auth0RT is the refresh token Auth0 holds; a kept one wins over it.
func (b *Broker) refresh(ctx context.Context, key, provider string, r providers.Refresher, rejected, auth0RT secret.String) (Pair, error) {
	if p, ok, err := b.store.Get(ctx, key); err == nil && ok && b.usable(p, rejected) {
		return p, nil
	}
	start, led := b.cfg.Now(), false
	ch := b.group.DoChan(key, func() (any, error) {
		led = true // read after the result arrives, which follows this
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.Timeout)
		defer cancel()
		return b.exchange(rctx, key, provider, r, rejected, auth0RT)
	})
	select {
	case res := <-ch:
		if !led && b.cfg.Observe.JoinWait != nil {
			b.cfg.Observe.JoinWait(provider, b.cfg.Now().Sub(start))
		}
		if res.Err != nil {
			return Pair{}, res.Err
		}
		return res.Val.(Pair), nil
	case <-ctx.Done():
		return Pair{}, ctx.Err()
	}
}

func (b *Broker) exchange(ctx context.Context, key, provider string, r providers.Refresher, rejected, auth0RT secret.String) (Pair, error) {
	kept, hadKept, release, err := b.leaseKept(ctx, key, "token refresh")
	if err != nil {
		return Pair{}, err
	}
	defer release()
	if hadKept && b.usable(kept, rejected) {
		return kept, nil // another replica refreshed while we waited
	}
	var rt secret.String
	sawSpent := false
	for _, c := range []secret.String{kept.RefreshToken, auth0RT} {
		if c.IsZero() {
			continue
		}
		spent, err := b.store.IsSpent(ctx, FingerprintOf(c))
		if err != nil {
			b.cfg.Logger.Warn("credentials: reading the spent refresh tokens failed", "err", err)
		}
		if spent {
			sawSpent = true
			continue
		}
		rt = c
		break
	}
	if rt.IsZero() {
		if p, ok := b.newer(ctx, key, kept, hadKept, rejected); ok {
			return p, nil
		}
		if sawSpent {
			return Pair{}, &providers.Error{Kind: providers.ReauthRequired, Message: "the stored refresh token is no longer valid; sign in with this provider again"}
		}
		return Pair{}, &providers.Error{Kind: providers.ReauthRequired, Message: "the access token was rejected and no refresh token is stored; sign in with this provider again"}
	}

	tok, err := b.observedRefresh(ctx, provider, r, rt)
	if err != nil {
		if isReauth(err) {
			// The refresh token is dead: never send it again.
			b.markSpent(ctx, rt)
			if hadKept {
				_, _ = b.store.CompareAndDelete(ctx, key, kept)
			}
			// Another replica may have rotated it (while Redis was
			// unreachable to one of us) and shared its pair since.
			if p, ok := b.newer(ctx, key, kept, hadKept, rejected); ok {
				return p, nil
			}
		}
		return Pair{}, err
	}
	if tok.AccessToken.IsZero() {
		return Pair{}, &providers.Error{Kind: providers.Unavailable, Message: "the token endpoint returned no access token"}
	}
	next := Pair{AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry}
	rotated := !next.RefreshToken.IsZero() && !next.RefreshToken.Equal(rt)
	if !rotated {
		next.RefreshToken = rt
	} else {
		// Rotated: GitLab and Bitbucket revoke the old one; Microsoft
		// keeps it valid, but the new one is what to send from now on.
		b.markSpent(ctx, rt)
	}
	// This exchange holds the lease, so its pair is the newest: when the
	// kept pair changed under it (evicted from a bounded store, or written
	// by a replica whose lease expired), swap against what is there now
	// rather than lose a rotated refresh token.
	b.keep(ctx, key, kept, hadKept, next, "refreshed")
	b.cfg.Logger.Debug("credentials: token refreshed", "rotated", rotated)
	return next, nil
}

// keep stores next for key in place of kept, or, when the pair changed
// meanwhile, of whatever is there now: the caller's pair is the newest.
// A failure is logged (what names the token) and otherwise ignored: the
// caller answers with next all the same.
func (b *Broker) keep(ctx context.Context, key string, kept Pair, hadKept bool, next Pair, what string) {
	stored, err := b.store.CompareAndSwap(ctx, key, kept, hadKept, next)
	if err == nil && !stored {
		cur, ok, gerr := b.store.Get(ctx, key)
		if gerr == nil {
			stored, err = b.store.CompareAndSwap(ctx, key, cur, ok, next)
		} else {
			err = gerr
		}
	}
	if err != nil || !stored {
		b.cfg.Logger.Warn("credentials: keeping the "+what+" token failed", "stored", stored, "err", err)
	}
}

// newer re-reads key's pair past any first level of the store, before a
// refresh answers that the user must sign in again: a usable pair other
// than kept was stored meanwhile by another replica.
func (b *Broker) newer(ctx context.Context, key string, kept Pair, hadKept bool, rejected secret.String) (Pair, bool) {
	if f, ok := b.store.(interface{ forget(string) }); ok {
		f.forget(key)
	}
	p, ok, err := b.store.Get(ctx, key)
	if err != nil || !ok || !b.usable(p, rejected) || (hadKept && samePairs(p, kept)) {
		return Pair{}, false
	}
	return p, true
}

// observedRefresh runs r.Refresh inside Config.Observe.Refresh.
func (b *Broker) observedRefresh(ctx context.Context, provider string, r providers.Refresher, rt secret.String) (providers.Token, error) {
	if b.cfg.Observe.Refresh == nil {
		return r.Refresh(ctx, rt)
	}
	ctx, done := b.cfg.Observe.Refresh(ctx, provider)
	tok, err := r.Refresh(ctx, rt)
	done(!tok.RefreshToken.IsZero() && !tok.RefreshToken.Equal(rt), err)
	return tok, err
}

func (b *Broker) markSpent(ctx context.Context, rt secret.String) {
	if err := b.store.MarkSpent(ctx, FingerprintOf(rt)); err != nil {
		b.cfg.Logger.Warn("credentials: remembering a spent refresh token failed", "err", err)
	}
}

// leaseKept takes key's lease (one refresh or exchange per identity, in
// the cluster when the store is shared) and reads the pair kept under it,
// which another holder may have replaced while this one waited. A store
// that cannot be read counts as holding nothing. what names the step in
// the error when the lease is not acquired.
func (b *Broker) leaseKept(ctx context.Context, key, what string) (kept Pair, hadKept bool, release func(), err error) {
	release, err = b.store.Lease(ctx, key, b.cfg.Timeout)
	if err != nil {
		return Pair{}, false, nil, &providers.Error{Kind: providers.Unavailable, Message: "the " + what + " could not start", Err: errors.New("credentials: lease not acquired")}
	}
	kept, hadKept, err = b.store.Get(ctx, key)
	if err != nil {
		b.cfg.Logger.Warn("credentials: reading the kept token failed", "step", what, "err", err)
		hadKept = false
	}
	return kept, hadKept, release, nil
}
