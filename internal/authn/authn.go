package authn

import (
	lru "github.com/hashicorp/golang-lru/v2"

	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"

	"github.com/idpgate/idpgate/internal/secret"
)

// Defaults and bounds for Config.
const (
	DefaultLeeway             = 30 * time.Second
	MaxLeeway                 = 5 * time.Minute
	DefaultCacheTTL           = 10 * time.Minute
	DefaultMinRefetchInterval = 15 * time.Second

	defaultHTTPTimeout = 10 * time.Second
)

// Config configures an Authenticator. Issuer and Audience are required; a
// zero value in any other field selects the default documented on it.
type Config struct {
	// Issuer is the expected iss claim, compared byte for byte, e.g.
	// "https://acme.us.auth0.com/" (Auth0's iss ends in "/").
	Issuer string
	// Audience must be one of the token's aud values: the gateway's API
	// identifier.
	Audience string
	// JWKSURL is where the tenant's signing keys are read. Default: Issuer +
	// ".well-known/jwks.json". It must be https unless its host is loopback
	// (a local emulator): keys fetched in clear text could be swapped.
	JWKSURL string
	// HTTPClient fetches the JWKS. Default: a client with a 10 s timeout.
	HTTPClient *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30 s; at
	// most MaxLeeway. (Zero selects the default, so there is no way to ask
	// for no leeway at all.)
	Leeway time.Duration
	// CacheTTL is how long a fetched key set is used before it is fetched
	// again. If that fetch fails, the old set stays in use for up to one more
	// CacheTTL, so a short tenant outage does not reject every caller.
	// Default 10 min.
	CacheTTL time.Duration
	// MinRefetchInterval bounds how often the JWKS is fetched outside the
	// regular CacheTTL refresh: a token with an unknown kid triggers a
	// refetch at most this often, so a key rotation needs no restart but a
	// flood of bogus kids cannot hammer the tenant. Failed fetches are
	// retried no more often either. Default 15 s.
	MinRefetchInterval time.Duration
	// Now is the clock for exp, nbf, iat and the cache. Default time.Now.
	Now func() time.Time
	// Logger receives one line per rejection (a reason category, never the
	// token) and JWKS fetch failures. Default: discard.
	Logger *slog.Logger
	// OnReject, when set, is called with the reason category of each
	// rejected request (metrics).
	OnReject func(reason string)
	// OnJWKSFetch, when set, is called after each JWKS fetch with its error.
	OnJWKSFetch func(err error)
}

// Authenticator validates bearer tokens. Build it once with New; it is safe
// for concurrent use. The zero value is not usable.
type Authenticator struct {
	issuer   string
	audience string
	leeway   time.Duration
	now      func() time.Time
	log      *slog.Logger
	onReject func(reason string)
	keys     *keySet
	val      *validator.Validator
	mw       *jwtmiddleware.JWTMiddleware
	// verified remembers tokens whose signature and claims were checked,
	// keyed by the token's SHA-256, so a client's repeated requests skip
	// the RSA verification and the header parsing. A hit is still checked
	// for its key (its kid still published, with the same key material)
	// and its times.
	verified *lru.Cache[[32]byte, verifiedToken]
}

// verifiedToken is what the verified-token cache keeps of a token.
type verifiedToken struct {
	claims *validator.ValidatedClaims
	kid    string
	key    *rsa.PublicKey // the key its signature was checked with
}

// verifiedCacheSize bounds the verified-token cache.
const verifiedCacheSize = 10_000

