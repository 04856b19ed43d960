package config

import (
	"encoding/base64"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRedisSettings(t *testing.T) {
	key1 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	key2 := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("o", 32)))
	short := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 16)))
	tests := []struct {
		name    string
		set     map[string]string
		wantErr string // prefix; empty: no error
		check   func(t *testing.T, c RedisConfig)
	}{
		{name: "unset stays in memory", check: func(t *testing.T, c RedisConfig) {
			if c.Enabled() || c.KeyPrefix != "idpgate:" || c.Timeout != 50*time.Millisecond {
				t.Errorf("Redis = %+v; want disabled with defaults", c)
			}
		}},
		{name: "redis with user, password and db", set: map[string]string{
			"REDIS_URL": "redis://gw:p4ss-canary@redis.internal:6380/2", "REDIS_ENCRYPTION_KEY": key1,
		}, check: func(t *testing.T, c RedisConfig) {
			if !c.Enabled() || c.URL.Reveal() != "redis://gw:p4ss-canary@redis.internal:6380/2" || c.EncryptionKeys.Reveal() != key1 {
				t.Errorf("Redis = %+v; want the URL and key kept", c)
			}
		}},
		{name: "rediss with two keys, prefix and timeout", set: map[string]string{
			"REDIS_URL": "rediss://:pw@cache.example.com:6379", "REDIS_ENCRYPTION_KEY": key1 + "," + key2,
			"REDIS_KEY_PREFIX": "prod-eu:", "REDIS_TIMEOUT": "25ms",
		}, check: func(t *testing.T, c RedisConfig) {
			if c.KeyPrefix != "prod-eu:" || c.Timeout != 25*time.Millisecond {
				t.Errorf("Redis = %+v; want prefix prod-eu: and 25ms", c)
			}
		}},
		{name: "url without key", set: map[string]string{"REDIS_URL": "redis://localhost:6379"}, wantErr: "REDIS_ENCRYPTION_KEY: required"},
		{name: "short key", set: map[string]string{"REDIS_URL": "redis://localhost:6379", "REDIS_ENCRYPTION_KEY": short}, wantErr: "REDIS_ENCRYPTION_KEY: key 1 of 1 is 16 bytes"},
		{name: "second key short", set: map[string]string{"REDIS_URL": "redis://localhost:6379", "REDIS_ENCRYPTION_KEY": key1 + "," + short}, wantErr: "REDIS_ENCRYPTION_KEY: key 2 of 2"},
		{name: "key not base64", set: map[string]string{"REDIS_URL": "redis://localhost:6379", "REDIS_ENCRYPTION_KEY": "p4ss-canary!!"}, wantErr: "REDIS_ENCRYPTION_KEY: key 1 of 1 is not base64"},
		{name: "bad key without url", set: map[string]string{"REDIS_ENCRYPTION_KEY": short}, wantErr: "REDIS_ENCRYPTION_KEY:"},
		{name: "http scheme", set: map[string]string{"REDIS_URL": "http://gw:p4ss-canary@localhost:6379", "REDIS_ENCRYPTION_KEY": key1}, wantErr: "REDIS_URL: must start with"},
		{name: "unparsable port", set: map[string]string{"REDIS_URL": "redis://gw:p4ss-canary@localhost:port/0", "REDIS_ENCRYPTION_KEY": key1}, wantErr: "REDIS_URL: not a valid"},
		{name: "bad db", set: map[string]string{"REDIS_URL": "redis://gw:p4ss-canary@localhost:6379/zero", "REDIS_ENCRYPTION_KEY": key1}, wantErr: "REDIS_URL: not a valid"},
		{name: "prefix with space", set: map[string]string{"REDIS_KEY_PREFIX": "a b"}, wantErr: "REDIS_KEY_PREFIX:"},
		{name: "timeout too long", set: map[string]string{"REDIS_TIMEOUT": "1m"}, wantErr: "REDIS_TIMEOUT:"},
		{name: "timeout not a duration", set: map[string]string{"REDIS_TIMEOUT": "fast"}, wantErr: "REDIS_TIMEOUT:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := base()
			for k, v := range tt.set {
				m[k] = v
			}
			_, err := FromEnv(env(m))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("FromEnv() error = %v; want prefix %q", err, tt.wantErr)
				}
				for _, leak := range []string{"p4ss-canary", short, key1} {
					if strings.Contains(err.Error(), leak) {
						t.Errorf("error %q leaks a secret", err)
					}
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q spans lines", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("FromEnv() error = %v", err)
			}
			// The REDIS_* values as FromEnv reads and checks them.
			r := reader{getenv: env(m).get}
			var c RedisConfig
			r.redis(&c)
			if err := c.validate(); err != nil || r.err != nil {
				t.Fatalf("validate() = %v, %v", err, r.err)
			}
			tt.check(t, c)
		})
	}
}

func TestVariables(t *testing.T) {
	vars := Variables()
	for _, want := range []string{
		"AUTH0_DOMAIN", "AUTH0_CLIENT_SECRET", "PORT", "LOG_LEVEL",
		"REDIS_URL", "REDIS_KEY_PREFIX", "REDIS_ENCRYPTION_KEY", "REDIS_TIMEOUT",
		"APQ_PER_USER", "MAX_RESPONSE_BYTES", "MAX_CONNS", "MAX_CONNS_PER_IP", "UNAUTH_IDLE_TIMEOUT", "UNAUTH_RPS", "UNAUTH_BURST",
		"GITLAB_CLIENT_SECRET", "MICROSOFT_TOKEN_URL",
		"CONNECTION_<NAME>_ADAPTER", "CONNECTION_<NAME>_API_URL", "CONNECTION_<NAME>_TOKEN_URL",
		"CONNECTION_<NAME>_CLIENT_ID", "CONNECTION_<NAME>_CLIENT_SECRET",
	} {
		if !slices.Contains(vars, want) {
			t.Errorf("Variables() = %v; want it to contain %s", vars, want)
		}
	}
	if !slices.IsSorted(vars) {
		t.Errorf("Variables() is not sorted: %v", vars)
	}
	for _, v := range vars {
		if v == "HOME" || strings.HasPrefix(v, "CONNECTION_NAME_") {
			t.Errorf("Variables() contains %s; want only what FromEnv reads, connections as CONNECTION_<NAME>_<FIELD>", v)
		}
	}
}

func TestReads(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"AUTH0_DOMAIN", true},
		{"PORT", true},
		{"UNAUTH_RPS", true},
		{"REDIS_TIMEOUT", true},
		{"GITLAB_CLIENT_ID", true},
		{"CONNECTION_GHE_ADAPTER", true},
		{"CONNECTION_ACME_AZUREAD_CLIENT_SECRET", true},
		{"CONNECTION_GHE_COLOUR", false},  // unknown field: start-up refuses it
		{"CONNECTION_ghe_ADAPTER", false}, // NAME must be upper-cased
		{"HOME", false},
		{"REDIS_PASSWORD", false},
	}
	for _, tt := range tests {
		if got := Reads(tt.name); got != tt.want {
			t.Errorf("Reads(%q) = %v; want %v", tt.name, got, tt.want)
		}
	}
}
