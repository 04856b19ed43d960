package fakeauth0

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Token Vault's access token exchange, as Auth0 documents it:
// https://auth0.com/docs/api/authentication/token-vault-token-exchange/get-token
// and https://auth0.com/docs/secure/tokens/token-vault/access-token-exchange-with-token-vault.
// A backend API authenticates with a Custom API Client (same identifier as
// the API, Token Vault grant enabled) and exchanges the access token a SPA
// sent it (subject_token) for the access token of the user's connected
// account at the connection's provider. Auth0 answers 401 when the user
// has no connected account for the connection (the Get Token page); the
// error code in that body, federated_connection_refresh_token_not_found
// with "Federated connection Refresh Token not found.", is the one
// applications built on Token Vault report and test for; the reference
// page shows no example body. The gateway keys on the status, not on the
// code.
const (
	VaultGrantType          = "urn:auth0:params:oauth:grant-type:token-exchange:federated-connection-access-token"
	VaultSubjectTokenType   = "urn:ietf:params:oauth:token-type:access_token"
	VaultRequestedTokenType = "http://auth0.com/oauth/token-type/federated-connection-access-token"
)

// VaultIssuer obtains a new provider access token for a connected
// account, as Token Vault does with the tokenset's refresh token when the
// stored access token has expired. The sandbox registers the token with
// the provider emulator so the provider accepts it.
type VaultIssuer func() (accessToken string, ttl time.Duration)

type vaultState struct {
	mu             sync.Mutex
	clientID       string
	clientSecret   string
	clientAudience string // the Custom API Client's identifier; "" = the API audience
	sets           map[string]*tokenset
	limitN         int
	limitReset     time.Duration
	exchanges      atomic.Int64
}

// tokenset is one user's connected account for one connection.
type tokenset struct {
	issue  VaultIssuer
	scope  string
	token  string
	expiry time.Time
}

func vaultKey(userID, connection string) string { return userID + "\x00" + connection }

// SetTokenVaultClient registers the Custom API Client allowed to run the
// exchange. identifier is the client's API identifier; empty means the
// tenant's API audience (a correctly configured client).
func (t *Tenant) SetTokenVaultClient(clientID, clientSecret, identifier string) {
	t.vault.mu.Lock()
	defer t.vault.mu.Unlock()
	t.vault.clientID, t.vault.clientSecret, t.vault.clientAudience = clientID, clientSecret, identifier
}

// ConnectAccount stores a connected account of userID for connection in
// the vault (what the Connected Accounts flow does). issue is called for
// the first exchange and again whenever the stored token has expired.
func (t *Tenant) ConnectAccount(userID, connection, scope string, issue VaultIssuer) {
	t.vault.mu.Lock()
	defer t.vault.mu.Unlock()
	if t.vault.sets == nil {
		t.vault.sets = map[string]*tokenset{}
	}
	t.vault.sets[vaultKey(userID, connection)] = &tokenset{issue: issue, scope: scope}
}

// DisconnectAccount removes the connected account and reports whether
// there was one.
func (t *Tenant) DisconnectAccount(userID, connection string) bool {
	t.vault.mu.Lock()
	defer t.vault.mu.Unlock()
	k := vaultKey(userID, connection)
	_, ok := t.vault.sets[k]
	delete(t.vault.sets, k)
	return ok
}

// ExpireVaultToken makes the stored access token of the connected account
// expired, so the next exchange obtains a new one, and returns the token
// that expired ("" when none was issued yet).
func (t *Tenant) ExpireVaultToken(userID, connection string) string {
	t.vault.mu.Lock()
	defer t.vault.mu.Unlock()
	ts := t.vault.sets[vaultKey(userID, connection)]
	if ts == nil {
		return ""
	}
	ts.expiry = time.Time{}
	return ts.token
}

// RateLimitVaultNext makes the next n exchanges answer 429 with
// Retry-After and X-RateLimit-Reset = now+reset, as the Authentication
// API's rate limits do (https://auth0.com/docs/troubleshoot/customer-support/operational-policies/rate-limit-policy).
func (t *Tenant) RateLimitVaultNext(n int, reset time.Duration) {
	t.vault.mu.Lock()
	defer t.vault.mu.Unlock()
	t.vault.limitN, t.vault.limitReset = n, reset
}

// VaultExchanges returns how many token exchange requests the tenant
// received (answered or not).
func (t *Tenant) VaultExchanges() int { return int(t.vault.exchanges.Load()) }

func (t *Tenant) serveVaultExchange(w http.ResponseWriter, r *http.Request, params url.Values) {
	t.vault.exchanges.Add(1)
	now := t.now()
	clientID, clientSecret := params.Get("client_id"), params.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		if v, err := url.QueryUnescape(u); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			clientSecret = v
		}
	}
	apiAudience := t.APIAudience()
	v := &t.vault
	v.mu.Lock()
	if v.limitN > 0 {
		v.limitN--
		reset := v.limitReset
		v.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int((reset+time.Second-1)/time.Second)))
		w.Header().Set("X-RateLimit-Limit", "30")
		w.Header().Set("X-RateLimit-Remaining", "0")
		w.Header().Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(reset).Unix()+1, 10))
		writeOAuthError(w, http.StatusTooManyRequests, "too_many_requests", "Too Many Requests")
		return
	}
	wantID, wantSecret, identifier := v.clientID, v.clientSecret, v.clientAudience
	v.mu.Unlock()
	if identifier == "" {
		identifier = apiAudience
	}
	if wantID == "" || clientID != wantID ||
		subtle.ConstantTimeCompare([]byte(clientSecret), []byte(wantSecret)) != 1 {
		writeOAuthError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	if identifier != apiAudience {
		// Only a Custom API Client whose identifier is the subject token's
		// audience may exchange it.
		writeOAuthError(w, http.StatusForbidden, "unauthorized_client", "The client is not authorized to exchange tokens of this audience")
		return
	}
	if params.Get("subject_token_type") != VaultSubjectTokenType {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Unsupported subject_token_type")
		return
	}
	if params.Get("requested_token_type") != VaultRequestedTokenType {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Unsupported requested_token_type")
		return
	}
	connection := params.Get("connection")
	if connection == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: connection")
		return
	}
	claims, err := t.verify(params.Get("subject_token"))
	exp, _ := claims["exp"].(float64)
	sub, _ := claims["sub"].(string)
	if err != nil || claims["iss"] != t.Issuer() || !audienceHas(claims["aud"], apiAudience) || sub == "" || float64(now.Unix()) >= exp {
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Invalid subject token")
		return
	}

	v.mu.Lock()
	ts := v.sets[vaultKey(sub, connection)]
	if ts == nil {
		v.mu.Unlock()
		writeOAuthError(w, http.StatusUnauthorized, "federated_connection_refresh_token_not_found", "Federated connection Refresh Token not found.")
		return
	}
	if ts.token == "" || !now.Before(ts.expiry) {
		// Token Vault refreshes the provider token itself.
		tok, ttl := ts.issue()
		ts.token, ts.expiry = tok, now.Add(ttl)
	}
	token, scope, left := ts.token, ts.scope, ts.expiry.Sub(now)
	v.mu.Unlock()

	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":      token,
		"expires_in":        int64(left / time.Second),
		"scope":             scope,
		"token_type":        "Bearer",
		"issued_token_type": VaultRequestedTokenType,
	})
}
