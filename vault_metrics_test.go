package main

import (
	"context"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// TestTokenVaultExchangeMetrics: each Token Vault exchange is counted by
// outcome, so a misconfigured client (which answers every user
// UPSTREAM_UNAVAILABLE) can be alerted on.
func TestTokenVaultExchangeMetrics(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		setup   func(sb *sandbox.Sandbox)
		outcome string
	}{
		{name: "ok", outcome: "ok"},
		{name: "not connected", setup: func(sb *sandbox.Sandbox) { sb.Tenant.DisconnectAccount(sandbox.Hedy, "google-oauth2") }, outcome: "not_connected"},
		{name: "rate limited", setup: func(sb *sandbox.Sandbox) { sb.Tenant.RateLimitVaultNext(1, 30*time.Second) }, outcome: "rate_limited"},
		{name: "misconfigured", env: map[string]string{"AUTH0_TOKEN_VAULT_CLIENT_SECRET": "not-the-vault-secret"}, outcome: "misconfigured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, metricsURL := newMetricsEnv(t, tt.env)
			if tt.setup != nil {
				tt.setup(e.sb)
			}
			e.post(context.Background(), e.sb.Token(sandbox.Hedy), vaultQuery, window())
			fams := scrape(t, metricsURL)
			if got := value(fams, "idpgate_token_vault_exchanges_total", "outcome", tt.outcome, "provider", "google-oauth2"); got != 1 {
				t.Errorf("token_vault_exchanges_total{outcome=%q} = %v; want 1", tt.outcome, got)
			}
			if got := value(fams, "idpgate_token_vault_exchanges_total"); got != 1 {
				t.Errorf("token_vault_exchanges_total = %v; want 1 in all", got)
			}
		})
	}
}
