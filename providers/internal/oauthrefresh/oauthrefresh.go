package oauthrefresh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/idpgate/idpgate/internal/clientgate"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// maxTokens bounds the tokens of one answer (x/oauth2 reads up to 1 MB);
// real access and refresh tokens are a few KB.
const maxTokens = 64 << 10

// DefaultMisconfiguredFor is how long a rejected OAuth client is
// remembered when Client.MisconfiguredFor is zero.
const DefaultMisconfiguredFor = clientgate.DefaultPeriod

// Client refreshes tokens at one connection's token endpoint. Fill the
// fields before first use and do not change them afterwards; a Client is
// then safe for concurrent use and must not be copied. Its zero value has
// no client credentials: Refresh answers ReauthRequired without a request.
type Client struct {
	// HTTP sends the request. Redirects are not followed: a token endpoint
	// that redirects would receive the client secret a second time.
	HTTP *http.Client
	// TokenURL is the endpoint (an absolute http or https URL).
	TokenURL string
	// Provider is the Auth0 provider name, for errors.
	Provider string
	// Name is the provider as users know it ("Google"), for the messages
	// that ask them to sign in again; empty means "this provider".
	Name string
	// ClientID and ClientSecret are the OAuth client the provider issued the
	// refresh token to. Without ClientID nothing can be refreshed.
	ClientID     string
	ClientSecret secret.String
	// BasicAuth sends the client credentials with HTTP Basic (RFC 6749
	// §2.3.1, what Bitbucket documents); otherwise they go in the form body
	// (what Google, Microsoft and GitLab document).
	BasicAuth bool
	// Scope, when non-empty, is sent as the scope parameter. Microsoft's v2
	// endpoint wants it on every refresh, and x/oauth2's refresh grant sends
	// no scope (golang/oauth2#540 is the open request), so a Client with a
	// Scope adds it to the form on its way out; see scopeTransport.
	Scope string
	// ReauthCodes are extra OAuth error codes that mean the refresh token is
	// unusable, beyond invalid_grant and the OpenID Connect interaction
	// codes. They win over the misconfiguration codes.
	ReauthCodes []string
	// Setting names what an operator must fix when the provider rejects
	// the client, for example "CONNECTION_ACME_AZUREAD_CLIENT_ID/_CLIENT_SECRET/_TOKEN_URL"
	// or "GITLAB_CLIENT_ID/GITLAB_CLIENT_SECRET/GITLAB_TOKEN_URL".
	Setting string
	// MisconfiguredFor is how long a rejected client is remembered (zero
	// means DefaultMisconfiguredFor).
	MisconfiguredFor time.Duration
	// Logger receives the once-per-period misconfiguration line; nil
	// discards it.
	Logger *slog.Logger
	// Now is the clock for Token.Expiry and the misconfiguration period;
	// nil means time.Now.
	Now func() time.Time

	gateOnce sync.Once
	gate     clientgate.Gate
}

// CheckTokenURL reports whether raw is usable as a TokenURL.
func CheckTokenURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("oauthrefresh: token URL %q is not an absolute http(s) URL", raw)
	}
	if u.User != nil {
		return errors.New("oauthrefresh: token URL must not carry credentials")
	}
	return nil
}

// Refresh exchanges refresh for a new access token. The returned
// Token.RefreshToken is set only when the provider rotated the refresh token
// (a new value the caller must store, because the old one may now be
// spent). Every failure is a *providers.Error:
//   - an empty refresh token, no configured client, invalid_grant or an
//     interaction_required-style code: ReauthRequired;
//   - invalid_scope: Forbidden (the user must consent again);
//   - 429: RateLimited with the Retry-After the endpoint sent;
//   - invalid_client, unauthorized_client, invalid_request,
//     unsupported_grant_type: Unavailable naming Setting, remembered for
//     MisconfiguredFor;
//   - 5xx, transport failures and anything else: Unavailable.
func (c *Client) Refresh(ctx context.Context, refresh secret.String) (providers.Token, error) {
	if refresh.IsZero() {
		return providers.Token{}, c.fail(providers.ReauthRequired, "no refresh token is stored for this identity; "+c.signInAgain(), nil)
	}
	if c.ClientID == "" {
		return providers.Token{}, c.fail(providers.ReauthRequired, "refreshing is not configured for this provider; "+c.signInAgain(), nil)
	}
	if err := CheckTokenURL(c.TokenURL); err != nil {
		return providers.Token{}, c.fail(providers.Unavailable, "the token endpoint is misconfigured", errors.New("oauthrefresh: invalid token URL"))
	}
	if c.HTTP == nil {
		return providers.Token{}, c.fail(providers.Unavailable, "", errors.New("oauthrefresh: no HTTP client"))
	}
	probe, err := c.admit(ctx)
	if err != nil {
		return providers.Token{}, err
	}
	tok, answered, err := c.exchange(ctx, refresh)
	c.settle(probe, answered, err)
	return tok, err
}

