package authn

import (
	"errors"
	"log/slog"
	"net/http"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"

	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/httpmw"
)

// Messages written by the middleware, generic on purpose: they tell a
// client what to do, not what was wrong with a token.
const (
	msgMissing     = "missing bearer token"
	msgBadHeader   = "malformed authorization header"
	msgInvalid     = "invalid or expired token"
	msgUnavailable = "cannot verify access tokens right now; try again later"
)

// reject is the jwtmiddleware.ErrorHandler: it logs the reason category and
// writes the contract's response. jwtmiddleware wraps our rejection (or
// returns ErrJWTMissing); anything else is treated as a bad header.
func (a *Authenticator) reject(w http.ResponseWriter, r *http.Request, err error) {
	reason := reasonBadHeader
	var rej *rejection
	switch {
	case errors.As(err, &rej):
		reason = rej.reason
	case errors.Is(err, jwtmiddleware.ErrJWTMissing):
		reason = reasonMissing
	}

	// A rejected token is logged at debug: a 401 flood must not write a
	// line per request. The reason goes on the access log line instead,
	// which httpmw samples for 401s.
	status, code, msg, level := http.StatusUnauthorized, gqlresp.CodeUnauthenticated, msgInvalid, slog.LevelDebug
	switch reason {
	case reasonMissing:
		msg, level = msgMissing, slog.LevelDebug
	case reasonBadHeader:
		msg, level = msgBadHeader, slog.LevelDebug
	case reasonKeysUnavail:
		status, code, msg, level = http.StatusServiceUnavailable, gqlresp.CodeUpstreamUnavailable, msgUnavailable, slog.LevelWarn
	}
	if a.onReject != nil {
		a.onReject(reason)
	}
	a.log.LogAttrs(r.Context(), level, "authn: request rejected",
		slog.String("reason", reason), slog.Int("status", status))
	httpmw.Note(r.Context(), slog.String("authn_reason", reason))
	WriteError(w, r, status, code, msg)
}

// WriteError writes a GraphQL response carrying one error and no "data"
// key through gqlresp.Write, the gateway's one error writer (a 401 gets
// WWW-Authenticate: Bearer error="invalid_token"). message and code must be
// safe to show to the client.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	gqlresp.Write(w, r, status, code, message, nil)
}
