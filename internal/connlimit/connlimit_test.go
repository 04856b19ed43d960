package connlimit

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// serve starts an HTTP server over a Listener with Middleware in front of
// a stand-in authenticator (Bearer good), wired as server.go wires them.
func serve(t *testing.T, lo ListenerOptions, mo MiddlewareOptions) *Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := NewListener(ln, lo)
	mw, err := Middleware(mo)
	if err != nil {
		t.Fatal(err)
	}
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			gqlresp.Write(w, r, http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "missing bearer token", nil)
			return
		}
		MarkAuthenticated(r.Context())
		io.WriteString(w, "ok")
	})
	srv := &http.Server{
		Handler:           mw(auth),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ConnContext:       ConnContext,
	}
	go srv.Serve(cl)
	t.Cleanup(func() { srv.Close() })
	return cl
}

type client struct {
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr, from string) *client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, br: bufio.NewReader(c)}
}

// do sends one request and reads its response; ok is false when the
// server closed the connection instead.
func (c *client) do(t *testing.T, token string) (*http.Response, bool) {
	t.Helper()
	req := "GET /graphql HTTP/1.1\r\nHost: x\r\n"
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	c.c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c.c, req+"\r\n"); err != nil {
		return nil, false
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return nil, false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, true
}

// closedWithin reads until the server closes the connection.
func (c *client) closedWithin(t *testing.T, d time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	c.c.SetReadDeadline(start.Add(d))
	_, err := c.br.ReadByte()
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	return time.Since(start)
}

// TestFlood: 100 connections without a token from one address hold at
// most MaxConnsPerIP sockets, for at most UnauthIdle each, while a client
// with a token on another address is served.
func TestFlood(t *testing.T) {
	const perIP, idle = 10, 500 * time.Millisecond
	cl := serve(t, ListenerOptions{MaxConns: 40, MaxConnsPerIP: perIP, UnauthIdle: idle}, MiddlewareOptions{RPS: 1000, Burst: 1000})
	addr := cl.Addr().String()

	var held []*client
	served := 0
	for range 100 {
		c := dial(t, addr, "127.0.0.1")
		if _, ok := c.do(t, ""); ok {
			served++
			held = append(held, c)
		}
	}
	if served > perIP {
		t.Errorf("%d flood connections served; want at most %d", served, perIP)
	}
	if open := cl.Open(); open > perIP {
		t.Errorf("%d connections open; want at most %d", open, perIP)
	}

	good := dial(t, addr, "127.0.0.2")
	for i := range 3 { // keep-alive: the same connection serves again
		resp, ok := good.do(t, "good")
		if !ok || resp.StatusCode != http.StatusOK {
			t.Fatalf("authenticated request %d during the flood: served %v; want 200", i, ok)
		}
	}

	for _, c := range held {
		if d := c.closedWithin(t, 10*idle); d > 3*idle {
			t.Errorf("unauthenticated connection closed after %v; want about %v", d, idle)
		}
	}
	if open := cl.Open(); open != 1 {
		t.Errorf("%d connections open after the idle timeout; want 1 (the authenticated one)", open)
	}
}

// TestRepeated401 asks for the connection to be closed from the second
// 401 on it, and rate limits an address past its budget of 401s.
func TestRepeated401(t *testing.T) {
	cl := serve(t, ListenerOptions{}, MiddlewareOptions{RPS: 0.001, Burst: 3})
	addr := cl.Addr().String()
	c := dial(t, addr, "127.0.0.1")
	first, ok := c.do(t, "")
	if !ok || first.StatusCode != 401 || first.Close {
		t.Fatalf("first 401: %v, close %v; want 401 keeping the connection", ok, first != nil && first.Close)
	}
	second, ok := c.do(t, "")
	if !ok || second.StatusCode != 401 || !second.Close {
		t.Fatalf("second 401 on the connection: %v %+v; want Connection: close", ok, second)
	}
	c2 := dial(t, addr, "127.0.0.1")
	third, _ := c2.do(t, "")
	if third == nil || third.StatusCode != 401 {
		t.Fatalf("third request: want 401")
	}
	c3 := dial(t, addr, "127.0.0.1")
	limited, ok := c3.do(t, "good") // even a valid token: the address spent its budget
	if !ok || limited.StatusCode != http.StatusTooManyRequests || limited.Header.Get("Retry-After") == "" || !strings.Contains(limited.Header.Get("Content-Type"), "json") {
		t.Fatalf("after the budget: %+v; want 429 with Retry-After", limited)
	}
	other := dial(t, addr, "127.0.0.2")
	if resp, ok := other.do(t, "good"); !ok || resp.StatusCode != 200 {
		t.Fatalf("another address: want 200")
	}
}
