package authn

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha512"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

func TestMiddleware(t *testing.T) {
	good, other := key(0, "kid-2024-a"), key(2, "kid-attacker")
	f := newFixture(t, func(c *Config) { c.Leeway = 2 * time.Minute }, good)
	base := f.base
	pub := &good.priv.PublicKey
	pkix, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1 := x509.MarshalPKCS1PublicKey(pub)
	hsHeader := map[string]any{"alg": "HS256", "typ": "JWT", "kid": good.kid}
	valid := func(edit func(map[string]any)) string { return rsToken(t, good, claimsAt(base, edit)) }

	tests := []struct {
		name   string
		method string          // default POST
		authz  func() []string // Authorization header values
		clock  time.Duration   // injected clock relative to base
		accept bool            // want 200 and the caller echoed
		reason string          // else the rejection reason logged
	}{
		{name: "valid", authz: bearer(valid(nil)), accept: true},
		{name: "lower-case scheme, several spaces", authz: func() []string { return []string{"bearer    " + valid(nil)} }, accept: true},
		{name: "aud as a single string", authz: bearer(valid(func(c map[string]any) { c["aud"] = testAudience })), accept: true},
		{name: "expired within leeway", authz: bearer(valid(func(c map[string]any) { c["exp"] = base.Add(-time.Minute).Unix() })), accept: true},
		{name: "nbf within leeway", authz: bearer(valid(func(c map[string]any) { c["nbf"] = base.Add(time.Minute).Unix() })), accept: true},
		{name: "GET with a valid token", method: http.MethodGet, authz: bearer(valid(nil)), accept: true},

		{name: "no header", reason: reasonMissing, authz: func() []string { return nil }},
		{name: "empty header", reason: reasonMissing, authz: func() []string { return []string{""} }},
		{name: "OPTIONS without a token", reason: reasonMissing, method: http.MethodOptions, authz: func() []string { return nil }},
		{name: "basic scheme", reason: reasonBadHeader, authz: func() []string { return []string{"Basic emF6ejpwYXNzd29yZA=="} }},
		{name: "token scheme", reason: reasonBadHeader, authz: func() []string { return []string{"Token " + valid(nil)} }},
		{name: "scheme without token", reason: reasonBadHeader, authz: func() []string { return []string{"Bearer"} }},
		{name: "scheme with blank token", reason: reasonBadHeader, authz: func() []string { return []string{"Bearer    "} }},
		{name: "token then junk", reason: reasonBadHeader, authz: func() []string { return []string{"Bearer " + valid(nil) + " junk"} }},
		{name: "token without scheme", reason: reasonBadHeader, authz: func() []string { return []string{valid(nil)} }},
		{name: "two authorization headers", reason: reasonBadHeader, authz: func() []string { return []string{"Bearer " + valid(nil), "Bearer " + valid(nil)} }},
		{name: "not a JWT", reason: reasonMalformed, authz: bearer("zz-not-a-jwt-at-all")},
		{name: "two segments", reason: reasonMalformed, authz: bearer("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0")},
		{name: "JWE-like five segments", reason: reasonMalformed, authz: bearer("eyJhbGciOiJSUzI1NiJ9.a.b.c.d")},
		{name: "header not base64url", reason: reasonMalformed, authz: bearer("eyJhbGciOiJSUzI1NiJ9+.eyJzdWIiOiJ4In0.c2ln")},
		{name: "header not JSON", reason: reasonMalformed, authz: bearer(b64([]byte("zz-not-json")) + ".eyJzdWIiOiJ4In0.c2ln")},
		{name: "JSON serialization", reason: reasonMalformed, authz: bearer(`{"payload":"e30","signatures":[]}`)},
		{name: "oversized token", reason: reasonMalformed, authz: bearer(valid(func(c map[string]any) { c["pad"] = strings.Repeat("z", maxTokenBytes) }))},
		{name: "expired", reason: reasonExpired, authz: bearer(valid(func(c map[string]any) { c["exp"] = base.Add(-3 * time.Minute).Unix() }))},
		{name: "expired by the injected clock", reason: reasonExpired, clock: time.Hour + 2*time.Minute + time.Second, authz: bearer(valid(nil))},
		{name: "no exp", reason: reasonMissingExpiry, authz: bearer(valid(func(c map[string]any) { delete(c, "exp") }))},
		{name: "nbf beyond leeway", reason: reasonNotYetValid, authz: bearer(valid(func(c map[string]any) { c["nbf"] = base.Add(3 * time.Minute).Unix() }))},
		{name: "nbf beyond leeway by the injected clock", reason: reasonNotYetValid, clock: -3 * time.Minute, authz: bearer(valid(func(c map[string]any) {
			c["nbf"] = base.Unix()
			delete(c, "iat")
		}))},
		{name: "iat in the future", reason: reasonIssuedInFuture, authz: bearer(valid(func(c map[string]any) { c["iat"] = base.Add(3 * time.Minute).Unix() }))},
		{name: "wrong aud", reason: reasonAudience, authz: bearer(valid(func(c map[string]any) { c["aud"] = []string{"https://other-api.example/"} }))},
		{name: "no aud", reason: reasonAudience, authz: bearer(valid(func(c map[string]any) { delete(c, "aud") }))},
		{name: "wrong iss", reason: reasonIssuer, authz: bearer(valid(func(c map[string]any) { c["iss"] = "https://evil.example.auth0.com/" }))},
		{name: "iss without trailing slash", reason: reasonIssuer, authz: bearer(valid(func(c map[string]any) { c["iss"] = strings.TrimSuffix(testIssuer, "/") }))},
		{name: "no iss", reason: reasonIssuer, authz: bearer(valid(func(c map[string]any) { delete(c, "iss") }))},
		{name: "no sub", reason: reasonNoSubject, authz: bearer(valid(func(c map[string]any) { delete(c, "sub") }))},
		{name: "empty sub", reason: reasonNoSubject, authz: bearer(valid(func(c map[string]any) { c["sub"] = "" }))},
		{name: "numeric sub", reason: reasonInvalid, authz: bearer(valid(func(c map[string]any) { c["sub"] = 4242 }))},
		{name: "alg none", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "none", "kid": good.kid}, claimsAt(base, nil), nil))},
		{name: "alg None", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "None", "kid": good.kid}, claimsAt(base, nil), nil))},
		{name: "alg none with RS256 signature", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "none", "kid": good.kid}, claimsAt(base, nil), rs256(t, good.priv)))},
		{name: "HS256 with PEM PKIX public key", reason: reasonAlgorithm, authz: bearer(signedToken(t, hsHeader, claimsAt(base, nil), hs256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))))},
		{name: "HS256 with PEM PKCS1 public key", reason: reasonAlgorithm, authz: bearer(signedToken(t, hsHeader, claimsAt(base, nil), hs256(pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: pkcs1}))))},
		{name: "HS256 with DER PKIX public key", reason: reasonAlgorithm, authz: bearer(signedToken(t, hsHeader, claimsAt(base, nil), hs256(pkix)))},
		{name: "HS256 with DER PKCS1 public key", reason: reasonAlgorithm, authz: bearer(signedToken(t, hsHeader, claimsAt(base, nil), hs256(pkcs1)))},
		{name: "HS256 with the JWKS modulus", reason: reasonAlgorithm, authz: bearer(signedToken(t, hsHeader, claimsAt(base, nil), hs256(pub.N.Bytes())))},
		{name: "RS512 with the right key", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "RS512", "kid": good.kid}, claimsAt(base, nil), rsaSigner(t, good.priv, crypto.SHA512)))},
		{name: "PS256 with the right key", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "PS256", "kid": good.kid}, claimsAt(base, nil), func(in []byte) []byte {
			d := crypto.SHA256.New()
			d.Write(in)
			sig, err := rsa.SignPSS(rand.Reader, good.priv, crypto.SHA256, d.Sum(nil), nil)
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}))},
		{name: "lower-case rs256", reason: reasonAlgorithm, authz: bearer(signedToken(t, map[string]any{"alg": "rs256", "kid": good.kid}, claimsAt(base, nil), rs256(t, good.priv)))},
		{name: "no kid", reason: reasonNoKeyID, authz: bearer(signedToken(t, map[string]any{"alg": "RS256"}, claimsAt(base, nil), rs256(t, good.priv)))},
		{name: "unknown kid", reason: reasonUnknownKeyID, authz: bearer(rsToken(t, key(1, "kid-unknown"), claimsAt(base, nil)))},
		{name: "known kid, other key", reason: reasonSignature, authz: bearer(rsToken(t, testKey{kid: good.kid, priv: other.priv}, claimsAt(base, nil)))},
		{name: "tampered signature", reason: reasonSignature, authz: bearer(tamperSignature(valid(nil)))},
		{name: "tampered payload", reason: reasonSignature, authz: bearer(swapPayload(valid(nil), b64JSON(t, claimsAt(base, func(c map[string]any) { c["sub"] = "auth0|zz-someone-else" }))))},
		{name: "sha512 digest with RS256 header", reason: reasonSignature, authz: bearer(signedToken(t, map[string]any{"alg": "RS256", "kid": good.kid}, claimsAt(base, nil), func(in []byte) []byte {
			d := sha512.Sum512(in)
			sig, err := rsa.SignPKCS1v15(nil, good.priv, crypto.SHA512, d[:])
			if err != nil {
				t.Fatal(err)
			}
			return sig
		}))},
	}

	var secrets []string
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.t = t
			f.clock.Set(base.Add(tc.clock))
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			authz := tc.authz()
			var sec []string
			for _, v := range authz {
				if tok := strings.TrimSpace(strings.TrimPrefix(strings.TrimPrefix(v, "Bearer"), "bearer")); len(tok) >= 8 {
					sec = append(sec, secretsOf(tok)...)
				}
			}
			logged := len(f.logs.String())
			got := f.do(method, authz, "")
			if tc.accept {
				want := "user=" + testSubject + " repos=true"
				if got.status != http.StatusOK || string(got.body) != want {
					t.Errorf("%s %v = %d %q; want 200 %q", method, authz, got.status, got.body, want)
				}
				return
			}
			secrets = append(secrets, sec...)
			assertRejected(t, got, http.StatusUnauthorized, gqlresp.CodeUnauthenticated, sec...)
			if line := f.logs.String()[logged:]; !strings.Contains(line, "reason="+tc.reason+" ") {
				t.Errorf("logged %q; want reason=%s", line, tc.reason)
			}
		})
	}

	t.Run("logs carry reasons, not tokens", func(t *testing.T) {
		logs := f.logs.String()
		for _, reason := range []string{reasonMissing, reasonBadHeader, reasonMalformed, reasonAlgorithm,
			reasonUnknownKeyID, reasonSignature, reasonIssuer, reasonAudience, reasonExpired,
			reasonNotYetValid, reasonMissingExpiry, reasonNoSubject, reasonNoKeyID, reasonIssuedInFuture} {
			if !strings.Contains(logs, "reason="+reason) {
				t.Errorf("logs lack reason=%s:\n%s", reason, logs)
			}
		}
		for _, s := range secrets {
			if strings.Contains(logs, s) {
				t.Errorf("logs contain token material %q", s)
			}
		}
	})
}

