package incremental

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// Configure adds multipart/mixed delivery to srv and makes every other
// transport answer deferred operations in one piece. Call it before adding
// the POST transport: gqlgen picks the first transport that supports a
// request, and a request that accepts multipart/mixed is also a valid
// JSON POST.
func Configure(srv *handler.Server) {
	srv.AddTransport(Multipart{})
	srv.Use(Flatten{})
}

// batchWindow is how long deferred results are collected into one part:
// long enough to send identities that finish together in one part, far
// below what a person notices.
const batchWindow = 5 * time.Millisecond

// Multipart is gqlgen's MultipartMixed transport with a request body
// check in front: a body that is not a JSON GraphQL request is answered by
// the POST transport (which gives the same error any JSON client gets)
// instead of being echoed into the error message and the standard logger.
type Multipart struct{}

var _ graphql.Transport = Multipart{}

// Supports reports a JSON POST whose Accept lists multipart/mixed.
func (Multipart) Supports(r *http.Request) bool {
	return acceptsMultipart(r.Header) && (transport.POST{}).Supports(r)
}

// Do serves one operation, incrementally when it defers fragments.
func (Multipart) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	var probe graphql.RawParams
	if err != nil || json.Unmarshal(body, &probe) != nil {
		(transport.POST{}).Do(w, r, exec)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), multipartKey{}, true))
	transport.MultipartMixed{DeliveryTimeout: batchWindow}.Do(&earlyErrorWriter{ResponseWriter: w, r: r}, r, exec)
}

// earlyErrorWriter gives a failure before execution (parse, validation,
// variable coercion), which gqlgen's MultipartMixed writes as one
// application/json body, the media type and status the POST transport
// gives: the best non-multipart type the Accept header lists
// (gqlresp.MediaType: application/json when it lists none), and 400
// instead of 422 for application/graphql-response+json, as the GraphQL
// over HTTP specification asks. gqlresp.Conform then applies the same
// rules as to any response (no "data" in a graphql-response+json 4xx,
// 200 for an application/json request error). A multipart answer is left
// as it is.
type earlyErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	decided bool
}

func (e *earlyErrorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *earlyErrorWriter) decide(status int) int {
	if e.decided {
		return status
	}
	e.decided = true
	h := e.Header()
	if mt, _, _ := mime.ParseMediaType(h.Get("Content-Type")); mt != gqlresp.JSON {
		return status
	}
	h.Set("Content-Type", gqlresp.ContentType(e.r))
	if gqlresp.MediaType(e.r) == gqlresp.GraphQLResponse && status == http.StatusUnprocessableEntity {
		status = http.StatusBadRequest
	}
	return status
}

func (e *earlyErrorWriter) WriteHeader(code int) {
	e.ResponseWriter.WriteHeader(e.decide(code))
}

func (e *earlyErrorWriter) Write(p []byte) (int, error) {
	e.decide(http.StatusOK)
	return e.ResponseWriter.Write(p)
}

func (e *earlyErrorWriter) Flush() {
	e.decide(http.StatusOK)
	if f, ok := e.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// multipartKey marks the context of an operation Multipart delivers.
type multipartKey struct{}

// acceptsMultipart reports whether an Accept header lists multipart/mixed
// (with any parameters, such as Apollo's deferSpec=20220824).
func acceptsMultipart(h http.Header) bool {
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err == nil && mt == "multipart/mixed" {
				return true
			}
		}
	}
	return false
}

// Flatten is a gqlgen extension that gives clients without multipart/mixed
// a complete answer to an operation with @defer: it awaits every deferred
// payload and merges its data and errors into the initial response, as if
// the directive were absent. Without it gqlgen's single-response
// transports send the initial payload with "hasNext": true and drop the
// rest. For multipart/mixed clients it removes gqlgen's null placeholders
// of deferred fields from the initial payload (omitPlaceholders).
type Flatten struct{}

var (
	_ graphql.HandlerExtension     = Flatten{}
	_ graphql.OperationInterceptor = Flatten{}
)

// ExtensionName implements graphql.HandlerExtension.
func (Flatten) ExtensionName() string { return "IncrementalFlatten" }

