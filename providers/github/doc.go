// Package github is the GitHub adapter: it lists the repositories of the
// user a GitHub OAuth token belongs to, through the REST API of github.com
// or of a GitHub Enterprise Server ("https://HOST/api/v3/").
package github
