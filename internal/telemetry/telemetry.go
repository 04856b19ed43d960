package telemetry

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Telemetry bundles the metrics and the tracing the gateway wires into its
// packages. A nil *Telemetry is off: every method is safe to call on nil
// and then adds nothing. Make it with New; it is safe for concurrent use.
type Telemetry struct {
	metrics *Metrics
	tracing Tracing
	tracer  trace.Tracer
	joins   *joins
}

// New returns the telemetry of m (nil: no metrics) and t (zero: no
// tracing).
func New(m *Metrics, t Tracing) *Telemetry {
	return &Telemetry{metrics: m, tracing: t, tracer: t.tracer(), joins: &joins{byKey: map[string][]joined{}}}
}

// Metrics returns the metrics, nil when off.
func (t *Telemetry) Metrics() *Metrics {
	if t == nil {
		return nil
	}
	return t.metrics
}

// Tracing reports whether spans are recorded.
func (t *Telemetry) Tracing() bool { return t != nil && t.tracing.on() }

// Handler wraps the public handler: the server span (outermost, so the
// request's log lines carry its ids) and the request metrics.
func (t *Telemetry) Handler(h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	if t.metrics != nil {
		h = t.metrics.serverMetrics(h)
	}
	if t.tracing.on() {
		h = t.tracing.serverSpan(h)
	}
	return h
}

// Logger returns logger with trace_id and span_id added to the lines
// logged with a span's context; logger itself when tracing is off.
func (t *Telemetry) Logger(logger *slog.Logger) *slog.Logger {
	if !t.Tracing() {
		return logger
	}
	return slog.New(LogHandler(logger.Handler()))
}

// GraphQL returns the gqlgen extension counting and tracing operations;
// userID names the caller for OTEL_RECORD_USER_ID. Nil when off.
func (t *Telemetry) GraphQL(userID func(context.Context) (string, bool)) graphql.HandlerExtension {
	if t == nil || (t.metrics == nil && !t.tracing.on()) {
		return nil
	}
	e := graphQLExtension{metrics: t.metrics, tracing: t.tracing, tracer: t.tracer, userID: userID}
	if t.tracing.on() {
		return tracingExtension{e}
	}
	return e
}

// Transport makes each attempt base sends to upstream a client span; base
// itself when tracing is off.
func (t *Telemetry) Transport(base http.RoundTripper, upstream string) http.RoundTripper {
	if !t.Tracing() {
		return base
	}
	return clientSpans{base: base, tracer: t.tracer, upstream: upstream, propagate: t.tracing.PropagateUpstream}
}

// Upstream returns the resilience hooks of upstream (zero when off).
func (t *Telemetry) Upstream(name string) UpstreamHooks {
	if t == nil {
		return UpstreamHooks{}
	}
	return t.metrics.Upstream(name)
}

// RefreshStart starts the span of one refresh exchange of provider; call
// the returned func with its result, which also counts it.
func (t *Telemetry) RefreshStart(ctx context.Context, provider string) (context.Context, func(rotated bool, err error)) {
	if t == nil {
		return ctx, func(bool, error) {}
	}
	var span trace.Span
	if t.tracing.on() {
		ctx, span = t.tracer.Start(ctx, "token refresh", trace.WithAttributes(attribute.String("idpgate.provider", provider)))
	}
	return ctx, func(rotated bool, err error) {
		t.metrics.Refresh(provider, rotated, err)
		if span != nil {
			outcome := RefreshOutcome(rotated, err)
			span.SetAttributes(attribute.String("idpgate.refresh.outcome", outcome))
			if err != nil {
				span.SetStatus(codes.Error, outcome)
			}
			span.End()
		}
	}
}

// maxJoins bounds the span contexts kept for batch links; past it, stale
// ones (a waiter whose profile arrived another way, so no batch took it)
// are dropped, then new joiners are not linked (the batch still runs).
const maxJoins = 10_000

// joinTTL is how long a waiter's span context is kept for a batch.
const joinTTL = 30 * time.Second

// joins holds, by user id, the span contexts of the requests waiting for
// a profile, until the batch that loads it links them.
type joins struct {
	mu    sync.Mutex
	n     int
	byKey map[string][]joined
}

type joined struct {
	sc trace.SpanContext
	at time.Time
}

// pruneLocked drops the span contexts older than joinTTL.
func (j *joins) pruneLocked(now time.Time) {
	for k, list := range j.byKey {
		kept := list[:0]
		for _, e := range list {
			if now.Sub(e.at) < joinTTL {
				kept = append(kept, e)
			}
		}
		j.n -= len(list) - len(kept)
		if len(kept) == 0 {
			delete(j.byKey, k)
		} else {
			j.byKey[k] = kept
		}
	}
}

