package oauthrefresh

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// maxBody bounds a token endpoint's answer; a token response is a few KB.
const maxBody = 64 << 10

// Client refreshes tokens at one provider's token endpoint. Fill the fields
// before first use and do not change them afterwards; a Client is then safe
// for concurrent use. Its zero value has no client credentials: Refresh
// answers ReauthRequired without a request.
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
	// §2.3.1, what Bitbucket expects); otherwise they go in the form body
	// (what Microsoft and Google expect).
	BasicAuth bool
	// Scope, when non-empty, is sent as the scope parameter (Microsoft's v2
	// endpoint wants it on every refresh).
	Scope string
	// ReauthCodes are extra OAuth error codes that mean the refresh token is
	// unusable, beyond invalid_grant and the OpenID Connect interaction
	// codes.
	ReauthCodes []string
	// Now is the clock for Token.Expiry; nil means time.Now.
	Now func() time.Time
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

// tokenResponse is RFC 6749 §5.1 plus §5.2's error fields.
type tokenResponse struct {
	AccessToken  secret.String `json:"access_token"`
	RefreshToken secret.String `json:"refresh_token"`
	TokenType    string        `json:"token_type"`
	ExpiresIn    flexSeconds   `json:"expires_in"`
	Error        string        `json:"error"`
}

// flexSeconds decodes expires_in sent as a number (the RFC) or as a string
// (Azure AD's v1 endpoint and some proxies).
type flexSeconds int64

func (f *flexSeconds) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 || n > 1<<31 {
		return errors.New("expires_in is not a number of seconds")
	}
	*f = flexSeconds(n)
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
//   - invalid_client and anything else: Unavailable (the gateway's own
//     configuration or the provider is at fault, not the user).
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

	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refresh.Reveal()},
	}
	if c.Scope != "" {
		form.Set("scope", c.Scope)
	}
	if !c.BasicAuth {
		form.Set("client_id", c.ClientID)
		if !c.ClientSecret.IsZero() {
			form.Set("client_secret", c.ClientSecret.Reveal())
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return providers.Token{}, c.fail(providers.Unavailable, "", errors.New("oauthrefresh: building request failed"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if c.BasicAuth {
		// RFC 6749 §2.3.1: both parts are form-encoded before base64.
		cred := url.QueryEscape(c.ClientID) + ":" + url.QueryEscape(c.ClientSecret.Reveal())
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}

	hc := *c.HTTP
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		return providers.Token{}, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := upstream.ReadBounded(resp.Body, maxBody)
	if err != nil {
		if errors.Is(err, upstream.ErrTooLarge) {
			return providers.Token{}, c.fail(providers.Unavailable, "token response too large", nil)
		}
		return providers.Token{}, c.transportError(ctx, err)
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}

	var tr tokenResponse
	jsonErr := json.Unmarshal(body, &tr)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		code := ""
		if jsonErr == nil {
			code = tr.Error
		}
		return providers.Token{}, c.classify(resp, code, now)
	}
	if jsonErr != nil {
		return providers.Token{}, c.fail(providers.Unavailable, "malformed token response from the provider", errors.New("oauthrefresh: invalid JSON"))
	}
	if tr.Error != "" {
		// A 200 that carries an error (seen with some gateways).
		return providers.Token{}, c.classify(resp, tr.Error, now)
	}
	if tr.AccessToken.IsZero() {
		return providers.Token{}, c.fail(providers.Unavailable, "malformed token response from the provider", errors.New("oauthrefresh: no access_token"))
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return providers.Token{}, c.fail(providers.Unavailable, "unexpected token type from the provider", errors.New("oauthrefresh: token_type is not bearer"))
	}
	tok := providers.Token{AccessToken: tr.AccessToken}
	if !tr.RefreshToken.IsZero() && !tr.RefreshToken.Equal(refresh) {
		tok.RefreshToken = tr.RefreshToken
	}
	if tr.ExpiresIn > 0 {
		tok.Expiry = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tok, nil
}

func (c *Client) classify(resp *http.Response, code string, now time.Time) *providers.Error {
	cause := fmt.Errorf("oauthrefresh: token endpoint status %d", resp.StatusCode)
	if code != "" {
		cause = fmt.Errorf("oauthrefresh: token endpoint status %d, error %s", resp.StatusCode, c.knownCode(code))
	}
	switch {
	case code == "invalid_grant" || code == "interaction_required" || code == "consent_required" || code == "login_required" || c.isReauthCode(code):
		return c.fail(providers.ReauthRequired, "the token expired and cannot be refreshed; "+c.signInAgain(), cause)
	case code == "invalid_scope":
		return c.fail(providers.Forbidden, "the provider refused a scope; the user must sign in again and grant it", cause)
	case resp.StatusCode == http.StatusTooManyRequests || code == "slow_down":
		e := c.fail(providers.RateLimited, "rate limited by the provider's token endpoint", cause)
		e.RetryAfter = upstream.RetryAfter(resp.Header, now)
		return e
	case code == "invalid_client" || code == "unauthorized_client":
		return c.fail(providers.Unavailable, "the provider rejected the gateway's OAuth client", cause)
	default:
		e := c.fail(providers.Unavailable, "the provider's token endpoint failed", cause)
		if resp.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = upstream.RetryAfter(resp.Header, now)
		}
		return e
	}
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

func (c *Client) transportError(ctx context.Context, err error) *providers.Error {
	if ctx.Err() != nil {
		return c.fail(providers.Unavailable, "token request cancelled or timed out", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var t interface{ Timeout() bool }
	if errors.As(err, &t) && t.Timeout() {
		return c.fail(providers.Unavailable, "token request timed out", err)
	}
	return c.fail(providers.Unavailable, "token request failed", err)
}
