package httpmw

import (
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// Recover turns a panic in the next handler into a 500 with the body
// {"errors":[{"message":"internal server error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}
// and logs it at Error with the stack and the request id (through
// Logger(ctx), falling back to logger; nil means slog.Default()). The log
// records the panic value only when it is a runtime.Error (an index out of
// range, a nil dereference); any other value is logged by type alone, as
// it may hold a token. If the response had already started, the
// connection is aborted instead (http.ErrAbortHandler) so the client sees a
// truncated response rather than one that looks complete.
// http.ErrAbortHandler itself passes through.
func Recover(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := &recorder{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
					panic(v)
				}
				log := logger
				if RequestIDFrom(r.Context()) != "" {
					log = Logger(r.Context())
				}
				attrs := []slog.Attr{
					slog.String("panic_type", fmt.Sprintf("%T", v)),
					slog.String("stack", string(debug.Stack())),
				}
				if re, ok := v.(runtime.Error); ok {
					attrs = append(attrs, slog.String("panic", re.Error()))
				}
				log.LogAttrs(r.Context(), slog.LevelError, "panic serving request", attrs...)
				if rec.wrote() {
					panic(http.ErrAbortHandler)
				}
				WriteError(w, r, http.StatusInternalServerError, gqlresp.CodeInternal, "internal server error")
			}()
			next.ServeHTTP(rec, r)
		})
	}
}
