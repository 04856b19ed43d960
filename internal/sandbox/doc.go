// Package sandbox starts the dev sandbox: in-process emulators of an Auth0
// tenant and of the GitHub, Google Calendar, GitLab, Bitbucket and
// Microsoft Graph APIs, each on its own 127.0.0.1 port, seeded with demo
// users whose linked identities carry distinctive fake tokens. It returns
// the gateway configuration that points at them and mints bearer tokens
// for the demo users. Only server.go (under --dev and --load) and tests
// import it.
package sandbox
