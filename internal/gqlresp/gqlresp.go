package gqlresp

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// The extensions.code values the gateway sends.
const (
	// The public contract (DESIGN.md).
	CodeUnauthenticated     = "UNAUTHENTICATED"
	CodeForbidden           = "FORBIDDEN"
	CodeReauthRequired      = "IDP_REAUTH_REQUIRED"
	CodeUpstreamRateLimited = "UPSTREAM_RATE_LIMITED"
	CodeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"
	CodeBadUserInput        = "BAD_USER_INPUT"
	CodeInternal            = "INTERNAL_SERVER_ERROR"

	// Written by the HTTP middleware.
	CodeBadRequest       = "BAD_REQUEST"
	CodeRateLimited      = "RATE_LIMITED"
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"

	// Trusted documents (Apollo Router's safelisting codes) and APQ.
	CodePersistedQueryNotInList  = "PERSISTED_QUERY_NOT_IN_LIST"
	CodeQueryNotInSafelist       = "QUERY_NOT_IN_SAFELIST"
	CodePersistedQueryIDRequired = "PERSISTED_QUERY_ID_REQUIRED"
	CodePersistedQueryNotFound   = "PERSISTED_QUERY_NOT_FOUND"
	CodeGraphQLValidationFailed  = "GRAPHQL_VALIDATION_FAILED"
	CodeGraphQLParseFailed       = "GRAPHQL_PARSE_FAILED"
)

// Media types of GraphQL responses.
const (
	JSON            = "application/json"
	GraphQLResponse = "application/graphql-response+json"
)

// ContentType is the Content-Type of a response to r: of
// application/graphql-response+json and application/json (which */* and
// application/* stand for), the one r's Accept header prefers by quality,
// the first listed on a tie; application/json when Accept is absent or
// names neither (the GraphQL-over-HTTP specification's legacy default).
// Both are sent with charset=utf-8.
func ContentType(r *http.Request) string {
	best, bestQ := JSON, -1.0
	if r != nil {
		for _, accept := range r.Header.Values("Accept") {
			for part := range strings.SplitSeq(accept, ",") {
				mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
				if err != nil {
					continue
				}
				q := quality(params)
				var cand string
				switch mt {
				case GraphQLResponse:
					cand = GraphQLResponse
				case JSON, "*/*", "application/*":
					cand = JSON
				default:
					continue
				}
				if q > 0 && q > bestQ {
					best, bestQ = cand, q
				}
			}
		}
	}
	return best + "; charset=utf-8"
}

// quality reads q (1 when absent, 0 when malformed: "not acceptable").
func quality(params map[string]string) float64 {
	q, ok := params["q"]
	if !ok {
		return 1
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || f < 0 {
		return 0
	}
	return f
}

// Error is one GraphQL error as the gateway writes it.
type Error struct {
	Message    string         `json:"message"`
	Extensions map[string]any `json:"extensions"`
}

// Body returns the JSON of a response carrying one error with code and the
// extra extensions, and no "data" entry.
func Body(code, message string, extra map[string]any) []byte {
	ext := make(map[string]any, len(extra)+1)
	for k, v := range extra {
		ext[k] = v
	}
	ext["code"] = code
	body, err := json.Marshal(struct {
		Errors []Error `json:"errors"`
	}{[]Error{{Message: message, Extensions: ext}}})
	if err != nil { // an unmarshalable extra value: a programming error
		return []byte(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	return body
}

// Write writes status and a response carrying one error (Body), with the
// Content-Type ContentType(r) picks, Cache-Control: no-store and
// X-Content-Type-Options: nosniff. A 401 also gets the contract's
// WWW-Authenticate: Bearer error="invalid_token" unless one is set. Headers
// set before (Retry-After, Connection) are kept. message and the extra
// values must be safe to show to the client.
func Write(w http.ResponseWriter, r *http.Request, status int, code, message string, extra map[string]any) {
	body := Body(code, message, extra)
	h := w.Header()
	h.Set("Content-Type", ContentType(r))
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
