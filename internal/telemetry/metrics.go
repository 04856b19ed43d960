package telemetry

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/idpgate/idpgate/providers"
)

// Namespace prefixes every metric idpgate defines.
const Namespace = "idpgate"

// Bounds of the label sets fed from request data.
const (
	maxOperationNames = 100 // GraphQL operation names kept, the rest "other"
	maxSmallSet       = 32  // error codes, JWT reasons, providers, limits
)

// Metrics is idpgate's Prometheus registry and every metric it exports.
// Make it with NewMetrics; a nil *Metrics records nothing (every method is
// safe to call on nil). It is safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	gqlOperations *prometheus.CounterVec
	gqlErrors     *prometheus.CounterVec
	gqlLimits     *prometheus.CounterVec

	upstreamRequests    *prometheus.CounterVec
	upstreamDuration    *prometheus.HistogramVec
	upstreamRetries     *prometheus.CounterVec
	breakerState        *prometheus.GaugeVec
	breakerTransitions  *prometheus.CounterVec
	mgmtRequests        *prometheus.CounterVec
	mgmtRateLimited     *prometheus.CounterVec
	mgmtRemaining       prometheus.Gauge
	mgmtBatchSize       prometheus.Histogram
	profileCache        *prometheus.CounterVec
	refreshes           *prometheus.CounterVec
	refreshWait         *prometheus.HistogramVec
	jwtRejections       *prometheus.CounterVec
	jwksFetches         *prometheus.CounterVec
	rateLimitRejections prometheus.Counter
	apq                 *prometheus.CounterVec
	redisUp             *prometheus.GaugeVec
	vaultExchanges      *prometheus.CounterVec
	redisFailures       *prometheus.CounterVec

	operations                        *popular
	codes, reasons, providers, limits *bounded
	redisCauses                       *bounded

	names []string // of the series, for Names
}

// latencyBuckets fit a gateway whose upstreams answer in 10 ms to seconds.
var latencyBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// NewMetrics returns a Metrics on a registry of its own, with the Go
// runtime and process collectors.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var names []string
	f := factory{reg: reg, names: &names}
	m := &Metrics{
		reg: reg,
		httpRequests: f.counter("http_requests_total",
			"HTTP requests served on the public listener, by route and status class.", "route", "code"),
		httpDuration: f.histogram("http_request_duration_seconds",
			"Time to serve an HTTP request on the public listener, by route.", latencyBuckets, "route"),
		gqlOperations: f.counter("graphql_operations_total",
			"GraphQL operations answered, by operation name (bounded; \"other\" beyond), type and outcome (ok, partial, error).", "operation", "type", "outcome"),
		gqlErrors: f.counter("graphql_errors_total",
			"Errors in GraphQL responses, by extensions.code.", "code"),
		gqlLimits: f.counter("graphql_limit_rejections_total",
			"Operations rejected by a query limit, by limit (depth, cost, tokens, ...).", "limit"),
		upstreamRequests: f.counter("upstream_requests_total",
			"Upstream HTTP attempts, by upstream (auth0 or a connection) and status class; \"error\" is a transport failure, \"circuit_open\" a request the breaker failed fast.", "upstream", "code"),
		upstreamDuration: f.histogram("upstream_request_duration_seconds",
			"Duration of one upstream HTTP attempt until its response headers, by upstream.", latencyBuckets, "upstream"),
		upstreamRetries: f.counter("upstream_retries_total",
			"Upstream attempts that repeat a failed one, by upstream.", "upstream"),
		breakerState: f.gauge("upstream_circuit_state",
			"Circuit breaker state by upstream: 0 closed, 1 half-open, 2 open.", "upstream"),
		breakerTransitions: f.counter("upstream_circuit_transitions_total",
			"Circuit breaker state changes, by upstream and the state entered.", "upstream", "state"),
		mgmtRequests: f.counter("auth0_management_requests_total",
			"Auth0 Management API requests, by kind (search, by_id, token) and status class.", "kind", "code"),
		mgmtRateLimited: f.counter("auth0_management_rate_limited_total",
			"Auth0 Management API answers with status 429, by kind.", "kind"),
		mgmtRemaining: f.gauge1("auth0_management_ratelimit_remaining",
			"The X-RateLimit-Remaining of the last Management API answer that carried it."),
		mgmtBatchSize: f.histogram1("auth0_management_batch_size",
			"Distinct users per profile batch (one user search, then by-id reads for what it missed).", []float64{1, 2, 5, 10, 20, 50, 100}),
		profileCache: f.counter("profile_cache_requests_total",
			"Profile cache lookups, by level (local; shared when Redis is on) and result (hit, miss).", "level", "result"),
		refreshes: f.counter("token_refreshes_total",
			"Provider token refreshes, by provider and outcome (ok, rotated, invalid_grant, misconfigured, error).", "provider", "outcome"),
		refreshWait: f.histogram("token_refresh_wait_seconds",
			"Time a request waited for a refresh another request had started, by provider.", latencyBuckets, "provider"),
		jwtRejections: f.counter("jwt_rejections_total",
			"Bearer tokens rejected, by reason (expired, bad_signature, unknown_kid, ...).", "reason"),
		jwksFetches: f.counter("jwks_fetches_total",
			"Fetches of the tenant's JWKS, by result (ok, error).", "result"),
		rateLimitRejections: f.counter1("rate_limit_rejections_total",
			"Requests refused by the per-user rate limit."),
		apq: f.counter("apq_requests_total",
			"Automatic persisted query lookups by hash, by result (hit, miss).", "result"),
		vaultExchanges: f.counter("token_vault_exchanges_total",
			"Token Vault exchanges, by provider and outcome (ok, not_connected, rate_limited, misconfigured, error).", "provider", "outcome"),
		redisUp: f.gauge("redis_up",
			"1 while the shared Redis answers, 0 while the replica serves from its in-process state (only with REDIS_URL)."),
		redisFailures: f.counter("redis_failures_total",
			"Calls to the shared Redis that fell back to the in-process state, by cause (timeout, connection, protocol, server, \"server: OOM\" and the other refusals, unavailable: refused without a network call while Redis is lost, canceled).", "cause"),
		operations:  newPopular(newBounded(maxOperationNames+1, "anonymous")),
		codes:       newBounded(maxSmallSet),
		redisCauses: newBounded(maxSmallSet),
		reasons:     newBounded(maxSmallSet),
		providers:   newBounded(maxSmallSet),
		limits:      newBounded(maxSmallSet),
	}
	m.names = names
	return m
}

