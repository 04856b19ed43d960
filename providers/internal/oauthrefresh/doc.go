// Package oauthrefresh exchanges an OAuth 2.0 refresh token for a new access
// token (RFC 6749 §6) through golang.org/x/oauth2, for the adapters whose
// providers let Auth0 store a refresh token (Google, Bitbucket, Microsoft,
// GitLab). A small classifier maps *oauth2.RetrieveError to
// *providers.Error; oauth2's own error text, which includes the endpoint's
// response body, never leaves this package, and neither does a token or the
// client secret.
//
// A rejected OAuth client (invalid_client, unauthorized_client,
// invalid_request, unsupported_grant_type) is the gateway's configuration,
// not the user's token: the Client remembers it for MisconfiguredFor, answers
// Unavailable naming the setting to fix, logs it once per period, and does
// not call the token endpoint again until the period ends. While a client
// is not known to work (before its first answer, after a period) one
// refresh probes it and concurrent ones wait for that answer, so a
// misconfigured client costs one request per period however many
// identities refresh at once.
package oauthrefresh
