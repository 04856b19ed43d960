// Package tokenvault exchanges a caller's Auth0 access token for the
// provider access token Auth0 keeps in Token Vault: Auth0 Authentication
// API, POST {tenant}/oauth/token, OAuth 2.0 Token Exchange (RFC 8693) with
// Auth0's federated-connection grant
// (https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token,
// https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault).
//
// The caller's token is sent to the configured tenant only, in the form
// body of this one request, and appears in no error or log line.
package tokenvault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/clientgate"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// The token exchange's parameter values, as Auth0 documents them for the
// access token exchange.
const (
	GrantType          = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
	SubjectTokenType   = "urn:ietf:params:oauth:token-type:access_token"
	RequestedTokenType = "http://auth0.com/oauth/token-type/federated-connection-access-token"
)

// maxBody bounds the token endpoint's answer.
const maxBody = 64 << 10

// Config configures a Client.
type Config struct {
	// BaseURL is the tenant (scheme://host, as config's Auth0BaseURL);
	// the exchange goes to BaseURL + "/oauth/token" and nowhere else.
	BaseURL string
	// ClientID and ClientSecret are the Custom API Client (identifier =
	// the gateway's API audience, Token Vault grant enabled).
	ClientID     string
	ClientSecret secret.String
	// Setting names the variables of the client, for operator messages.
	Setting string
	// HTTP sends the request; redirects are never followed (they would
	// carry the caller's token elsewhere).
	HTTP *http.Client
	// MisconfiguredFor is how long a rejected client is remembered (zero:
	// clientgate.DefaultPeriod).
	MisconfiguredFor time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

// Client runs the exchange. Use New; a Client is safe for concurrent use.
type Client struct {
	cfg      Config
	tokenURL string
	hc       http.Client
	gate     clientgate.Gate

	mu           sync.Mutex
	limitedUntil time.Time // Auth0 asked to wait until then (429)
}

// New returns a Client for cfg.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/") + "/oauth/token")
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil {
		return nil, errors.New("tokenvault: the tenant base URL is not an absolute http(s) URL")
	}
	if cfg.ClientID == "" || cfg.ClientSecret.IsZero() {
		return nil, errors.New("tokenvault: client id and secret are required")
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Client{cfg: cfg, tokenURL: u.String(), hc: *cfg.HTTP}
	c.hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.gate = clientgate.Gate{Period: cfg.MisconfiguredFor, Now: cfg.Now}
	return c, nil
}

// Exchange trades subject (the caller's Auth0 access token) for the
// access token Token Vault holds for the user's connection. loginHint,
// when not empty, picks one of several connected accounts. Every failure
// is a *providers.Error:
//   - 401 for a user without a connected account for connection (Auth0:
//     federated_connection_refresh_token_not_found and kin):
//     ReauthRequired with ConnectAccount;
//   - the vault client rejected (invalid_client, unauthorized_client,
//     access_denied, unsupported_grant_type, invalid_request): Unavailable
//     naming Setting, remembered for MisconfiguredFor;
//   - 429: RateLimited with Retry-After or X-RateLimit-Reset, answered
//     without a request until that time has passed;
//   - anything else: Unavailable.
func (c *Client) Exchange(ctx context.Context, subject secret.String, connection, loginHint string) (providers.Token, error) {
	if subject.IsZero() {
		return providers.Token{}, &providers.Error{Kind: providers.ReauthRequired, Message: "no caller token to exchange at Token Vault"}
	}
	if wait := c.rateLimited(); wait > 0 {
		// Honour the Authentication API's 429 until it said to come back,
		// without a request.
		e := unavailable("Auth0's Token Vault rate limit was reached", errors.New("tokenvault: waiting for the rate limit to reset"))
		e.Kind, e.RetryAfter = providers.RateLimited, wait
		return providers.Token{}, e
	}
	probe, bad, err := c.gate.Admit(ctx)
	if err != nil {
		return providers.Token{}, unavailable("the Token Vault exchange was cancelled or timed out", err)
	}
	if bad != nil {
		e := *bad.(*providers.Error)
		return providers.Token{}, &e
	}
	tok, answered, misconfig, err := c.exchange(ctx, subject, connection, loginHint)
	var rejected error
	if misconfig != nil {
		rejected = misconfig // never a typed nil in the interface
	}
	if started, period := c.gate.Settle(probe, answered, rejected); started {
		c.cfg.Logger.Error("tokenvault: Auth0 rejected the Token Vault client; exchanges are suspended",
			"setting", c.setting(), "cause", misconfig.Err.Error(), "for", period.String())
	}
	return tok, err
}

// tokenResponse is the exchange's success body: access_token, expires_in,
// scope (which may differ from what the connection asked), token_type.
type tokenResponse struct {
	AccessToken secret.String `json:"access_token"`
	ExpiresIn   int64         `json:"expires_in"`
	Scope       string        `json:"scope"`
	TokenType   string        `json:"token_type"`
}

// errorResponse is the Authentication API's error body.
type errorResponse struct {
	Error string `json:"error"`
}

func (c *Client) exchange(ctx context.Context, subject secret.String, connection, loginHint string) (tok providers.Token, answered bool, misconfig *providers.Error, err error) {
	form := url.Values{
		"grant_type":           {GrantType},
		"client_id":            {c.cfg.ClientID},
		"client_secret":        {c.cfg.ClientSecret.Reveal()},
		"subject_token":        {subject.Reveal()},
		"subject_token_type":   {SubjectTokenType},
		"requested_token_type": {RequestedTokenType},
		"connection":           {connection},
	}
	if loginHint != "" {
		form.Set("login_hint", loginHint)
	}
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if rerr != nil {
		return tok, false, nil, unavailable("the Token Vault request could not be built", nil)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, rerr := c.hc.Do(httpx.WithUserAgent(req))
	if rerr != nil {
		if ctx.Err() != nil {
			return tok, false, nil, unavailable("the Token Vault exchange was cancelled or timed out", ctx.Err())
		}
		return tok, false, nil, unavailable("the Token Vault exchange failed", httpx.CleanTransportError(rerr))
	}
	defer resp.Body.Close()
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if rerr != nil || len(body) > maxBody {
		return tok, false, nil, unavailable("the Token Vault answer could not be read", nil)
	}
	if resp.StatusCode == http.StatusOK {
		var tr tokenResponse
		ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
		if ct != "application/json" || json.Unmarshal(body, &tr) != nil || tr.AccessToken.IsZero() {
			return tok, true, nil, unavailable("malformed Token Vault answer", nil)
		}
		if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
			return tok, true, nil, unavailable("unexpected token type from Token Vault", nil)
		}
		tok = providers.Token{AccessToken: tr.AccessToken}
		if tr.ExpiresIn > 0 {
			tok.Expiry = c.cfg.Now().Add(httpx.Seconds(tr.ExpiresIn))
		}
		return tok, true, nil, nil
	}
	var er errorResponse
	_ = json.Unmarshal(body, &er)
	code := knownCode(er.Error)
	cause := fmt.Errorf("tokenvault: status %d, error %s", resp.StatusCode, code)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		e := unavailable("Auth0's Token Vault rate limit was reached", cause)
		e.Kind, e.RetryAfter = providers.RateLimited, httpx.RetryWait(resp.Header, c.cfg.Now())
		c.mu.Lock()
		c.limitedUntil = c.cfg.Now().Add(e.RetryAfter)
		c.mu.Unlock()
		return tok, true, nil, e
	case misconfigCode(er.Error):
		e := unavailable("Auth0 rejected the gateway's Token Vault client; an operator must check "+c.setting(), errors.Join(ErrMisconfigured, cause))
		return tok, true, e, e
	case resp.StatusCode == http.StatusUnauthorized:
		// Auth0 answers 401 when no connected account of the user matches
		// the connection (and login_hint): the user must connect it.
		return tok, true, nil, &providers.Error{Kind: providers.ReauthRequired, ConnectAccount: true,
			Message: "this account is not connected to Token Vault; connect it again", Err: cause}
	default:
		e := unavailable("Auth0's Token Vault exchange failed", cause)
		if resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = httpx.RetryWait(resp.Header, c.cfg.Now())
		}
		return tok, true, nil, e
	}
}