// exchange runs the refresh grant. answered reports whether the token
// endpoint answered (a token or an OAuth error), as opposed to a transport
// failure.
func (c *Client) exchange(ctx context.Context, refresh secret.String) (tok providers.Token, answered bool, err error) {
	style := oauth2.AuthStyleInParams
	if c.BasicAuth {
		style = oauth2.AuthStyleInHeader
	}
	cfg := oauth2.Config{
		ClientID:     c.ClientID,
		ClientSecret: c.ClientSecret.Reveal(),
		Endpoint:     oauth2.Endpoint{TokenURL: c.TokenURL, AuthStyle: style},
	}
	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if c.Scope != "" {
		base := hc.Transport
		if base == nil {
			base = http.DefaultTransport
		}
		hc.Transport = scopeTransport{base: base, scope: c.Scope}
	}
	octx := context.WithValue(ctx, oauth2.HTTPClient, &hc)
	// An oauth2.Token with only a refresh token is expired: Token() runs
	// the refresh grant once.
	t, err := cfg.TokenSource(octx, &oauth2.Token{RefreshToken: refresh.Reveal()}).Token()
	if err != nil {
		return providers.Token{}, errors.As(err, new(*oauth2.RetrieveError)), c.classify(ctx, err)
	}
	if len(t.AccessToken)+len(t.RefreshToken) > maxTokens {
		return providers.Token{}, true, c.fail(providers.Unavailable, "token response too large", nil)
	}
	if t.TokenType != "" && !strings.EqualFold(t.TokenType, "bearer") {
		return providers.Token{}, true, c.fail(providers.Unavailable, "unexpected token type from the provider", errors.New("oauthrefresh: token_type is not bearer"))
	}
	tok = providers.Token{AccessToken: secret.New(t.AccessToken)}
	if t.RefreshToken != "" && t.RefreshToken != refresh.Reveal() {
		tok.RefreshToken = secret.New(t.RefreshToken)
	}
	if t.ExpiresIn > 0 {
		// x/oauth2 computes Expiry with time.Now; use the injected clock.
		tok.Expiry = c.now().Add(time.Duration(t.ExpiresIn) * time.Second)
	}
	return tok, true, nil
}

// classify maps an error of x/oauth2's refresh to a *providers.Error. Only
// the status, the registered error code and Retry-After are read from a
// RetrieveError: its Error() and Body hold the endpoint's response.
func (c *Client) classify(ctx context.Context, err error) *providers.Error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return c.transportError(ctx, err)
	}
	status := 0
	var header http.Header
	if re.Response != nil {
		status, header = re.Response.StatusCode, re.Response.Header
	}
	code := re.ErrorCode
	cause := fmt.Errorf("oauthrefresh: token endpoint status %d", status)
	if code != "" {
		cause = fmt.Errorf("oauthrefresh: token endpoint status %d, error %s", status, c.knownCode(code))
	}
	switch {
	case code == "invalid_grant" || code == "interaction_required" || code == "consent_required" || code == "login_required" || c.isReauthCode(code):
		return c.fail(providers.ReauthRequired, "the token expired and cannot be refreshed; "+c.signInAgain(), cause)
	case code == "invalid_scope":
		return c.fail(providers.Forbidden, "the provider refused a scope; the user must sign in again and grant it", cause)
	case status == http.StatusTooManyRequests || code == "slow_down":
		e := c.fail(providers.RateLimited, "rate limited by the provider's token endpoint", cause)
		e.RetryAfter = upstream.RetryAfter(header, c.now())
		return e
	case misconfigCode(code):
		e := c.fail(providers.Unavailable, "the provider rejected the gateway's OAuth client for this connection; an operator must check "+c.setting(), cause)
		e.Err = &misconfigured{cause: cause}
		return e
	default:
		e := c.fail(providers.Unavailable, "the provider's token endpoint failed", cause)
		if status == http.StatusServiceUnavailable {
			e.RetryAfter = upstream.RetryAfter(header, c.now())
		}
		return e
	}
}

// misconfigured marks a classified error as the client's configuration.
type misconfigured struct{ cause error }

func (m *misconfigured) Error() string { return "oauth client misconfigured: " + m.cause.Error() }
func (m *misconfigured) Unwrap() error { return m.cause }

// Misconfigured marks the error for telemetry, which counts such refreshes
// apart (outcome "misconfigured") without importing this package.
func (m *misconfigured) Misconfigured() bool { return true }

