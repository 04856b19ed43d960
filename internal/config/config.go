package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Config is every setting idpgate has. The zero value is not valid; use
// Default and FromEnv.
type Config struct {
	ListenAddr string

	// Auth0
	Auth0BaseURL      string // scheme://host of the tenant, no trailing slash
	Auth0Issuer       string // expected iss, ends in "/"
	Auth0Audience     string
	Auth0ClientID     string
	Auth0ClientSecret secret.String
	Auth0MgmtRPS      float64 // client-side shaping of Management API calls
	// JWKSMinRefetch: an unknown kid refetches the JWKS at most this often.
	JWKSMinRefetch time.Duration
	Auth0MgmtBurst int

	// Providers holds the provider-level settings per adapter
	// (<APIEnv>_API_URL, <ClientEnv>_CLIENT_ID, …; see providers.Spec):
	// the defaults of the connections that adapter serves. Only values set
	// in the environment are kept; Resolve applies the adapters' defaults.
	Providers map[string]providers.Settings
	// Connections are the connections configured with
	// CONNECTION_<NAME>_<FIELD>, sorted by NAME.
	Connections []Connection
	// TokenVault is the Custom API Client that exchanges callers' access
	// tokens at Auth0's Token Vault (see vault.go).
	TokenVault TokenVault

	// CursorSecret signs pagination cursors. Empty: derived from the M2M
	// client secret, so every replica of one deployment agrees.
	CursorSecret secret.String

	// Requests
	AllowedOrigins   []string
	MaxBodyBytes     int64
	UserRPS          float64 // per-user request rate (token bucket keyed by sub)
	UserBurst        int
	MaxDepth         int
	MaxAliases       int
	MaxRootFields    int
	MaxDirectives    int
	MaxTokens        int
	MaxCost          int
	MaxFields        int
	Introspection    bool
	TrustedDocuments string // path of a persisted-operation manifest; empty = any operation
	APQCacheSize     int
	APQPerUser       int   // APQ entries one user may keep registered
	MaxResponseBytes int64 // bound of every response body

	// Connections (before authentication)
	MaxConns          int           // open client connections, in total
	MaxConnsPerIP     int           // open client connections per client address
	UnauthIdleTimeout time.Duration // idle time allowed to a connection that never authenticated
	UnauthRPS         float64       // unauthenticated requests per client address
	UnauthBurst       int

	// Upstreams
	UpstreamTimeout time.Duration
	RequestTimeout  time.Duration

	Redis     RedisConfig
	Telemetry TelemetryConfig
	LogLevel  string

	// Budget: per-user shares of the Management API and the providers.
	Budget Budget
}

// Default returns the defaults of every optional setting.
func Default() Config {
	return Config{
		ListenAddr:        ":8080",
		Auth0MgmtRPS:      2, // the free tier allows 2 requests/s to the Management API
		Auth0MgmtBurst:    10,
		JWKSMinRefetch:    15 * time.Second,
		MaxBodyBytes:      64 << 10,
		UserRPS:           10,
		UserBurst:         40,
		MaxDepth:          10,
		MaxAliases:        15,
		MaxRootFields:     5,
		MaxDirectives:     50,
		MaxTokens:         2000,
		MaxCost:           5000,
		MaxFields:         200,
		APQCacheSize:      1000,
		APQPerUser:        50,
		MaxResponseBytes:  4 << 20,
		MaxConns:          4096,
		MaxConnsPerIP:     64,
		UnauthIdleTimeout: 5 * time.Second,
		UnauthRPS:         5,
		UnauthBurst:       20,
		UpstreamTimeout:   10 * time.Second,
		RequestTimeout:    30 * time.Second,
		Telemetry:         TelemetryConfig{MetricsAddr: DefaultMetricsAddr},
		LogLevel:          "info",
		Budget:            defaultBudget(),
	}
}

