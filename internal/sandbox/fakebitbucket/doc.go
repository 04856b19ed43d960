// Package fakebitbucket is an in-memory emulator of the Bitbucket Cloud
// endpoints idpgate uses: the workspaces of the token owner
// (GET /2.0/user/workspaces), the repositories of one workspace
// (GET /2.0/repositories/{workspace}?role=member), both on api.bitbucket.org,
// and the OAuth 2.0 token endpoint (POST /site/oauth2/access_token,
// bitbucket.org), served by one http.Handler so the dev sandbox and tests
// can mount both under one base URL. The cross-workspace endpoints
// Atlassian removed under CHANGE-2770 (GET /2.0/repositories,
// /2.0/workspaces, /2.0/user/permissions/…) answer 410 Gone with the body
// Bitbucket sends. It follows the documented shapes: paginated {pagelen, page,
// size, values, next, previous} bodies whose next link is absolute, Bearer
// authentication, {"type":"error","error":{"message":…}} error bodies, and a
// token endpoint that takes HTTP Basic client authentication and rotates the
// refresh token on every use.
//
// It is test and sandbox code: production packages never import it.
package fakebitbucket
