// Package oauthrefresh exchanges an OAuth 2.0 refresh token for a new access
// token (RFC 6749 §6) with one hand-written form POST, for the adapters
// whose providers let Auth0 store a refresh token (Bitbucket, Microsoft,
// later Google). It maps the token endpoint's answers to *providers.Error
// and, unlike golang.org/x/oauth2's RetrieveError, never carries the
// endpoint's response body, the refresh token or the client secret into an
// error.
package oauthrefresh
