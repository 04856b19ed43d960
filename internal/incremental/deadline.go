package incremental

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// untilDone wraps the responses of an operation so that waiting for a
// deferred payload ends with the request's context (REQUEST_TIMEOUT or
// the client leaving): gqlgen's generated executor waits for deferred
// results on a channel without watching the context, so a payload that
// never comes would hold the request, its connection and the flattening
// or multipart writer forever. The first call (the initial execution,
// whose resolvers watch the context) is passed through. After the context
// ends, one final response with an UPSTREAM_UNAVAILABLE error and hasNext
// false is returned, then nil. The executor's own receiving goroutine
// stays blocked until a payload comes: the executor offers no way to end
// it, which is why the guard rejects the documents known to strand one
// (nested @defer).
func untilDone(responses graphql.ResponseHandler) graphql.ResponseHandler {
	first, ended := true, false
	return func(ctx context.Context) *graphql.Response {
		if ended {
			return nil
		}
		if first {
			first = false
			return responses(ctx)
		}
		got := make(chan *graphql.Response, 1)
		go func() { got <- responses(ctx) }()
		select {
		case r := <-got:
			return r
		case <-ctx.Done():
		}
		select { // a payload that arrived together with the end wins
		case r := <-got:
			return r
		default:
		}
		ended = true
		hasNext := false
		return &graphql.Response{
			Errors: gqlerror.List{{
				Message:    "the request timed out before every deferred fragment was delivered",
				Extensions: map[string]any{"code": gqlresp.CodeUpstreamUnavailable},
			}},
			HasNext: &hasNext,
		}
	}
}
