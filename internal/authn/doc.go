// Package authn authenticates callers: it checks the Auth0 access token a
// client sends as "Authorization: Bearer …" and puts the validated claims in
// the request context, where UserID and Claims read them.
//
// The middleware and the claim checks come from
// github.com/auth0/go-jwt-middleware/v2. The package adds what that library
// leaves to its user:
//
//   - the algorithm is pinned to RS256 before any key is looked up, so
//     "none", HS256 signed with the public key as the HMAC secret, and every
//     other algorithm are rejected without touching the key cache;
//   - its own JWKS cache (jwks.CachingProvider in v2.3.1 ignores the token's
//     kid, so it never refetches for a rotated key before its TTL runs out):
//     a token whose kid is unknown triggers one refetch, single-flight and at
//     most once per MinRefetchInterval, before it is rejected;
//   - exp (required), nbf and iat are checked against an injected clock with
//     a bounded leeway (the validator checks them too, against the wall
//     clock, because it reads time.Now directly);
//   - every rejection is the contract's GraphQL-shaped 401 with
//     WWW-Authenticate: Bearer error="invalid_token"; messages and logs never
//     carry the token or the validator's error text.
package authn
