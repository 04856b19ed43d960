// Package bitbucket is the adapter for Auth0's "bitbucket" social
// connection: it lists the repositories the token owner is a member of
// through the Bitbucket Cloud REST API 2.0 and refreshes the access token
// (Bitbucket issues two-hour access tokens and Auth0 stores the refresh
// token).
//
// Since CHANGE-2770 Bitbucket lists repositories per workspace only: the
// adapter reads the user's workspaces (GET /2.0/user/workspaces) and lists
// them one after the other in slug order. Bitbucket paginates with
// numbered pages and an absolute "next" link; the page token is
// "<workspace>/<page>" and the request is rebuilt from it, so a token never
// carries a URL. Bitbucket has no stars: Stars is
// always 0.
package bitbucket
