// Package resilience wraps the http.RoundTripper of one upstream (the Auth0
// Management API, GitHub, Google, a token endpoint, …) with what a gateway
// owes the services it calls: a cap on concurrent requests, bounded retries
// with jittered backoff for idempotent requests that failed transiently, and
// a circuit breaker that fails fast while the upstream is down.
//
// Each upstream gets its own Transport (and so its own breaker and its own
// cap), installed as the Transport of that upstream's *http.Client:
//
//	hc := &http.Client{Timeout: 30 * time.Second,
//		Transport: resilience.NewTransport(base, resilience.Policy{Name: "github", Logger: log})}
//
// Calls are counted per user when the request's context names one
// (WithUser): waiters for a Transport's slots are served round robin per
// user, and a PerUser shared by several Transports bounds each user's calls
// in flight across them, so one user's fan-out cannot crowd out the others.
//
// Nothing here logs or returns a URL, a query string or a header: the
// upstream's name, the method and the status or error class are enough to
// operate it, and page tokens and credentials stay out of logs.
package resilience
