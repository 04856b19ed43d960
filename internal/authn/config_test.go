package authn

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	ok := Config{Issuer: testIssuer, Audience: testAudience}
	tests := []struct {
		name  string
		edit  func(*Config)
		field string // the error must name it
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer"},
		{"relative issuer", func(c *Config) { c.Issuer = "acme.us.auth0.com/" }, "Issuer"},
		{"issuer with other scheme", func(c *Config) { c.Issuer = "ftp://acme.us.auth0.com/" }, "Issuer"},
		{"issuer with space", func(c *Config) { c.Issuer = "https://acme.us.auth0.com/ " }, "Issuer"},
		{"no audience", func(c *Config) { c.Audience = "" }, "Audience"},
		{"blank audience", func(c *Config) { c.Audience = "  " }, "Audience"},
		{"plain-http JWKS", func(c *Config) { c.JWKSURL = "http://acme.us.auth0.com/.well-known/jwks.json" }, "JWKSURL"},
		{"plain-http issuer derives plain-http JWKS", func(c *Config) { c.Issuer = "http://acme.us.auth0.com/" }, "JWKSURL"},
		{"relative JWKS", func(c *Config) { c.JWKSURL = "/.well-known/jwks.json" }, "JWKSURL"},
		{"JWKS with credentials", func(c *Config) { c.JWKSURL = "https://u:p@acme.us.auth0.com/.well-known/jwks.json" }, "JWKSURL"},
		{"negative leeway", func(c *Config) { c.Leeway = -time.Second }, "Leeway"},
		{"leeway above 5m", func(c *Config) { c.Leeway = MaxLeeway + time.Second }, "Leeway"},
		{"negative TTL", func(c *Config) { c.CacheTTL = -time.Second }, "CacheTTL"},
		{"negative refetch interval", func(c *Config) { c.MinRefetchInterval = -time.Second }, "MinRefetchInterval"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			a, err := New(cfg)
			if err == nil || a != nil || !strings.Contains(err.Error(), tc.field) || !strings.HasPrefix(err.Error(), "authn: ") {
				t.Errorf("New(%s) = %v, %v; want an \"authn: \" error naming %s", tc.name, a, err, tc.field)
			}
		})
	}
}

func TestNewDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want func(*Authenticator) string // "" when right, else what is wrong
	}{
		{"defaults", Config{Issuer: testIssuer, Audience: testAudience}, func(a *Authenticator) string {
			switch {
			case a.keys.url != "https://acme.example.auth0.com/.well-known/jwks.json":
				return "JWKS URL " + a.keys.url
			case a.leeway != DefaultLeeway || a.keys.ttl != DefaultCacheTTL || a.keys.minInterval != DefaultMinRefetchInterval:
				return "durations"
			case a.keys.client == nil || a.keys.client.Timeout == 0:
				return "HTTP client without timeout"
			case a.now == nil || a.log == nil:
				return "clock or logger"
			}
			return ""
		}},
		{"issuer without slash", Config{Issuer: "https://login.example.com", Audience: testAudience}, func(a *Authenticator) string {
			if a.keys.url != "https://login.example.com/.well-known/jwks.json" {
				return "JWKS URL " + a.keys.url
			}
			return ""
		}},
		{"loopback http", Config{Issuer: "http://127.0.0.1:9000/", Audience: testAudience}, func(a *Authenticator) string {
			if a.keys.url != "http://127.0.0.1:9000/.well-known/jwks.json" {
				return "JWKS URL " + a.keys.url
			}
			return ""
		}},
		{"localhost http JWKS, explicit values", Config{Issuer: testIssuer, Audience: testAudience,
			JWKSURL: "http://localhost:9000/jwks", Leeway: MaxLeeway, CacheTTL: time.Hour, MinRefetchInterval: time.Minute,
			HTTPClient: http.DefaultClient}, func(a *Authenticator) string {
			if a.keys.url != "http://localhost:9000/jwks" || a.leeway != MaxLeeway || a.keys.ttl != time.Hour ||
				a.keys.minInterval != time.Minute || a.keys.client != http.DefaultClient {
				return "explicit values not kept"
			}
			return ""
		}},
	}
	for _, tc := range tests {
		a, err := New(tc.cfg)
		if err != nil {
			t.Errorf("New(%s) = %v; want nil error", tc.name, err)
			continue
		}
		if msg := tc.want(a); msg != "" {
			t.Errorf("New(%s): %s", tc.name, msg)
		}
	}
}
