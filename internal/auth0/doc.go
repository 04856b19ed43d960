// Package auth0 is a client of the Auth0 Management API, limited to what
// idpgate needs: reading a user's profile (with the identity providers'
// tokens in identities[]) by id, and searching users by id in batches.
//
// It is shaped like go-github: a Client holds an injected *http.Client and
// a base URL ending in "/", requests use relative paths, and each method
// links Auth0's documentation. The Client obtains a machine-to-machine
// token with the client_credentials grant (scopes read:users and
// read:user_idp_tokens only), caches it until shortly before it expires,
// shapes its traffic below the tenant's rate limit, honours
// X-RateLimit-Reset on 429 and retries idempotent reads a bounded number
// of times.
//
// Errors are typed (ErrNotFound, ErrUnauthorized, ErrUnavailable,
// *APIError, *RateLimitError) and never contain a token, the client
// secret or a response body.
package auth0