// New checks cfg, fills its defaults and builds an Authenticator. It does
// not contact the tenant; the first request (or Ready) fetches the keys.
// Errors name the offending Config field.
func New(cfg Config) (*Authenticator, error) {
	if err := checkIssuer(cfg.Issuer); err != nil {
		return nil, err
	}
	if strings.TrimSpace(cfg.Audience) == "" {
		return nil, errors.New("authn: Audience is required")
	}
	if cfg.JWKSURL == "" {
		cfg.JWKSURL = strings.TrimSuffix(cfg.Issuer, "/") + "/.well-known/jwks.json"
	}
	if err := checkJWKSURL(cfg.JWKSURL); err != nil {
		return nil, err
	}
	switch {
	case cfg.Leeway < 0:
		return nil, errors.New("authn: Leeway must not be negative")
	case cfg.Leeway > MaxLeeway:
		return nil, fmt.Errorf("authn: Leeway %v exceeds the maximum of %v", cfg.Leeway, MaxLeeway)
	case cfg.Leeway == 0:
		cfg.Leeway = DefaultLeeway
	}
	switch {
	case cfg.CacheTTL < 0:
		return nil, errors.New("authn: CacheTTL must not be negative")
	case cfg.CacheTTL == 0:
		cfg.CacheTTL = DefaultCacheTTL
	}
	switch {
	case cfg.MinRefetchInterval < 0:
		return nil, errors.New("authn: MinRefetchInterval must not be negative")
	case cfg.MinRefetchInterval == 0:
		cfg.MinRefetchInterval = DefaultMinRefetchInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	verified, _ := lru.New[[32]byte, verifiedToken](verifiedCacheSize)
	a := &Authenticator{
		verified: verified,
		issuer:   cfg.Issuer,
		audience: cfg.Audience,
		leeway:   cfg.Leeway,
		now:      cfg.Now,
		log:      cfg.Logger,
		onReject: cfg.OnReject,
		keys: &keySet{
			onFetch:     cfg.OnJWKSFetch,
			url:         cfg.JWKSURL,
			client:      cfg.HTTPClient,
			now:         cfg.Now,
			ttl:         cfg.CacheTTL,
			minInterval: cfg.MinRefetchInterval,
			log:         cfg.Logger,
		},
	}
	v, err := validator.New(
		verificationKey,
		validator.RS256,
		cfg.Issuer,
		[]string{cfg.Audience},
		validator.WithAllowedClockSkew(cfg.Leeway),
		validator.WithCustomClaims(func() validator.CustomClaims { return &CustomClaims{} }),
	)
	if err != nil {
		return nil, fmt.Errorf("authn: build validator: %w", err)
	}
	a.val = v
	a.mw = jwtmiddleware.New(
		a.validateToken,
		jwtmiddleware.WithTokenExtractor(extractBearer),
		jwtmiddleware.WithErrorHandler(a.reject),
		jwtmiddleware.WithCredentialsOptional(false),
		jwtmiddleware.WithValidateOnOptions(true),
	)
	return a, nil
}

func checkIssuer(iss string) error {
	if iss == "" {
		return errors.New("authn: Issuer is required")
	}
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") ||
		strings.ContainsAny(iss, " \t\r\n") {
		return errors.New("authn: Issuer must be an absolute http(s) URL such as https://acme.us.auth0.com/")
	}
	return nil
}

func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("authn: JWKSURL must be an absolute http(s) URL")
	}
	if u.User != nil {
		return errors.New("authn: JWKSURL must not contain credentials")
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return errors.New("authn: JWKSURL must use https unless its host is loopback")
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Middleware authenticates every request that reaches it (OPTIONS included:
// CORS preflights are answered outside) and calls next with the validated
// claims in the context. Anything else gets the contract's 401 (or a 503
// when the tenant's keys cannot be obtained at all).
func (a *Authenticator) Middleware(next http.Handler) http.Handler {
	return a.mw.CheckJWT(withBearer(next))
}

// bearerContextKey carries the validated bearer token as a secret.String.
type bearerContextKey struct{}

// withBearer runs after validation and keeps the caller's token in the
// context, wrapped so that it never prints.
func withBearer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tok, err := extractBearer(r); err == nil && tok != "" {
			r = r.WithContext(context.WithValue(r.Context(), bearerContextKey{}, secret.New(tok)))
		}
		next.ServeHTTP(w, r)
	})
}