// FromEnv reads env on top of Default. The first problem found is
// returned as one line naming the variable; on error the returned Config
// is the zero value. The provider API roots and token endpoints default to
// the adapters' own (providers.Spec), listed once in providers/all.
func FromEnv(env Env) (Config, error) {
	c := Default()
	getenv := env.get
	r := reader{getenv: getenv}

	r.str("LISTEN_ADDR", &c.ListenAddr)
	if port := getenv("PORT"); port != "" && getenv("LISTEN_ADDR") == "" {
		c.ListenAddr = ":" + port
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			r.fail("PORT", "must be a port number (0-65535)")
		}
	}

	if domain := strings.TrimSpace(getenv("AUTH0_DOMAIN")); domain != "" {
		base, err := tenantBaseURL(domain)
		if err != nil {
			r.fail("AUTH0_DOMAIN", err.Error())
		}
		c.Auth0BaseURL = base
	}
	r.str("AUTH0_ISSUER", &c.Auth0Issuer)
	r.str("AUTH0_AUDIENCE", &c.Auth0Audience)
	r.str("AUTH0_CLIENT_ID", &c.Auth0ClientID)
	r.secret("AUTH0_CLIENT_SECRET", &c.Auth0ClientSecret)
	r.float("AUTH0_MGMT_RPS", &c.Auth0MgmtRPS)
	r.int("AUTH0_MGMT_BURST", &c.Auth0MgmtBurst)
	r.duration("JWKS_MIN_REFETCH_INTERVAL", &c.JWKSMinRefetch)

	r.readProviders(&c)
	r.readConnections(&c, env.Names)
	r.readTokenVault(&c)
	r.secret("CURSOR_SECRET", &c.CursorSecret)

	if v := getenv("ALLOWED_ORIGINS"); v != "" {
		c.AllowedOrigins = nil
		for _, o := range strings.Split(v, ",") {
			if o = strings.TrimSpace(o); o != "" {
				c.AllowedOrigins = append(c.AllowedOrigins, o)
			}
		}
	}
	r.int64("MAX_BODY_BYTES", &c.MaxBodyBytes)
	r.float("USER_RPS", &c.UserRPS)
	r.int("USER_BURST", &c.UserBurst)
	r.int("MAX_DEPTH", &c.MaxDepth)
	r.int("MAX_ALIASES", &c.MaxAliases)
	r.int("MAX_ROOT_FIELDS", &c.MaxRootFields)
	r.int("MAX_DIRECTIVES", &c.MaxDirectives)
	r.int("MAX_TOKENS", &c.MaxTokens)
	r.int("MAX_COST", &c.MaxCost)
	r.int("MAX_FIELDS", &c.MaxFields)
	r.bool("INTROSPECTION", &c.Introspection)
	r.str("TRUSTED_DOCUMENTS", &c.TrustedDocuments)
	r.int("APQ_CACHE_SIZE", &c.APQCacheSize)
	r.int("APQ_PER_USER", &c.APQPerUser)
	r.int64("MAX_RESPONSE_BYTES", &c.MaxResponseBytes)
	r.int("MAX_CONNS", &c.MaxConns)
	r.int("MAX_CONNS_PER_IP", &c.MaxConnsPerIP)
	r.duration("UNAUTH_IDLE_TIMEOUT", &c.UnauthIdleTimeout)
	r.float("UNAUTH_RPS", &c.UnauthRPS)
	r.int("UNAUTH_BURST", &c.UnauthBurst)
	r.duration("UPSTREAM_TIMEOUT", &c.UpstreamTimeout)
	r.duration("REQUEST_TIMEOUT", &c.RequestTimeout)
	r.redis(&c.Redis)
	r.telemetry(&c.Telemetry, env.Names)
	r.str("LOG_LEVEL", &c.LogLevel)
	c.Budget.read(&r)

	if r.err != nil {
		return Config{}, r.err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks required settings and their consistency, filling the
// values derived from others (the issuer from the domain). Errors name the
// variable.
func (c *Config) Validate() error {
	if c.Auth0BaseURL == "" {
		return errors.New("AUTH0_DOMAIN: required (your tenant, e.g. acme.us.auth0.com)")
	}
	if c.Auth0Issuer == "" {
		c.Auth0Issuer = c.Auth0BaseURL + "/"
	} else {
		u, err := url.Parse(c.Auth0Issuer)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return errors.New("AUTH0_ISSUER: must be an absolute URL such as https://login.example.com/")
		}
		if !strings.HasSuffix(c.Auth0Issuer, "/") {
			return errors.New("AUTH0_ISSUER: must end in \"/\", as Auth0's iss claim does")
		}
	}
	if c.Auth0Audience == "" {
		return errors.New("AUTH0_AUDIENCE: required (the identifier of the gateway's API in Auth0)")
	}
	if c.Auth0ClientID == "" {
		return errors.New("AUTH0_CLIENT_ID: required (the M2M application reading the Management API)")
	}
	if c.Auth0ClientSecret.IsZero() {
		return errors.New("AUTH0_CLIENT_SECRET: required (the M2M application's secret)")
	}
	if c.Auth0MgmtRPS <= 0 {
		return errors.New("AUTH0_MGMT_RPS: must be greater than 0")
	}
	if c.Auth0MgmtBurst < 1 {
		return errors.New("AUTH0_MGMT_BURST: must be at least 1")
	}
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			return errors.New("ALLOWED_ORIGINS: \"*\" is not allowed; list the exact origins (https://app.example.com)")
		}
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("ALLOWED_ORIGINS: %q is not an origin (scheme://host[:port])", o)
		}
	}
	positive := []struct {
		name string
		v    int64
	}{
		{"MAX_BODY_BYTES", c.MaxBodyBytes}, {"USER_BURST", int64(c.UserBurst)},
		{"MAX_DEPTH", int64(c.MaxDepth)}, {"MAX_ALIASES", int64(c.MaxAliases)},
		{"MAX_ROOT_FIELDS", int64(c.MaxRootFields)}, {"MAX_DIRECTIVES", int64(c.MaxDirectives)},
		{"MAX_TOKENS", int64(c.MaxTokens)}, {"MAX_COST", int64(c.MaxCost)},
		{"MAX_FIELDS", int64(c.MaxFields)}, {"APQ_CACHE_SIZE", int64(c.APQCacheSize)},
		{"APQ_PER_USER", int64(c.APQPerUser)}, {"MAX_RESPONSE_BYTES", c.MaxResponseBytes},
		{"MAX_CONNS", int64(c.MaxConns)}, {"MAX_CONNS_PER_IP", int64(c.MaxConnsPerIP)},
		{"UNAUTH_BURST", int64(c.UnauthBurst)},
	}
	for _, p := range positive {
		if p.v < 1 {
			return fmt.Errorf("%s: must be at least 1", p.name)
		}
	}
	if c.UserRPS <= 0 {
		return errors.New("USER_RPS: must be greater than 0")
	}
	if c.UnauthRPS <= 0 {
		return errors.New("UNAUTH_RPS: must be greater than 0")
	}
	if c.UnauthIdleTimeout <= 0 {
		return errors.New("UNAUTH_IDLE_TIMEOUT: must be greater than 0")
	}
	if c.JWKSMinRefetch < 10*time.Millisecond || c.JWKSMinRefetch > time.Hour {
		return errors.New("JWKS_MIN_REFETCH_INTERVAL: must be between 10ms and 1h")
	}
	if c.UpstreamTimeout <= 0 || c.UpstreamTimeout > 5*time.Minute {
		return errors.New("UPSTREAM_TIMEOUT: must be between 1ms and 5m")
	}
	if c.RequestTimeout < c.UpstreamTimeout {
		return errors.New("REQUEST_TIMEOUT: must be at least UPSTREAM_TIMEOUT")
	}
	if _, _, err := net.SplitHostPort(c.ListenAddr); err != nil {
		return errors.New("LISTEN_ADDR: must be host:port or :port")
	}
	if err := c.Redis.validate(); err != nil {
		return err
	}
	if err := c.Telemetry.validate(c.ListenAddr); err != nil {
		return err
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		return errors.New("LOG_LEVEL: must be debug, info, warn or error")
	}
	return c.Budget.validate()
}

