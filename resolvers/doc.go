// Package resolvers implements the GraphQL schema of graph/: it loads the
// caller's Auth0 profile through the shared identity loader, dispatches each
// linked identity to its provider adapter, and maps results into Relay
// connections. It is the only package that knows the extensions.code values
// of the public contract (errors.go).
package resolvers
