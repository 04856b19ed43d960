package providers

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/idpgate/idpgate/internal/secret"
)

// Settings are one connection's adapter settings, after the defaults of
// its provider were applied. The zero value of a field means the
// adapter's default.
type Settings struct {
	// APIURL is the provider API's root (GitHub Enterprise, self-hosted
	// GitLab, an emulator).
	APIURL string
	// TokenURL is the OAuth token endpoint used to refresh tokens.
	TokenURL string
	// ClientID and ClientSecret are the OAuth client of the Auth0
	// connection, needed only to refresh: a refresh token is bound to the
	// client (and, for Microsoft, the authority) that obtained it.
	ClientID     string
	ClientSecret secret.String
	// Setting names the variables the OAuth client came from (the
	// connection's own CONNECTION_<NAME>_CLIENT_ID… or the provider-level
	// <ClientEnv>_CLIENT_ID…), for the message an operator sees when the
	// provider rejects the client. config.Resolve sets it.
	Setting string
	// Logger receives an adapter's operator messages (a rejected OAuth
	// client, logged once per period); nil discards them.
	Logger *slog.Logger
}

// Match says which identities an adapter serves without configuration:
// those of the Auth0 provider Provider and, when Connection is not empty,
// only the connection of that name (GitLab arrives as provider "oauth2",
// connection "gitlab").
type Match struct {
	Provider   string
	Connection string
}

// Spec describes one adapter: its name, the identities it serves by
// default, the environment variables that configure those defaults, and how
// to build it for one connection. The specs are listed once
// (providers/all); configuration, the registry and the dev sandbox derive
// from that list.
type Spec struct {
	// Adapter is the name CONNECTION_<NAME>_ADAPTER selects (github,
	// gitlab, bitbucket, google, msgraph).
	Adapter string
	// Serves lists the identities this adapter serves by default.
	Serves []Match
	// APIEnv prefixes the provider-level API root variable
	// (<APIEnv>_API_URL); DefaultAPIURL is its default.
	APIEnv        string
	DefaultAPIURL string
	// ClientEnv prefixes the provider-level OAuth client variables
	// (<ClientEnv>_CLIENT_ID, _CLIENT_SECRET, _TOKEN_URL). Empty means
	// the adapter does not refresh tokens and reads no client settings.
	ClientEnv string
	// DefaultTokenURL returns the token endpoint for an API root (GitLab
	// derives it from the instance). Nil when the adapter does not refresh.
	DefaultTokenURL func(apiURL string) string
	// New builds the adapter for one connection. hc carries the
	// connection's timeouts, retries and circuit breaker.
	New func(s Settings, hc *http.Client) (Provider, error)
}

// Refreshes reports whether the adapter reads OAuth client settings.
func (s Spec) Refreshes() bool { return s.ClientEnv != "" }

// ConnectionKey is the form of an Auth0 connection name used in variable
// names and registry lookups: upper case, "-" turned into "_". Auth0 allows
// only letters, digits and dashes in connection names, so two names never
// share a key.
func ConnectionKey(name string) string {
	return string(AppendConnectionKey(make([]byte, 0, len(name)), name))
}

// AppendConnectionKey appends ConnectionKey(name) to b. Lookups on the
// request path use it with a stack buffer — m[string(AppendConnectionKey(
// buf[:0], name))] — so that finding a connection does not allocate: a map
// index by string(bytes) does not copy.
func AppendConnectionKey(b []byte, name string) []byte {
	start := len(b)
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c == '-':
			c = '_'
		case c >= 0x80:
			// Not an Auth0 connection name; keep strings.ToUpper's
			// answer for the rare name outside ASCII.
			return append(b[:start], strings.ReplaceAll(strings.ToUpper(name), "-", "_")...)
		}
		b = append(b, c)
	}
	return b
}
