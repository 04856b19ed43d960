// Package providers holds what every identity-provider adapter shares: the
// Repository and CalendarEvent types the GraphQL schema exposes, one page of
// results, the one-method capability interfaces, the typed Error every
// adapter returns, and the Registry that maps Auth0's identities[].provider
// values to adapters. It has no HTTP code; the adapters live in its
// subpackages (github, google, …) and share providers/internal/upstream.
package providers
