// Package gitlab is the adapter for Auth0's "gitlab" social connection: it
// lists the projects the token owner is a member of through the GitLab REST
// API v4, on gitlab.com or a self-hosted instance.
//
// GitLab paginates with page numbers and the X-Next-Page header; the page
// token is that number. There is no Refresh: Auth0 documents stored refresh
// tokens only for Bitbucket, Google, Azure AD, SharePoint and generic OAuth2
// connections, so a rejected GitLab token means the user signs in again.
package gitlab