func bearer(tok string) func() []string {
	return func() []string { return []string{"Bearer " + tok} }
}

// tamperSignature flips one character in the middle of the signature (the
// last one may only carry padding bits).
func tamperSignature(tok string) string {
	i := strings.LastIndexByte(tok, '.') + 10
	c := byte('A')
	if tok[i] == 'A' {
		c = 'B'
	}
	return tok[:i] + string(c) + tok[i+1:]
}

func swapPayload(tok, payload string) string {
	parts := strings.Split(tok, ".")
	parts[1] = payload
	return strings.Join(parts, ".")
}

func TestKeyRotation(t *testing.T) {
	old, next := key(0, "kid-old"), key(1, "kid-new")
	f := newFixture(t, func(c *Config) { c.MinRefetchInterval = 15 * time.Second }, old)

	steps := []struct {
		name      string
		advance   time.Duration
		publish   []testKey // non-nil: the tenant publishes these from now on
		signer    testKey
		wantOK    bool
		wantFetch int64 // JWKS hits after the step
	}{
		{name: "old key, first fetch", signer: old, wantOK: true, wantFetch: 1},
		{name: "unpublished kid, refetch within interval refused", signer: next, wantFetch: 1},
		{name: "unpublished kid, refetched and still unknown", advance: 15 * time.Second, signer: next, wantFetch: 2},
		{name: "new kid published, within interval", publish: []testKey{old, next}, advance: 5 * time.Second, signer: next, wantFetch: 2},
		{name: "new kid published, refetched", advance: 10 * time.Second, signer: next, wantOK: true, wantFetch: 3},
		{name: "new kid again, cached", signer: next, wantOK: true, wantFetch: 3},
		{name: "old key still published", signer: old, wantOK: true, wantFetch: 3},
		{name: "old key revoked, cached until the TTL", publish: []testKey{next}, signer: old, wantOK: true, wantFetch: 3},
		{name: "old key after the TTL", advance: DefaultCacheTTL, signer: old, wantFetch: 4},
		{name: "new key after the TTL", signer: next, wantOK: true, wantFetch: 4},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			f.t = t
			if s.publish != nil {
				f.jwks.setKeys(s.publish...)
			}
			f.clock.Add(s.advance)
			// Tokens are issued at the wall clock base; the injected clock
			// moves by less than their hour.
			tok := rsToken(t, s.signer, claimsAt(f.base, nil))
			got := f.bearer(tok)
			if s.wantOK {
				if got.status != http.StatusOK {
					t.Errorf("token with kid %q = %d %s; want 200", s.signer.kid, got.status, got.body)
				}
			} else {
				assertRejected(t, got, http.StatusUnauthorized, gqlresp.CodeUnauthenticated, secretsOf(tok)...)
			}
			if n := f.jwks.hits.Load(); n != s.wantFetch {
				t.Errorf("JWKS fetches = %d; want %d", n, s.wantFetch)
			}
		})
	}
}

