// Package httpmw holds the gateway's HTTP middleware, each a
// func(http.Handler) http.Handler, and WriteError, which writes a
// GraphQL-shaped error body ({"errors":[{"message":…,"extensions":{"code":…}}]})
// so that clients parse every failure the same way.
//
// A sensible order, outermost first:
//
//	RequestID        id on the response and in the context, for everything below
//	AccessLog        one line per request, status as finally written
//	Recover          a panic becomes a 500; the stack goes to the log
//	SecurityHeaders  defaults that handlers may override (GraphiQL sets its CSP)
//	CORS             answers preflights before authentication
//	(authentication, from internal/authn)
//	RateLimit        keyed by the authenticated user
//	BodyLimit        the body is read here, once, up to the limit
//	RejectBatches    looks at the first byte of the buffered body
//	gqlgen handler
//
// Every middleware and every value returned by a constructor is safe for
// concurrent use.
package httpmw
