package auth0

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"

	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/secret"
)

// Defaults for the zero fields of Config.
const (
	DefaultMaxRetries   = 2
	DefaultMaxRetryWait = 10 * time.Second
	DefaultTimeout      = 10 * time.Second // of the *http.Client made when Config.HTTPClient is nil
)

// maxBody bounds every response body read; a larger one is an error.
const maxBody = 4 << 20

// firstBackoff is the ceiling of the wait before the first retry of a 5xx
// or transport failure; it doubles for each further retry, up to
// MaxRetryWait, and the wait is drawn below it (httpx.Backoff, the one
// retry policy of the gateway).
const firstBackoff = 250 * time.Millisecond

// m2mScopes are the only Management API scopes requested.
const m2mScopes = "read:users read:user_idp_tokens"

// Config configures a Client. BaseURL, ClientID and ClientSecret are
// required; every other zero field takes the default named on it.
type Config struct {
	// BaseURL is the tenant, "https://acme.us.auth0.com" or, for local
	// upstreams, "http://127.0.0.1:9000". A bare host means https. The
	// token endpoint is BaseURL/oauth/token and the Management API's
	// audience BaseURL/api/v2/.
	BaseURL      string
	ClientID     string
	ClientSecret secret.String
	// HTTPClient makes the token and API calls. Give it timeouts. Default:
	// a client with DefaultTimeout.
	HTTPClient *http.Client
	// Shared, when set, shares the M2M token with the other replicas
	// (cluster.TokenSlot): one fetch per cluster per token lifetime, and a
	// token the API refused is dropped for every replica. Nil: this
	// client fetches its own.
	Shared *cluster.TokenSlot
	// RPS and Burst shape the calls this client makes to stay below the
	// tenant's rate limit. RPS 0 means unlimited; Burst defaults to 1.
	RPS   float64
	Burst int
	// MaxRetries bounds the retries of a read after 429, 5xx or a
	// transport failure. Default DefaultMaxRetries; negative means none.
	MaxRetries int
	// MaxRetryWait is the longest wait for X-RateLimit-Reset or
	// Retry-After; a longer one returns a *RateLimitError at once.
	// Default DefaultMaxRetryWait.
	MaxRetryWait time.Duration
	// Now is the clock (token expiry, rate-limit resets). Default time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx is done (retries, rate shaping). Default:
	// a timer honouring ctx.
	Sleep func(ctx context.Context, d time.Duration) error
	// Rand is the backoff's jitter factor in [0, 1). Default:
	// math/rand/v2.
	Rand func() float64
	// MaxSearchURI bounds the request target (path and query string) of
	// one user search; SearchUsers sends smaller batches to stay within it.
	// Default DefaultMaxSearchURI.
	MaxSearchURI int
	// Logger receives one debug line per call: method, path template,
	// status, duration. Default: discard.
	Logger *slog.Logger
	// Observe, when set, is called after each answer or failed attempt
	// (metrics): kind is "search", "by_id" or "token", status 0 means no
	// answer, and h (nil without an answer) carries X-RateLimit-Remaining.
	Observe func(kind string, status int, h http.Header)
	// OnRetry, when set, is called before each request sent again after a
	// failure (metrics: this client retries itself, not its transport).
	OnRetry func()
}

// Client reads users through the Auth0 Management API. Create it with
// New; it is safe for concurrent use, and all its callers share one
// cached M2M token and one rate shaper.
type Client struct {
	base         *url.URL // ends in "/"
	http         *http.Client
	tokens       *tokenCache
	limiter      *rate.Limiter // nil: unlimited
	maxRetries   int
	maxRetryWait time.Duration
	maxSearchURI int
	now          func() time.Time
	sleep        func(context.Context, time.Duration) error
	rand         func() float64
	log          *slog.Logger
	observe      func(kind string, status int, h http.Header)
	onRetry      func()
}