func TestUnknownKIDFloodFetchesOnce(t *testing.T) {
	good := key(0, "kid-good")
	f := newFixture(t, nil, good)
	if got := f.bearer(rsToken(t, good, claimsAt(f.base, nil))); got.status != http.StatusOK {
		t.Fatalf("priming request = %d %s; want 200", got.status, got.body)
	}
	f.clock.Add(DefaultMinRefetchInterval) // a refetch is allowed again
	before := f.jwks.hits.Load()

	const n = 100
	var wg sync.WaitGroup
	results := make([]response, n)
	toks := make([]string, n)
	for i := range n {
		toks[i] = rsToken(t, key(1, "kid-bogus-"+strings.Repeat("z", i%7)+string(rune('a'+i%26))), claimsAt(f.base, nil))
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = f.bearer(toks[i])
		}()
	}
	wg.Wait()
	for i, got := range results {
		assertRejected(t, got, http.StatusUnauthorized, gqlresp.CodeUnauthenticated, secretsOf(toks[i])...)
	}
	if extra := f.jwks.hits.Load() - before; extra != 1 {
		t.Errorf("JWKS fetches for %d bogus kids = %d; want 1", n, extra)
	}
}

func TestRotatedKIDConcurrentCallersShareOneFetch(t *testing.T) {
	old, next := key(0, "kid-old"), key(1, "kid-new")
	f := newFixture(t, nil, old)
	if got := f.bearer(rsToken(t, old, claimsAt(f.base, nil))); got.status != http.StatusOK {
		t.Fatalf("priming request = %d %s; want 200", got.status, got.body)
	}
	f.jwks.setKeys(old, next)
	f.clock.Add(DefaultMinRefetchInterval)

	const n = 50
	tok := rsToken(t, next, claimsAt(f.base, nil))
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses[i] = f.bearer(tok).status
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Errorf("caller %d: status = %d; want 200", i, s)
		}
	}
	if got := f.jwks.hits.Load(); got != 2 {
		t.Errorf("JWKS fetches = %d; want 2", got)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	good := key(0, "kid-good")
	f := newFixture(t, nil, good)
	f.jwks.fail(http.StatusInternalServerError)
	tok := rsToken(t, good, claimsAt(f.base, nil))
	ctx := context.Background()

	if err := f.auth.Ready(ctx); err == nil || strings.Contains(err.Error(), "jwks-error-body-marker") {
		t.Errorf("Ready() = %v; want an error without the body", err)
	}
	// Within MinRefetchInterval of the failed attempt nothing is fetched.
	got := f.bearer(tok)
	assertRejected(t, got, http.StatusServiceUnavailable, gqlresp.CodeUpstreamUnavailable, secretsOf(tok)...)
	if n := f.jwks.hits.Load(); n != 1 {
		t.Errorf("JWKS fetches = %d; want 1", n)
	}

	f.jwks.fail(0)
	f.clock.Add(DefaultMinRefetchInterval)
	if got := f.bearer(tok); got.status != http.StatusOK {
		t.Errorf("after recovery: status = %d %s; want 200", got.status, got.body)
	}
	if err := f.auth.Ready(ctx); err != nil {
		t.Errorf("Ready() = %v; want nil", err)
	}
	if n := f.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetches = %d; want 2", n)
	}
	if strings.Contains(f.logs.String(), "jwks-error-body-marker") {
		t.Errorf("logs contain the JWKS error body:\n%s", f.logs.String())
	}
}