// Registry is where the metrics are registered, for a test or an extra
// collector.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the exposition format of the registry.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

type factory struct {
	reg   *prometheus.Registry
	names *[]string
}

func (f factory) add(name string, suffixes ...string) {
	full := Namespace + "_" + name
	*f.names = append(*f.names, full)
	for _, s := range suffixes {
		*f.names = append(*f.names, full+s)
	}
}

// Names lists the series names idpgate's own metrics expose (a
// histogram's _bucket, _sum and _count included), for checks that alert
// rules and dashboards name only metrics that exist. The Go runtime and
// process collectors' names are in a scrape (Registry().Gather).
func (m *Metrics) Names() []string { return append([]string(nil), m.names...) }

func (f factory) counter(name, help string, labels ...string) *prometheus.CounterVec {
	f.add(name)
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

func (f factory) counter1(name, help string) prometheus.Counter {
	f.add(name)
	c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	f.add(name)
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
	f.reg.MustRegister(g)
	return g
}

func (f factory) gauge1(name, help string) prometheus.Gauge {
	f.add(name)
	g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
	f.reg.MustRegister(g)
	return g
}

func (f factory) histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	f.add(name, "_bucket", "_sum", "_count")
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets}, labels)
	f.reg.MustRegister(h)
	return h
}

func (f factory) histogram1(name, help string, buckets []float64) prometheus.Histogram {
	f.add(name, "_bucket", "_sum", "_count")
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: name, Help: help, Buckets: buckets})
	f.reg.MustRegister(h)
	return h
}

// codeClass is the status class label: "2xx" … "5xx", or "error" for no
// answer (status 0).
func codeClass(status int) string {
	switch {
	case status <= 0:
		return "error"
	case status < 200:
		return "1xx"
	case status < 300:
		return "2xx"
	case status < 400:
		return "3xx"
	case status < 500:
		return "4xx"
	default:
		return "5xx"
	}
}

// UpstreamHooks are the callbacks resilience.Policy takes for one upstream.
// The zero value observes nothing.
type UpstreamHooks struct {
	Attempt  func(status int, d time.Duration)
	Retry    func()
	Rejected func()
	Breaker  func(state string)
}

// Upstream returns the hooks of upstream name and sets its breaker gauge
// to closed. On a nil Metrics every hook is nil.
func (m *Metrics) Upstream(name string) UpstreamHooks {
	if m == nil {
		return UpstreamHooks{}
	}
	m.breakerState.WithLabelValues(name).Set(0)
	dur := m.upstreamDuration.WithLabelValues(name)
	retries := m.upstreamRetries.WithLabelValues(name)
	return UpstreamHooks{
		Attempt: func(status int, d time.Duration) {
			m.upstreamRequests.WithLabelValues(name, codeClass(status)).Inc()
			dur.Observe(d.Seconds())
		},
		Retry:    retries.Inc,
		Rejected: m.upstreamRequests.WithLabelValues(name, "circuit_open").Inc,
		Breaker: func(state string) {
			v := 0.0
			switch state {
			case "half-open":
				v = 1
			case "open":
				v = 2
			}
			m.breakerState.WithLabelValues(name).Set(v)
			m.breakerTransitions.WithLabelValues(name, state).Inc()
		},
	}
}

