package httpmw

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// RequestIDHeader carries the request id in both directions.
const RequestIDHeader = "X-Request-Id"

const maxRequestIDLen = 64

type ctxKey struct{}

type requestInfo struct {
	id     string
	logger *slog.Logger
}

// RequestID gives every request an id: the incoming X-Request-Id when it is
// 1 to 64 characters of [A-Za-z0-9._-] (so a proxy's id carries through
// and nothing odd reaches a log line), otherwise 32 random hex digits. The
// id is set on the response's X-Request-Id before the next handler runs and
// put in the context with logger.With("request_id", id) (see Logger and
// RequestIDFrom). A nil logger means slog.Default().
func RequestID(logger *slog.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get(RequestIDHeader)
			if !validRequestID(id) {
				id = newRequestID()
			}
			w.Header().Set(RequestIDHeader, id)
			ctx := context.WithValue(r.Context(), ctxKey{}, &requestInfo{id: id, logger: logger.With("request_id", id)})
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.':
		default:
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand documents it)
	return hex.EncodeToString(b[:])
}

// RequestIDFrom returns the request id RequestID put in ctx, or "".
func RequestIDFrom(ctx context.Context) string {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// Logger returns the logger RequestID put in ctx, which carries the
// request_id attribute, or slog.Default() outside RequestID.
func Logger(ctx context.Context) *slog.Logger {
	if info, ok := ctx.Value(ctxKey{}).(*requestInfo); ok {
		return info.logger
	}
	return slog.Default()
}

// AccessLog logs one line per request: method, route, status, bytes and
// duration. The route is the ServeMux pattern that matched ("/graphql",
// "GET /healthz") or "unmatched", never the raw path or query, which a
// client may fill with a token. Rejections (401, 429) are sampled: at
// most one line per status every 10 seconds, carrying the number left out
// since the last one, so a flood of unauthenticated requests cannot flood
// the log. now is the clock (nil: time.Now).
func AccessLog(now func() time.Time) func(http.Handler) http.Handler {
	if now == nil {
		now = time.Now
	}
	samplers := map[int]*Sampler{http.StatusUnauthorized: {}, http.StatusTooManyRequests: {}}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := now()
			rec := &recorder{ResponseWriter: w}
			ns := &notes{}
			r = r.WithContext(context.WithValue(r.Context(), notesKey{}, ns))
			defer func() {
				// Also after a panic (http.ErrAbortHandler included); the
				// status is then what was written, or 0.
				attrs := []slog.Attr{
					slog.String("method", r.Method),
					slog.String("route", route(r)),
					slog.Int("status", rec.status),
					slog.Int64("bytes", rec.bytes),
					slog.Duration("duration", now().Sub(start)),
				}
				attrs = append(attrs, ns.take()...)
				if s := samplers[rec.status]; s != nil {
					keep, left := s.Take(start, 10*time.Second)
					if !keep {
						return
					}
					attrs = append(attrs, slog.Int64("suppressed", left))
				}
				Logger(r.Context()).LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
			}()
			next.ServeHTTP(rec, r)
			if rec.status == 0 {
				rec.status = http.StatusOK // nothing written: net/http sends 200
			}
		})
	}
}

// route is the pattern ServeMux matched for r (it sets r.Pattern on the
// request it was given, which handlers in between pass on unchanged).
func route(r *http.Request) string {
	if r.Pattern == "" {
		return "unmatched"
	}
	return r.Pattern
}

// Sampler lets one event through per interval and counts the others, for
// log lines a client can provoke at will. Its zero value is ready; it is
// safe for concurrent use.
type Sampler struct {
	mu      sync.Mutex
	last    time.Time
	skipped int64
}

// Take reports whether the event at now is let through, and how many were
// left out since the last one that was.
func (s *Sampler) Take(now time.Time, every time.Duration) (keep bool, skipped int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.last.IsZero() && now.Sub(s.last) < every {
		s.skipped++
		return false, 0
	}
	s.last, skipped, s.skipped = now, s.skipped, 0
	return true, skipped
}

// ContextHandler wraps h so that a record logged with a context that went
// through RequestID carries request_id, for packages that take a
// *slog.Logger rather than calling Logger(ctx) (authn). Do not use it
// under Logger(ctx), whose records already carry the id.
func ContextHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (c ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestIDFrom(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return c.Handler.Handle(ctx, r)
}

func (c ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{c.Handler.WithAttrs(as)}
}

func (c ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{c.Handler.WithGroup(name)} }