func TestStaleKeysDuringOutage(t *testing.T) {
	good := key(0, "kid-good")
	ttl := 10 * time.Minute
	f := newFixture(t, func(c *Config) { c.CacheTTL = ttl }, good)
	// Tokens must outlive the clock moves below for both clocks.
	claims := claimsAt(f.base, func(c map[string]any) { c["exp"] = f.base.Add(time.Hour).Unix() })
	tok := rsToken(t, good, claims)
	if got := f.bearer(tok); got.status != http.StatusOK {
		t.Fatalf("priming request = %d %s; want 200", got.status, got.body)
	}
	f.jwks.fail(http.StatusServiceUnavailable)

	f.clock.Add(ttl + time.Second)
	if got := f.bearer(tok); got.status != http.StatusOK {
		t.Errorf("after TTL with the tenant down: status = %d %s; want 200 (old keys)", got.status, got.body)
	}
	if n := f.jwks.hits.Load(); n != 2 {
		t.Errorf("JWKS fetches = %d; want 2", n)
	}
	if err := f.auth.Ready(context.Background()); err != nil {
		t.Errorf("Ready() during grace = %v; want nil", err)
	}

	f.clock.Add(ttl)
	got := f.bearer(tok)
	assertRejected(t, got, http.StatusServiceUnavailable, gqlresp.CodeUpstreamUnavailable, secretsOf(tok)...)
	if err := f.auth.Ready(context.Background()); err == nil {
		t.Errorf("Ready() after grace = nil; want an error")
	}
}

