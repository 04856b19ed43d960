// Package upstream is the HTTP plumbing every provider adapter shares: one
// GET with a bounded body read, the mapping of status codes and rate-limit
// headers to *providers.Error, JSON decoding that never echoes the body, and
// pagination header parsing (Link, X-Next-Page). Nothing here logs or returns
// a token or an upstream body.
package upstream

import (
	"bytes"
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/idpgate/idpgate/internal/httpmw"
	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// MaxBody bounds how much of an upstream response is read. A larger body is
// an error, not a truncated success.
const MaxBody = 8 << 20

// Classifier maps a non-2xx response to an error. It returns nil to fall
// back to the default mapping.
type Classifier func(resp *http.Response, body []byte, now time.Time) *providers.Error

// MaxRetryAfter caps the wait RetryAfter reports: a larger or overflowing
// header value is read as this.
const MaxRetryAfter = httpx.MaxRetryAfter

// defaultTimeout bounds a request when Client.HTTP is nil.
const defaultTimeout = 30 * time.Second

// Client performs authenticated GETs against one provider's API. Base must
// end in "/" and request paths are relative to it, so a GitHub Enterprise
// "/api/v3/" or a self-hosted GitLab prefix is kept. A Client is safe for
// concurrent use as long as its fields are not changed after first use.
//
// Redirects are followed only while they stay under Base (same scheme, host
// and path prefix, no dot segments); any other redirect fails the request
// as Unavailable before it is sent, because the credentials Auth sets (a
// PRIVATE-TOKEN header, say) would travel with it: net/http strips only
// Authorization and Cookie on a cross-host redirect.
type Client struct {
	// HTTP carries the timeouts and the transport. Its CheckRedirect, if
	// any, runs after the Base check. nil means a client with a 30-second
	// timeout over http.DefaultTransport.
	HTTP     *http.Client
	Base     *url.URL
	Provider string // Auth0 provider name, for errors
	// Auth sets the credentials on a request; the default is a Bearer header.
	Auth     func(r *http.Request, token secret.String)
	Header   http.Header // added to every request (Accept, API version); copied, never modified
	Classify Classifier
	Now      func() time.Time // nil means time.Now
	// Logger receives the warning that an API is gone (410); nil means the
	// request's logger (httpmw.Logger: the gateway's, with the request id).
	Logger *slog.Logger
}

// ParseBase parses a configured base URL and makes sure it ends in "/".
// A user name or password in it is refused (the adapters send the user's
// token; credentials in a URL end up in logs and proxies). Errors quote
// only the scheme, host and path, never the raw value, which may hold a
// password or a query with a token.
func ParseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, errors.New("upstream: the base URL is not an absolute URL")
	}
	if u.User != nil {
		return nil, errors.New("upstream: the base URL must not carry a user name or password")
	}
	shown := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.Scheme != "https" && u.Scheme != "http" {
		return nil, fmt.Errorf("upstream: base URL %q must be http or https", shown)
	}
	if hasDotSegment(u.Path) || strings.ContainsRune(u.Path, '\\') {
		// Every path under it would be refused; say so at start-up.
		return nil, fmt.Errorf("upstream: base URL %q has a dot segment or a backslash", shown)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// Get fetches path (relative to Base) with query, or an absolute URL that
// must lie under Base (a provider's own next link), decodes the JSON answer
// into v (nil: the body is read and dropped) and returns its headers.
// Non-2xx answers, transport failures, oversized and malformed bodies
// become *providers.Error. The body is read into a reused buffer and
// decoded from there: no copy of it outlives the call.
func (c *Client) Get(ctx context.Context, token secret.String, path string, query url.Values, v any) (http.Header, error) {
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
	if c.Header != nil {
		// A copy: Auth may edit the request's headers in place, and
		// concurrent Gets must not share the value slices.
		req.Header = c.Header.Clone()
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	// The resilience transport sets it too; this covers a client built
	// without one.
	req.Header.Set("User-Agent", httpx.UserAgent())
	if c.Auth != nil {
		c.Auth(req, token)
	} else {
		req.Header.Set("Authorization", "Bearer "+token.Reveal())
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return nil, c.transportError(ctx, err)
	}
	defer resp.Body.Close()
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	var (
		used    bool
		failure *providers.Error
	)
	err = withBody(resp.Body, MaxBody, resp.ContentLength, func(body []byte) error {
		used = true
		switch {
		case !ok:
			failure = c.failed(ctx, u, resp, body)
		case v != nil:
			return Decode(c.Provider, body, v)
		}
		return nil
	})
	switch {
	case ok && used:
		if err != nil {
			return nil, err // Decode's *providers.Error
		}
		return resp.Header, nil
	case ok && errors.Is(err, ErrTooLarge):
		return nil, c.fail(providers.Unavailable, "response too large", nil)
	case ok:
		return nil, c.transportError(ctx, err)
	case !used:
		// The status is the answer; a body that is too large or cut
		// short does not change what it means.
		failure = c.failed(ctx, u, resp, nil)
	}
	return nil, failure
}

// failed classifies a non-2xx answer; body may be nil.
func (c *Client) failed(ctx context.Context, u *url.URL, resp *http.Response, body []byte) *providers.Error {
	if resp.StatusCode == http.StatusGone {
		// Checked before the adapter's classifier so that every provider
		// reads it the same way: the endpoint was removed (Bitbucket's
		// CHANGE-2770 answers 410 on the cross-workspace APIs), which no
		// client input can fix; the operator must upgrade the gateway.
		c.logger(ctx).WarnContext(ctx, "upstream: the provider's API is gone (410 Gone): the endpoint was removed and the adapter must move to its replacement",
			"provider", c.Provider, "path", u.Path)
		return c.fail(providers.Unavailable, "the provider removed this API (410 Gone)", errors.New("status 410"))
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
			return e
		}
	}
	return Classify(c.Provider, resp, now)
}

// OnBase reports whether raw is an absolute URL on the configured API:
// Base's scheme and host, no user info, a path under Base's path without
// dot segments or backslashes. Adapters check a provider's next link with
// it before keeping it in a page token, and again when the token returns.
func (c *Client) OnBase(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.IsAbs() && c.underBase(u)
}

// errRedirect is the cause of a refused redirect. Like every error here it
// names no URL: a Location may carry a token.
var errRedirect = errors.New("redirect outside the configured API refused")

// httpClient returns a shallow copy of c.HTTP whose CheckRedirect keeps
// redirects under Base.
func (c *Client) httpClient() *http.Client {
	hc := http.Client{Timeout: defaultTimeout}
	if c.HTTP != nil {
		hc = *c.HTTP
	}
	next := hc.CheckRedirect
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if !c.underBase(req.URL) {
			return errRedirect
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &hc
}

// resolve turns a relative path or a provider's own absolute next link into
// a URL under Base. Dot segments are refused rather than resolved, in
// escaped form too ("%2e%2e"), since a server or proxy may resolve them
// after the prefix check.
func (c *Client) resolve(p string) (*url.URL, error) {
	ref, err := url.Parse(p)
	if err != nil {
		return nil, errors.New("unparsable path")
	}
	if ref.IsAbs() || ref.Host != "" {
		// A provider's own next link: it must stay on the configured API.
		if !c.underBase(ref) {
			return nil, errors.New("next link outside the configured API")
		}
		return ref, nil
	}
	if strings.HasPrefix(p, "/") {
		return nil, errors.New("absolute path")
	}
	if hasDotSegment(ref.Path) {
		return nil, errors.New("dot segment in path")
	}
	u := c.Base.ResolveReference(ref)
	if !c.underBase(u) {
		return nil, errors.New("path outside the configured API")
	}
	return u, nil
}

// underBase reports whether u is on Base's scheme and host, carries no
// user info, and has a path without dot segments or backslashes that lies
// under Base's path.
func (c *Client) underBase(u *url.URL) bool {
	if u.Scheme != c.Base.Scheme || u.Host != c.Base.Host || u.User != nil || u.Opaque != "" {
		return false
	}
	if hasDotSegment(u.Path) || strings.ContainsRune(u.Path, '\\') {
		return false
	}
	cleaned := path.Clean("/" + u.Path)
	if cleaned != "/" {
		cleaned += "/"
	}
	return strings.HasPrefix(cleaned, c.Base.Path)
}

// hasDotSegment reports whether the (unescaped) path p has a "." or ".."
// segment.
func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func (c *Client) logger(ctx context.Context) *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return httpmw.Logger(ctx)
}

func (c *Client) fail(kind providers.Kind, msg string, err error) *providers.Error {
	return &providers.Error{Kind: kind, Provider: c.Provider, Message: msg, Err: err}
}

func (c *Client) transportError(ctx context.Context, err error) *providers.Error {
	if ctx.Err() != nil {
		return c.fail(providers.Unavailable, "request cancelled or timed out", ctx.Err())
	}
	// url.Error's text repeats the URL, which may carry a page token.
	err = httpx.CleanTransportError(err)
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
// X-RateLimit-Reset), 400/404/422 bad input, anything else unavailable.
// (Client.Get answers 410 itself, before any classifier: unavailable.)
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
	case code == http.StatusBadRequest || code == http.StatusNotFound || code == http.StatusUnprocessableEntity:
		e.Kind, e.Message = providers.BadInput, "the provider rejected the request"
	default:
		e.Kind, e.Message = providers.Unavailable, "the provider failed"
	}
	return e
}

// RetryAfter reads Retry-After (seconds or an HTTP date), then
// X-RateLimit-Reset / RateLimit-Reset (Unix seconds, or delta seconds when
// too small to be a Unix time), and returns how long to wait, or zero when
// neither says. Negative values read as zero; the result is at most
// MaxRetryAfter.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	return httpx.RetryWait(h, now)
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

// maxSizeHint bounds the buffer withBody allocates up front on the word of
// a Content-Length, so a header alone cannot make it allocate more; it also
// bounds the buffers kept for reuse.
const maxSizeHint = 1 << 20

// bodies holds the buffers Get reads answers into: an answer is decoded
// from its buffer, which then serves the next one (up to maxSizeHint).
var bodies = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// withBody reads r, at most limit bytes (more is ErrTooLarge), into a
// reused buffer and calls use with what it read; the bytes are valid only
// during use. size is the body's declared length (a Content-Length, -1 when
// unknown): the buffer is grown to it once, up to maxSizeHint, instead of
// doubling from 512 bytes with a copy at each step. It is only a hint: a
// body longer or shorter than declared is read as it is, and limit still
// bounds the read. A read error is returned without calling use.
func withBody(r io.Reader, limit, size int64, use func([]byte) error) error {
	buf := bodies.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= maxSizeHint {
			bodies.Put(buf)
		}
	}()
	if err := readBody(buf, r, limit, size); err != nil {
		return err
	}
	return use(buf.Bytes())
}

