package gateway

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/authn"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/connlimit"
	"github.com/idpgate/idpgate/internal/credentials"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/graphiql"
	"github.com/idpgate/idpgate/internal/httpmw"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/identity"
	"github.com/idpgate/idpgate/internal/readiness"
	"github.com/idpgate/idpgate/internal/resilience"
	"github.com/idpgate/idpgate/internal/telemetry"
	"github.com/idpgate/idpgate/resolvers"
)

// Options are the settings that do not come from the environment.
type Options struct {
	// Dev turns introspection and GraphQL suggestions on.
	Dev bool
	// GraphiQLToken is a bearer token pre-filled in GraphiQL (dev only).
	GraphiQLToken string
	// Now is the clock of the profile cache and of token validation (exp,
	// nbf, iat, the JWKS cache and its refetch interval); nil means
	// time.Now.
	Now func() time.Time
	// Telemetry receives the metrics and traces; nil means none.
	Telemetry *telemetry.Telemetry
}

// Gateway is the assembled HTTP handler: /graphql (authenticated),
// /graphiql/, /healthz and /readyz. It is safe for concurrent use.
type Gateway struct {
	handler http.Handler
	pool    *http.Transport
	shared  *shared
}

// Handler returns the gateway's HTTP handler.
func (g *Gateway) Handler() http.Handler { return g.handler }

// Close releases the upstream connections. In-flight requests finish.
func (g *Gateway) Close() {
	g.pool.CloseIdleConnections()
	_ = g.shared.store.Close()
}

