package fakeauth0

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestVaultExchange checks the emulated Token Vault access token exchange
// against Auth0's documented request and answers
// (https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token).
func TestVaultExchange(t *testing.T) {
	t.Parallel()
	ten, srv, clk := setup(t)
	ten.SetTokenVaultClient("api-client", "vault-secret", "")
	issued := 0
	ten.ConnectAccount("auth0|hedy", "google-oauth2", "openid calendar", func() (string, time.Duration) {
		issued++
		return "ya29-" + strings.Repeat("v", issued), time.Hour
	})
	subject := ten.Mint(TokenSpec{Subject: "auth0|hedy"})
	form := func(edit func(url.Values)) url.Values {
		v := url.Values{
			"grant_type": {VaultGrantType}, "client_id": {"api-client"}, "client_secret": {"vault-secret"},
			"subject_token": {subject}, "subject_token_type": {VaultSubjectTokenType},
			"requested_token_type": {VaultRequestedTokenType}, "connection": {"google-oauth2"},
		}
		if edit != nil {
			edit(v)
		}
		return v
	}
	post := func(v url.Values) response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/oauth/token", strings.NewReader(v.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return do(t, req)
	}

	tests := []struct {
		name       string
		edit       func(url.Values)
		wantStatus int
		wantError  string
		wantToken  string
	}{
		{name: "exchanged", wantStatus: 200, wantToken: "ya29-v"},
		{name: "kept until it expires", wantStatus: 200, wantToken: "ya29-v"},
		{name: "no connected account", edit: func(v url.Values) { v.Set("connection", "github") }, wantStatus: 401, wantError: "federated_connection_refresh_token_not_found"},
		{name: "wrong client secret", edit: func(v url.Values) { v.Set("client_secret", "nope") }, wantStatus: 401, wantError: "access_denied"},
		{name: "refresh token subject type", edit: func(v url.Values) { v.Set("subject_token_type", "urn:ietf:params:oauth:token-type:refresh_token") }, wantStatus: 400, wantError: "invalid_request"},
		{name: "no connection", edit: func(v url.Values) { v.Del("connection") }, wantStatus: 400, wantError: "invalid_request"},
		{name: "subject of another API", edit: func(v url.Values) {
			v.Set("subject_token", ten.Mint(TokenSpec{Subject: "auth0|hedy", Audience: "https://other.example.com"}))
		}, wantStatus: 400, wantError: "invalid_grant"},
		{name: "forged subject", edit: func(v url.Values) { v.Set("subject_token", subject[:len(subject)-4]+"AAAA") }, wantStatus: 400, wantError: "invalid_grant"},
	}
	for _, tt := range tests {
		r := post(form(tt.edit))
		body := r.json(t)
		if r.status != tt.wantStatus || body["error"] != nilIfEmpty(tt.wantError) {
			t.Errorf("%s: status %d, body %s; want %d %q", tt.name, r.status, r.body, tt.wantStatus, tt.wantError)
			continue
		}
		if tt.wantToken != "" && (body["access_token"] != tt.wantToken || body["token_type"] != "Bearer" || body["expires_in"] == nil || body["scope"] != "openid calendar") {
			t.Errorf("%s: body %s; want access_token %s, Bearer, expires_in, scope", tt.name, r.body, tt.wantToken)
		}
		if tt.wantError != "" && body["error_description"] == nil {
			t.Errorf("%s: body %s; want error_description", tt.name, r.body)
		}
	}

	// After expiry the vault refreshes the provider token itself.
	clk.Advance(time.Hour)
	subject = ten.Mint(TokenSpec{Subject: "auth0|hedy"}) // the first one expired too
	if r := post(form(nil)); r.json(t)["access_token"] != "ya29-vv" {
		t.Errorf("after expiry: %s; want a new token ya29-vv", r.body)
	}
	// A Custom API Client of another API may not exchange this API's tokens.
	ten.SetTokenVaultClient("api-client", "vault-secret", "https://other.example.com")
	if r := post(form(nil)); r.status != 403 || r.json(t)["error"] != "unauthorized_client" {
		t.Errorf("client of another API: %d %s; want 403 unauthorized_client", r.status, r.body)
	}
	if got := ten.VaultExchanges(); got != len(tests)+2 {
		t.Errorf("VaultExchanges() = %d; want %d", got, len(tests)+2)
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
