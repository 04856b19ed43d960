package fakeauth0

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"time"
)

type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

func newSigningKey() *signingKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		// crypto/rand does not fail; an error here means a broken runtime.
		panic("fakeauth0: generating RSA key: " + err.Error())
	}
	return &signingKey{kid: randomB64(12), key: k}
}

// current returns the signing key. Callers hold t.mu.
func (t *Tenant) current() *signingKey { return t.keys[len(t.keys)-1] }

// PublicKey returns the public half of the current signing key (for
// tests of algorithm-confusion attacks).
func (t *Tenant) PublicKey() *rsa.PublicKey {
	t.lock()
	defer t.mu.Unlock()
	return &t.current().key.PublicKey
}

// KeyID returns the kid of the current signing key.
func (t *Tenant) KeyID() string {
	t.lock()
	defer t.mu.Unlock()
	return t.current().kid
}

// RotateKeys replaces every key with a new one (new kid). The JWKS then
// lists only the new key, so tokens signed before no longer verify,
// including M2M tokens already issued.
func (t *Tenant) RotateKeys() {
	k := newSigningKey()
	t.lock()
	defer t.mu.Unlock()
	t.keys = []*signingKey{k}
}

// AddKey adds a new key and signs with it from now on; the JWKS keeps
// listing the previous keys, so tokens signed before still verify.
func (t *Tenant) AddKey() {
	k := newSigningKey()
	t.lock()
	defer t.mu.Unlock()
	t.keys = append(t.keys, k)
}

// TokenSpec describes a token for Mint. Zero fields take defaults.
type TokenSpec struct {
	Subject  string
	Audience string // default: the tenant's Audience
	Issuer   string // default: Issuer()
	// IssuedAt, NotBefore and ExpiresAt default to now, now and now+1h.
	IssuedAt, NotBefore, ExpiresAt time.Time
	KeyID                          string // kid header; default the signing key's (set it to test an unknown kid)
	Scope                          string
	// ExtraClaims are set last and override the claims above; a nil value
	// removes the claim (e.g. "exp": nil for a token without expiry).
	ExtraClaims map[string]any
}

// Mint returns an RS256 JWT signed with the current key, as Auth0 would
// issue it to a client of the gateway's API.
func (t *Tenant) Mint(spec TokenSpec) string {
	now := t.now()
	t.lock()
	defer t.mu.Unlock()
	if spec.Audience == "" {
		spec.Audience = t.Audience
	}
	if spec.Issuer == "" {
		spec.Issuer = t.issuerLocked()
	}
	if spec.IssuedAt.IsZero() {
		spec.IssuedAt = now
	}
	if spec.NotBefore.IsZero() {
		spec.NotBefore = now
	}
	if spec.ExpiresAt.IsZero() {
		spec.ExpiresAt = now.Add(time.Hour)
	}
	claims := map[string]any{
		"iss": spec.Issuer,
		"sub": spec.Subject,
		"aud": spec.Audience,
		"iat": spec.IssuedAt.Unix(),
		"nbf": spec.NotBefore.Unix(),
		"exp": spec.ExpiresAt.Unix(),
	}
	if spec.Scope != "" {
		claims["scope"] = spec.Scope
	}
	for k, v := range spec.ExtraClaims {
		if v == nil {
			delete(claims, k)
			continue
		}
		claims[k] = v
	}
	key := t.current()
	kid := key.kid
	if spec.KeyID != "" {
		kid = spec.KeyID
	}
	return sign(key.key, kid, claims)
}

func sign(key *rsa.PrivateKey, kid string, claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": kid})
	c, err := json.Marshal(claims)
	if err != nil {
		panic("fakeauth0: claims do not encode as JSON: " + err.Error())
	}
	input := b64(h) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:])
	if err != nil {
		panic("fakeauth0: signing: " + err.Error())
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

var errBadToken = errors.New("fakeauth0: invalid token")

// verify checks an RS256 JWT against the tenant's keys and returns its
// claims. Time claims are checked by the caller.
func (t *Tenant) verify(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, errBadToken
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return nil, errBadToken
	}
	var hdr struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "RS256" {
		return nil, errBadToken
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, errBadToken
	}
	var pub *rsa.PublicKey
	t.lock()
	for _, k := range t.keys {
		if k.kid == hdr.Kid {
			pub = &k.key.PublicKey
		}
	}
	t.mu.Unlock()
	if pub == nil {
		return nil, errBadToken
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return nil, errBadToken
	}
	cb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, errBadToken
	}
	var claims map[string]any
	if json.Unmarshal(cb, &claims) != nil {
		return nil, errBadToken
	}
	return claims, nil
}

// audienceHas reports whether the aud claim (string or array) holds want.
func audienceHas(aud any, want string) bool {
	switch a := aud.(type) {
	case string:
		return a == want
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && s == want {
				return true
			}
		}
	}
	return false
}

// jwk is one key of the JWKS (RFC 7517), as Auth0 publishes it.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

func (t *Tenant) serveJWKS(w http.ResponseWriter) {
	t.lock()
	keys := make([]jwk, 0, len(t.keys))
	for i := len(t.keys) - 1; i >= 0; i-- { // current key first
		pub := t.keys[i].key.PublicKey
		keys = append(keys, jwk{
			Kty: "RSA", Use: "sig", Alg: "RS256", Kid: t.keys[i].kid,
			N: b64(pub.N.Bytes()),
			E: b64(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	t.mu.Unlock()
	w.Header().Set("Cache-Control", "public, max-age=15")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (t *Tenant) serveDiscovery(w http.ResponseWriter, r *http.Request) {
	iss := t.issuerFor(r)
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                iss,
		"authorization_endpoint":                iss + "authorize",
		"token_endpoint":                        iss + "oauth/token",
		"userinfo_endpoint":                     iss + "userinfo",
		"code_challenge_methods_supported":      []string{"S256"},
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"jwks_uri":                              iss + ".well-known/jwks.json",
		"scopes_supported":                      []string{"openid", "profile", "offline_access", "name", "given_name", "family_name", "nickname", "email", "email_verified", "picture", "created_at", "identities", "phone", "address"},
		"response_types_supported":              []string{"code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token"},
		"grant_types_supported":                 []string{"authorization_code", "client_credentials", "refresh_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"HS256", "RS256", "PS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"},
		"claims_supported":                      []string{"aud", "auth_time", "created_at", "email", "email_verified", "exp", "family_name", "given_name", "iat", "identities", "iss", "name", "nickname", "phone_number", "picture", "sub"},
	})
}
