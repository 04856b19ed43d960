// Package google is the Google adapter: it lists the events of the primary
// Google Calendar of the user a Google OAuth access token belongs to, and
// exchanges Google refresh tokens for new access tokens with the gateway's
// OAuth client (the one the Auth0 google-oauth2 connection uses).
package google