// rateLimited returns how long Auth0's last 429 asked to wait from now.
func (c *Client) rateLimited() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := c.limitedUntil.Sub(c.cfg.Now()); d > 0 {
		return httpx.Clamp(d)
	}
	return 0
}

func (c *Client) setting() string {
	if c.cfg.Setting != "" {
		return c.cfg.Setting
	}
	return "the Token Vault client settings"
}

// ErrMisconfigured is matched (errors.Is) by the error of an exchange
// Auth0 refused because of the gateway's own Token Vault client (wrong
// secret, a client of another API): an operator must act (metrics).
var ErrMisconfigured = errors.New("tokenvault: the Token Vault client is misconfigured")

func unavailable(msg string, err error) *providers.Error {
	return &providers.Error{Kind: providers.Unavailable, Provider: "auth0", Message: msg, Err: err}
}

// misconfigCode reports whether an error code blames the gateway's client
// (its credentials, or a grant it lacks), not the user.
func misconfigCode(code string) bool {
	switch code {
	case "invalid_client", "unauthorized_client", "access_denied", "unsupported_grant_type", "invalid_request":
		return true
	}
	return false
}

// knownCode returns code when Auth0 or RFC 6749/8693 registers it, else
// "unrecognized": an error never repeats arbitrary upstream text.
func knownCode(code string) string {
	switch code {
	case "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client", "access_denied",
		"unsupported_grant_type", "invalid_scope", "invalid_target", "too_many_requests",
		"federated_connection_refresh_token_not_found", "tokenset_not_found", "server_error", "temporarily_unavailable":
		return code
	}
	return "unrecognized"
}