// Bearer returns the access token Middleware validated for this request,
// for the one place that forwards it: the Token Vault exchange at the
// same tenant. It prints as [REDACTED]; ok is false outside Middleware.
func Bearer(ctx context.Context) (secret.String, bool) {
	tok, ok := ctx.Value(bearerContextKey{}).(secret.String)
	return tok, ok && !tok.IsZero()
}

// Known reports whether r's bearer token is one this Authenticator has
// verified before and still holds in its verified-token cache, unexpired
// by the injected clock. It is a SHA-256 and a cache lookup: no signature
// is checked and no key is fetched, so a rate limiter can afford it for
// every request it would otherwise refuse. A known token still goes
// through Middleware, which decides. Safe for concurrent use.
func (a *Authenticator) Known(r *http.Request) bool {
	tok, err := extractBearer(r)
	if err != nil || tok == "" || len(tok) > maxTokenBytes {
		return false
	}
	v, ok := a.verified.Peek(sha256Of(tok))
	return ok && a.checkTimes(v.claims.RegisteredClaims) == nil
}

// Ready reports whether the tenant's signing keys are obtainable: nil when a
// usable key set is cached or could be fetched now. Meant for /readyz; it
// fetches no more often than MinRefetchInterval.
func (a *Authenticator) Ready(ctx context.Context) error {
	return a.keys.ready(ctx)
}

// CustomClaims are the non-registered claims idpgate reads from the access
// token. Reach them through Claims(ctx).CustomClaims.(*CustomClaims).
type CustomClaims struct {
	// Scope is the space-separated list of granted scopes.
	Scope string `json:"scope"`
}

// Validate implements validator.CustomClaims; scopes are checked by the
// operations that need them, not here.
func (c *CustomClaims) Validate(context.Context) error { return nil }

// HasScope reports whether scope is among the granted scopes.
func (c *CustomClaims) HasScope(scope string) bool {
	if c == nil || scope == "" {
		return false
	}
	for _, s := range strings.Fields(c.Scope) {
		if s == scope {
			return true
		}
	}
	return false
}

// Claims returns the claims Middleware validated for this request.
func Claims(ctx context.Context) (*validator.ValidatedClaims, bool) {
	c, ok := ctx.Value(jwtmiddleware.ContextKey{}).(*validator.ValidatedClaims)
	return c, ok && c != nil
}

// IssuedAt returns the validated token's iat: when Auth0 issued the
// caller's access token (whole seconds). ok is false outside Middleware
// or when the token has no iat. A later iat than before means the user
// signed in (or the client renewed its token) since.
func IssuedAt(ctx context.Context) (time.Time, bool) {
	c, ok := Claims(ctx)
	if !ok || c.RegisteredClaims.IssuedAt == 0 {
		return time.Time{}, false
	}
	return time.Unix(c.RegisteredClaims.IssuedAt, 0), true
}

// UserID returns the validated token's sub: the Auth0 user id. ok is false
// outside Middleware.
func UserID(ctx context.Context) (string, bool) {
	c, ok := Claims(ctx)
	if !ok || c.RegisteredClaims.Subject == "" {
		return "", false
	}
	return c.RegisteredClaims.Subject, true
}

// keyContextKey carries the key chosen for this token's kid from
// validateToken to verificationKey: the validator's key func only sees the
// context, not the token.
type keyContextKey struct{}

// verificationKey is the validator's key func. It hands go-jose a single
// *rsa.PublicKey, never a key set, so go-jose cannot pick a key on its own.
func verificationKey(ctx context.Context) (any, error) {
	k, ok := ctx.Value(keyContextKey{}).(*rsa.PublicKey)
	if !ok || k == nil {
		return nil, errors.New("authn: no verification key selected")
	}
	return k, nil
}
