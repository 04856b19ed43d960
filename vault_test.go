package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
)

// The tests of this file check Token Vault end to end: a connection whose
// provider tokens Auth0 keeps in its vault (the identity carries no
// access_token) is served by exchanging the caller's bearer token at the
// tenant's /oauth/token (RFC 8693, Auth0's federated-connection grant).

const vaultQuery = `query($from: DateTime, $to: DateTime) {
  me { identities { provider connection
    repos(first: 5) { nodes { name } }
    calendar(from: $from, to: $to, first: 5) { nodes { title } }
  } }
}`

// vaultOK posts vaultQuery for user and checks that GitHub (identities[])
// and Google (Token Vault) both answered.
func vaultOK(t *testing.T, e *testEnv, user string) {
	t.Helper()
	r := e.post(context.Background(), e.sb.Token(user), vaultQuery, window())
	if r.Status != http.StatusOK || len(r.Errors) > 0 {
		t.Fatalf("%s: response = %d %s; want no errors", user, r.Status, r.Raw)
	}
	ids := connIdentities(t, r)
	if len(ids["github"].repoNames()) == 0 || len(ids["google-oauth2"].titles()) == 0 {
		t.Fatalf("%s: github repos %v, google events %v; want both", user, ids["github"].repoNames(), ids["google-oauth2"].titles())
	}
}

// assertBearerHidden fails when a bearer token appears in a response or a
// log line.
func assertBearerHidden(t *testing.T, e *testEnv, bearers ...string) {
	t.Helper()
	e.mu.Lock()
	seen := strings.Join(e.responses, "\n")
	e.mu.Unlock()
	logs := e.log.String()
	for _, b := range bearers {
		if strings.Contains(seen, b) || strings.Contains(logs, b) {
			t.Error("a caller's bearer token reached a response or a log line")
		}
		// Its signature alone is as good as the token.
		if sig := b[strings.LastIndex(b, ".")+1:]; strings.Contains(logs, sig) || strings.Contains(seen, sig) {
			t.Error("a caller's bearer token signature reached a response or a log line")
		}
	}
}

// TestTokenVaultOneExchangeForManyRequests: Hedy's Google account is in
// Token Vault; one exchange serves her next requests, her GitHub identity
// is served from identities[] as before, and nothing is ever refreshed at
// Google.
func TestTokenVaultOneExchangeForManyRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	for range 5 {
		vaultOK(t, e, sandbox.Hedy)
	}
	if got := e.sb.Tenant.VaultExchanges(); got != 1 {
		t.Errorf("Token Vault exchanges = %d; want 1 for 5 requests", got)
	}
	if got := e.sb.Google.Refreshes(); got != 0 {
		t.Errorf("Google refresh grants = %d; want 0", got)
	}
	assertBearerHidden(t, e, e.sb.Token(sandbox.Hedy))
}

// TestTokenVaultReexchangesAfterProviderRejects: Google rejects the kept
// vault token (it expired early): the gateway exchanges once more at
// Token Vault, which issues a new provider token, and never sends a
// refresh grant to Google. 30 concurrent requests meeting the rejected
// token share one exchange.
func TestTokenVaultReexchangesAfterProviderRejects(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	vaultOK(t, e, sandbox.Hedy)

	e.sb.ExpireVaultToken(sandbox.Hedy, "google-oauth2")
	vaultOK(t, e, sandbox.Hedy)
	if got := e.sb.Tenant.VaultExchanges(); got != 2 {
		t.Errorf("Token Vault exchanges after one rejection = %d; want 2", got)
	}

	e.sb.ExpireVaultToken(sandbox.Hedy, "google-oauth2")
	// The exchanges take a while, so the 30 requests' rejections overlap.
	e.sb.Tenant.SetLatency(50 * time.Millisecond)
	calQuery := `query($from: DateTime, $to: DateTime) { me { identities { connection calendar(from: $from, to: $to, first: 5) { nodes { title } } } } }`
	for i, r := range rfPostAll(e, 30, e.sb.Token(sandbox.Hedy), calQuery, window()) {
		if r.Status != http.StatusOK || len(r.Errors) > 0 || len(connIdentities(t, r)["google-oauth2"].titles()) == 0 {
			t.Fatalf("request %d = %d %s; want Google events", i, r.Status, r.Raw)
		}
	}
	if got := e.sb.Tenant.VaultExchanges(); got != 3 {
		t.Errorf("Token Vault exchanges after 30 concurrent rejections = %d; want 3 (one more)", got)
	}
	if got := e.sb.Google.Refreshes(); got != 0 {
		t.Errorf("Google refresh grants = %d; want 0 (Token Vault refreshes itself)", got)
	}
	assertBearerHidden(t, e, e.sb.Token(sandbox.Hedy))
}

