// Package gateway assembles idpgate from its configuration: the Management
// API client, the identity loader, the connection registry (one adapter,
// HTTP client and circuit breaker per Auth0 connection), the GraphQL server
// and the HTTP middleware, behind one handler. server.go keeps the flags,
// signals and listener; tests build the same gateway through New.
package gateway
