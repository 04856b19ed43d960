// Package connlimit bounds what a client without a valid token can hold of
// the gateway: open connections (in total and per client address, a
// net.Listener wrapper), the idle time of a connection that never
// authenticated, keep-alive after repeated 401s, and the rate of requests
// that fail authentication per client address (an HTTP middleware).
//
// Wiring: wrap the listener with NewListener, give http.Server the
// listener's ConnContext, put Middleware outside the authenticator and
// call MarkAuthenticated(ctx) right after it. Client addresses are the TCP
// peer's (RemoteAddr): behind a proxy, the proxy's limits apply instead.
package connlimit
