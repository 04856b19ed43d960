package httpmw

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// CORSOptions configure CORS. The zero value allows no cross-origin
// request.
type CORSOptions struct {
	// AllowedOrigins are exact origins ("https://app.example.com",
	// "http://localhost:5173"): scheme, host and a port if not the
	// default, no path. "*" allows any origin without credentials and
	// cannot be combined with AllowCredentials.
	AllowedOrigins []string
	// AllowCredentials sends Access-Control-Allow-Credentials: true. Bearer
	// tokens in the Authorization header do not need it; cookies do.
	AllowCredentials bool
	// MaxAge is how long browsers may cache a preflight answer; 0 means
	// 2 hours (Chromium's cap), a negative value omits the header.
	MaxAge time.Duration
	// Logger receives a warning for a refused preflight, naming the
	// origin and ALLOWED_ORIGINS: the browser shows the page only
	// "Failed to fetch". Anyone can send preflights, so at most one line
	// per 10 s is written; it counts the refusals left out ("suppressed").
	// Nil logs nothing.
	Logger *slog.Logger
	// Now is the sampling clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports origins that are not exact origins and "*" combined
// with credentials.
func (o CORSOptions) Validate() error {
	var errs []error
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			if o.AllowCredentials {
				errs = append(errs, errors.New(`httpmw: CORS: "*" cannot be combined with AllowCredentials; list the origins`))
			}
			continue
		}
		if err := checkOrigin(origin); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkOrigin(origin string) error {
	u, err := url.Parse(origin)
	switch {
	case err != nil:
		return fmt.Errorf("httpmw: CORS: origin %q: %w", origin, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("httpmw: CORS: origin %q: want scheme http or https", origin)
	case u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return fmt.Errorf("httpmw: CORS: origin %q: want scheme://host[:port] only", origin)
	case u.Path == "/":
		return fmt.Errorf("httpmw: CORS: origin %q: remove the trailing slash; browsers send none", origin)
	case strings.Contains(u.Host, "*"):
		return fmt.Errorf("httpmw: CORS: origin %q: wildcards are not supported; list the origins", origin)
	}
	return nil
}

// Preflight answers of CORS.
const (
	corsAllowMethods  = "GET, POST, OPTIONS"
	corsAllowHeaders  = "Authorization, Content-Type, Apollo-Require-Preflight, X-Apollo-Operation-Name, apollographql-client-name, apollographql-client-version, X-Request-Id"
	corsExposeHeaders = "X-Request-Id, Retry-After"
	defaultCORSMaxAge = 2 * time.Hour
)

// refusalLogEvery is how often a refused preflight is logged at most.
const refusalLogEvery = 10 * time.Second

// CORS returns middleware for cross-origin requests from the allowed
// origins. An allowed origin gets Access-Control-Allow-Origin (the origin
// itself, or "*" when "*" is configured) and, for a preflight (OPTIONS with
// Access-Control-Request-Method), a 204 listing the methods GET, POST,
// OPTIONS and the headers Authorization, Content-Type,
// Apollo-Require-Preflight, X-Apollo-Operation-Name,
// apollographql-client-name, apollographql-client-version and X-Request-Id.
// Any other origin gets no CORS header, and its preflight a 403. Every
// response carries Vary: Origin. Origins compare exactly, ignoring the case
// of scheme and host.
func CORS(o CORSOptions) (func(http.Handler) http.Handler, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	allowed := make(map[string]bool, len(o.AllowedOrigins))
	anyOrigin := false
	for _, origin := range o.AllowedOrigins {
		if origin == "*" {
			anyOrigin = true
			continue
		}
		allowed[strings.ToLower(origin)] = true
	}
	maxAge := ""
	switch {
	case o.MaxAge == 0:
		maxAge = strconv.Itoa(int(defaultCORSMaxAge.Seconds()))
	case o.MaxAge > 0:
		maxAge = strconv.Itoa(int(o.MaxAge.Seconds()))
	}
	credentials := o.AllowCredentials
	now := o.Now
	if now == nil {
		now = time.Now
	}
	var refusals Sampler // one per CORS middleware: one log line per interval

	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
			if preflight {
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
			}
			if origin == "" {
				next.ServeHTTP(w, r)
				return
			}
			ok := allowed[strings.ToLower(origin)]
			if !ok && !anyOrigin {
				if preflight {
					if o.Logger != nil {
						if keep, left := refusals.Take(now(), refusalLogEvery); keep {
							o.Logger.WarnContext(r.Context(), "CORS preflight refused: the origin is not in ALLOWED_ORIGINS; add it there (comma-separated exact origins) to let this web app call the gateway",
								"origin", clip(origin, 200), "path", r.URL.Path, "suppressed", left)
						}
					}
					WriteError(w, r, http.StatusForbidden, gqlresp.CodeForbidden, "origin not allowed")
					return
				}
				next.ServeHTTP(w, r)
				return
			}
			if ok {
				h.Set("Access-Control-Allow-Origin", origin)
			} else {
				h.Set("Access-Control-Allow-Origin", "*")
			}
			if credentials {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
			if !preflight {
				h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
				next.ServeHTTP(w, r)
				return
			}
			h.Set("Access-Control-Allow-Methods", corsAllowMethods)
			h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
			if maxAge != "" {
				h.Set("Access-Control-Max-Age", maxAge)
			}
			w.WriteHeader(http.StatusNoContent)
		})
	}, nil
}

// clip bounds a client-supplied value before it is logged.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