// misconfigCode reports whether a token endpoint error code blames the
// gateway's OAuth client rather than the user's grant. The codes and their
// meanings are RFC 6749's token endpoint errors:
// https://www.rfc-editor.org/rfc/rfc6749#section-5.2
func misconfigCode(code string) bool {
	switch code {
	case "invalid_client", "unauthorized_client", "invalid_request", "unsupported_grant_type":
		return true
	}
	return false
}

// admit decides whether an exchange may go to the token endpoint, through
// the client's clientgate.Gate: a misconfigured client costs one request
// per period, however many identities refresh at once.
func (c *Client) admit(ctx context.Context) (probe bool, err error) {
	c.gateOnce.Do(func() {
		c.gate.Period = c.MisconfiguredFor
		c.gate.Now = c.now
	})
	probe, bad, err := c.gate.Admit(ctx)
	if err != nil {
		return false, c.fail(providers.Unavailable, "token request cancelled or timed out", err)
	}
	if bad != nil {
		e := *bad.(*providers.Error) // shared by the period: copy
		return false, &e
	}
	return probe, nil
}

// settle records the outcome of an exchange in the gate; a
// misconfiguration starts a period, logged once.
func (c *Client) settle(probe, answered bool, err error) {
	var m *misconfigured
	var bad error
	if errors.As(err, &m) {
		var pe *providers.Error
		errors.As(err, &pe)
		bad = pe
	}
	started, period := c.gate.Settle(probe, answered, bad)
	if started && c.Logger != nil {
		c.Logger.Error("oauthrefresh: the token endpoint rejected the OAuth client; refreshing is suspended",
			"provider", c.Provider, "setting", c.setting(), "cause", m.cause.Error(), "for", period.String())
	}
}

// scopeTransport adds the scope parameter to the refresh request's form.
// x/oauth2's refresh grant sends grant_type and refresh_token (and the
// client credentials) only; Microsoft's identity platform documents scope
// on the refresh request
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token).
type scopeTransport struct {
	base  http.RoundTripper
	scope string
}

func (t scopeTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || r.Body == nil {
		return t.base.RoundTrip(r)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	r.Body.Close()
	if err != nil {
		return nil, errors.New("oauthrefresh: reading the token request failed")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errors.New("oauthrefresh: the token request is not a form")
	}
	form.Set("scope", t.scope)
	enc := form.Encode()
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(strings.NewReader(enc))
	r2.ContentLength = int64(len(enc))
	r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(enc)), nil }
	return t.base.RoundTrip(r2)
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) setting() string {
	if c.Setting != "" {
		return c.Setting
	}
	return "the connection's CLIENT_ID, CLIENT_SECRET and TOKEN_URL settings"
}

func (c *Client) signInAgain() string {
	name := c.Name
	if name == "" {
		name = "this provider"
	}
	return "sign in with " + name + " again"
}

func (c *Client) isReauthCode(code string) bool {
	for _, rc := range c.ReauthCodes {
		if code != "" && code == rc {
			return true
		}
	}
	return false
}

// knownCode returns code when it is one of the error codes RFC 6749, RFC
// 8628 or OpenID Connect register (or a configured ReauthCode), and
// "unrecognized" otherwise: an error names the code but never repeats
// arbitrary text from the endpoint, which could echo a credential.
func (c *Client) knownCode(code string) string {
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
		"unsupported_grant_type", "invalid_scope", "interaction_required", "consent_required",
		"login_required", "temporarily_unavailable", "server_error", "slow_down":
		return code
	}
	if c.isReauthCode(code) {
		return code
	}
	return "unrecognized"
}

func (c *Client) fail(kind providers.Kind, msg string, err error) *providers.Error {
	return &providers.Error{Kind: kind, Provider: c.Provider, Message: msg, Err: err}
}

// transportError classifies what is not a RetrieveError: the request
// failed (its cause kept through httpx.CleanTransportError, which drops
// the URL), or the answer was not a token response, whose text is not
// kept: x/oauth2's parse errors quote the body.
func (c *Client) transportError(ctx context.Context, err error) *providers.Error {
	if ctx.Err() != nil {
		return c.fail(providers.Unavailable, "token request cancelled or timed out", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		cause := httpx.CleanTransportError(ue)
		var t interface{ Timeout() bool }
		if errors.As(cause, &t) && t.Timeout() {
			return c.fail(providers.Unavailable, "token request timed out", cause)
		}
		return c.fail(providers.Unavailable, "token request failed", cause)
	}
	return c.fail(providers.Unavailable, "malformed token response from the provider", errors.New("oauthrefresh: unusable token response"))
}