// TestTokenVaultNotConnected: without a connected account Auth0 answers
// 401; that identity answers IDP_REAUTH_REQUIRED with connectAccount,
// while the user's other identities resolve.
func TestTokenVaultNotConnected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Tenant.DisconnectAccount(sandbox.Hedy, "google-oauth2")
	r := e.post(context.Background(), e.sb.Token(sandbox.Hedy), vaultQuery, window())
	if got := connIdentities(t, r)["github"].repoNames(); len(got) != 4 {
		t.Errorf("github repos = %v; want 4 (other identities resolve)", got)
	}
	got := rfErrorFor(t, r, "google-oauth2")
	if got.Extensions["code"] != "IDP_REAUTH_REQUIRED" || got.Extensions["connectAccount"] != true || got.Extensions["provider"] != "google-oauth2" {
		t.Errorf("google-oauth2 error = %q %v; want IDP_REAUTH_REQUIRED, connectAccount, provider google-oauth2", got.Message, got.Extensions)
	}
	if len(r.Errors) != 1 {
		t.Errorf("errors = %s; want only the google-oauth2 calendar's", r.Raw)
	}
	assertBearerHidden(t, e, e.sb.Token(sandbox.Hedy))
}

// TestTokenVaultWrongClient: Auth0 rejecting the vault client (a wrong
// secret: 401 access_denied; a client of another API: 403
// unauthorized_client) answers UPSTREAM_UNAVAILABLE naming the settings,
// logged once, and the token endpoint sees one exchange per period
// however many users and requests follow.
func TestTokenVaultWrongClient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		env   map[string]string
		setup func(sb *sandbox.Sandbox)
	}{
		{name: "wrong secret", env: map[string]string{"AUTH0_TOKEN_VAULT_CLIENT_SECRET": "not-the-vault-secret"}},
		{name: "client of another API", setup: func(sb *sandbox.Sandbox) {
			sb.Tenant.SetTokenVaultClient(sandbox.VaultClientID, sb.Env["AUTH0_TOKEN_VAULT_CLIENT_SECRET"], "https://another-api.example.com")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{env: tt.env})
			if tt.setup != nil {
				tt.setup(e.sb)
			}
			const other = "auth0|vault-2"
			e.sb.Tenant.AddUser(fakeauth0.User{UserID: other, Name: "Second", Identities: []fakeauth0.Identity{
				{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "2", IsSocial: true},
			}})
			e.sb.Tenant.ConnectAccount(other, "google-oauth2", sandbox.VaultScope, func() (string, time.Duration) {
				return sandbox.SecretMarker + "-vault-2", time.Hour
			})
			for _, user := range []string{sandbox.Hedy, sandbox.Hedy, other, sandbox.Hedy} {
				r := e.post(context.Background(), e.sb.Token(user), vaultQuery, window())
				got := rfErrorFor(t, r, "google-oauth2")
				if got.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || !strings.Contains(got.Message, "AUTH0_TOKEN_VAULT_CLIENT_ID") || got.Extensions["connectAccount"] != nil {
					t.Errorf("%s: google-oauth2 error = %q %v; want UPSTREAM_UNAVAILABLE naming AUTH0_TOKEN_VAULT_CLIENT_ID", user, got.Message, got.Extensions)
				}
			}
			if got := e.sb.Tenant.VaultExchanges(); got != 1 {
				t.Errorf("Token Vault exchanges = %d; want 1 per period", got)
			}
			if n := strings.Count(e.log.String(), "tokenvault: Auth0 rejected the Token Vault client"); n != 1 {
				t.Errorf("misconfiguration log lines = %d; want 1", n)
			}
			if strings.Contains(e.log.String(), "not-the-vault-secret") {
				t.Error("the vault client secret reached the logs")
			}
			assertBearerHidden(t, e, e.sb.Token(sandbox.Hedy), e.sb.Token(other))
		})
	}
}

