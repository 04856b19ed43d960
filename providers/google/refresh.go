package google

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// tokenResponse is a token endpoint answer, success or error (RFC 6749
// sections 5.1 and 5.2).
type tokenResponse struct {
	AccessToken  secret.String `json:"access_token"`
	RefreshToken secret.String `json:"refresh_token"`
	TokenType    string        `json:"token_type"`
	ExpiresIn    int64         `json:"expires_in"`
	Error        string        `json:"error"`
}

// Refresh exchanges a Google refresh token for a new access token
// (https://developers.google.com/identity/protocols/oauth2/web-server#offline).
// Google does not rotate refresh tokens, so the result's RefreshToken is
// empty unless Google sent a new one.
//
// It is a plain form POST rather than golang.org/x/oauth2: that package's
// RetrieveError prints the response body, and its token source hands the
// old refresh token back as if it were new.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.String) (providers.Token, error) {
	if c.clientID == "" {
		return providers.Token{}, reauth(errors.New("google: no OAuth client configured for refreshing tokens"))
	}
	if refreshToken.IsZero() {
		return providers.Token{}, reauth(errors.New("google: no refresh token"))
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"refresh_token": {refreshToken.Reveal()},
		"client_id":     {c.clientID},
		"client_secret": {c.clientSecret.Reveal()},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return providers.Token{}, refreshFailed(providers.Unavailable, "", errors.New("google: building the token request failed"))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := c.up.HTTP.Do(req)
	if err != nil {
		return providers.Token{}, transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := upstream.ReadBounded(resp.Body, maxTokenBody)
	if err != nil {
		if errors.Is(err, upstream.ErrTooLarge) {
			return providers.Token{}, refreshFailed(providers.Unavailable, "", errors.New("google: token response too large"))
		}
		return providers.Token{}, transportError(ctx, err)
	}
	var tr tokenResponse
	decodeErr := json.Unmarshal(body, &tr)

	if resp.StatusCode != http.StatusOK {
		code := errorCode(tr.Error)
		cause := fmt.Errorf("google: token endpoint answered status %d", resp.StatusCode)
		if code != "" {
			cause = fmt.Errorf("google: token endpoint answered status %d (%s)", resp.StatusCode, code)
		}
		switch {
		case code == "invalid_grant":
			return providers.Token{}, reauth(cause)
		case code == "invalid_client" || code == "unauthorized_client":
			return providers.Token{}, refreshFailed(providers.Unavailable, "Google rejected the gateway's OAuth client", cause)
		case resp.StatusCode == http.StatusTooManyRequests:
			e := refreshFailed(providers.RateLimited, "Google rate limit exceeded", cause)
			e.RetryAfter = upstream.RetryAfter(resp.Header, c.now())
			return providers.Token{}, e
		default:
			return providers.Token{}, refreshFailed(providers.Unavailable, "", cause)
		}
	}
	if decodeErr != nil || tr.AccessToken.IsZero() {
		return providers.Token{}, refreshFailed(providers.Unavailable, "malformed response from the provider", errors.New("google: token response without an access token"))
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") {
		return providers.Token{}, refreshFailed(providers.Unavailable, "malformed response from the provider", errors.New("google: token type is not Bearer"))
	}
	tok := providers.Token{AccessToken: tr.AccessToken}
	if !tr.RefreshToken.Equal(refreshToken) {
		tok.RefreshToken = tr.RefreshToken
	}
	if tr.ExpiresIn > 0 {
		tok.Expiry = c.now().Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return tok, nil
}

func reauth(err error) *providers.Error {
	return &providers.Error{
		Kind: providers.ReauthRequired, Provider: provider, Err: err,
		Message: "the Google token expired and cannot be refreshed; sign in with Google again",
	}
}

func refreshFailed(kind providers.Kind, msg string, err error) *providers.Error {
	if msg == "" {
		msg = "refreshing the Google token failed"
	}
	return &providers.Error{Kind: kind, Provider: provider, Message: msg, Err: err}
}

func transportError(ctx context.Context, err error) *providers.Error {
	if ctx.Err() != nil {
		return refreshFailed(providers.Unavailable, "token refresh cancelled or timed out", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // keep the cause, not the request line
	}
	return refreshFailed(providers.Unavailable, "", fmt.Errorf("google: token request: %w", err))
}

// errorCode returns an RFC 6749 error code when it looks like one, so
// nothing else of the body ever reaches an error string.
func errorCode(s string) string {
	if len(s) == 0 || len(s) > 64 {
		return ""
	}
	for i := range len(s) {
		if b := s[i]; (b < 'a' || b > 'z') && b != '_' {
			return ""
		}
	}
	return s
}
