package connlimit

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// ListenerOptions configure NewListener. Zero fields take the defaults.
type ListenerOptions struct {
	// MaxConns bounds the open connections (0: 4096).
	MaxConns int
	// MaxConnsPerIP bounds the open connections of one client address
	// (0: 64).
	MaxConnsPerIP int
	// UnauthIdle bounds how long a connection that has not carried an
	// authenticated request may wait for a request (0: 5s). net/http's own
	// timeouts still apply to the others.
	UnauthIdle time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Listener is a net.Listener that closes, right after accepting, a
// connection over MaxConns or MaxConnsPerIP, and whose connections shorten
// every read deadline to UnauthIdle until MarkAuthenticated is called for
// them. It is safe for concurrent use.
type Listener struct {
	net.Listener
	o ListenerOptions

	mu    sync.Mutex
	open  int
	perIP map[string]int
}

// NewListener wraps ln.
func NewListener(ln net.Listener, o ListenerOptions) *Listener {
	if o.MaxConns <= 0 {
		o.MaxConns = 4096
	}
	if o.MaxConnsPerIP <= 0 {
		o.MaxConnsPerIP = 64
	}
	if o.UnauthIdle <= 0 {
		o.UnauthIdle = 5 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Listener{Listener: ln, o: o, perIP: map[string]int{}}
}

// Accept returns the next connection within the caps; connections over
// them are closed without a response (the cheapest answer to a flood).
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		ok := l.open < l.o.MaxConns && l.perIP[ip] < l.o.MaxConnsPerIP
		if ok {
			l.open++
			l.perIP[ip]++
		}
		l.mu.Unlock()
		if !ok {
			c.Close()
			continue
		}
		return &Conn{Conn: c, l: l, ip: ip}, nil
	}
}

// Open reports the connections open now.
func (l *Listener) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open
}

func (l *Listener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.perIP[ip]--; l.perIP[ip] <= 0 {
		delete(l.perIP, ip)
	}
}

// ConnContext is http.Server's ConnContext: it makes the connection
// reachable from its requests' contexts (MarkAuthenticated, Middleware).
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

type connKey struct{}

func connFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// MarkAuthenticated records that the connection of ctx carried a request
// with a valid token: it gets net/http's ordinary timeouts from now on.
func MarkAuthenticated(ctx context.Context) {
	if c := connFrom(ctx); c != nil {
		c.authenticated.Store(true)
	}
}

// Conn is a connection accepted by Listener.
type Conn struct {
	net.Conn
	l             *Listener
	ip            string
	authenticated atomic.Bool
	unauthorized  atomic.Int32 // 401s answered on this connection
	closeOnce     sync.Once
}

// SetReadDeadline shortens t to UnauthIdle from now while the connection
// has not authenticated: net/http sets it before waiting for each request
// (ReadHeaderTimeout, IdleTimeout), so such a connection cannot idle
// longer. The server must set those timeouts.
func (c *Conn) SetReadDeadline(t time.Time) error {
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// SetDeadline clamps like SetReadDeadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetReadDeadline(c.clamp(t))
}

// clamp leaves a zero deadline alone: net/http clears the deadline while a
// handler runs (its background read), and a deadline there would cancel
// the request of a connection that authenticates during it.
func (c *Conn) clamp(t time.Time) time.Time {
	if t.IsZero() || c.authenticated.Load() {
		return t
	}
	if limit := c.l.o.Now().Add(c.l.o.UnauthIdle); t.After(limit) {
		return limit
	}
	return t
}

// Close closes the connection and releases its place.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() { c.l.release(c.ip) }) // first: once the peer sees the close, Open agrees
	return c.Conn.Close()
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}
