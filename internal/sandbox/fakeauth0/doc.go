// Package fakeauth0 emulates the parts of an Auth0 tenant that idpgate
// talks to: OpenID discovery, the JWKS, the token endpoint's
// client_credentials grant and the Management API's user endpoints
// (GET /api/v2/users/{id} and user search with search_engine=v3), and
// what a single-page app signing in with auth0-spa-js needs (spa.go):
// /authorize with PKCE and a login page listing the tenant's users, the
// authorization_code and rotating refresh_token grants, /userinfo and
// /v2/logout, with CORS for the registered SPA's web origins.
//
// It follows Auth0's documented request and response shapes (paths,
// status codes, error bodies, X-RateLimit-* headers) so that the code
// tested against it meets the real tenant unchanged. Tests and the dev
// sandbox use it; production code never imports it.
//
// A zero Tenant is ready: it generates an RSA-2048 signing key on first
// use. Exported knobs inject latency, failures, rate limiting and search
// index lag, and HoldManagement keeps Management API calls in flight until
// a test releases them; counters report how many calls each endpoint
// received.
package fakeauth0