func TestDefaultJWKSURL(t *testing.T) {
	good := key(0, "kid-good")
	js := newJWKSServer(t, good)
	// An issuer with a path, as an emulator might serve it.
	issuer := js.srv.URL + "/tenant/"
	now := time.Now().Truncate(time.Second)
	a, err := New(Config{Issuer: issuer, Audience: testAudience, HTTPClient: js.srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if err := a.Ready(context.Background()); err != nil {
		t.Fatalf("Ready() = %v; want nil (JWKS at %s)", err, issuer+".well-known/jwks.json")
	}
	srv := newServer(t, a)
	tok := rsToken(t, good, claimsAt(now, func(c map[string]any) { c["iss"] = issuer }))
	req, _ := http.NewRequest(http.MethodGet, srv, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := js.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status = %d; want 200", resp.StatusCode)
	}
}

func TestUserIDOutsideMiddleware(t *testing.T) {
	if id, ok := UserID(context.Background()); ok || id != "" {
		t.Errorf("UserID(empty ctx) = %q, %t; want \"\", false", id, ok)
	}
	if c, ok := Claims(context.Background()); ok || c != nil {
		t.Errorf("Claims(empty ctx) = %v, %t; want nil, false", c, ok)
	}
}

func TestHasScope(t *testing.T) {
	c := &CustomClaims{Scope: "openid  read:repos\tread:calendar"}
	for _, tc := range []struct {
		scope string
		want  bool
	}{
		{"read:repos", true}, {"read:calendar", true}, {"openid", true},
		{"read", false}, {"", false}, {"read:repos read:calendar", false},
	} {
		if got := c.HasScope(tc.scope); got != tc.want {
			t.Errorf("HasScope(%q) = %t; want %t", tc.scope, got, tc.want)
		}
	}
	var nilClaims *CustomClaims
	if nilClaims.HasScope("openid") {
		t.Errorf("(*CustomClaims)(nil).HasScope(%q) = true; want false", "openid")
	}
}
