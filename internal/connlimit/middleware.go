package connlimit

import (
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/httpmw"
)

// MiddlewareOptions configure Middleware. Zero fields take the defaults.
type MiddlewareOptions struct {
	// RPS and Burst bound, per client address, the requests answered 401
	// (a token bucket spent by each 401; defaults 5 and 20). Once spent,
	// the address's requests are answered 429 before authentication.
	RPS   float64
	Burst int
	// MaxKeys bounds the client addresses remembered (0: 65536).
	MaxKeys int
	// Logger receives the sampled rejection lines (nil: slog.Default()).
	Logger *slog.Logger
	// LogEvery is the shortest interval between two rejection lines; the
	// next line counts the rejections in between (0: 10s).
	LogEvery time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Known reports a request whose credentials were verified before
	// (authn's Authenticator.Known, a cache lookup): it passes even when
	// its address has spent its budget, so that a client behind an address
	// shared with a 401 flood keeps working. nil: none is known.
	Known func(*http.Request) bool
}

// Middleware goes outside the authenticator. It answers 429 to a client
// address that has spent its budget of 401s, unless the request's token is
// Known, and asks the client to close
// the connection (Connection: close) from its second 401 on one
// connection, or when a 429 is answered. Its log lines are sampled.
func Middleware(o MiddlewareOptions) (func(http.Handler) http.Handler, error) {
	if o.RPS <= 0 {
		o.RPS = 5
	}
	if o.Burst <= 0 {
		o.Burst = 20
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1 << 16
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.LogEvery <= 0 {
		o.LogEvery = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	buckets, err := httpmw.NewBuckets(o.MaxKeys, o.RPS, o.Burst)
	if err != nil {
		return nil, err
	}
	s := &sampler{every: o.LogEvery, now: o.Now, log: o.Logger}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := clientIP(r)
			b := buckets.Get(ip)
			now := o.Now()
			if tokens := b.TokensAt(now); tokens < 1 && (o.Known == nil || !o.Known(r)) {
				wait := time.Duration(float64(time.Second) * (1 - tokens) / float64(b.Limit()))
				secs := max(int(math.Ceil(wait.Seconds())), 1)
				s.reject(r, ip)
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				gqlresp.Write(w, r, http.StatusTooManyRequests, gqlresp.CodeRateLimited,
					"too many unauthenticated requests from this address; retry in "+strconv.Itoa(secs)+"s",
					map[string]any{"retryAfter": secs})
				return
			}
			next.ServeHTTP(&unauthWriter{ResponseWriter: w, conn: connFrom(r.Context()), spend: func() { b.AllowN(o.Now(), 1) }}, r)
		})
	}, nil
}

// unauthWriter spends the address's budget on a 401 and asks for the
// connection to be closed from the second 401 on it.
type unauthWriter struct {
	http.ResponseWriter
	conn  *Conn
	spend func()
	done  bool
}

func (u *unauthWriter) Unwrap() http.ResponseWriter { return u.ResponseWriter }

func (u *unauthWriter) WriteHeader(code int) {
	if !u.done && code == http.StatusUnauthorized {
		u.done = true
		u.spend()
		if u.conn == nil || u.conn.unauthorized.Add(1) > 1 {
			u.Header().Set("Connection", "close")
		}
	}
	u.done = true
	u.ResponseWriter.WriteHeader(code)
}

func (u *unauthWriter) Write(p []byte) (int, error) {
	if !u.done {
		u.WriteHeader(http.StatusOK)
	}
	return u.ResponseWriter.Write(p)
}

func (u *unauthWriter) Flush() {
	if f, ok := u.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// sampler writes at most one rejection line per interval, counting the
// rejections it left out.
type sampler struct {
	every time.Duration
	now   func() time.Time
	log   *slog.Logger
	s     httpmw.Sampler
}

func (s *sampler) reject(r *http.Request, ip string) {
	keep, skipped := s.s.Take(s.now(), s.every)
	if !keep {
		return
	}
	s.log.LogAttrs(r.Context(), slog.LevelWarn, "connlimit: unauthenticated requests rate limited",
		slog.String("client", ip), slog.Int64("suppressed_since_last", skipped))
}