// ManagementCall records one Management API answer: kind is search, by_id
// or token; status 0 means no answer; h (may be nil) its headers. Auth0
// sends X-RateLimit-Limit, -Remaining and -Reset on Management API
// answers (https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy/management-api-endpoint-rate-limits);
// the gauge keeps the last Remaining seen, across replicas' shared budget.
func (m *Metrics) ManagementCall(kind string, status int, h http.Header) {
	if m == nil {
		return
	}
	m.mgmtRequests.WithLabelValues(kind, codeClass(status)).Inc()
	if status == http.StatusTooManyRequests {
		m.mgmtRateLimited.WithLabelValues(kind).Inc()
	}
	if v := h.Get("X-RateLimit-Remaining"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			m.mgmtRemaining.Set(float64(n))
		}
	}
}

// BatchSize records the distinct users of one profile batch.
func (m *Metrics) BatchSize(n int) {
	if m == nil {
		return
	}
	m.mgmtBatchSize.Observe(float64(n))
}

// Cache levels of ProfileCache.
const (
	LevelLocal  = "local"
	LevelShared = "shared" // the Redis level (REDIS_URL)
)

// ProfileCache records one profile cache lookup at level.
func (m *Metrics) ProfileCache(level string, hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.profileCache.WithLabelValues(level, result).Inc()
}

// Refresh outcomes.
const (
	RefreshOK            = "ok"
	RefreshRotated       = "rotated"
	RefreshInvalidGrant  = "invalid_grant"
	RefreshMisconfigured = "misconfigured"
	RefreshError         = "error"
)

// RefreshOutcome classifies the result of one refresh exchange.
func RefreshOutcome(rotated bool, err error) string {
	var mc interface{ Misconfigured() bool }
	switch {
	case err == nil && rotated:
		return RefreshRotated
	case err == nil:
		return RefreshOK
	case errors.As(err, &mc) && mc.Misconfigured():
		return RefreshMisconfigured
	}
	if k, ok := providers.KindOf(err); ok && k == providers.ReauthRequired {
		return RefreshInvalidGrant
	}
	return RefreshError
}

// Refresh records one refresh exchange of provider.
func (m *Metrics) Refresh(provider string, rotated bool, err error) {
	if m == nil {
		return
	}
	m.refreshes.WithLabelValues(m.providers.value(provider), RefreshOutcome(rotated, err)).Inc()
}

// RefreshWait records how long a request waited for another's refresh.
func (m *Metrics) RefreshWait(provider string, d time.Duration) {
	if m == nil {
		return
	}
	m.refreshWait.WithLabelValues(m.providers.value(provider)).Observe(d.Seconds())
}

// JWTRejected records a bearer token rejected for reason.
func (m *Metrics) JWTRejected(reason string) {
	if m == nil {
		return
	}
	m.jwtRejections.WithLabelValues(m.reasons.value(reason)).Inc()
}

// JWKSFetched records one JWKS fetch.
func (m *Metrics) JWKSFetched(err error) {
	if m == nil {
		return
	}
	result := "ok"
	if err != nil {
		result = "error"
	}
	m.jwksFetches.WithLabelValues(result).Inc()
}

// RateLimited records a request refused by the per-user rate limit.
func (m *Metrics) RateLimited() {
	if m == nil {
		return
	}
	m.rateLimitRejections.Inc()
}

// APQ records an automatic persisted query lookup by hash.
func (m *Metrics) APQ(hit bool) {
	if m == nil {
		return
	}
	result := "miss"
	if hit {
		result = "hit"
	}
	m.apq.WithLabelValues(result).Inc()
}

// operation records one answered GraphQL operation.
// user is the caller's Auth0 user id ("" unknown): a name becomes a label
// value only once minUsers distinct users sent it.
func (m *Metrics) operation(name, user, typ, outcome string) {
	if name == "" {
		name = "anonymous"
	}
	m.gqlOperations.WithLabelValues(m.operations.value(name, user), typ, outcome).Inc()
}

// responseErrors records the error codes and limits of one response.
func (m *Metrics) responseErrors(codes, limits []string) {
	for _, c := range codes {
		m.gqlErrors.WithLabelValues(m.codes.value(c)).Inc()
	}
	for _, l := range limits {
		m.gqlLimits.WithLabelValues(m.limits.value(l)).Inc()
	}
}

// request records one HTTP request on the public listener.
func (m *Metrics) request(route string, status int, d time.Duration) {
	m.httpRequests.WithLabelValues(route, codeClass(status)).Inc()
	m.httpDuration.WithLabelValues(route).Observe(d.Seconds())
}

// RedisState records whether the shared Redis is usable.
func (m *Metrics) RedisState(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.redisUp.WithLabelValues().Set(v)
}

// RedisFailure counts one call to Redis that fell back, by cause.
func (m *Metrics) RedisFailure(cause string) {
	m.redisFailures.WithLabelValues(m.redisCauses.value(cause)).Inc()
}

// VaultExchange counts one Token Vault exchange by provider and outcome.
func (m *Metrics) VaultExchange(provider, outcome string) {
	m.vaultExchanges.WithLabelValues(m.providers.value(provider), outcome).Inc()
}
