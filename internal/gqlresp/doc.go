// Package gqlresp writes the GraphQL responses the gateway produces itself,
// outside gqlgen's executor (401, 400, 413, 429, 500 from the HTTP
// middleware, a response over the size bound), and declares every
// extensions.code the gateway sends, so each is declared once.
//
// Every such response is one GraphQL error and no "data" entry:
//
//	{"errors":[{"message":"…","extensions":{"code":"…", …}}]}
//
// Its Content-Type follows the request's Accept header exactly as gqlgen's
// transports choose it (ContentType), so a client gets the same media type
// for a 401 or a 429 as for a result. The GraphQL-over-HTTP specification
// (https://graphql.github.io/graphql-over-http/draft/, "Legacy Watershed"
// and "application/graphql-response+json") lets these errors carry non-2xx
// statuses under both media types.
package gqlresp