// TestTokenVaultRateLimited: a 429 of the Authentication API answers
// UPSTREAM_RATE_LIMITED with its Retry-After, and the gateway does not
// exchange again before then.
func TestTokenVaultRateLimited(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Tenant.RateLimitVaultNext(1, 30*time.Second)
	for range 2 {
		r := e.post(context.Background(), e.sb.Token(sandbox.Hedy), vaultQuery, window())
		got := rfErrorFor(t, r, "google-oauth2")
		if ra, _ := got.Extensions["retryAfter"].(float64); got.Extensions["code"] != "UPSTREAM_RATE_LIMITED" || ra < 28 || ra > 31 {
			t.Errorf("google-oauth2 error = %q %v; want UPSTREAM_RATE_LIMITED, retryAfter 30", got.Message, got.Extensions)
		}
		if len(connIdentities(t, r)["github"].repoNames()) == 0 {
			t.Errorf("github repos missing in %s; other identities must resolve", r.Raw)
		}
	}
	if got := e.sb.Tenant.VaultExchanges(); got != 1 {
		t.Errorf("Token Vault exchanges = %d; want 1 (the second request waits for the reset)", got)
	}
}

// TestTokenSources: per connection, CONNECTION_<NAME>_TOKEN_SOURCE picks
// identities[] or Token Vault; auto (the default) keeps identities that
// hold tokens unchanged.
func TestTokenSources(t *testing.T) {
	t.Parallel()
	t.Run("auto keeps identities tokens", func(t *testing.T) {
		e := newEnv(t, envOptions{})
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), vaultQuery, window())
		if len(r.Errors) > 0 || len(connIdentities(t, r)["google-oauth2"].titles()) == 0 {
			t.Fatalf("Grace = %s; want her Google events from identities[]", r.Raw)
		}
		if got := e.sb.Tenant.VaultExchanges(); got != 0 {
			t.Errorf("Token Vault exchanges = %d; want 0", got)
		}
	})
	t.Run("vault ignores identities tokens", func(t *testing.T) {
		e := newEnv(t, envOptions{env: map[string]string{"CONNECTION_GOOGLE_OAUTH2_TOKEN_SOURCE": "vault"}})
		r := e.post(context.Background(), e.sb.Token(sandbox.Grace), vaultQuery, window())
		got := rfErrorFor(t, r, "google-oauth2")
		if got.Extensions["code"] != "IDP_REAUTH_REQUIRED" || got.Extensions["connectAccount"] != true {
			t.Errorf("Grace's google-oauth2 error = %v; want IDP_REAUTH_REQUIRED with connectAccount", got.Extensions)
		}
		if n := e.sb.Google.Calls(); n != 0 {
			t.Errorf("Google calendar calls = %d; want 0 (her identities[] token is not read)", n)
		}
		e.sb.Tenant.ConnectAccount(sandbox.Grace, "google-oauth2", sandbox.VaultScope, func() (string, time.Duration) {
			at := sandbox.SecretMarker + "-vault-grace"
			e.sb.Google.AddUser(at, "", nil)
			return at, time.Hour
		})
		r = e.post(context.Background(), e.sb.Token(sandbox.Grace), vaultQuery, window())
		if len(r.Errors) > 0 {
			t.Errorf("after connecting: %s; want no errors", r.Raw)
		}
		if got := e.sb.Tenant.VaultExchanges(); got != 2 {
			t.Errorf("Token Vault exchanges = %d; want 2", got)
		}
	})
	t.Run("identities never exchanges", func(t *testing.T) {
		e := newEnv(t, envOptions{env: map[string]string{"CONNECTION_GOOGLE_OAUTH2_TOKEN_SOURCE": "identities"}})
		r := e.post(context.Background(), e.sb.Token(sandbox.Hedy), vaultQuery, window())
		got := rfErrorFor(t, r, "google-oauth2")
		if got.Extensions["code"] != "IDP_REAUTH_REQUIRED" || got.Extensions["connectAccount"] != nil {
			t.Errorf("Hedy's google-oauth2 error = %v; want IDP_REAUTH_REQUIRED without connectAccount", got.Extensions)
		}
		if got := e.sb.Tenant.VaultExchanges(); got != 0 {
			t.Errorf("Token Vault exchanges = %d; want 0", got)
		}
	})
}
