package gqlresp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
)

// DefaultMaxResponseBytes is the default bound of Conform: far above the
// largest answer the default query limits allow (README, "Limits").
const DefaultMaxResponseBytes = 4 << 20

// ConformOptions configure Conform.
type ConformOptions struct {
	// MaxBytes bounds every response body (0: DefaultMaxResponseBytes).
	MaxBytes int64
	// Logger records responses cut at the bound (nil: slog.Default()).
	Logger *slog.Logger
	// OnCut, when set, is called with the request whose response was cut
	// at the bound (to mark its access log line: a cut multipart stream
	// keeps its status 200).
	OnCut func(*http.Request)
}

// Conform wraps the GraphQL endpoint (gqlgen and the middleware in front
// of it) so that what it writes follows the GraphQL-over-HTTP
// specification (https://graphql.github.io/graphql-over-http/draft/, the
// graphql-http audits) and stays within a size bound:
//
//   - to an application/json client, a request error (document parsing,
//     validation, variable coercion; gqlgen answers 422) is 200, as the
//     specification's legacy watershed asks;
//   - to an application/graphql-response+json client, a 4xx response has
//     no "data" entry (gqlgen writes "data": null);
//   - a body over MaxBytes is never sent: a response written in one piece
//     (every JSON response) is replaced by a 500 with code
//     RESPONSE_TOO_LARGE; a multipart/mixed stream is passed on one
//     flushed batch of parts at a time, and the batch that would leave
//     no room under MaxBytes for a final part is replaced by that final
//     part: a RESPONSE_TOO_LARGE error with "hasNext": false, then the
//     closing delimiter; any other streamed body is cut and its
//     connection closed, so the client cannot take it for complete.
func Conform(o ConformOptions) func(http.Handler) http.Handler {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxResponseBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cw := &conformWriter{ResponseWriter: w, r: r, max: o.MaxBytes}
			next.ServeHTTP(cw, r)
			if cw.boundary != "" && !cw.cut {
				cw.sendPending()
			}
			if cw.cut {
				o.Logger.LogAttrs(r.Context(), slog.LevelWarn, "response exceeded the size bound",
					slog.Int64("limit", o.MaxBytes), slog.Bool("streamed", cw.written > 0))
				if o.OnCut != nil {
					o.OnCut(r)
				}
				if cw.written > 0 && cw.boundary == "" {
					panic(http.ErrAbortHandler) // net/http closes the connection
				}
			}
		})
	}
}

type conformWriter struct {
	http.ResponseWriter
	r         *http.Request
	max       int64
	status    int // held until the first Write or Flush
	committed bool
	written   int64
	cut       bool
	boundary  string // of a multipart/mixed response
	pending   []byte // multipart bytes written since the last Flush
}

func (c *conformWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func (c *conformWriter) WriteHeader(code int) {
	if c.committed || c.status != 0 {
		return
	}
	if code >= 100 && code < 200 {
		c.ResponseWriter.WriteHeader(code)
		return
	}
	c.status = code
}

func (c *conformWriter) mediaType() string {
	mt, _, _ := mime.ParseMediaType(c.Header().Get("Content-Type"))
	return mt
}

func (c *conformWriter) commit(body []byte) []byte {
	c.committed = true
	status := c.status
	if status == 0 {
		status = http.StatusOK
	}
	if mt, params, _ := mime.ParseMediaType(c.Header().Get("Content-Type")); mt == "multipart/mixed" {
		c.boundary = params["boundary"]
	}
	switch mt := c.mediaType(); {
	case mt == JSON && status == http.StatusUnprocessableEntity:
		status = http.StatusOK
	case mt == GraphQLResponse && status >= 400 && status < 500:
		body = withoutData(body)
		c.Header().Del("Content-Length")
	}
	if int64(len(body)) > c.max {
		c.cut = true
		c.Header().Del("Content-Length")
		Write(c.ResponseWriter, c.r, http.StatusInternalServerError, CodeResponseTooLarge,
			fmt.Sprintf("the response exceeds %d bytes; select fewer fields or smaller pages", c.max), nil)
		return nil
	}
	c.ResponseWriter.WriteHeader(status)
	return body
}

func (c *conformWriter) Write(p []byte) (int, error) {
	n := len(p)
	if !c.committed {
		p = c.commit(p)
		if c.cut {
			return n, nil
		}
	}
	if c.cut {
		return n, nil
	}
	if c.boundary != "" {
		c.pending = append(c.pending, p...)
		return n, nil
	}
	if c.written+int64(len(p)) > c.max {
		c.cut = true
		return n, nil
	}
	c.written += int64(len(p))
	if _, err := c.ResponseWriter.Write(p); err != nil {
		return 0, err
	}
	return n, nil
}

// Flush commits the status and flushes, for streamed responses.
func (c *conformWriter) Flush() {
	if !c.committed {
		c.commit(nil)
	}
	if c.cut {
		return
	}
	if c.boundary != "" {
		c.sendPending()
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// sendPending writes the multipart batch held since the last Flush, or,
// when it would leave no room for it under the bound, the final error
// part instead (and marks the response cut).
func (c *conformWriter) sendPending() {
	final := c.finalPart()
	if c.written+int64(len(c.pending))+int64(len(final)) > c.max {
		c.cut = true
		c.pending = nil
		if _, err := c.ResponseWriter.Write(final); err == nil {
			c.written += int64(len(final))
		}
		return
	}
	if len(c.pending) > 0 {
		if _, err := c.ResponseWriter.Write(c.pending); err == nil {
			c.written += int64(len(c.pending))
		}
	}
	c.pending = nil
}

// finalPart is the last part of a multipart response cut at the bound.
// gqlgen ends every flushed batch with the delimiter that opens the next
// part, so the part starts with its headers, unless nothing was sent yet.
func (c *conformWriter) finalPart() []byte {
	body, _ := json.Marshal(struct {
		HasNext bool    `json:"hasNext"`
		Errors  []Error `json:"errors"`
	}{false, []Error{{
		Message:    fmt.Sprintf("the response exceeds %d bytes; select fewer fields or smaller pages", c.max),
		Extensions: map[string]any{"code": CodeResponseTooLarge},
	}}})
	var b bytes.Buffer
	if c.written == 0 {
		fmt.Fprintf(&b, "--%s\r\n", c.boundary)
	}
	b.WriteString("Content-Type: application/json\r\n\r\n")
	b.Write(body)
	fmt.Fprintf(&b, "\r\n--%s--\r\n", c.boundary)
	return b.Bytes()
}

// withoutData drops a null "data" entry from a GraphQL response body; any
// other body is returned as it is.
func withoutData(body []byte) []byte {
	var resp map[string]json.RawMessage
	if err := json.Unmarshal(body, &resp); err != nil {
		return body
	}
	data, ok := resp["data"]
	if !ok || !bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return body
	}
	delete(resp, "data")
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return out
}
