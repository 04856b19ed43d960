package fakeauth0

import (
	"crypto/subtle"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// grantedScopes are the Management API scopes the M2M application's
// client grant holds: what the gateway needs and nothing else.
const grantedScopes = "read:users read:user_idp_tokens"

// tokenResponse is the token endpoint's success body.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	Scope       string `json:"scope"`
	ExpiresIn   int64  `json:"expires_in"`
	TokenType   string `json:"token_type"`
}

// serveToken implements POST /oauth/token for the client_credentials
// grant (https://auth0.com/docs/api/authentication#client-credentials-flow),
// and hands the authorization_code and refresh_token grants to spa.go.
func (t *Tenant) serveToken(w http.ResponseWriter, r *http.Request) {
	params, ok := tokenParams(r)
	if !ok {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Invalid request body")
		return
	}
	iss := t.issuerFor(r)
	grant := params.Get("grant_type")
	if grant == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "Missing required parameter: grant_type")
		return
	}
	if grant == "authorization_code" || grant == "refresh_token" {
		t.serveUserGrant(w, params, grant, iss) // single-page apps (spa.go)
		return
	}
	if grant == VaultGrantType {
		t.serveVaultExchange(w, r, params)
		return
	}
	if grant != "client_credentials" {
		writeOAuthError(w, http.StatusForbidden, "unsupported_grant_type", "Unsupported grant type: "+grant)
		return
	}
	clientID, clientSecret := params.Get("client_id"), params.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
		if v, err := url.QueryUnescape(u); err == nil {
			clientID = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			clientSecret = v
		}
	}

	t.lock()
	reject := t.rejectCC
	wantID, wantSecret := t.ClientID, t.ClientSecret
	apiAudience, ttl := t.Audience, t.TokenTTL
	key := t.current()
	t.mu.Unlock()

	if reject || clientID != wantID ||
		subtle.ConstantTimeCompare([]byte(clientSecret), []byte(wantSecret)) != 1 {
		writeOAuthError(w, http.StatusUnauthorized, "access_denied", "Unauthorized")
		return
	}
	aud := params.Get("audience")
	switch aud {
	case iss + "api/v2/":
	case "":
		writeOAuthError(w, http.StatusForbidden, "access_denied", "No audience parameter was provided, and no default audience has been configured")
		return
	case apiAudience:
		writeOAuthError(w, http.StatusForbidden, "access_denied", `Client is not authorized to access "`+aud+`". You need to create a "client-grant" associated to this API.`)
		return
	default:
		writeOAuthError(w, http.StatusForbidden, "access_denied", "Service not found: "+aud)
		return
	}
	scope := grantedScopes
	if req := strings.Fields(params.Get("scope")); len(req) > 0 {
		var missing []string
		for _, s := range req {
			if !slices.Contains(strings.Fields(grantedScopes), s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			writeOAuthError(w, http.StatusForbidden, "access_denied", "Client has not been granted scopes: "+strings.Join(missing, ", "))
			return
		}
		scope = strings.Join(req, " ")
	}
	now := t.now()
	token := sign(key.key, key.kid, map[string]any{
		"iss":   iss,
		"sub":   clientID + "@clients",
		"aud":   aud,
		"iat":   now.Unix(),
		"exp":   now.Add(ttl).Unix(),
		"scope": scope,
		"gty":   "client-credentials",
		"azp":   clientID,
		"jti":   randomB64(12),
	})
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: token,
		Scope:       scope,
		ExpiresIn:   int64(ttl.Seconds()),
		TokenType:   "Bearer",
	})
}

// tokenParams reads a form or JSON body into url.Values.
func tokenParams(r *http.Request) (url.Values, bool) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body := http.MaxBytesReader(nil, r.Body, 64<<10)
	switch ct {
	case "application/json":
		var m map[string]any
		if err := json.NewDecoder(body).Decode(&m); err != nil {
			return nil, false
		}
		v := url.Values{}
		for k, x := range m {
			if s, ok := x.(string); ok {
				v.Set(k, s)
			}
		}
		return v, true
	case "application/x-www-form-urlencoded":
		b, err := io.ReadAll(body)
		if err != nil {
			return nil, false
		}
		v, err := url.ParseQuery(string(b))
		return v, err == nil
	default:
		return nil, false
	}
}