// Validate implements graphql.HandlerExtension.
func (Flatten) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptOperation implements graphql.OperationInterceptor.
func (Flatten) InterceptOperation(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if incremental, _ := ctx.Value(multipartKey{}).(bool); incremental {
		return omitPlaceholders(ctx, untilDone(next(ctx)))
	}
	responses := untilDone(next(ctx))
	done := false
	return func(ctx context.Context) *graphql.Response {
		if done {
			return nil
		}
		done = true
		first := responses(ctx)
		if first == nil || first.HasNext == nil {
			return first
		}
		return merge(ctx, first, responses)
	}
}

// merge drains the deferred payloads after first and folds them into it.
// A payload nested in a deferred fragment may arrive before the fragment
// that holds it; it waits until its parent is merged. One whose parent
// stays null (it failed) is dropped, as its subtree would be without
// @defer.
func merge(ctx context.Context, first *graphql.Response, responses graphql.ResponseHandler) *graphql.Response {
	out := *first
	out.HasNext = nil
	var waiting []*graphql.Response
	apply := func(next *graphql.Response) bool {
		if len(out.Data) == 0 || bytes.Equal(out.Data, []byte("null")) {
			return true // bubbled to the root already: nothing to merge into
		}
		data, err := patch(out.Data, next.Path, next.Data)
		switch {
		case errors.Is(err, errNullParent):
			return false
		case err != nil:
			out.Errors = append(out.Errors, &gqlerror.Error{
				Message:    "a deferred fragment could not be merged into the response",
				Path:       next.Path,
				Extensions: map[string]any{"code": gqlresp.CodeInternal},
			})
		default:
			out.Data = data
		}
		return true
	}
	for {
		next := responses(ctx)
		if next == nil {
			break
		}
		out.Errors = append(out.Errors, next.Errors...)
		if len(next.Data) == 0 {
			continue // errors alone: the request timed out (untilDone)
		}
		if !apply(next) {
			waiting = append(waiting, next)
			continue
		}
		// Merging one payload may give another its parent: retry the
		// waiting ones, in arrival order, until none is merged.
		for n := -1; n != len(waiting); {
			n = len(waiting)
			waiting = slices.DeleteFunc(waiting, apply)
		}
	}
	return &out
}

// member is one key and its raw value in an object, in document order.
type member struct {
	key   string
	value json.RawMessage
}

// patch returns doc with the object at path updated by fields, keeping
// every key's position (the response follows the selection set's order).
// A null fields value (a deferred non-null field failed) nulls the object
// at path, as the failure would have without @defer.
func patch(doc json.RawMessage, path ast.Path, fields json.RawMessage) (json.RawMessage, error) {
	if len(path) == 0 {
		if bytes.Equal(bytes.TrimSpace(fields), []byte("null")) {
			return json.RawMessage("null"), nil
		}
		obj, err := decodeObject(doc)
		if err != nil {
			return nil, err
		}
		add, err := decodeObject(fields)
		if err != nil {
			return nil, err
		}
	next:
		for _, m := range add {
			for i := range obj {
				if obj[i].key == m.key {
					obj[i].value = m.value
					continue next
				}
			}
			obj = append(obj, m)
		}
		return encodeObject(obj)
	}
	switch step := path[0].(type) {
	case ast.PathName:
		obj, err := decodeObject(doc)
		if err != nil {
			return nil, err
		}
		for i := range obj {
			if obj[i].key == string(step) {
				if bytes.Equal(obj[i].value, []byte("null")) {
					return nil, errNullParent
				}
				v, err := patch(obj[i].value, path[1:], fields)
				if err != nil {
					return nil, err
				}
				obj[i].value = v
				return encodeObject(obj)
			}
		}
		return nil, errPath
	case ast.PathIndex:
		var arr []json.RawMessage
		if err := json.Unmarshal(doc, &arr); err != nil {
			return nil, err
		}
		if int(step) < 0 || int(step) >= len(arr) {
			return nil, errPath
		}
		if bytes.Equal(arr[step], []byte("null")) {
			return nil, errNullParent
		}
		v, err := patch(arr[step], path[1:], fields)
		if err != nil {
			return nil, err
		}
		arr[step] = v
		return json.Marshal(arr)
	}
	return nil, errPath
}

var (
	errPath       = errors.New("incremental: a deferred path is not in the data")
	errNullParent = errors.New("incremental: a deferred path crosses a null")
)

// decodeObject reads a JSON object's members in order.
func decodeObject(raw json.RawMessage) ([]member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errPath
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key: key, value: v})
	}
	return out, nil
}

func encodeObject(obj []member) (json.RawMessage, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range obj {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(m.key)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.value)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
