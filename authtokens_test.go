package main

import (
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
)

type mintSpec struct {
	sub, aud, iss, kid string
	iat, nbf, exp      time.Time
}

func (s mintSpec) mint(sb *sandbox.Sandbox) string {
	return sb.Tenant.Mint(fakeauth0.TokenSpec{Subject: s.sub, Audience: s.aud, Issuer: s.iss, KeyID: s.kid, IssuedAt: s.iat, NotBefore: s.nbf, ExpiresAt: s.exp})
}

func flipLast(sig string) string {
	b := []byte(sig)
	if b[len(b)-2] == 'A' {
		b[len(b)-2] = 'B'
	} else {
		b[len(b)-2] = 'A'
	}
	return string(b)
}

// algNone re-labels a valid token as unsigned.
func algNone(valid string) string {
	parts := strings.Split(valid, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
	return h + "." + parts[1] + "."
}

// hs256WithPublicKey signs a valid token's claims with HMAC keyed by the
// tenant's public key: the classic algorithm-confusion attack.
func hs256WithPublicKey(t *testing.T, valid string, pub *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	key := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	parts := strings.Split(valid, ".")
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h + "." + parts[1]))
	return h + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}
