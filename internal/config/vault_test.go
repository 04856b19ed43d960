package config

import (
	"strings"
	"testing"
)

func TestTokenVaultSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		set        map[string]string
		wantErr    string // the line must start with it; empty: no error
		wantSource map[string]TokenSource
		wantVault  bool
	}{
		{name: "default: auto, no vault", wantSource: map[string]TokenSource{"GOOGLE_OAUTH2": TokenSourceAuto}},
		{name: "vault client", set: map[string]string{"AUTH0_TOKEN_VAULT_CLIENT_ID": "api-client", "AUTH0_TOKEN_VAULT_CLIENT_SECRET": "vault-secret"}, wantVault: true},
		{
			name: "per-connection sources",
			set: map[string]string{
				"AUTH0_TOKEN_VAULT_CLIENT_ID": "api-client", "AUTH0_TOKEN_VAULT_CLIENT_SECRET": "vault-secret",
				"CONNECTION_GOOGLE_OAUTH2_TOKEN_SOURCE": "Vault", "CONNECTION_GITHUB_TOKEN_SOURCE": "identities", "CONNECTION_GITLAB_TOKEN_SOURCE": "auto",
			},
			wantVault:  true,
			wantSource: map[string]TokenSource{"GOOGLE_OAUTH2": TokenSourceVault, "GITHUB": TokenSourceIdentities, "GITLAB": TokenSourceAuto, "BITBUCKET": TokenSourceAuto},
		},
		{name: "identities without the vault client", set: map[string]string{"CONNECTION_GITHUB_TOKEN_SOURCE": "identities"}, wantSource: map[string]TokenSource{"GITHUB": TokenSourceIdentities}},
		{name: "vault without the vault client", set: map[string]string{"CONNECTION_GOOGLE_OAUTH2_TOKEN_SOURCE": "vault"}, wantErr: "CONNECTION_GOOGLE_OAUTH2_TOKEN_SOURCE: vault needs the Token Vault client"},
		{name: "client id without secret", set: map[string]string{"AUTH0_TOKEN_VAULT_CLIENT_ID": "api-client"}, wantErr: "AUTH0_TOKEN_VAULT_CLIENT_ID and AUTH0_TOKEN_VAULT_CLIENT_SECRET:"},
		{name: "secret without client id", set: map[string]string{"AUTH0_TOKEN_VAULT_CLIENT_SECRET": "vault-secret"}, wantErr: "AUTH0_TOKEN_VAULT_CLIENT_ID and AUTH0_TOKEN_VAULT_CLIENT_SECRET:"},
		{name: "unknown value", set: map[string]string{"CONNECTION_GITHUB_TOKEN_SOURCE": "keychain"}, wantErr: `CONNECTION_GITHUB_TOKEN_SOURCE: unknown token source "keychain"`},
		{name: "set to nothing", set: map[string]string{"CONNECTION_GITHUB_TOKEN_SOURCE": ""}, wantErr: "CONNECTION_GITHUB_TOKEN_SOURCE:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := base()
			for k, v := range tt.set {
				m[k] = v
			}
			c, err := FromEnv(env(m))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") {
					t.Fatalf("FromEnv() error = %v; want one line starting %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "vault-secret") {
					t.Errorf("FromEnv() error %q holds the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv() error = %v; want nil", err)
			}
			if got := c.TokenVault.Enabled(); got != tt.wantVault {
				t.Errorf("TokenVault.Enabled() = %v; want %v", got, tt.wantVault)
			}
			for key, want := range tt.wantSource {
				if got := c.TokenSourceOf(key); got != want {
					t.Errorf("TokenSourceOf(%q) = %q; want %q", key, got, want)
				}
			}
		})
	}
}