// New checks cfg and returns a Client. It makes no request.
func New(cfg Config) (*Client, error) {
	base, err := parseBase(cfg.BaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.ClientID == "" {
		return nil, errors.New("auth0: ClientID is required")
	}
	if cfg.ClientSecret.IsZero() {
		return nil, errors.New("auth0: ClientSecret is required")
	}
	if cfg.RPS < 0 || math.IsNaN(cfg.RPS) || math.IsInf(cfg.RPS, 0) {
		return nil, errors.New("auth0: RPS must be a non-negative number")
	}
	c := &Client{
		base:         base,
		http:         cfg.HTTPClient,
		maxRetries:   cfg.MaxRetries,
		maxRetryWait: cfg.MaxRetryWait,
		maxSearchURI: cfg.MaxSearchURI,
		now:          cfg.Now,
		sleep:        cfg.Sleep,
		rand:         cfg.Rand,
		log:          cfg.Logger,
		observe:      cfg.Observe,
		onRetry:      cfg.OnRetry,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: DefaultTimeout}
	}
	switch {
	case c.maxRetries == 0:
		c.maxRetries = DefaultMaxRetries
	case c.maxRetries < 0:
		c.maxRetries = 0
	}
	if c.maxRetryWait <= 0 {
		c.maxRetryWait = DefaultMaxRetryWait
	}
	if c.maxSearchURI <= 0 {
		c.maxSearchURI = DefaultMaxSearchURI
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = httpx.Sleep
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if cfg.RPS > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.RPS), max(cfg.Burst, 1))
	}
	cc := &clientcredentials.Config{
		ClientID:       cfg.ClientID,
		ClientSecret:   cfg.ClientSecret.Reveal(),
		TokenURL:       base.String() + "oauth/token",
		Scopes:         strings.Fields(m2mScopes),
		EndpointParams: url.Values{"audience": {base.String() + "api/v2/"}},
		AuthStyle:      oauth2.AuthStyleInParams,
	}
	c.tokens = newTokenCache(cc, c.http, c.now, c.log)
	c.tokens.observe = c.observe
	c.tokens.shared = cfg.Shared
	return c, nil
}

func parseBase(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, errors.New("auth0: BaseURL is required")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("auth0: BaseURL must be an http(s) URL without credentials, query or fragment")
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
		u.RawPath = ""
	}
	return u, nil
}

// Ping reports whether an M2M token can be obtained (for readiness
// checks). It uses the cached token when there is one.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.tokens.token(ctx)
	var p permanent
	if errors.As(err, &p) {
		return p.error
	}
	return err
}

// outcome is the result of one attempt of a call.
type outcome struct {
	err     error
	retry   bool          // worth another attempt
	wait    time.Duration // before it; negative: back off
	refused secret.String // the token the API answered 401 to
}

