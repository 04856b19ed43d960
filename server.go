// Command idpgate is a GraphQL gateway that lets single-page apps, mobile
// apps and GraphiQL users read their own data at the identity providers
// they signed in with through Auth0, while the providers' tokens stay on
// the server. See README.md.
//
//	go run . --dev    start with in-process emulators of Auth0 and the providers
//	go run . --load   measure the request path against the emulators
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/idpgate/idpgate/graph"
	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/authn"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/graphiql"
	"github.com/idpgate/idpgate/internal/guard"
	"github.com/idpgate/idpgate/internal/httpmw"
	"github.com/idpgate/idpgate/internal/identity"
	"github.com/idpgate/idpgate/internal/incremental"
	"github.com/idpgate/idpgate/internal/loadtest"
	"github.com/idpgate/idpgate/internal/resilience"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/bitbucket"
	"github.com/idpgate/idpgate/providers/github"
	"github.com/idpgate/idpgate/providers/gitlab"
	"github.com/idpgate/idpgate/providers/google"
	"github.com/idpgate/idpgate/providers/msgraph"
	"github.com/idpgate/idpgate/resolvers"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "idpgate:", err)
		os.Exit(1)
	}
}

// run starts the gateway and serves until ctx ends, then shuts down
// gracefully. getenv supplies the configuration; stdout receives what a
// person should read (the dev banner, load figures), stderr the logs.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("idpgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "start in-process Auth0 and provider emulators on 127.0.0.1 and wire the gateway to them")
	load := fs.Bool("load", false, "run the load test against the emulators and print the figures, then exit")
	loadOpts := loadtest.DefaultOptions()
	fs.DurationVar(&loadOpts.Duration, "load-duration", loadOpts.Duration, "how long the measured load phase runs")
	fs.IntVar(&loadOpts.Users, "load-users", loadOpts.Users, "distinct users in the load")
	fs.IntVar(&loadOpts.Clients, "load-clients", loadOpts.Clients, "concurrent clients")
	fs.DurationVar(&loadOpts.Latency, "load-latency", loadOpts.Latency, "fixed latency of every emulated upstream")
	fs.IntVar(&loadOpts.CachedUsers, "load-cached", loadOpts.CachedUsers, "users loaded into the cache for the memory figure")
	devGoogleLatency := fs.Duration("dev-google-latency", 0, "with --dev: delay every answer of the Google emulator, to watch @defer deliver calendars last")
	devFiles := fs.String("dev-files", "", "with --dev: write spa.env (the example SPA's settings) and secrets.json (the seeded IdP tokens, for leak checks) into this directory")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil // -h, --help: the usage is the answer
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if !*dev && (*devFiles != "" || *devGoogleLatency != 0) {
		return errors.New("--dev-files and --dev-google-latency need --dev")
	}

	level := new(slog.LevelVar)
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	if *load {
		level.Set(slog.LevelWarn)
		return loadtest.Run(ctx, loadOpts, func(env map[string]string, lg *slog.Logger) (http.Handler, func(), error) {
			cfg, err := config.FromEnv(overlay(env, getenv))
			if err != nil {
				return nil, nil, err
			}
			gw, err := newGateway(cfg, lg, gatewayOptions{})
			if err != nil {
				return nil, nil, err
			}
			return gw.handler, gw.close, nil
		}, stdout)
	}

	var sb *sandbox.Sandbox
	if *dev {
		var err error
		sb, err = sandbox.Start(sandbox.Options{Logger: logger, GoogleLatency: *devGoogleLatency})
		if err != nil {
			return fmt.Errorf("dev sandbox: %w", err)
		}
		defer sb.Close()
		getenv = sb.DevEnv(getenv) // your own settings win, except where the emulators are
	}

	cfg, err := config.FromEnv(getenv)
	if err != nil {
		return err
	}
	if lvl := strings.ToLower(cfg.LogLevel); lvl != "" {
		_ = level.UnmarshalText([]byte(lvl))
	}
	opts := gatewayOptions{dev: *dev}
	if sb != nil {
		opts.graphiqlToken = sb.Token(sb.DemoUser)
	}
	gw, err := newGateway(cfg, logger, opts)
	if err != nil {
		return err
	}
	defer gw.close()

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	srv := &http.Server{
		Handler:           gw.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	if sb != nil && *devFiles != "" {
		if err := sb.WriteDevFiles(*devFiles, ln.Addr().String()); err != nil {
			ln.Close()
			return err
		}
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	addr := ln.Addr().String()
	logger.Info("idpgate listening", "addr", addr, "dev", *dev)
	if sb != nil {
		sb.PrintBanner(stdout, addr)
	}

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down: finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.RequestTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// overlay returns a getenv that answers from m first.
func overlay(m map[string]string, getenv func(string) string) func(string) string {
	return func(k string) string {
		if v, ok := m[k]; ok {
			return v
		}
		return getenv(k)
	}
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

// gateway is the assembled HTTP handler and what must be closed with it.
type gateway struct {
	handler http.Handler
	users   *auth0.Client
	loader  *identity.Loader
	tokens  *identity.Tokens
	close   func()
}

// newGateway maps cfg into each package's options and assembles the
// handler: /graphql (authenticated), /graphiql/, /healthz and /readyz.
// gatewayOptions are the settings that do not come from the environment.
type gatewayOptions struct {
	dev           bool   // introspection on, GraphiQL pre-filled
	graphiqlToken string // demo bearer token pre-filled in GraphiQL (dev only)
}

func newGateway(cfg config.Config, logger *slog.Logger, opts gatewayOptions) (*gateway, error) {
	// One connection pool; each upstream gets its own client on it, with
	// its own concurrency cap, retries and circuit breaker.
	pool := newTransport()
	client := func(name string, retries int) *http.Client {
		return &http.Client{
			Timeout: cfg.UpstreamTimeout,
			Transport: resilience.NewTransport(pool, resilience.Policy{
				Name:    name,
				Retries: retries,
				Logger:  logger,
			}),
		}
	}
	users, err := auth0.New(auth0.Config{
		BaseURL:      cfg.Auth0BaseURL,
		ClientID:     cfg.Auth0ClientID,
		ClientSecret: cfg.Auth0ClientSecret,
		HTTPClient:   client("auth0", -1), // the Management API client retries itself, honouring X-RateLimit-Reset
		RPS:          cfg.Auth0MgmtRPS,
		Burst:        cfg.Auth0MgmtBurst,
		Logger:       logger,
	})
	if err != nil {
		return nil, err
	}
	loader := identity.New(identity.Config{Logger: logger}, users)
	tokens := identity.NewTokens(identity.TokensConfig{Logger: logger})

	registry, err := newRegistry(cfg, client)
	if err != nil {
		return nil, err
	}

	// authn bounds each JWKS fetch itself (detached, 10s): a short
	// UPSTREAM_TIMEOUT must not fail the refetch after a key rotation,
	// which would answer valid tokens 401 until the refetch interval ends.
	jwksHTTP := &http.Client{Transport: pool}
	authenticator, err := authn.New(authn.Config{
		Issuer:             cfg.Auth0Issuer,
		Audience:           cfg.Auth0Audience,
		JWKSURL:            cfg.Auth0BaseURL + "/.well-known/jwks.json",
		MinRefetchInterval: cfg.JWKSMinRefetch,
		HTTPClient:         jwksHTTP,
		Logger:             slog.New(httpmw.ContextHandler(logger.Handler())),
	})
	if err != nil {
		return nil, err
	}

	root := resolvers.New(resolvers.Deps{
		Profiles:        loader,
		Providers:       registry,
		Tokens:          tokens,
		CursorKey:       cursorKey(cfg),
		UserID:          authn.UserID,
		UpstreamTimeout: cfg.UpstreamTimeout,
		Logger:          httpmw.Logger,
	})
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	incremental.Configure(gql) // @defer over multipart/mixed; before POST, which would also take those requests
	gql.AddTransport(transport.POST{})
	gql.SetErrorPresenter(root.PresentError)
	gql.SetRecoverFunc(root.Recover)
	gql.AroundOperations(resolvers.AroundOperations)
	guardOpts := guard.Options{
		Limits: guard.Limits{
			MaxDepth:      cfg.MaxDepth,
			MaxAliases:    cfg.MaxAliases,
			MaxRootFields: cfg.MaxRootFields,
			MaxDirectives: cfg.MaxDirectives,
			MaxTokens:     cfg.MaxTokens,
			MaxCost:       cfg.MaxCost,
			MaxFields:     cfg.MaxFields,
		},
		Introspection:  cfg.Introspection || opts.dev,
		Suggestions:    opts.dev,
		QueryCacheSize: 1000,
		APQCacheSize:   cfg.APQCacheSize,
	}
	if cfg.TrustedDocuments != "" {
		m, err := guard.LoadManifest(cfg.TrustedDocuments)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %w", err)
		}
		guardOpts.Trusted, guardOpts.APQCacheSize = m, 0
	}
	if err := guard.Configure(gql, guardOpts); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}

	perUser, err := httpmw.RateLimit(httpmw.RateLimitOptions{
		RPS:   cfg.UserRPS,
		Burst: cfg.UserBurst,
		Key:   func(r *http.Request) (string, bool) { return authn.UserID(r.Context()) },
	})
	if err != nil {
		return nil, fmt.Errorf("USER_RPS: %w", err)
	}
	cors, err := httpmw.CORS(httpmw.CORSOptions{AllowedOrigins: cfg.AllowedOrigins, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("ALLOWED_ORIGINS: %w", err)
	}

	api := authenticator.Middleware(perUser(httpmw.BodyLimit(cfg.MaxBodyBytes)(httpmw.RejectBatches()(gql))))
	mux := http.NewServeMux()
	mux.Handle("/graphql", api)
	mux.Handle("/graphiql/", graphiql.Handler("/graphiql/", graphiql.Options{Endpoint: "/graphql", DefaultQuery: defaultQuery, Token: opts.graphiqlToken}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := authenticator.Ready(ctx); err != nil {
			logger.Warn("readyz: JWKS not obtainable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "jwks: unavailable\n")
			return
		}
		if err := users.Ping(ctx); err != nil {
			logger.Warn("readyz: M2M token not obtainable", "err", err)
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, "management api token: unavailable\n")
			return
		}
		io.WriteString(w, "ready\n")
	})
	mux.Handle("GET /{$}", http.RedirectHandler("/graphiql/", http.StatusFound))

	h := httpmw.RequestID(logger)(
		httpmw.AccessLog(time.Now)(
			httpmw.Recover(logger)(
				httpmw.SecurityHeaders(httpmw.SecurityOptions{})(
					cors(mux)))))
	return &gateway{
		handler: h,
		users:   users,
		loader:  loader,
		tokens:  tokens,
		close:   func() { pool.CloseIdleConnections() },
	}, nil
}

const defaultQuery = `# idpgate: your linked identities and their data.
query Me {
  me {
    name
    email
    identities {
      id
      provider
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

// newTransport is the upstream transport: enough idle connections per host
// for a busy gateway (the default of 2 would reconnect constantly).
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	t.IdleConnTimeout = 90 * time.Second
	t.ResponseHeaderTimeout = 30 * time.Second
	return t
}

// newRegistry builds one adapter per provider from cfg, each with its own
// HTTP client from client (retries 0 means the default).
func newRegistry(cfg config.Config, client func(name string, retries int) *http.Client) (providers.Registry, error) {
	gh, err := github.New(github.Config{BaseURL: cfg.GitHubAPIURL}, client("github", 0))
	if err != nil {
		return nil, fmt.Errorf("GITHUB_API_URL: %w", err)
	}
	gg, err := google.New(google.Config{BaseURL: cfg.GoogleAPIURL, TokenURL: cfg.GoogleTokenURL, ClientID: cfg.GoogleClientID, ClientSecret: cfg.GoogleClientSecret}, client("google-oauth2", 0))
	if err != nil {
		return nil, fmt.Errorf("GOOGLE_API_URL: %w", err)
	}
	gl, err := gitlab.New(gitlab.Config{BaseURL: cfg.GitLabAPIURL}, client("gitlab", 0))
	if err != nil {
		return nil, fmt.Errorf("GITLAB_API_URL: %w", err)
	}
	bb, err := bitbucket.New(bitbucket.Config{BaseURL: cfg.BitbucketAPIURL, TokenURL: cfg.BitbucketTokenURL, ClientID: cfg.BitbucketClientID, ClientSecret: cfg.BitbucketClientSecret}, client("bitbucket", 0))
	if err != nil {
		return nil, fmt.Errorf("BITBUCKET_API_URL: %w", err)
	}
	reg := providers.Registry{
		"github":        {Repos: gh},
		"gitlab":        {Repos: gl},
		"bitbucket":     {Repos: bb, Refresh: bb},
		"google-oauth2": {Calendar: gg, Refresh: gg},
	}
	// Microsoft accounts (windowslive) and Azure AD / Entra ID (waad) both
	// read Microsoft Graph; they differ only in the name errors carry.
	msClient := client("msgraph", 0) // one upstream, one breaker, for both names
	for _, name := range []string{msgraph.ProviderLive, msgraph.ProviderAAD} {
		ms, err := msgraph.New(msgraph.Config{Provider: name, BaseURL: cfg.MSGraphAPIURL, TokenURL: cfg.MicrosoftTokenURL, ClientID: cfg.MicrosoftClientID, ClientSecret: cfg.MicrosoftClientSecret}, msClient)
		if err != nil {
			return nil, fmt.Errorf("MSGRAPH_API_URL: %w", err)
		}
		reg[name] = providers.Provider{Calendar: ms, Refresh: ms}
	}
	return reg, nil
}
