package authn

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestParseJWKS(t *testing.T) {
	a, b := key(0, "kid-a"), key(1, "kid-b")
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	entry := func(k testKey, edit func(map[string]any)) map[string]any {
		var doc struct{ Keys []map[string]any }
		if err := json.Unmarshal(jwksJSON(k), &doc); err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(doc.Keys[0])
		}
		return doc.Keys[0]
	}
	set := func(entries ...any) []byte {
		b, err := json.Marshal(map[string]any{"keys": entries})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name    string
		body    []byte
		want    []string // kids kept
		wantErr bool
	}{
		{name: "two keys", body: jwksJSON(a, b), want: []string{"kid-a", "kid-b"}},
		{name: "use and alg absent", body: set(entry(a, func(m map[string]any) { delete(m, "use"); delete(m, "alg") })), want: []string{"kid-a"}},
		{name: "skips odd entries", body: set(
			entry(a, nil),
			map[string]any{"kty": "EC", "kid": "kid-ec", "crv": "P-256", "x": "AA", "y": "AA"},
			entry(b, func(m map[string]any) { m["use"] = "enc" }),
			entry(b, func(m map[string]any) { m["alg"] = "RS512" }),
			entry(b, func(m map[string]any) { delete(m, "kid") }),
			entry(b, func(m map[string]any) { m["n"] = "!!not base64!!" }),
			entry(b, func(m map[string]any) { m["e"] = "AAAAAAE" }), // 5 bytes
			entry(b, func(m map[string]any) { m["e"] = b64(big.NewInt(65536).Bytes()) }),
			entry(testKey{kid: "kid-small", priv: small}, nil),
			"not an object",
		), want: []string{"kid-a"}},
		{name: "duplicate kid dropped", body: set(entry(a, nil), entry(b, func(m map[string]any) { m["kid"] = "kid-a" }), entry(b, nil)), want: []string{"kid-b"}},
		{name: "empty set", body: []byte(`{"keys":[]}`), wantErr: true},
		{name: "no usable key", body: set(entry(a, func(m map[string]any) { m["use"] = "enc" })), wantErr: true},
		{name: "not JSON", body: []byte(`<html>zz-jwks-html</html>`), wantErr: true},
		{name: "keys not an array", body: []byte(`{"keys":{}}`), wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := parseJWKS(tc.body)
			if tc.wantErr {
				if err == nil || strings.Contains(err.Error(), "zz-jwks") {
					t.Errorf("parseJWKS(%s) = %v, %v; want an error without the body", tc.name, keys, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS(%s) = %v; want nil error", tc.name, err)
			}
			if len(keys) != len(tc.want) {
				t.Errorf("parseJWKS(%s) kept %d keys; want %v", tc.name, len(keys), tc.want)
			}
			for _, kid := range tc.want {
				if keys[kid] == nil {
					t.Errorf("parseJWKS(%s) lacks %q", tc.name, kid)
				}
			}
		})
	}
}

func TestFetchFailures(t *testing.T) {
	good := key(0, "kid-good")
	tests := []struct {
		name   string
		status int
		body   []byte
		url    string // default: the server's JWKS path
		want   string // in the error
	}{
		{name: "server error", status: http.StatusInternalServerError, want: "status 500"},
		{name: "not found", url: "/elsewhere/jwks.json", want: "status 404"},
		{name: "oversized body", body: []byte(`{"keys":[` + strings.Repeat(" ", maxJWKSBytes) + `]}`), want: "exceeds"},
		{name: "HTML", body: []byte(`<html>zz-jwks-html</html>`), want: "not a JSON key set"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			js := newJWKSServer(t, good)
			js.fail(tc.status)
			js.setBody(tc.body)
			url := js.URL()
			if tc.url != "" {
				url = js.srv.URL + tc.url
			}
			a, err := New(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: url, HTTPClient: js.srv.Client(),
				Now: func() time.Time { return time.Unix(1_900_000_000, 0) }})
			if err != nil {
				t.Fatal(err)
			}
			err = a.Ready(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "authn: ") ||
				strings.Contains(err.Error(), "zz-jwks") || strings.Contains(err.Error(), "jwks-error-body-marker") {
				t.Errorf("Ready() = %v; want an \"authn: \" error with %q and no body", err, tc.want)
			}
		})
	}
}

func TestReadyHonoursContext(t *testing.T) {
	block := make(chan struct{})
	hits := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits <- struct{}{}
		<-block
		_, _ = w.Write(jwksJSON(key(0, "kid-a")))
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) }) // runs before srv.Close
	a, err := New(Config{Issuer: testIssuer, Audience: testAudience, JWKSURL: srv.URL + "/jwks", HTTPClient: srv.Client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-hits // the fetch is in flight; the caller gives up
		cancel()
	}()
	if err := a.Ready(ctx); err == nil || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("Ready(canceled ctx) = %v; want context canceled", err)
	}
}
