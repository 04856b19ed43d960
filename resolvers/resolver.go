package resolvers

//go:generate go tool gqlgen generate

import (
	"context"
	"log/slog"
	"time"

	"github.com/idpgate/idpgate/internal/credentials"
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

// Credentials hands out provider tokens per identity and handles the
// provider refusing them. It is satisfied by *credentials.Broker.
type Credentials interface {
	Do(ctx context.Context, req credentials.Request, call func(ctx context.Context, tok secret.String) error) error
}

// Deps are the resolvers' dependencies.
type Deps struct {
	Profiles Profiles
	// Providers maps an identity's connection to its adapter; nil means
	// no connection has capabilities.
	Providers *providers.Registry
	// Credentials is the token broker; nil means one with an in-memory
	// store.
	Credentials Credentials
	// CursorKey signs pagination cursors (at least 32 bytes).
	CursorKey []byte
	// UserID returns the authenticated caller (authn.UserID).
	UserID func(ctx context.Context) (string, bool)
	// MaxIdentities caps the distinct identities one operation calls
	// providers for (default DefaultMaxIdentities); see
	// gqlresp.CodeIdentityLimit.
	MaxIdentities int
	// Bearer returns the caller's access token (authn.Bearer), exchanged
	// at Token Vault for the connections whose tokens are there; nil means
	// none is available.
	Bearer func(ctx context.Context) (secret.String, bool)
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
	if deps.Credentials == nil {
		deps.Credentials = credentials.New(credentials.Config{Now: deps.Now})
	}
	if len(deps.CursorKey) < 32 {
		panic("resolvers: CursorKey must be at least 32 bytes")
	}
	return &Resolver{deps: deps, cursors: cursorCodec{key: deps.CursorKey}}
}
