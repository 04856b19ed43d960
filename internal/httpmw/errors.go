package httpmw

import (
	"encoding/json"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Codes written by this package's middleware.
const (
	CodeBadRequest  = "BAD_REQUEST"
	CodeRateLimited = "RATE_LIMITED"
	CodeInternal    = "INTERNAL_SERVER_ERROR"
	CodeForbidden   = "FORBIDDEN"
)

const (
	contentTypeJSON         = "application/json"
	contentTypeGraphQLReply = "application/graphql-response+json"
)

// WriteError writes status and the body
// {"errors":[{"message":message,"extensions":{"code":code}}]}. The content
// type is application/graphql-response+json when r's Accept header lists it
// before application/json, and application/json otherwise (as gqlgen's
// transports decide). message must be safe to show to the client.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	writeError(w, r, status, code, message, nil)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string, extra map[string]any) {
	ext := map[string]any{"code": code}
	for k, v := range extra {
		ext[k] = v
	}
	type gqlError struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	body, err := json.Marshal(struct {
		Errors []gqlError `json:"errors"`
	}{[]gqlError{{Message: message, Extensions: ext}}})
	if err != nil { // only for an unmarshalable extra value: a programming error
		body = []byte(`{"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", negotiate(r))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// negotiate picks the error body's media type from r's Accept header.
func negotiate(r *http.Request) string {
	if r == nil {
		return contentTypeJSON
	}
	for _, accept := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(accept, ",") {
			mediaType, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || refused(params) {
				continue
			}
			switch mediaType {
			case contentTypeJSON:
				return contentTypeJSON
			case contentTypeGraphQLReply:
				return contentTypeGraphQLReply
			}
		}
	}
	return contentTypeJSON
}

// refused reports a quality of 0 ("not acceptable").
func refused(params map[string]string) bool {
	q, ok := params["q"]
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}
