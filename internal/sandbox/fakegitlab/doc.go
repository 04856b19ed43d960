// Package fakegitlab is an in-memory emulator of the GitLab REST API v4
// endpoint idpgate uses: GET /api/v4/projects?membership=true. It follows
// GitLab's documented offset pagination (X-Page, X-Per-Page, X-Next-Page,
// X-Prev-Page, X-Total, X-Total-Pages and a Link header), its RateLimit-*
// headers and 429 with Retry-After, and its error bodies:
// {"message":"401 Unauthorized"}, {"error":"invalid_token",…} for expired or
// revoked OAuth tokens, {"error":"insufficient_scope",…} for a token
// without read_api, {"error":"404 Not Found"} for unknown routes. Its OAuth
// token endpoint (POST /oauth/token) serves the refresh_token grant and
// rotates: each refresh invalidates the access and refresh token it
// replaces (token.go names the documentation).
//
// OAuth access tokens expire two hours after they were issued (on the
// fake's clock; Advance moves it), and POST /oauth/token serves the
// refresh_token grant as GitLab documents it
// (https://docs.gitlab.com/api/oauth2/#authorization-code-flow): the
// client is authenticated, a refresh ROTATES — the old access token then
// answers "Token was revoked" and the old refresh token invalid_grant —
// and every presented refresh token is recorded for tests.
//
// Mount it at the root of a gitlab.com-like host or under a prefix like a
// self-hosted instance (http.StripPrefix("/gitlab", s)); links keep the
// prefix. It is test and sandbox code: production packages never import it.
package fakegitlab
