package httpmw

import (
	"net/http"
	"strconv"
	"time"
)

// APICSP is the Content-Security-Policy of API responses: a JSON body
// needs nothing, and may not be framed.
const APICSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// SecurityOptions configure SecurityHeaders. The zero value sends no
// Strict-Transport-Security.
type SecurityOptions struct {
	// HSTSMaxAge, when positive, sends Strict-Transport-Security with this
	// max-age. Set it only when the gateway is reached over HTTPS.
	HSTSMaxAge time.Duration
}

// SecurityHeaders sets, before the next handler runs,
//
//	X-Content-Type-Options: nosniff
//	Referrer-Policy: no-referrer
//	X-Frame-Options: DENY
//	Cache-Control: no-store
//	Content-Security-Policy: APICSP
//
// (and Strict-Transport-Security if configured). These are defaults: a
// handler may replace them, as the GraphiQL handler (internal/graphiql)
// replaces the CSP with graphiql.CSP — default-src 'self', inline styles,
// data: images and fonts, connect-src 'self' — and Cache-Control for its
// static assets.
func SecurityHeaders(o SecurityOptions) func(http.Handler) http.Handler {
	hsts := ""
	if o.HSTSMaxAge > 0 {
		hsts = "max-age=" + strconv.Itoa(int(o.HSTSMaxAge.Seconds()))
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("X-Frame-Options", "DENY")
			h.Set("Cache-Control", "no-store")
			h.Set("Content-Security-Policy", APICSP)
			if hsts != "" {
				h.Set("Strict-Transport-Security", hsts)
			}
			next.ServeHTTP(w, r)
		})
	}
}
