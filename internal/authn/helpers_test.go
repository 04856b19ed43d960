package authn

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testIssuer   = "https://acme.example.auth0.com/"
	testAudience = "https://api.idpgate.example/"
	testSubject  = "github|zz-authn-test-user-4242"
	jwksPath     = "/tenant/.well-known/jwks.json"
)

// testKeys are generated once per test binary: RSA generation is the
// slowest thing these tests do.
var testKeys = sync.OnceValue(func() []*rsa.PrivateKey {
	keys := make([]*rsa.PrivateKey, 3)
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

// testKey is a signing key published under kid.
type testKey struct {
	kid  string
	priv *rsa.PrivateKey
}

func key(i int, kid string) testKey { return testKey{kid: kid, priv: testKeys()[i]} }

// fakeClock is an injected clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// jwksServer publishes keys the way an Auth0 tenant does and counts hits.
type jwksServer struct {
	srv  *httptest.Server
	hits atomic.Int64

	mu     sync.Mutex
	keys   []testKey
	status int    // non-zero: answer with this status instead
	body   []byte // non-nil: answer with this body instead
}

func newJWKSServer(t testing.TB, keys ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) URL() string { return s.srv.URL + jwksPath }

func (s *jwksServer) setKeys(keys ...testKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = keys
}

func (s *jwksServer) fail(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.body = b
}

func (s *jwksServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != jwksPath {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	status, body := s.status, s.body
	keys := append([]testKey(nil), s.keys...)
	s.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"server_error","zz":"jwks-error-body-marker"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if body != nil {
		_, _ = w.Write(body)
		return
	}
	_, _ = w.Write(jwksJSON(keys...))
}

func jwksJSON(keys ...testKey) []byte {
	type jwkOut struct {
		Kty string `json:"kty"`
		Use string `json:"use"`
		Alg string `json:"alg"`
		Kid string `json:"kid"`
		N   string `json:"n"`
		E   string `json:"e"`
	}
	out := struct {
		Keys []jwkOut `json:"keys"`
	}{Keys: []jwkOut{}}
	for _, k := range keys {
		pub := k.priv.PublicKey
		out.Keys = append(out.Keys, jwkOut{
			Kty: "RSA", Use: "sig", Alg: "RS256", Kid: k.kid,
			N: b64(pub.N.Bytes()), E: b64(big.NewInt(int64(pub.E)).Bytes()),
		})
	}
	b, err := json.Marshal(out)
	if err != nil {
		panic(err)
	}
	return b
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func b64JSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b64(b)
}

// signedToken builds header.payload.signature with sign over the signing
// input; sign == nil leaves the signature empty.
func signedToken(t *testing.T, header, claims map[string]any, sign func(input []byte) []byte) string {
	t.Helper()
	input := b64JSON(t, header) + "." + b64JSON(t, claims)
	var sig []byte
	if sign != nil {
		sig = sign([]byte(input))
	}
	return input + "." + b64(sig)
}

func rs256(t *testing.T, priv *rsa.PrivateKey) func([]byte) []byte {
	return rsaSigner(t, priv, crypto.SHA256)
}

func rsaSigner(t *testing.T, priv *rsa.PrivateKey, h crypto.Hash) func([]byte) []byte {
	return func(in []byte) []byte {
		d := h.New()
		d.Write(in)
		sig, err := rsa.SignPKCS1v15(nil, priv, h, d.Sum(nil))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
}

func hs256(secret []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write(in)
		return m.Sum(nil)
	}
}

// rsToken is a well-formed RS256 token signed by k.
func rsToken(t *testing.T, k testKey, claims map[string]any) string {
	t.Helper()
	return signedToken(t, map[string]any{"alg": "RS256", "typ": "JWT", "kid": k.kid}, claims, rs256(t, k.priv))
}

// claimsAt returns valid claims for a token issued at base; edit changes
// them (delete a key to drop a claim).
func claimsAt(base time.Time, edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss":   testIssuer,
		"aud":   []string{testAudience, testIssuer + "userinfo"},
		"sub":   testSubject,
		"iat":   base.Unix(),
		"exp":   base.Add(time.Hour).Unix(),
		"scope": "openid profile read:repos",
		"azp":   "zz-authn-test-client",
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// syncBuffer is a log sink safe for the concurrent writes of a server.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fixture is a gateway (the middleware in front of a handler that echoes
// the caller) served over HTTP, with its JWKS server, clock and log.
type fixture struct {
	t     *testing.T
	jwks  *jwksServer
	clock *fakeClock
	base  time.Time
	auth  *Authenticator
	srv   *httptest.Server
	logs  *syncBuffer
}

// newFixture publishes keys, anchors the clock at the wall clock (the
// validator inside go-jwt-middleware reads time.Now, so tokens must make
// sense to both clocks) and builds the Authenticator.
func newFixture(t *testing.T, edit func(*Config), keys ...testKey) *fixture {
	t.Helper()
	f := &fixture{
		t:    t,
		jwks: newJWKSServer(t, keys...),
		base: time.Now().Truncate(time.Second),
		logs: &syncBuffer{},
	}
	f.clock = &fakeClock{t: f.base}
	cfg := Config{
		Issuer:     testIssuer,
		Audience:   testAudience,
		JWKSURL:    f.jwks.URL(),
		HTTPClient: f.jwks.srv.Client(),
		Now:        f.clock.Now,
		Logger:     slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if edit != nil {
		edit(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v; want nil error", cfg, err)
	}
	f.auth = a
	f.srv = httptest.NewServer(a.Middleware(http.HandlerFunc(echoCaller)))
	t.Cleanup(f.srv.Close)
	return f
}

// newServer serves a's middleware in front of echoCaller and returns its
// URL.
func newServer(t *testing.T, a *Authenticator) string {
	t.Helper()
	srv := httptest.NewServer(a.Middleware(http.HandlerFunc(echoCaller)))
	t.Cleanup(srv.Close)
	return srv.URL
}

// echoCaller is the protected handler: it reports what the middleware put
// in the context.
func echoCaller(w http.ResponseWriter, r *http.Request) {
	id, ok := UserID(r.Context())
	c, cok := Claims(r.Context())
	if !ok || !cok {
		http.Error(w, "no caller in context", http.StatusInternalServerError)
		return
	}
	cc, _ := c.CustomClaims.(*CustomClaims)
	fmt.Fprintf(w, "user=%s repos=%t", id, cc.HasScope("read:repos"))
}

// response is what the client saw.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends method with the given Authorization values (none when empty)
// and Accept header. It may run on any goroutine: failures are reported
// with Errorf and a zero response.
func (f *fixture) do(method string, authz []string, accept string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+"/query", strings.NewReader(`{"query":"{ me { id } }"}`))
	if err != nil {
		f.t.Errorf("NewRequest: %v", err)
		return response{}
	}
	req.Header.Set("Content-Type", "application/json")
	for _, v := range authz {
		req.Header.Add("Authorization", v)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		f.t.Errorf("%s /query: %v", method, err)
		return response{}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Errorf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body}
}

func (f *fixture) bearer(tok string) response {
	f.t.Helper()
	return f.do(http.MethodPost, []string{"Bearer " + tok}, "")
}

// assertRejected checks the contract's error response: status, challenge
// (on 401), GraphQL error shape with code and no data, and that no secret
// appears in the headers or the body.
func assertRejected(t *testing.T, got response, status int, code string, secrets ...string) {
	t.Helper()
	if got.status != status {
		t.Errorf("status = %d; want %d (body %s)", got.status, status, got.body)
	}
	challenge := got.header.Get("WWW-Authenticate")
	if status == http.StatusUnauthorized && !strings.HasPrefix(challenge, `Bearer error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q; want prefix %q", challenge, `Bearer error="invalid_token"`)
	}
	if status != http.StatusUnauthorized && challenge != "" {
		t.Errorf("WWW-Authenticate = %q; want none on %d", challenge, status)
	}
	if ct := got.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q; want %q", ct, "application/json; charset=utf-8")
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(got.body, &body); err != nil {
		t.Fatalf("body %s is not JSON: %v", got.body, err)
	}
	if _, ok := body["data"]; ok {
		t.Errorf("body %s has a data key; want none", got.body)
	}
	var errs []struct {
		Message    string `json:"message"`
		Extensions struct {
			Code string `json:"code"`
		} `json:"extensions"`
	}
	if err := json.Unmarshal(body["errors"], &errs); err != nil || len(errs) != 1 {
		t.Fatalf("errors = %s (%v); want one error", body["errors"], err)
	}
	if errs[0].Extensions.Code != code || errs[0].Message == "" {
		t.Errorf("error = %+v; want code %s and a message", errs[0], code)
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(string(got.body), s) {
			t.Errorf("body %s contains secret %q", got.body, s)
		}
		for name, vs := range got.header {
			for _, v := range vs {
				if strings.Contains(v, s) {
					t.Errorf("header %s = %q contains secret %q", name, v, s)
				}
			}
		}
	}
}

// secretsOf returns the strings of a token that must never be echoed: the
// whole token and its payload and signature segments.
func secretsOf(tok string) []string {
	out := []string{tok}
	parts := strings.Split(tok, ".")
	for _, p := range parts[1:] {
		if len(p) >= 16 {
			out = append(out, p)
		}
	}
	return out
}
