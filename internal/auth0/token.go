package auth0

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/secret"
)

// earlyExpiry is how long before its expiry an M2M token is replaced, so
// that a token is never sent just as it expires. It shrinks to half the
// lifetime for short-lived tokens.
const earlyExpiry = 5 * time.Minute

// tokenOp is the client credentials grant at the tenant's token endpoint,
// answered with access_token, token_type and expires_in (seconds):
// https://auth0.com/docs/secure/tokens/access-tokens/management-api-access-tokens/get-management-api-access-tokens-for-production
const tokenOp = "POST oauth/token"

// tokenCache holds one M2M token and fetches a new one, one fetch at a
// time, when it nears expiry or the API has refused it.
//
// It replaces oauth2.ReuseTokenSourceWithExpiry for two reasons: that
// source judges expiry by the wall clock (Config.Now could not drive it
// in tests), and it cannot drop a token the API has refused.
type tokenCache struct {
	cc   *clientcredentials.Config
	http *http.Client
	now  func() time.Time
	log  *slog.Logger

	sem chan struct{} // one fetch at a time; waiting honours ctx

	observe func(kind string, status int, h http.Header) // nil: none
	shared  *cluster.TokenSlot                           // nil: no cluster (see shared.go)

	mu     sync.Mutex
	tok    secret.String
	expiry time.Time // when the token stops being used; zero: no expiry known
}

func newTokenCache(cc *clientcredentials.Config, hc *http.Client, now func() time.Time, log *slog.Logger) *tokenCache {
	return &tokenCache{cc: cc, http: hc, now: now, log: log, sem: make(chan struct{}, 1)}
}

func (c *tokenCache) cached() (secret.String, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.IsZero() || (!c.expiry.IsZero() && !c.now().Before(c.expiry)) {
		return secret.String{}, false
	}
	return c.tok, true
}

// token returns the cached token or fetches one. Errors are *opError or
// *RateLimitError and never hold the body of the token endpoint.
func (c *tokenCache) token(ctx context.Context) (secret.String, error) {
	if tok, ok := c.cached(); ok {
		return tok, nil
	}
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return secret.String{}, &opError{op: tokenOp, kind: ctx.Err(), detail: "waiting for the M2M token"}
	}
	defer func() { <-c.sem }()
	if tok, ok := c.cached(); ok { // another caller fetched it meanwhile
		return tok, nil
	}
	if c.shared != nil {
		return c.fromCluster(ctx)
	}
	tok, expiry, err := c.fetch(ctx)
	if err != nil {
		return secret.String{}, err
	}
	c.mu.Lock()
	c.tok, c.expiry = tok, expiry
	c.mu.Unlock()
	return tok, nil
}

// fetch asks the token endpoint for a token and says when to stop using
// it (zero: no expiry known).
func (c *tokenCache) fetch(ctx context.Context) (secret.String, time.Time, error) {
	start := c.now()
	t, err := c.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, c.http))
	status := http.StatusOK
	var header http.Header
	if err != nil {
		status = 0
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && re.Response != nil {
			status, header = re.Response.StatusCode, re.Response.Header
		}
	}
	if c.observe != nil {
		c.observe("token", status, header)
	}
	c.log.LogAttrs(ctx, slog.LevelDebug, "auth0 call",
		slog.String("method", http.MethodPost),
		slog.String("path", "oauth/token"),
		slog.Int("status", status),
		slog.Duration("duration", c.now().Sub(start)))
	if err != nil {
		return secret.String{}, time.Time{}, tokenError(ctx, err, c.now())
	}
	var expiry time.Time
	if life, ok := lifetime(t); ok {
		margin := min(earlyExpiry, life/2)
		expiry = start.Add(life - margin)
	}
	return secret.New(t.AccessToken), expiry, nil
}

// drop forgets tok if it is still the cached token (the API refused it),
// here and, with a cluster, for every replica.
func (c *tokenCache) drop(ctx context.Context, tok secret.String) {
	c.mu.Lock()
	if c.tok.Equal(tok) {
		c.tok, c.expiry = secret.String{}, time.Time{}
	}
	c.mu.Unlock()
	if c.shared != nil {
		_ = c.shared.Drop(ctx, tok) // Redis away: the others find out by their own 401
	}
}

// lifetime reads expires_in from the token response. The oauth2 package
// turns it into an Expiry by the wall clock, so that is the fallback.
func lifetime(t *oauth2.Token) (time.Duration, bool) {
	switch v := t.Extra("expires_in").(type) {
	case float64:
		return time.Duration(v * float64(time.Second)), true
	case string:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Duration(n) * time.Second, true
		}
	}
	if !t.Expiry.IsZero() {
		return time.Until(t.Expiry), true
	}
	return 0, false
}

// tokenError maps a token fetch failure to this package's errors. The
// oauth2 package's errors include the response body, so none of their
// text is kept.
func tokenError(ctx context.Context, err error, now time.Time) error {
	if ctx.Err() != nil {
		return &opError{op: tokenOp, kind: ctx.Err(), detail: "fetching the M2M token"}
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		switch {
		case status == http.StatusUnauthorized || status == http.StatusForbidden:
			return &opError{op: tokenOp, kind: ErrUnauthorized, detail: "M2M credentials refused (status " + strconv.Itoa(status) + ")"}
		case status == http.StatusTooManyRequests:
			rl := rateLimitFrom(re.Response.Header, now)
			rl.op = tokenOp
			return rl
		case status >= 500:
			return &opError{op: tokenOp, kind: ErrUnavailable, detail: "status " + strconv.Itoa(status)}
		default:
			return permanent{&opError{op: tokenOp, kind: ErrUnavailable, detail: "status " + strconv.Itoa(status)}}
		}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &opError{op: tokenOp, kind: ErrUnavailable, detail: "transport", err: httpx.CleanTransportError(err)}
	}
	return &opError{op: tokenOp, kind: ErrUnavailable, detail: "malformed token response"}
}

// permanent marks an error not worth retrying.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }
