package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MaxRetryAfter caps what ParseRetryAfter returns: a larger or overflowing
// value is read as this.
const MaxRetryAfter = 24 * time.Hour

// ParseRetryAfter reads the Retry-After header of h, as delta seconds or
// as an HTTP date (RFC 9110 section 10.2.3), and reports how long to wait
// from now. A date in the past reads as zero; anything longer than
// MaxRetryAfter as MaxRetryAfter. ok is false when the header is absent or
// unparsable (a negative number included).
func ParseRetryAfter(h http.Header, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return Seconds(s), true
	}
	if allDigits(v) {
		return MaxRetryAfter, true // delta seconds too large for an int64
	}
	if t, err := http.ParseTime(v); err == nil {
		return Clamp(t.Sub(now)), true
	}
	return 0, false
}

// RetryWait is how long a rate-limited or unavailable upstream asks the
// caller to wait: Retry-After when present (ParseRetryAfter), else
// X-RateLimit-Reset or RateLimit-Reset, read as a Unix time when it is
// one (Auth0, GitHub, GitLab) and as delta seconds otherwise (the IETF
// RateLimit draft). Zero when none says; at most MaxRetryAfter.
func RetryWait(h http.Header, now time.Time) time.Duration {
	if d, ok := ParseRetryAfter(h, now); ok {
		return d
	}
	for _, k := range []string{"X-RateLimit-Reset", "RateLimit-Reset"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if s, err := strconv.ParseInt(v, 10, 64); err == nil && s >= 0 {
				if s > 1e9 { // a Unix time
					if s-now.Unix() > int64(MaxRetryAfter/time.Second) {
						return MaxRetryAfter // also keeps time.Unix in range
					}
					return Clamp(time.Unix(s, 0).Sub(now))
				}
				return Seconds(s)
			}
		}
	}
	return 0
}

func allDigits(v string) bool {
	for _, r := range v {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// Seconds converts a non-negative count of seconds to a duration, at most
// MaxRetryAfter, without overflowing.
func Seconds(s int64) time.Duration {
	if s < 0 {
		return 0
	}
	if s > int64(MaxRetryAfter/time.Second) {
		return MaxRetryAfter
	}
	return time.Duration(s) * time.Second
}

// Clamp bounds d to [0, MaxRetryAfter] and rounds it to the second.
func Clamp(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return min(d.Round(time.Second), MaxRetryAfter)
}

// Backoff is the one retry policy: the wait before retry n (from 0) is a
// random duration in [0, min(Max, Base·2ⁿ)) ("full jitter", AWS
// Architecture Blog, "Exponential Backoff And Jitter"), so that clients
// that failed together do not retry together. The zero value waits
// nothing; Rand nil means math/rand/v2's Float64.
type Backoff struct {
	Base, Max time.Duration
	// Rand returns the jitter factor in [0, 1).
	Rand func() float64
}

// Wait returns the wait before retry attempt (0 for the first retry).
func (b Backoff) Wait(attempt int) time.Duration {
	ceiling := b.Base
	for i := 0; i < attempt && ceiling < b.Max; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, b.Max)
	if ceiling <= 0 {
		return 0
	}
	r := b.Rand
	if r == nil {
		r = randFloat
	}
	return time.Duration(r() * float64(ceiling))
}

// urlPattern finds an absolute URL in an error's text.
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]*`)

// CleanTransportError returns err without what could carry a page token or
// a credential: a *url.Error is replaced by its cause (its text repeats the
// method and the whole URL), and any URL left in the cause's text is cut to
// its scheme and host. errors.Is and errors.As still see the cause (a
// timeout, context.DeadlineExceeded, a *net.OpError). nil stays nil.
func CleanTransportError(err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return &cleanError{msg: redactURLs(err.Error()), err: err}
}

type cleanError struct {
	msg string
	err error
}

func (e *cleanError) Error() string { return e.msg }
func (e *cleanError) Unwrap() error { return e.err }

// Timeout reports whether the cause is a timeout, as net errors do.
func (e *cleanError) Timeout() bool {
	var t interface{ Timeout() bool }
	return errors.As(e.err, &t) && t.Timeout()
}

func redactURLs(s string) string {
	return urlPattern.ReplaceAllStringFunc(s, func(raw string) string {
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return "[url]"
		}
		return u.Scheme + "://" + u.Host
	})
}

// Product is the product token of the User-Agent.
const Product = "idpgate"

var userAgent = sync.OnceValue(func() string {
	version := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			version = v
		}
	}
	return Product + "/" + version
})

// UserAgent is the User-Agent every outbound request carries:
// "idpgate/<version>", the module version from the build information, or
// "idpgate/dev" when the binary was built from a work tree. GitHub requires
// a User-Agent naming the application
// (https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent);
// the other providers ask for none but it lets them tell the gateway's
// traffic apart.
func UserAgent() string { return userAgent() }

// WithUserAgent returns a copy of req carrying UserAgent, or req itself
// when it already does. The copy shares req's body.
func WithUserAgent(req *http.Request) *http.Request {
	if req.Header.Get("User-Agent") == UserAgent() {
		return req
	}
	r := req.Clone(req.Context())
	r.Header.Set("User-Agent", UserAgent())
	return r
}

// UserAgentTransport sets UserAgent on every request before handing it to
// Base (nil means http.DefaultTransport). For clients that do not go
// through a resilience.Transport, which sets it itself.
type UserAgentTransport struct{ Base http.RoundTripper }

// RoundTrip implements http.RoundTripper.
func (t UserAgentTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(WithUserAgent(req))
}

// CloseIdleConnections forwards to Base.
func (t UserAgentTransport) CloseIdleConnections() {
	if c, ok := t.Base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Sleep waits d, or until ctx ends: a backoff or rate-limit wait that a
// cancelled request does not sit out. It returns ctx's error when ctx
// ended first (at once when d <= 0 and ctx has ended), else nil.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
