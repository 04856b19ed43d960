package incremental

import (
	"context"
	"encoding/json"
	"testing"
	"testing/synctest"
	"time"

	"github.com/99designs/gqlgen/graphql"
)

// stuck answers an initial payload announcing a deferred one, then waits
// for a deferred payload that never comes until release is closed (as
// gqlgen's executor does when a deferred result is lost).
func stuck(release <-chan struct{}) graphql.ResponseHandler {
	first := true
	return func(context.Context) *graphql.Response {
		if first {
			first = false
			return &graphql.Response{Data: json.RawMessage(`{"me":{"id":"a"}}`), HasNext: boolPtr(true)}
		}
		<-release
		return nil
	}
}

// TestUntilDoneEndsAStuckWaitAtTheDeadline: both the flattening path
// (merge) and the multipart path (the wrapped handler) return at the
// request's deadline with UPSTREAM_UNAVAILABLE instead of waiting forever.
func TestUntilDoneEndsAStuckWaitAtTheDeadline(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  func(ctx context.Context, h graphql.ResponseHandler) (errs []string, hasNext bool)
	}{
		{"flattened", func(ctx context.Context, h graphql.ResponseHandler) ([]string, bool) {
			resp := untilDone(h)
			first := resp(ctx)
			out := merge(ctx, first, resp)
			var codes []string
			for _, e := range out.Errors {
				codes = append(codes, e.Extensions["code"].(string))
			}
			return codes, out.HasNext != nil
		}},
		{"multipart", func(ctx context.Context, h graphql.ResponseHandler) ([]string, bool) {
			resp := untilDone(h)
			resp(ctx)
			last := resp(ctx)
			if resp(ctx) != nil {
				return []string{"more than one final response"}, true
			}
			var codes []string
			for _, e := range last.Errors {
				codes = append(codes, e.Extensions["code"].(string))
			}
			return codes, last.HasNext == nil || *last.HasNext
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				defer close(release)
				ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
				defer cancel()
				start := time.Now()
				codes, hasNext := tc.run(ctx, stuck(release))
				if got := time.Since(start); got != 30*time.Second {
					t.Errorf("returned after %v; want at the 30s deadline", got)
				}
				if len(codes) != 1 || codes[0] != "UPSTREAM_UNAVAILABLE" || hasNext {
					t.Errorf("codes = %v, hasNext = %v; want [UPSTREAM_UNAVAILABLE], false", codes, hasNext)
				}
			})
		})
	}
}
