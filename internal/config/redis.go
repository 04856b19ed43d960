package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idpgate/idpgate/internal/seal"
	"github.com/idpgate/idpgate/internal/secret"
)

// RedisConfig is the shared store several replicas use. With URL empty
// (the default) every piece of state stays in the process.
type RedisConfig struct {
	// URL is REDIS_URL: redis://[user:password@]host:port[/db] or
	// rediss:// for TLS, as redis.ParseURL reads it. It holds the
	// password, so it never prints.
	URL secret.String
	// KeyPrefix starts every key idpgate writes (REDIS_KEY_PREFIX,
	// default "idpgate:"), so several deployments can share one Redis.
	KeyPrefix string
	// EncryptionKeys is REDIS_ENCRYPTION_KEY: comma-separated base64
	// AES-256 keys; the first seals, every one opens (seal.ParseKeys).
	EncryptionKeys secret.String
	// Timeout bounds every Redis call (REDIS_TIMEOUT, default 50ms): past
	// it the gateway carries on with its in-process state.
	Timeout time.Duration
}

// DefaultRedisKeyPrefix is REDIS_KEY_PREFIX's default.
const DefaultRedisKeyPrefix = "idpgate:"

// DefaultRedisTimeout is REDIS_TIMEOUT's default.
const DefaultRedisTimeout = 50 * time.Millisecond

// Enabled reports whether a shared store is configured.
func (c RedisConfig) Enabled() bool { return !c.URL.IsZero() }

// redis reads the REDIS_* variables.
func (r *reader) redis(dst *RedisConfig) {
	r.secret("REDIS_URL", &dst.URL)
	r.str("REDIS_KEY_PREFIX", &dst.KeyPrefix)
	r.secret("REDIS_ENCRYPTION_KEY", &dst.EncryptionKeys)
	r.duration("REDIS_TIMEOUT", &dst.Timeout)
}

// validate fills the defaults and checks the REDIS_* settings. No error
// holds the URL (it may carry a password) or a key.
func (c *RedisConfig) validate() error {
	if c.KeyPrefix == "" {
		c.KeyPrefix = DefaultRedisKeyPrefix
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultRedisTimeout
	}
	if len(c.KeyPrefix) > 64 || strings.ContainsFunc(c.KeyPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return errors.New("REDIS_KEY_PREFIX: must be at most 64 characters without spaces or control characters")
	}
	if c.Timeout < time.Millisecond || c.Timeout > 5*time.Second {
		return errors.New("REDIS_TIMEOUT: must be between 1ms and 5s")
	}
	if !c.Enabled() {
		if !c.EncryptionKeys.IsZero() {
			// A key without a store is harmless, but check it so that a
			// typo is found before the day REDIS_URL is set.
			if _, err := seal.ParseKeys(c.EncryptionKeys.Reveal()); err != nil {
				return fmt.Errorf("REDIS_ENCRYPTION_KEY: %s", strings.TrimPrefix(err.Error(), "seal: "))
			}
		}
		return nil
	}
	u := c.URL.Reveal()
	if !strings.HasPrefix(u, "redis://") && !strings.HasPrefix(u, "rediss://") {
		return errors.New("REDIS_URL: must start with redis:// or rediss:// (TLS)")
	}
	// redis.ParseURL's and net/url's errors quote the URL, password
	// included: say what is wrong without them.
	if _, err := redis.ParseURL(u); err != nil {
		return errors.New("REDIS_URL: not a valid Redis URL (redis[s]://[user:password@]host:port[/db])")
	}
	if c.EncryptionKeys.IsZero() {
		return errors.New("REDIS_ENCRYPTION_KEY: required when REDIS_URL is set (one or more base64 keys of 32 bytes; generate one with: openssl rand -base64 32)")
	}
	if _, err := seal.ParseKeys(c.EncryptionKeys.Reveal()); err != nil {
		return fmt.Errorf("REDIS_ENCRYPTION_KEY: %s", strings.TrimPrefix(err.Error(), "seal: "))
	}
	return nil
}

// Variables lists every environment variable FromEnv reads, sorted; the
// per-connection ones appear once per field as CONNECTION_<NAME>_<FIELD>.
// It is derived by running FromEnv with an environment that records the
// names asked for (and holds one CONNECTION_NAME_<FIELD> of each field),
// so it cannot drift from the code; deployment files are checked against
// it and Reads.
func Variables() []string {
	const probe = connectionPrefix + "NAME_"
	var names []string
	for _, f := range connectionFields {
		names = append(names, probe+f)
	}
	seen := map[string]bool{}
	_, _ = FromEnv(Env{Get: func(name string) string {
		if rest, ok := strings.CutPrefix(name, probe); ok {
			name = connectionPrefix + "<NAME>_" + rest
		}
		seen[name] = true
		return ""
	}, Names: names})
	vars := make([]string, 0, len(seen))
	for n := range seen {
		vars = append(vars, n)
	}
	slices.Sort(vars)
	return vars
}

// Reads reports whether FromEnv reads the variable name when it is set:
// one of Variables, or a CONNECTION_<NAME>_<FIELD> with a known FIELD.
func Reads(name string) bool {
	read := false
	_, _ = FromEnv(Env{Get: func(n string) string {
		if n == name {
			read = true
		}
		return ""
	}, Names: []string{name}})
	return read
}
