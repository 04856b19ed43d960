// Package upstream is the HTTP plumbing every provider adapter shares: one
// GET with a bounded body read, the mapping of status codes and rate-limit
// headers to *providers.Error, JSON decoding that never echoes the body, and
// pagination header parsing (Link, X-Next-Page). Nothing here logs or returns
// a token or an upstream body.
package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// MaxBody bounds how much of an upstream response is read. A larger body is
// an error, not a truncated success.
const MaxBody = 8 << 20

// Classifier maps a non-2xx response to an error. It returns nil to fall
// back to the default mapping.
type Classifier func(resp *http.Response, body []byte, now time.Time) *providers.Error

// Client performs authenticated GETs against one provider's API. Base must
// end in "/" and request paths are relative to it, so a GitHub Enterprise
// "/api/v3/" or a self-hosted GitLab prefix is kept. A Client is safe for
// concurrent use.
type Client struct {
	HTTP     *http.Client
	Base     *url.URL
	Provider string // Auth0 provider name, for errors
	// Auth sets the credentials on a request; the default is a Bearer header.
	Auth     func(r *http.Request, token secret.String)
	Header   http.Header // added to every request (Accept, API version)
	Classify Classifier
	Now      func() time.Time
}

// ParseBase parses a configured base URL and makes sure it ends in "/".
func ParseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("upstream: base URL %q is not an absolute URL", raw)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("upstream: base URL %q must be http or https", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// Response is a successful upstream answer with its body read.
type Response struct {
	Header http.Header
	Body   []byte
}

// Get fetches path (relative to Base) with query, or an absolute URL that
// must lie under Base (a provider's own next link). Non-2xx answers, transport
// failures and oversized bodies become *providers.Error.
func (c *Client) Get(ctx context.Context, token secret.String, path string, query url.Values) (*Response, error) {
	u, err := c.resolve(path)
	if err != nil {
		return nil, c.fail(providers.BadInput, "invalid page token", err)
	}
	if query != nil {
		q := u.Query()
		for k, vs := range query {
			q[k] = vs
		}
		u.RawQuery = q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, c.fail(providers.Unavailable, "", errors.New("building request failed"))
	}
	for k, vs := range c.Header {
		req.Header[k] = vs
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if c.Auth != nil {
		c.Auth(req, token)
	} else {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	body, err := ReadBounded(resp.Body, MaxBody)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			return nil, c.fail(providers.Unavailable, "response too large", nil)
		}
		return nil, c.transportError(ctx, err)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return &Response{Header: resp.Header, Body: body}, nil
	}
	now := time.Now()
	if c.Now != nil {
		now = c.Now()
	}
	if c.Classify != nil {
		if e := c.Classify(resp, body, now); e != nil {
			if e.Provider == "" {
				e.Provider = c.Provider
			}
			return nil, e
		}
	}
	return nil, Classify(c.Provider, resp, now)
}

func (c *Client) resolve(path string) (*url.URL, error) {
	ref, err := url.Parse(path)
	if err != nil {
		return nil, errors.New("unparsable path")
	}
	if ref.IsAbs() || ref.Host != "" {
		// A provider's own next link: it must stay on the configured API.
		if ref.Scheme != c.Base.Scheme || ref.Host != c.Base.Host || !strings.HasPrefix(ref.Path, c.Base.Path) {
			return nil, errors.New("next link outside the configured API")
		}
		return ref, nil
	}
	if strings.HasPrefix(path, "/") {
		return nil, errors.New("absolute path")
	}
	return c.Base.ResolveReference(ref), nil
}

func (c *Client) fail(kind providers.Kind, msg string, err error) *providers.Error {
	return &providers.Error{Kind: kind, Provider: c.Provider, Message: msg, Err: err}
}

func (c *Client) transportError(ctx context.Context, err error) *providers.Error {
	if ctx.Err() != nil {
		return c.fail(providers.Unavailable, "request cancelled or timed out", ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// url.Error's text repeats the URL, which may carry a page token;
		// keep only the cause.
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
		return c.fail(providers.Unavailable, "request timed out", err)
	}
	return c.fail(providers.Unavailable, "request failed", err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// Classify is the default mapping of a non-2xx status to an error:
// 401 reauth, 403 forbidden, 429 rate limited (Retry-After or
// X-RateLimit-Reset), 400/404/410/422 bad input, anything else unavailable.
func Classify(provider string, resp *http.Response, now time.Time) *providers.Error {
	e := &providers.Error{Provider: provider, Err: fmt.Errorf("status %d", resp.StatusCode)}
	switch code := resp.StatusCode; {
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = providers.ReauthRequired, "the provider rejected the access token"
	case code == http.StatusForbidden:
		e.Kind, e.Message = providers.Forbidden, "the access token lacks a required scope"
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = providers.RateLimited, "rate limited by the provider"
		e.RetryAfter = RetryAfter(resp.Header, now)
	case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusGone || code == http.StatusUnprocessableEntity:
		e.Kind, e.Message = providers.BadInput, "the provider rejected the request"
	default:
		e.Kind, e.Message = providers.Unavailable, "the provider failed"
	}
	return e
}

// RetryAfter reads Retry-After (seconds or an HTTP date), then
// X-RateLimit-Reset / RateLimit-Reset (Unix seconds), and returns how long
// to wait, or zero when neither says.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if s, err := strconv.Atoi(v); err == nil && s >= 0 {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return clampPositive(t.Sub(now))
		}
	}
	for _, k := range []string{"X-RateLimit-Reset", "RateLimit-Reset"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil {
				if s > 1e9 { // a Unix time
					return clampPositive(time.Unix(s, 0).Sub(now))
				}
				return time.Duration(s) * time.Second // delta seconds (IETF draft)
			}
		}
	}
	return 0
}

func clampPositive(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d.Round(time.Second)
}

// ErrTooLarge is returned by ReadBounded when the body exceeds the bound.
var ErrTooLarge = errors.New("upstream: response body too large")

// ReadBounded reads at most limit bytes of r; more is ErrTooLarge.
func ReadBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, ErrTooLarge
	}
	return b, nil
}

// Decode unmarshals a JSON body into v. A malformed body is an Unavailable
// error whose text says what was wrong but never quotes the body.
func Decode(provider string, body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		var cause error = errors.New("invalid JSON")
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			cause = fmt.Errorf("field %q has the wrong type", te.Field)
		}
		return &providers.Error{Kind: providers.Unavailable, Provider: provider, Message: "malformed response from the provider", Err: cause}
	}
	return nil
}

// NextLink returns the URL of the rel="next" entry of an RFC 8288 Link
// header, or "" when there is none.
func NextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for _, part := range strings.Split(v, ",") {
			segs := strings.Split(part, ";")
			if len(segs) < 2 {
				continue
			}
			target := strings.TrimSpace(segs[0])
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range segs[1:] {
				p = strings.TrimSpace(p)
				name, val, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(strings.Trim(strings.TrimSpace(val), `"`)) {
					if strings.EqualFold(rel, "next") {
						return target[1 : len(target)-1]
					}
				}
			}
		}
	}
	return ""
}