// tenantBaseURL turns "acme.us.auth0.com" or "https://acme.us.auth0.com/" or
// "http://127.0.0.1:9000" into a scheme://host base without trailing slash.
func tenantBaseURL(domain string) (string, error) {
	if !strings.Contains(domain, "://") {
		domain = "https://" + domain
	}
	u, err := url.Parse(domain)
	if err != nil || u.Host == "" {
		return "", errors.New("must be a tenant domain such as acme.us.auth0.com")
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", errors.New("scheme must be https (or http for a local emulator)")
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", errors.New("must be a domain or scheme://host[:port], without path")
	}
	return u.Scheme + "://" + u.Host, nil
}

func checkHTTPURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errors.New("must be an absolute http(s) URL")
	}
	if u.User != nil {
		return errors.New("must not contain credentials")
	}
	return nil
}

type reader struct {
	getenv func(string) string
	err    error
}

func (r *reader) fail(name, msg string) {
	if r.err == nil {
		r.err = fmt.Errorf("%s: %s", name, msg)
	}
}

func (r *reader) str(name string, dst *string) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		*dst = v
	}
}

func (r *reader) secret(name string, dst *secret.String) {
	if v := r.getenv(name); v != "" {
		*dst = secret.New(v)
	}
}

func (r *reader) int(name string, dst *int) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			r.fail(name, "must be an integer")
			return
		}
		*dst = n
	}
}

func (r *reader) int64(name string, dst *int64) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			r.fail(name, "must be an integer")
			return
		}
		*dst = n
	}
}

func (r *reader) float(name string, dst *float64) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			r.fail(name, "must be a number")
			return
		}
		*dst = f
	}
}

func (r *reader) bool(name string, dst *bool) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.fail(name, "must be true or false")
			return
		}
		*dst = b
	}
}

func (r *reader) duration(name string, dst *time.Duration) {
	if v := strings.TrimSpace(r.getenv(name)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			r.fail(name, "must be a duration such as 10s")
			return
		}
		*dst = d
	}
}
