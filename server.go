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
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/connlimit"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/gctune"
	"github.com/idpgate/idpgate/internal/loadtest"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/telemetry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], config.OS(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "idpgate:", err)
		os.Exit(1)
	}
}

// run starts the gateway and serves until ctx ends, then shuts down
// gracefully. env supplies the configuration; stdout receives what a
// person should read (the dev banner, load figures), stderr the logs.
func run(ctx context.Context, args []string, env config.Env, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("idpgate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dev := fs.Bool("dev", false, "start in-process Auth0 and provider emulators on 127.0.0.1 and wire the gateway to them")
	load := fs.Bool("load", false, "run the load test against the emulators and print the figures, then exit")
	loadRedis := fs.Bool("load-redis", false, "with --load: run the load twice, state in memory then shared through Redis (REDIS_URL, else a local redis-server), and compare")
	loadOpts := loadtest.DefaultOptions()
	fs.DurationVar(&loadOpts.Duration, "load-duration", loadOpts.Duration, "how long the measured load phase runs")
	fs.IntVar(&loadOpts.Users, "load-users", loadOpts.Users, "distinct users in the load")
	fs.IntVar(&loadOpts.Clients, "load-clients", loadOpts.Clients, "concurrent clients (and the first concurrency of the floor comparison)")
	fs.IntVar(&loadOpts.Rounds, "load-rounds", loadOpts.Rounds, "rounds of the floor comparison: each measures the floor, then the gateway, at each concurrency; the figures pool them")
	fs.IntVar(&loadOpts.HighClients, "load-clients-high", loadOpts.HighClients, "second concurrency of the floor comparison, where the CPU is the limit (0 skips it)")
	fs.DurationVar(&loadOpts.Warmup, "load-warmup", loadOpts.Warmup, "unmeasured warm-up before every measured phase")
	fs.StringVar(&loadOpts.CPUProfile, "load-cpuprofile", "", "write a CPU profile of the gateway's measured phase at the highest concurrency to this file (and the floor's to FILE.floor)")
	fs.StringVar(&loadOpts.MemProfile, "load-memprofile", "", "write allocation profiles right before (FILE.base) and after the gateway's measured phase at the highest concurrency (the floor's: FILE.floor.base, FILE.floor)")
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
	gc := gctune.Apply(os.Getenv, nil, logger) // the process's own GOGC/GOMEMLIMIT, which the runtime reads

	if *load {
		level.Set(slog.LevelWarn)
		fmt.Fprintln(stdout, gc)
		if *loadRedis {
			return runLoadRedis(ctx, loadOpts, env, stdout)
		}
		return loadtest.Run(ctx, loadOpts, func(sbEnv map[string]string, lg *slog.Logger) (http.Handler, func(), error) {
			cfg, err := config.FromEnv(env.Over(sbEnv))
			if err != nil {
				return nil, nil, err
			}
			gw, err := gateway.New(cfg, lg, gateway.Options{})
			if err != nil {
				return nil, nil, err
			}
			return gw.Handler(), gw.Close, nil
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
		env = sb.DevEnv(env) // your own settings win, except where the emulators are
		if !slices.Contains(env.Names, "METRICS_ADDR") {
			env = env.Over(map[string]string{"METRICS_ADDR": devMetricsAddr})
		}
	}

	cfg, err := config.FromEnv(env)
	if err != nil {
		return err
	}
	if lvl := strings.ToLower(cfg.LogLevel); lvl != "" {
		_ = level.UnmarshalText([]byte(lvl))
	}
	tel, metricsLn, stopTelemetry, err := startTelemetry(ctx, cfg, env, *dev)
	if err != nil {
		return err
	}
	defer stopTelemetry()
	if metricsLn != nil {
		defer metricsLn.Close()
	}
	opts := gateway.Options{Dev: *dev, Telemetry: tel}
	if sb != nil {
		opts.GraphiQLToken = sb.Token(sb.DemoUser)
	}
	gw, err := gateway.New(cfg, logger, opts)
	if err != nil {
		return err
	}
	defer gw.Close()

	tcp, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR: %w", err)
	}
	ln := limitListener(tcp, cfg)
	srv := newServer(ctx, cfg, gw.Handler(), logger)
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
	if metricsLn != nil {
		defer serveAdmin(metricsLn, tel, cfg, logger, *dev, stdout)()
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

// limitListener bounds the connections ln accepts (connlimit).
func limitListener(ln net.Listener, cfg config.Config) *connlimit.Listener {
	return connlimit.NewListener(ln, connlimit.ListenerOptions{
		MaxConns:      cfg.MaxConns,
		MaxConnsPerIP: cfg.MaxConnsPerIP,
		UnauthIdle:    cfg.UnauthIdleTimeout,
	})
}

// newServer is the HTTP server for h. Its read timeouts are what
// connlimit shortens for connections that never authenticated.
func newServer(ctx context.Context, cfg config.Config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		ConnContext:       connlimit.ConnContext,
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      cfg.RequestTimeout + 5*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// devMetricsAddr is the metrics listener under --dev: loopback only, port
// 9090 when it is free, else any free port.
const devMetricsAddr = "127.0.0.1:9090"

// startTelemetry builds the metrics (when METRICS_ADDR is set, binding it
// now so a taken port fails start-up) and the OTLP tracer provider (when
// an endpoint is set). stop flushes the last spans.
func startTelemetry(ctx context.Context, cfg config.Config, env config.Env, dev bool) (*telemetry.Telemetry, net.Listener, func(), error) {
	var metrics *telemetry.Metrics
	var ln net.Listener
	stop := func() {}
	if addr := cfg.Telemetry.MetricsAddr; addr != "" {
		var err error
		ln, err = net.Listen("tcp", addr)
		if err != nil && dev && addr == devMetricsAddr {
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return nil, nil, nil, fmt.Errorf("METRICS_ADDR: %w", err)
		}
		metrics = telemetry.NewMetrics()
	}
	var tracing telemetry.Tracing
	if cfg.Telemetry.Tracing {
		tp, err := telemetry.NewOTLPTracerProvider(ctx, env.Get)
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			return nil, nil, nil, err
		}
		tracing = telemetry.Tracing{Provider: tp, RecordUserID: cfg.Telemetry.RecordUserID, PropagateUpstream: cfg.Telemetry.PropagateUpstream,
			TrustTraceparent: cfg.Telemetry.TrustTraceparent}
		stop = func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = tp.Shutdown(sctx)
		}
	}
	if metrics == nil && !cfg.Telemetry.Tracing {
		return nil, ln, stop, nil
	}
	return telemetry.New(metrics, tracing), ln, stop, nil
}

// serveAdmin serves /metrics (and pprof with PPROF=true) on ln until the
// returned func is called. Under --dev it prints the URL.
func serveAdmin(ln net.Listener, tel *telemetry.Telemetry, cfg config.Config, logger *slog.Logger, dev bool, stdout io.Writer) (stop func()) {
	srv := &http.Server{
		Handler:           telemetry.AdminHandler(tel.Metrics(), cfg.Telemetry.Pprof),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	logger.Info("metrics listening", "addr", ln.Addr().String(), "pprof", cfg.Telemetry.Pprof)
	if dev {
		fmt.Fprintf(stdout, "  Metrics    http://%s/metrics   (METRICS_ADDR)\n\n", ln.Addr())
	}
	return func() { srv.Close(); <-done }
}

// runLoadRedis is `--load --load-redis`: loadtest.RunRedis with gateways
// built from env, and the Redis traffic of the last one.
func runLoadRedis(ctx context.Context, opts loadtest.Options, env config.Env, stdout io.Writer) error {
	var last *gateway.Gateway
	build := func(extra map[string]string) loadtest.Build {
		return func(sbEnv map[string]string, lg *slog.Logger) (http.Handler, func(), error) {
			cfg, err := config.FromEnv(env.Over(sbEnv).Over(extra))
			if err != nil {
				return nil, nil, err
			}
			gw, err := gateway.New(cfg, lg, gateway.Options{})
			if err != nil {
				return nil, nil, err
			}
			last = gw
			return gw.Handler(), gw.Close, nil
		}
	}
	stats := func() string {
		st := last.SharedStats()
		return fmt.Sprintf("%d round trips in all phases (%d failed, %d refused while unavailable, %d values that did not open)",
			st.RoundTrips, st.Failures, st.FastFails, st.Unopenable)
	}
	return loadtest.RunRedis(ctx, opts, env.Get("REDIS_URL"), env.Get("REDIS_ENCRYPTION_KEY"), build, stats, stdout)
}