// ProfileJoined notes that the request of ctx waits for key's profile, so
// the batch that loads it links the request's span.
func (t *Telemetry) ProfileJoined(ctx context.Context, key string) {
	if !t.Tracing() {
		return
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return
	}
	now := time.Now()
	t.joins.mu.Lock()
	defer t.joins.mu.Unlock()
	if t.joins.n >= maxJoins {
		t.joins.pruneLocked(now)
		if t.joins.n >= maxJoins {
			return
		}
	}
	t.joins.byKey[key] = append(t.joins.byKey[key], joined{sc: sc, at: now})
	t.joins.n++
}

// ProfileBatch starts the span of one profile batch for keys: a root span
// linked to every request that joined it (it serves them all, so it is
// parented under none), and counts its size. Call end when it is done.
func (t *Telemetry) ProfileBatch(ctx context.Context, keys []string) (context.Context, func()) {
	if t == nil {
		return ctx, func() {}
	}
	t.metrics.BatchSize(len(keys))
	if !t.tracing.on() {
		return ctx, func() {}
	}
	var links []trace.Link
	t.joins.mu.Lock()
	for _, k := range keys {
		for _, j := range t.joins.byKey[k] {
			links = append(links, trace.Link{SpanContext: j.sc})
		}
		t.joins.n -= len(t.joins.byKey[k])
		delete(t.joins.byKey, k)
	}
	t.joins.mu.Unlock()
	ctx, span := t.tracer.Start(ctx, "auth0.profile_batch", trace.WithNewRoot(), trace.WithLinks(links...),
		trace.WithAttributes(attribute.Int("idpgate.batch.size", len(keys))))
	return ctx, func() { span.End() }
}

// Hooks that are nil when their metrics are off, for the packages that
// test a nil func.

// APQHook returns the guard.Options.OnAPQ hook.
func (t *Telemetry) APQHook() func(hit bool) {
	if t.Metrics() == nil {
		return nil
	}
	return t.metrics.APQ
}

// RateLimitHook returns the httpmw.RateLimitOptions.OnReject hook.
func (t *Telemetry) RateLimitHook() func() {
	if t.Metrics() == nil {
		return nil
	}
	return t.metrics.RateLimited
}

// JWTHooks returns the authn.Config.OnReject and OnJWKSFetch hooks.
func (t *Telemetry) JWTHooks() (func(reason string), func(error)) {
	if t.Metrics() == nil {
		return nil, nil
	}
	return t.metrics.JWTRejected, t.metrics.JWKSFetched
}

// ManagementHook returns the auth0.Config.Observe hook.
func (t *Telemetry) ManagementHook() func(kind string, status int, h http.Header) {
	if t.Metrics() == nil {
		return nil
	}
	return t.metrics.ManagementCall
}

// ProfileHooks returns the identity.Observer fields: Cache, Joined, Batch.
func (t *Telemetry) ProfileHooks() (cache func(hit bool), joined func(context.Context, string), batch func(context.Context, []string) (context.Context, func())) {
	if t == nil {
		return nil, nil, nil
	}
	if t.metrics != nil {
		cache = func(hit bool) { t.metrics.ProfileCache(LevelLocal, hit) }
	}
	if t.tracing.on() {
		joined = t.ProfileJoined
	}
	if t.metrics != nil || t.tracing.on() {
		batch = t.ProfileBatch
	}
	return cache, joined, batch
}

// SharedCacheHook returns the hook of the shared (Redis) profile cache
// level: the cluster wiring calls it on each lookup there. Nil when off.
func (t *Telemetry) SharedCacheHook() func(hit bool) {
	if t.Metrics() == nil {
		return nil
	}
	return func(hit bool) { t.metrics.ProfileCache(LevelShared, hit) }
}

// VaultHook returns credentials.Observer's VaultExchange; nil without
// metrics.
func (t *Telemetry) VaultHook() func(provider, outcome string) {
	if t.Metrics() == nil {
		return nil
	}
	return t.metrics.VaultExchange
}

// RedisHooks returns cluster.Options' OnState and OnFailure; nil without
// metrics.
func (t *Telemetry) RedisHooks() (state func(up bool), failure func(cause string)) {
	if t.Metrics() == nil {
		return nil, nil
	}
	return t.metrics.RedisState, t.metrics.RedisFailure
}

// RefreshHooks returns the credentials.Observer fields: Refresh, JoinWait.
func (t *Telemetry) RefreshHooks() (refresh func(context.Context, string) (context.Context, func(bool, error)), joinWait func(string, time.Duration)) {
	if t == nil || (t.metrics == nil && !t.tracing.on()) {
		return nil, nil
	}
	if t.metrics != nil {
		joinWait = t.metrics.RefreshWait
	}
	return t.RefreshStart, joinWait
}
