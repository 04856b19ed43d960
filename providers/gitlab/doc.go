// Package gitlab is the adapter for GitLab sign-ins: it lists the projects
// the token owner is a member of through the GitLab REST API v4, on
// gitlab.com or a self-hosted instance, and refreshes GitLab OAuth tokens.
//
// GitLab paginates with page numbers and the X-Next-Page header; the page
// token is that number.
//
// Auth0 has no GitLab social connection: GitLab arrives through a Custom
// Social Connection (provider "oauth2", conventionally named "gitlab"),
// for which Auth0 stores a refresh token. GitLab OAuth access tokens expire
// after two hours, and a refresh at {instance}/oauth/token rotates: the old
// access and refresh tokens stop working (https://docs.gitlab.com/api/oauth2/).
// The credentials broker therefore refreshes once per identity at a time
// and keeps the rotated refresh token.
package gitlab
