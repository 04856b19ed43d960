package gateway

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/credentials"
	"github.com/idpgate/idpgate/internal/tokenvault"
)

// newVault maps the Token Vault settings into the broker's: the exchange
// client (only when AUTH0_TOKEN_VAULT_CLIENT_ID is set; it posts to the
// tenant of AUTH0_DOMAIN and nowhere else) and each configured
// connection's TOKEN_SOURCE.
func newVault(cfg config.Config, hc *http.Client, logger *slog.Logger) (credentials.Vault, error) {
	v := credentials.Vault{Sources: map[string]credentials.TokenSource{}}
	for _, conn := range cfg.Connections {
		switch conn.TokenSource {
		case config.TokenSourceIdentities:
			v.Sources[conn.Key] = credentials.SourceIdentities
		case config.TokenSourceVault:
			v.Sources[conn.Key] = credentials.SourceVault
		}
		if conn.TokenSource != "" {
			logger.Info("connection token source", "connection", conn.Name(), "token_source", string(conn.TokenSource))
		}
	}
	if !cfg.TokenVault.Enabled() {
		return v, nil
	}
	c, err := tokenvault.New(tokenvault.Config{
		BaseURL:      cfg.Auth0BaseURL,
		ClientID:     cfg.TokenVault.ClientID,
		ClientSecret: cfg.TokenVault.ClientSecret,
		Setting:      cfg.TokenVault.Setting(),
		HTTP:         hc,
		Logger:       logger,
	})
	if err != nil {
		return v, fmt.Errorf("AUTH0_TOKEN_VAULT_CLIENT_ID: %w", err)
	}
	v.Exchanger = c
	logger.Info("token vault", "client_id", cfg.TokenVault.ClientID)
	return v, nil
}
