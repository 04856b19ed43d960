package httpmw

import (
	"context"
	"log/slog"
	"sync"
)

// notes are attributes added to a request's access log line by the
// handlers it went through.
type notes struct {
	mu    sync.Mutex
	attrs []slog.Attr
}

type notesKey struct{}

// Note adds attr to the access log line of the request ctx belongs to, for
// what the status does not tell (a multipart stream cut at the size bound
// still says 200). Outside AccessLog it does nothing. Safe for concurrent
// use.
func Note(ctx context.Context, attr slog.Attr) {
	n, _ := ctx.Value(notesKey{}).(*notes)
	if n == nil {
		return
	}
	n.mu.Lock()
	n.attrs = append(n.attrs, attr)
	n.mu.Unlock()
}

func (n *notes) take() []slog.Attr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.attrs
}
