// Package incremental delivers @defer over HTTP for the gateway's gqlgen
// server.
//
// A client that accepts multipart/mixed (Apollo Client, GraphiQL) gets the
// initial result as soon as the non-deferred fields resolve and one part
// per batch of deferred fragments after it, in the format gqlgen
// implements and Apollo Client reads ("deferSpec=20220824": parts of
// {"incremental":[{"data","path","label","errors"}],"hasNext"}), following
// the GraphQL-over-HTTP incremental delivery RFC
// (graphql/graphql-over-http rfcs/IncrementalDelivery.md). Fields that only
// deferred fragments select are absent from the initial part, as the RFC
// has it (gqlgen itself writes null placeholders there).
//
// Every other client gets one complete, non-incremental answer: the
// deferred fragments are awaited and merged into the initial data, so a
// client that ignores @defer loses nothing. Configure installs both.
package incremental