// get reads rel (relative to the base URL) into v, retrying as the
// Config allows. path is the path template used in errors and logs.
func (c *Client) get(ctx context.Context, path, rel string, v any) error {
	op := "GET " + path
	u, err := c.base.Parse(rel)
	if err != nil {
		return &opError{op: op, kind: ErrNotFound, detail: "invalid request path"}
	}
	retries, authRetried := 0, false
	for {
		o := c.attempt(ctx, op, path, u.String(), v)
		if o.err == nil {
			return nil
		}
		if !o.refused.IsZero() {
			// The token was refused before its expiry (keys rotated, grant
			// changed): fetch a new one, once.
			if authRetried {
				return o.err
			}
			authRetried = true
			c.tokens.drop(ctx, o.refused)
			c.retried()
			continue
		}
		if !o.retry || retries >= c.maxRetries {
			return o.err
		}
		wait := o.wait
		if wait < 0 {
			wait = httpx.Backoff{Base: firstBackoff, Max: c.maxRetryWait, Rand: c.rand}.Wait(retries)
		}
		if wait > c.maxRetryWait {
			return o.err
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait {
			return o.err
		}
		retries++
		c.retried()
		if err := c.sleep(ctx, wait); err != nil {
			return &opError{op: op, kind: err, detail: "waiting to retry"}
		}
	}
}

// attempt makes one request.
func (c *Client) attempt(ctx context.Context, op, path, rawURL string, v any) outcome {
	if err := c.shape(ctx); err != nil {
		return outcome{err: &opError{op: op, kind: err, detail: "waiting for the client-side rate limit"}}
	}
	tok, err := c.tokens.token(ctx)
	if err != nil {
		var p permanent
		var rl *RateLimitError
		switch {
		case errors.As(err, &p):
			return outcome{err: p.error}
		case errors.As(err, &rl):
			return outcome{err: err, retry: true, wait: untilReset(rl, c.now())}
		case errors.Is(err, ErrUnavailable):
			return outcome{err: err, retry: true, wait: -1}
		}
		return outcome{err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return outcome{err: &opError{op: op, kind: ErrNotFound, detail: "invalid request"}}
	}
	req.Header.Set("Authorization", "Bearer "+tok.Reveal())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", httpx.UserAgent())

	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.logCall(ctx, path, 0, start)
		c.observeCall(path, 0, nil)
		if ctx.Err() != nil {
			return outcome{err: &opError{op: op, kind: ctx.Err(), detail: "request"}}
		}
		// *url.Error repeats the URL; keep only the cause.
		return outcome{err: &opError{op: op, kind: ErrUnavailable, detail: "transport", err: httpx.CleanTransportError(err)}, retry: true, wait: -1}
	}
	body, readErr := readBounded(resp.Body)
	resp.Body.Close()
	c.logCall(ctx, path, resp.StatusCode, start)
	c.observeCall(path, resp.StatusCode, resp.Header)

	status := resp.StatusCode
	switch {
	case status >= 200 && status < 300:
		if errors.Is(readErr, errTooLarge) {
			return outcome{err: &opError{op: op, kind: ErrUnavailable, detail: "response larger than 4 MiB"}}
		}
		if readErr != nil {
			return outcome{err: &opError{op: op, kind: ErrUnavailable, detail: "reading the response"}, retry: true, wait: -1}
		}
		if err := json.Unmarshal(body, v); err != nil {
			// The decoder's message may quote the body: drop it.
			return outcome{err: &opError{op: op, kind: ErrUnavailable, detail: "malformed response"}}
		}
		return outcome{}
	case status == http.StatusTooManyRequests:
		rl := rateLimitFrom(resp.Header, c.now())
		rl.op = op
		return outcome{err: rl, retry: true, wait: untilReset(rl, c.now())}
	}
	apiErr := &APIError{StatusCode: status, ErrorCode: errorCode(body), op: op}
	switch {
	case status == http.StatusUnauthorized:
		return outcome{err: apiErr, refused: tok}
	case status >= 500:
		wait := time.Duration(-1)
		if d, ok := httpx.ParseRetryAfter(resp.Header, c.now()); ok {
			wait = d
		}
		return outcome{err: apiErr, retry: true, wait: wait}
	}
	return outcome{err: apiErr}
}

// shape waits for the client-side limiter, on the injected clock.
func (c *Client) shape(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	now := c.now()
	r := c.limiter.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	if err := c.sleep(ctx, d); err != nil {
		r.CancelAt(c.now())
		return err
	}
	return nil
}

func (c *Client) logCall(ctx context.Context, path string, status int, start time.Time) {
	c.log.LogAttrs(ctx, slog.LevelDebug, "auth0 call",
		slog.String("method", http.MethodGet),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Duration("duration", c.now().Sub(start)))
}

// retried reports a retry to Config.OnRetry.
func (c *Client) retried() {
	if c.onRetry != nil {
		c.onRetry()
	}
}

// observeCall reports an API call to Config.Observe, its kind named after
// the path template.
func (c *Client) observeCall(path string, status int, h http.Header) {
	if c.observe == nil {
		return
	}
	kind := "by_id"
	if path == "api/v2/users" {
		kind = "search"
	}
	c.observe(kind, status, h)
}

var errTooLarge = errors.New("auth0: response too large")

func readBounded(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxBody {
		return nil, errTooLarge
	}
	return b, nil
}

// errorCode returns the errorCode of an Auth0 error body when it looks
// like one (lower-case letters, digits, underscores); anything else in
// the field is not repeated.
func errorCode(body []byte) string {
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(body, &e) != nil || len(e.ErrorCode) > 64 {
		return ""
	}
	for _, r := range e.ErrorCode {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '_' {
			return ""
		}
	}
	return e.ErrorCode
}

// rateLimitFrom reads Auth0's X-RateLimit-* headers, or Retry-After when
// X-RateLimit-Reset is absent. Auth0 sends x-ratelimit-limit, -remaining
// and -reset on its API responses:
// https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy
// and https://auth0.com/blog/why-getting-429s-and-how-to-stop-them/
func rateLimitFrom(h http.Header, now time.Time) *RateLimitError {
	rl := &RateLimitError{}
	rl.Limit, _ = strconv.Atoi(h.Get("X-RateLimit-Limit"))
	rl.Remaining, _ = strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil && s > 0 {
		rl.Reset = time.Unix(s, 0)
	} else if d, ok := httpx.ParseRetryAfter(h, now); ok {
		rl.Reset = now.Add(d)
	}
	return rl
}

// untilReset is how long to wait for rl's reset; negative (back off) when
// the tenant did not say.
func untilReset(rl *RateLimitError, now time.Time) time.Duration {
	if rl.Reset.IsZero() {
		return -1
	}
	return max(rl.Reset.Sub(now), 0)
}

// String keeps the configuration out of prints (it has none of the
// credentials, but a Client printed with %v would walk its fields).
func (c *Client) String() string { return fmt.Sprintf("auth0.Client(%s)", c.base) }
