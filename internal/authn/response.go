package authn

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
)

// Codes and messages written by the middleware. Messages are generic on
// purpose: they tell a client what to do, not what was wrong with a token.
const (
	CodeUnauthenticated     = "UNAUTHENTICATED"
	CodeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"

	msgMissing     = "missing bearer token"
	msgBadHeader   = "malformed authorization header"
	msgInvalid     = "invalid or expired token"
	msgUnavailable = "cannot verify access tokens right now; try again later"

	graphQLResponseType = "application/graphql-response+json"
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

	status, code, msg, level := http.StatusUnauthorized, CodeUnauthenticated, msgInvalid, slog.LevelInfo
	switch reason {
	case reasonMissing:
		msg, level = msgMissing, slog.LevelDebug
	case reasonBadHeader:
		msg, level = msgBadHeader, slog.LevelDebug
	case reasonKeysUnavail:
		status, code, msg, level = http.StatusServiceUnavailable, CodeUpstreamUnavailable, msgUnavailable, slog.LevelWarn
	}
	a.log.LogAttrs(r.Context(), level, "authn: request rejected",
		slog.String("reason", reason), slog.Int("status", status))
	WriteError(w, r, status, code, msg)
}

type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// WriteError writes a GraphQL response carrying one error and no "data"
// key: {"errors":[{"message":…,"extensions":{"code":…}}]}. The Content-Type
// is application/graphql-response+json when the request's Accept allows
// it, else application/json. A 401 also gets WWW-Authenticate:
// Bearer error="invalid_token" unless the header is already set.
// message and code must be safe to show to the client.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	var e gqlError
	e.Message, e.Extensions.Code = message, code
	body, err := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{e}})
	if err != nil { // cannot happen for two strings
		body = []byte(`{"errors":[{"message":"internal error"}]}`)
	}

	h := w.Header()
	if acceptsGraphQLResponse(r) {
		h.Set("Content-Type", graphQLResponseType+"; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if status == http.StatusUnauthorized && h.Get("WWW-Authenticate") == "" {
		h.Set("WWW-Authenticate", bearerChallenge(message))
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bearerChallenge builds the RFC 6750 challenge. error="invalid_token" is
// sent on every 401, as the contract asks; error_description repeats the
// generic message with the characters a quoted-string cannot hold removed.
func bearerChallenge(message string) string {
	desc := strings.Map(func(c rune) rune {
		if c == '"' || c == '\\' || c < 0x20 || c > 0x7e {
			return -1
		}
		return c
	}, message)
	if desc == "" {
		return `Bearer error="invalid_token"`
	}
	return `Bearer error="invalid_token", error_description="` + desc + `"`
}

// acceptsGraphQLResponse reports whether an Accept header lists
// application/graphql-response+json with a non-zero q.
func acceptsGraphQLResponse(r *http.Request) bool {
	if r == nil {
		return false
	}
	for _, v := range r.Header.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || mt != graphQLResponseType {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err != nil || f <= 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}
