// Package bitbucket is the adapter for Auth0's "bitbucket" social
// connection: it lists the repositories the token owner is a member of
// through the Bitbucket Cloud REST API 2.0 and refreshes the access token
// (Bitbucket issues two-hour access tokens and Auth0 stores the refresh
// token).
//
// Bitbucket paginates with numbered pages and an absolute "next" link; the
// adapter keeps only the page number as its page token and rebuilds the
// request, so a token never carries a URL. Bitbucket has no stars: Stars is
// always 0.
package bitbucket
