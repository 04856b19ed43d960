package resolvers

//go:generate go tool gqlgen generate

import (
	"context"
	"log/slog"
	"time"

	"github.com/idpgate/idpgate/internal/identity"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Profiles reads a user's Auth0 profile (with the IdP tokens). It is
// satisfied by *identity.Loader.
type Profiles interface {
	Load(ctx context.Context, userID string) (*identity.Profile, error)
	// Reload bypasses the cache and user search (GET by id).
	Reload(ctx context.Context, userID string) (*identity.Profile, error)
}

// Tokens keeps provider tokens obtained by refreshing, keyed by identity,
// and refreshes at most once per identity at a time. It is satisfied by
// *identity.Tokens. A nil Tokens disables refreshing.
type Tokens interface {
	// Current returns the refreshed token of an identity while it is valid.
	Current(key string) (providers.Token, bool)
	// Refresh exchanges refreshToken through r; concurrent callers for the
	// same key share one exchange. When the stored token already differs
	// from rejected (another request refreshed it), that token is returned
	// without a new exchange. The stored (possibly rotated) refresh token
	// takes precedence over refreshToken, which is what Auth0 holds.
	Refresh(ctx context.Context, key string, r providers.Refresher, rejected, refreshToken secret.String) (providers.Token, error)
}

// Deps are the resolvers' dependencies.
type Deps struct {
	Profiles  Profiles
	Providers providers.Registry
	Tokens    Tokens
	// CursorKey signs pagination cursors (at least 32 bytes).
	CursorKey []byte
	// UserID returns the authenticated caller (authn.UserID).
	UserID func(ctx context.Context) (string, bool)
	// MaxIdentities caps the identities one request calls providers for
	// (default DefaultMaxIdentities); see CodeIdentityLimit.
	MaxIdentities int
	// UpstreamTimeout bounds each provider call.
	UpstreamTimeout time.Duration
	Now             func() time.Time
	// Logger returns the request's logger (with its request id).
	Logger func(ctx context.Context) *slog.Logger
}

// Resolver is the root resolver. It is safe for concurrent use.
type Resolver struct {
	deps    Deps
	cursors cursorCodec
}

// New checks deps and returns the root resolver.
func New(deps Deps) *Resolver {
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Logger == nil {
		deps.Logger = func(context.Context) *slog.Logger { return slog.Default() }
	}
	if deps.MaxIdentities <= 0 {
		deps.MaxIdentities = DefaultMaxIdentities
	}
	if deps.UpstreamTimeout <= 0 {
		deps.UpstreamTimeout = 10 * time.Second
	}
	if deps.Providers == nil {
		deps.Providers = providers.Registry{}
	}
	if len(deps.CursorKey) < 32 {
		panic("resolvers: CursorKey must be at least 32 bytes")
	}
	return &Resolver{deps: deps, cursors: cursorCodec{key: deps.CursorKey}}
}
