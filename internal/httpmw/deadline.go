package httpmw

import (
	"context"
	"net/http"
	"time"
)

// Deadline bounds the context of every request to d from its arrival, so
// that one request cannot outlive REQUEST_TIMEOUT however many upstream
// calls it makes one after the other (each bounded by UPSTREAM_TIMEOUT).
// A resolver still waiting at the deadline sees its context end and
// answers its own field with an error (UPSTREAM_UNAVAILABLE, "the request
// timed out"), while the fields already resolved are returned. d <= 0
// disables it.
func Deadline(d time.Duration) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if d <= 0 {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx, cancel := context.WithTimeout(r.Context(), d)
			defer cancel()
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}
