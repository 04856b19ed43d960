package config

import (
	"fmt"
	"strings"

	"github.com/idpgate/idpgate/internal/secret"
)

// TokenSource says where a connection's provider access tokens come from.
type TokenSource string

// The values of CONNECTION_<NAME>_TOKEN_SOURCE.
const (
	// TokenSourceAuto (the default) uses the access token of the identity
	// in identities[] when Auth0 stores one, else exchanges the caller's
	// token at Token Vault when the vault client is configured.
	TokenSourceAuto TokenSource = "auto"
	// TokenSourceIdentities uses only identities[] tokens (and refreshes
	// them at the provider).
	TokenSourceIdentities TokenSource = "identities"
	// TokenSourceVault uses only Token Vault and never reads an
	// identities[] token.
	TokenSourceVault TokenSource = "vault"
)

// TokenVault is the Custom API Client the gateway authenticates with when
// it exchanges a caller's access token at Token Vault: a confidential
// client whose identifier is the gateway's API audience, with the Token
// Vault grant enabled
// (https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault).
// The zero value means Token Vault is not used.
type TokenVault struct {
	ClientID     string
	ClientSecret secret.String
}

// Enabled reports whether the vault client is configured.
func (v TokenVault) Enabled() bool { return v.ClientID != "" }

// Setting names the variables of the vault client, for the message an
// operator sees when Auth0 rejects it.
func (TokenVault) Setting() string {
	return "AUTH0_TOKEN_VAULT_CLIENT_ID/AUTH0_TOKEN_VAULT_CLIENT_SECRET"
}

// TokenSourceOf returns the token source of the Auth0 connection name
// (TokenSourceAuto unless CONNECTION_<NAME>_TOKEN_SOURCE says otherwise).
func (c Config) TokenSourceOf(connectionKey string) TokenSource {
	for _, conn := range c.Connections {
		if conn.Key == connectionKey && conn.TokenSource != "" {
			return conn.TokenSource
		}
	}
	return TokenSourceAuto
}

// readTokenVault reads AUTH0_TOKEN_VAULT_CLIENT_ID and _SECRET (a pair),
// and checks that no connection asks for the vault without them. It runs
// after readConnections.
func (r *reader) readTokenVault(c *Config) {
	r.str("AUTH0_TOKEN_VAULT_CLIENT_ID", &c.TokenVault.ClientID)
	r.secret("AUTH0_TOKEN_VAULT_CLIENT_SECRET", &c.TokenVault.ClientSecret)
	r.pair("AUTH0_TOKEN_VAULT_CLIENT_ID", "AUTH0_TOKEN_VAULT_CLIENT_SECRET", c.TokenVault.ClientID, c.TokenVault.ClientSecret)
	if c.TokenVault.Enabled() {
		return
	}
	for _, conn := range c.Connections {
		if conn.TokenSource == TokenSourceVault {
			r.fail(connectionPrefix+conn.Key+"_TOKEN_SOURCE", "vault needs the Token Vault client; set AUTH0_TOKEN_VAULT_CLIENT_ID and AUTH0_TOKEN_VAULT_CLIENT_SECRET")
		}
	}
}

// tokenSource reads a TOKEN_SOURCE value; a variable set to nothing is an
// error, as for ADAPTER.
func (r *reader) tokenSource(name string, dst *TokenSource) {
	v := TokenSource(strings.ToLower(strings.TrimSpace(r.getenv(name))))
	switch v {
	case TokenSourceAuto, TokenSourceIdentities, TokenSourceVault:
		*dst = v
	default:
		r.fail(name, fmt.Sprintf("unknown token source %q; use identities, vault or auto", string(v)))
	}
}
