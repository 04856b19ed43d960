// Package gitlab is the adapter for GitLab sign-in through Auth0: a Custom
// Social Connection (provider "oauth2", conventionally named "gitlab"). It
// lists the projects the token owner is a member of through the GitLab REST
// API v4, on gitlab.com or a self-hosted instance, and refreshes tokens at
// the instance's OAuth token endpoint: Auth0 stores a refresh token for
// generic OAuth2 connections, and GitLab access tokens expire after two
// hours.
//
// GitLab paginates with page numbers and the X-Next-Page header; the page
// token is that number. A GitLab refresh rotates: the access and refresh
// tokens it replaces stop working (https://docs.gitlab.com/api/oauth2/), so
// the gateway must refresh one identity at most once at a time.
package gitlab
