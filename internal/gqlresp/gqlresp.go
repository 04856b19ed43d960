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

	// Beside data: the provider answered but said the data is incomplete
	// (GitHub's X-GitHub-SSO: partial-results).
	CodePartialResults = "PARTIAL_RESULTS"

	// In place of an identity's repos or calendar: the request already
	// reads provider data for MAX_IDENTITIES identities.
	CodeIdentityLimit = "IDENTITY_LIMIT_EXCEEDED"

	// Written by the HTTP middleware.
	CodeBadRequest       = "BAD_REQUEST"
	CodeRateLimited      = "RATE_LIMITED"
	CodeResponseTooLarge = "RESPONSE_TOO_LARGE"

	// Trusted documents (Apollo Router's safelisting codes) and APQ.
	CodePersistedQueryNotInList  = "PERSISTED_QUERY_NOT_IN_LIST"
	CodeQueryNotInSafelist       = "QUERY_NOT_IN_SAFELIST"
	CodePersistedQueryIDRequired = "PERSISTED_QUERY_ID_REQUIRED"
	CodePersistedQueryNotFound   = "PERSISTED_QUERY_NOT_FOUND" // Apollo's link then sends the query text
	CodeGraphQLValidationFailed  = "GRAPHQL_VALIDATION_FAILED"
	CodeGraphQLParseFailed       = "GRAPHQL_PARSE_FAILED"
)

// Media types of GraphQL responses.
const (
	JSON            = "application/json"
	GraphQLResponse = "application/graphql-response+json"
)

// ContentType is the Content-Type of a response to r: the first entry of
// r's Accept header that is application/json, */* or application/*
// (application/json) or application/graphql-response+json, as gqlgen's
// HTTP transports choose for the results they write, so that a client
// gets the same media type for a 401 or a 429 as for a result. Unlike
// gqlgen, an entry with q=0 ("not acceptable") or a malformed q is
// skipped, and application/json answers when nothing matches (the GraphQL
// over HTTP legacy default). Both are sent with charset=utf-8.
func ContentType(r *http.Request) string {
	return MediaType(r) + "; charset=utf-8"
}

// MediaType is ContentType without the charset.
func MediaType(r *http.Request) string {
	if r == nil {
		return JSON
	}
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || refused(params) {
				continue
			}
			switch mt {
			case "*/*", "application/*", JSON:
				return JSON
			case GraphQLResponse:
				return GraphQLResponse
			}
		}
	}
	return JSON
}

// refused reports a quality of 0 or a malformed one.
func refused(params map[string]string) bool {
	q, ok := params["q"]
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(q, 64)
	return err != nil || f <= 0
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