// readBody is withBody's read into an empty buf.
func readBody(buf *bytes.Buffer, r io.Reader, limit, size int64) error {
	if size > 0 && size <= limit && size <= maxSizeHint {
		// bytes.Buffer.ReadFrom wants MinRead bytes free before each
		// read: with less, the last read (the one that sees EOF) would
		// double the buffer.
		buf.Grow(int(size) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return err
	}
	if int64(buf.Len()) > limit {
		return ErrTooLarge
	}
	return nil
}

// Decode unmarshals a JSON body into v. A malformed body is an Unavailable
// error whose text says what was wrong but never quotes the body.
//
// It decodes with github.com/go-json-experiment/json (what Go's
// encoding/json/v2 is built from): one pass over the body where
// encoding/json makes two, and fewer allocations — the bodies are the
// largest thing a request reads (a GitHub repository object is ~6 KB).
// The options keep encoding/json's leniency towards what providers send:
// a repeated member name (the last wins) and invalid UTF-8 (replaced);
// member names match exactly, as every provider spells its own.
func Decode(provider string, body []byte, v any) error {
	if err := json.Unmarshal(body, v, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true)); err != nil {
		var cause error = errors.New("invalid JSON")
		if se, ok := errors.AsType[*json.SemanticError](err); ok && se.GoType != nil {
			// The JSON pointer names a member of the provider's documented
			// schema; the value itself is never quoted.
			cause = fmt.Errorf("field %q has the wrong type", string(se.JSONPointer))
		}
		return &providers.Error{Kind: providers.Unavailable, Provider: provider, Message: "malformed response from the provider", Err: cause}
	}
	return nil
}

// Room is the capacity to give the slice a page of size items is decoded
// into: a page of the usual size costs one allocation, not one per
// doubling, and a large page asked of an empty account does not cost a
// large one.
func Room(size int) int { return min(max(size, 0), 32) }

// Sniff fills what it can of v from an error answer's body, for
// classifiers: unlike Decode (JSON v2, which stops at the first member of
// the wrong type) it keeps every member that decodes, as encoding/json
// does, because an error body is read only for hints such as Google's
// reasons. The result is reliable only where it is not the zero value.
func Sniff(body []byte, v any) {
	_ = stdjson.Unmarshal(body, v)
}

// NextLink returns the URL of the rel="next" entry of an RFC 8288 Link
// header, or "" when there is none. Targets are read between "<" and ">"
// first, so a URL holding a comma or a semicolon survives; an entry that
// does not start with "<" is skipped.
func NextLink(h http.Header) string {
	for _, v := range h.Values("Link") {
		for v != "" {
			v = strings.TrimLeft(v, " \t,")
			if v == "" {
				break
			}
			if v[0] != '<' {
				_, v = cutParams(v) // not a link: skip to the next one
				continue
			}
			end := strings.IndexByte(v, '>')
			if end < 0 {
				break
			}
			target := v[1:end]
			params, rest := cutParams(v[end+1:])
			v = rest
			for _, p := range splitUnquoted(params, ';') {
				name, val, ok := strings.Cut(p, "=")
				if !ok || !strings.EqualFold(strings.TrimSpace(name), "rel") {
					continue
				}
				for _, rel := range strings.Fields(unquote(strings.TrimSpace(val))) {
					if strings.EqualFold(rel, "next") {
						return target
					}
				}
			}
		}
	}
	return ""
}

// cutParams splits s, which follows a link's ">", at the first comma
// outside a quoted string: the link's parameters, and the links after it.
func cutParams(s string) (params, rest string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == ',':
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// splitUnquoted splits s at each sep outside a quoted string.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// unquote removes the quotes and backslash escapes of an RFC 9110
// quoted-string; anything else is returned as is.
func unquote(s string) string {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return s
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; i++ {
		if s[i] == '\\' && i+1 < len(s)-1 {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