// New maps cfg into each package's options and assembles the gateway.
// Errors name the setting at fault.
func New(cfg config.Config, logger *slog.Logger, opts Options) (*Gateway, error) {
	tel := opts.Telemetry
	logger = tel.Logger(logger) // trace_id and span_id on request lines
	// One connection pool; each upstream gets its own client on it, with
	// its own concurrency cap, retries and circuit breaker.
	pool := newTransport(cfg.Budget.UpstreamConcurrency)
	sh, err := newShared(cfg, logger, opts)
	if err != nil {
		return nil, err
	}
	// Each user's provider calls in flight are bounded over all providers;
	// the Management API's calls serve many users at once and are budgeted
	// by the identity scheduler instead.
	perUserUpstream := resilience.NewPerUser(cfg.Budget.UserUpstreamConcurrency)
	client := func(name string, retries int) *http.Client {
		p := resilience.Policy{
			Name:          name,
			Timeout:       cfg.UpstreamTimeout,
			MaxConcurrent: cfg.Budget.UpstreamConcurrency,
			Retries:       retries,
			Logger:        logger,
			Observe:       resilience.Observer(tel.Upstream(name)),
		}
		if name != "auth0" {
			p.PerUser = perUserUpstream
			p.User = callerID
		}
		return &http.Client{Transport: resilience.NewTransport(tel.Transport(pool, name), p)}
	}
	users, err := auth0.New(auth0.Config{
		BaseURL:      cfg.Auth0BaseURL,
		ClientID:     cfg.Auth0ClientID,
		ClientSecret: cfg.Auth0ClientSecret,
		HTTPClient:   client("auth0", -1), // the Management API client retries itself, honouring X-RateLimit-Reset
		RPS:          cfg.Auth0MgmtRPS,
		Burst:        cfg.Auth0MgmtBurst,
		Logger:       logger,
		Observe:      tel.ManagementHook(),
		OnRetry:      tel.Upstream("auth0").Retry,
		Shared:       sh.slot,
	})
	if err != nil {
		return nil, err
	}
	registry, err := newRegistry(cfg, func(name string) *http.Client { return client(name, 0) }, logger)
	if err != nil {
		return nil, err
	}

	// authn bounds each JWKS fetch itself (detached, 10s): a short
	// UPSTREAM_TIMEOUT must not fail the refetch after a key rotation,
	// which would answer valid tokens 401 until the refetch interval ends.
	onReject, onJWKSFetch := tel.JWTHooks()
	authenticator, err := authn.New(authn.Config{
		Issuer:             cfg.Auth0Issuer,
		Audience:           cfg.Auth0Audience,
		JWKSURL:            cfg.Auth0BaseURL + "/.well-known/jwks.json",
		MinRefetchInterval: cfg.JWKSMinRefetch,
		Now:                opts.Now,
		HTTPClient:         &http.Client{Transport: httpx.UserAgentTransport{Base: pool}},
		Logger:             slog.New(httpmw.ContextHandler(logger.Handler())),
		OnReject:           onReject,
		OnJWKSFetch:        onJWKSFetch,
	})
	if err != nil {
		return nil, err
	}

	vault, err := newVault(cfg, client("auth0-token-vault", 0), logger)
	if err != nil {
		return nil, err
	}
	var profileObs identity.Observer
	profileObs.Cache, profileObs.Joined, profileObs.Batch = tel.ProfileHooks()
	profileObs.SharedCache = tel.SharedCacheHook() // the Redis level, with REDIS_URL
	var refreshObs credentials.Observer
	refreshObs.Refresh, refreshObs.JoinWait = tel.RefreshHooks()
	refreshObs.VaultExchange = tel.VaultHook()
	// The scheduler spends the Management API budget: cold loads first,
	// batched 50 users per search, then re-reads, round robin per user. It
	// paces evenly (burst 1): a burst would send small searches at once
	// where waiting one interval fills them (1,000 cold users: 29 calls
	// with burst 10, 20 with 1). AUTH0_MGMT_BURST still bounds the
	// client's own retries below.
	sched := identity.NewScheduler(identity.SchedulerConfig{RPS: cfg.Auth0MgmtRPS, Burst: 1}, users)
	root := resolvers.New(resolvers.Deps{
		Profiles: identity.New(identity.Config{
			Logger:         logger,
			Now:            opts.Now,
			ReloadInterval: config.Off(cfg.Budget.ReloadInterval),
			ReconsentTTL:   config.Off(cfg.Budget.ReconsentTTL),
			IssuedAt:       authn.IssuedAt, // signing in again ends both budgets
			Observe:        profileObs,
			Shared:         sh.profiles,
		}, sched),
		Providers:       registry,
		Credentials:     credentials.New(credentials.Config{Logger: logger, Store: sh.tokens, Vault: vault, Observe: refreshObs}),
		CursorKey:       cursorKey(cfg),
		UserID:          authn.UserID,
		Bearer:          authn.Bearer,
		UpstreamTimeout: cfg.UpstreamTimeout,
		MaxIdentities:   cfg.Budget.MaxIdentities,
		Logger:          httpmw.Logger,
	})
	gql, err := newGraphQL(root, cfg, opts.Dev, tel, sh.apq)
	if err != nil {
		return nil, err
	}

	perUser, err := httpmw.RateLimit(httpmw.RateLimitOptions{
		RPS:      cfg.UserRPS,
		Burst:    cfg.UserBurst,
		Key:      func(r *http.Request) (string, bool) { return authn.UserID(r.Context()) },
		OnReject: tel.RateLimitHook(),
		Decide:   sh.decide(),
	})
	if err != nil {
		return nil, fmt.Errorf("USER_RPS: %w", err)
	}
	cors, err := httpmw.CORS(httpmw.CORSOptions{AllowedOrigins: cfg.AllowedOrigins, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("ALLOWED_ORIGINS: %w", err)
	}

	unauth, err := connlimit.Middleware(connlimit.MiddlewareOptions{RPS: cfg.UnauthRPS, Burst: cfg.UnauthBurst, Logger: logger, Known: authenticator.Known})
	if err != nil {
		return nil, fmt.Errorf("UNAUTH_RPS: %w", err)
	}

	mux := http.NewServeMux()
	mux.Handle("/graphql", chain(gql,
		gqlresp.Conform(gqlresp.ConformOptions{MaxBytes: cfg.MaxResponseBytes, Logger: logger, OnCut: func(r *http.Request) {
			httpmw.Note(r.Context(), slog.String("truncated", gqlresp.CodeResponseTooLarge))
		}}),
		httpmw.Deadline(cfg.RequestTimeout),
		unauth,
		authenticator.Middleware,
		markAuthenticated,
		perUser,
		httpmw.BodyLimit(cfg.MaxBodyBytes),
		httpmw.RejectBatches(),
	))
	mux.Handle("/graphiql/", graphiql.Handler("/graphiql/", graphiql.Options{Endpoint: "/graphql", DefaultQuery: defaultQuery, Token: opts.GraphiQLToken}))
	mux.HandleFunc("GET /healthz", healthz)
	mux.Handle("GET /readyz", readyz(logger, authenticator, users, sh.status()))
	mux.Handle("GET /{$}", http.RedirectHandler("/graphiql/", http.StatusFound))

	h := chain(mux,
		tel.Handler, // outermost: the server span and the request metrics
		httpmw.RequestID(logger),
		httpmw.AccessLog(time.Now),
		httpmw.Recover(logger),
		httpmw.SecurityHeaders(httpmw.SecurityOptions{}),
		cors,
	)
	return &Gateway{handler: h, pool: pool, shared: sh}, nil
}

// chain wraps h in mw, the first outermost: chain(h, a, b) is a(b(h)).
func chain(h http.Handler, mw ...func(http.Handler) http.Handler) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

// markAuthenticated tells connlimit the connection carried an
// authenticated request, lifting its short unauthenticated idle timeout.
func markAuthenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		connlimit.MarkAuthenticated(r.Context())
		next.ServeHTTP(w, r)
	})
}

