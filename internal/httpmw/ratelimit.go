package httpmw

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// RateLimitOptions configure RateLimit.
type RateLimitOptions struct {
	// RPS is the sustained rate per key, in requests per second (> 0).
	RPS float64
	// Burst is how many requests a key may make at once (>= 1).
	Burst int
	// Key returns the bucket of a request and whether it is limited at
	// all; the gateway passes the authenticated user id (authn.UserID).
	// Requests for which it returns false pass unlimited: authentication
	// rejects them anyway.
	Key func(*http.Request) (string, bool)
	// MaxKeys bounds the buckets kept (an LRU); 0 means 10,000. A key
	// evicted and seen again starts with a full bucket.
	MaxKeys int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OnReject, when set, is called for each refused request (metrics).
	OnReject func()
	// Decide, when set, takes the decision instead of the local buckets:
	// the cluster's shared limit (cluster.Limiter), which falls back to
	// local buckets itself while Redis is away.
	Decide func(ctx context.Context, key string) (allowed bool, retryAfter time.Duration)
}

const defaultMaxKeys = 10_000

// Validate reports out-of-range options.
func (o RateLimitOptions) Validate() error {
	var errs []error
	if !(o.RPS > 0) || math.IsInf(o.RPS, 0) {
		errs = append(errs, fmt.Errorf("httpmw: rate limit: RPS is %v; want a positive number", o.RPS))
	}
	if o.Burst < 1 {
		errs = append(errs, fmt.Errorf("httpmw: rate limit: Burst is %d; want 1 or more", o.Burst))
	}
	if o.Key == nil {
		errs = append(errs, errors.New("httpmw: rate limit: Key is nil"))
	}
	if o.MaxKeys < 0 {
		errs = append(errs, fmt.Errorf("httpmw: rate limit: MaxKeys is %d; want 0 (default) or more", o.MaxKeys))
	}
	return errors.Join(errs...)
}

// RateLimit limits each key to a token bucket of RPS and Burst
// (golang.org/x/time/rate). A request over the limit gets 429 with
// Retry-After (whole seconds, rounded up) and
// {"errors":[{"message":"too many requests; retry in N seconds","extensions":{"code":"RATE_LIMITED","retryAfter":N}}]}.
// A rejected request does not consume a token.
func RateLimit(o RateLimitOptions) (func(http.Handler) http.Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.MaxKeys == 0 {
		o.MaxKeys = defaultMaxKeys
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	buckets, err := NewBuckets(o.MaxKeys, o.RPS, o.Burst)
	if err != nil {
		return nil, fmt.Errorf("httpmw: rate limit: %w", err)
	}

	reject := func(w http.ResponseWriter, r *http.Request, delay time.Duration) {
		if o.OnReject != nil {
			o.OnReject()
		}
		tooMany(w, r, delay)
	}

	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key, limited := o.Key(r)
			if !limited {
				next.ServeHTTP(w, r)
				return
			}
			if o.Decide != nil {
				allowed, wait := o.Decide(r.Context(), key)
				if allowed {
					next.ServeHTTP(w, r)
					return
				}
				reject(w, r, wait)
				return
			}
			now := o.Now()
			res := buckets.Get(key).ReserveN(now, 1)
			delay := res.DelayFrom(now)
			if delay == 0 {
				next.ServeHTTP(w, r)
				return
			}
			res.CancelAt(now)
			reject(w, r, delay)
		})
	}, nil
}

// tooMany answers 429 with Retry-After: delay in whole seconds, rounded
// up, at least 1.
func tooMany(w http.ResponseWriter, r *http.Request, delay time.Duration) {
	secs := max(int(math.Ceil(delay.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, r, http.StatusTooManyRequests, gqlresp.CodeRateLimited,
		fmt.Sprintf("too many requests; retry in %s", seconds(secs)),
		map[string]any{"retryAfter": secs})
}

func seconds(n int) string {
	if n == 1 {
		return "1 second"
	}
	return strconv.Itoa(n) + " seconds"
}
