package httpmw

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// BodyLimit caps request bodies at n bytes (n > 0). It reads the body
// through http.MaxBytesReader before the next handler runs and hands the
// buffered copy on, because gqlgen reads the body itself and answers a read
// error with HTTP 200 and the reader's message. A body over n bytes
// (declared by Content-Length or found while reading) gets 413 with
// {"errors":[{"message":"request body exceeds N bytes","extensions":{"code":"BAD_REQUEST"}}]};
// a body that cannot be read gets 400. Requests without a body pass
// through.
func BodyLimit(n int64) func(http.Handler) http.Handler {
	if n <= 0 {
		panic(fmt.Sprintf("httpmw: BodyLimit(%d): the limit must be positive", n))
	}
	tooLarge := fmt.Sprintf("request body exceeds %d bytes", n)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Body == nil || r.Body == http.NoBody {
				next.ServeHTTP(w, r)
				return
			}
			if r.ContentLength > n {
				w.Header().Set("Connection", "close")
				WriteError(w, r, http.StatusRequestEntityTooLarge, gqlresp.CodeBadRequest, tooLarge)
				return
			}
			body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, n))
			if err != nil {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					WriteError(w, r, http.StatusRequestEntityTooLarge, gqlresp.CodeBadRequest, tooLarge)
					return
				}
				WriteError(w, r, http.StatusBadRequest, gqlresp.CodeBadRequest, "could not read the request body")
				return
			}
			r2 := r.WithContext(r.Context()) // a shallow copy: only the body changes; it shares r's Header and URL, which nothing downstream writes
			r2.Body = io.NopCloser(bytes.NewReader(body))
			r2.ContentLength = int64(len(body))
			r2.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
			next.ServeHTTP(w, r2)
		})
	}
}

// maxBatchPeek bounds the whitespace RejectBatches skips looking for the
// first byte of a JSON body.
const maxBatchPeek = 4 << 10

// RejectBatches answers a JSON POST whose body is an array (a batch, as sent
// by Apollo's BatchHttpLink) with 400 and the message "batched requests are
// not supported; send one operation per request". gqlgen's POST transport
// does not support batches either, but its error echoes the whole body and
// does not say what is wrong. It looks at the first non-whitespace byte
// only, and gives the next handler the body unchanged.
func RejectBatches() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.Body == nil || r.Body == http.NoBody || !isJSON(r.Header.Get("Content-Type")) {
				next.ServeHTTP(w, r)
				return
			}
			prefix, first, err := peekFirstByte(r.Body)
			if err != nil && !errors.Is(err, io.EOF) {
				if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
					WriteError(w, r, http.StatusRequestEntityTooLarge, gqlresp.CodeBadRequest, "request body too large")
					return
				}
				WriteError(w, r, http.StatusBadRequest, gqlresp.CodeBadRequest, "could not read the request body")
				return
			}
			if first == '[' {
				WriteError(w, r, http.StatusBadRequest, gqlresp.CodeBadRequest, "batched requests are not supported; send one operation per request")
				return
			}
			r2 := r.WithContext(r.Context()) // a shallow copy: only the body changes; it shares r's Header and URL, which nothing downstream writes
			r2.Body = readCloser{io.MultiReader(bytes.NewReader(prefix), r.Body), r.Body}
			next.ServeHTTP(w, r2)
		})
	}
}

// peekFirstByte reads up to the first non-whitespace byte (at most
// maxBatchPeek bytes) and returns what it read.
func peekFirstByte(body io.Reader) (prefix []byte, first byte, err error) {
	var buf [1]byte
	for len(prefix) < maxBatchPeek {
		var n int
		n, err = body.Read(buf[:])
		if n == 1 {
			prefix = append(prefix, buf[0])
			switch buf[0] {
			case ' ', '\t', '\r', '\n':
			default:
				return prefix, buf[0], nil
			}
		}
		if err != nil {
			return prefix, 0, err
		}
	}
	return prefix, 0, nil
}

func isJSON(contentType string) bool {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	return mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")
}

type readCloser struct {
	io.Reader
	io.Closer
}