// callerID names the caller of an upstream call, for the per-user
// queueing of the resilience transports: the bearer token's sub.
func callerID(ctx context.Context) string {
	id, _ := authn.UserID(ctx)
	return id
}

// readyz is unauthenticated: it answers from a cache (readiness) once the
// JWKS and a Management API token are obtainable, else 503 naming which is
// not, with the upstream's wait when Auth0 answered 429.
func readyz(logger *slog.Logger, authenticator *authn.Authenticator, users *auth0.Client, status func() string) http.Handler {
	return readiness.Handler([]readiness.Check{
		{Name: "jwks", Probe: func(ctx context.Context) (time.Time, error) { return time.Time{}, authenticator.Ready(ctx) }},
		{Name: "management api token", Probe: func(ctx context.Context) (time.Time, error) {
			err := users.Ping(ctx)
			var rl *auth0.RateLimitError
			if errors.As(err, &rl) {
				return rl.Reset, err
			}
			return time.Time{}, err
		}},
	}, readiness.Options{Logger: logger, Status: status})
}

// cursorKey derives the cursor signing key: CURSOR_SECRET when set, else
// the M2M client secret, so every replica of a deployment agrees without
// another setting.
func cursorKey(cfg config.Config) []byte {
	src := cfg.CursorSecret
	if src.IsZero() {
		src = cfg.Auth0ClientSecret
	}
	m := hmac.New(sha256.New, []byte(src.Reveal()))
	m.Write([]byte("idpgate cursor key v1"))
	return m.Sum(nil)
}

// newTransport is the upstream transport. Every connection one upstream's
// calls in flight (at most perHost, UPSTREAM_CONCURRENCY) can hold stays
// idle for reuse, so that a busy gateway never closes one only to dial it
// again (net/http's default keeps 2 per host, 100 in all).
func newTransport(perHost int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no bound in all: perHost bounds each configured upstream
	t.MaxIdleConnsPerHost = perHost
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

const defaultQuery = `# idpgate: your linked identities and their data.
query Me {
  me {
    name
    email
    identities {
      id
      provider
      connection
      capabilities
      repos(first: 5) {
        nodes { fullName private stars updatedAt url }
        pageInfo { hasNextPage endCursor }
      }
      calendar(first: 5) {
        nodes { title start end allDay status }
        pageInfo { hasNextPage endCursor }
      }
    }
  }
}
`
