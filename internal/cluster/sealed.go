package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Sealed values: every value that may hold a token goes through these, so
// it reaches Redis encrypted (AES-256-GCM) with its full key name as
// associated data.

// GetSealed returns the plaintext stored under namespace:name. A missing
// value, and one that does not open (garbage, truncated, sealed with a key
// not in the ring, copied from another key), is a miss: ok false, err nil.
// err is non-nil only when Redis could not be asked.
func (s *Store) GetSealed(ctx context.Context, namespace, name string) (plain []byte, ok bool, err error) {
	raw, found, err := s.getRaw(ctx, namespace, name)
	if err != nil || !found {
		return nil, false, err
	}
	plain, ok = s.open(namespace, name, raw)
	return plain, ok, nil
}

// SetSealed stores plain under namespace:name for ttl (at least 1ms).
func (s *Store) SetSealed(ctx context.Context, namespace, name string, plain []byte, ttl time.Duration) error {
	if s == nil {
		return &Error{Op: "SET", Cause: "not configured"}
	}
	k := s.key(namespace, name)
	sealed, err := s.ring.Seal(plain, []byte(k))
	if err != nil {
		return err
	}
	return s.do(ctx, "SET", func(ctx context.Context) error {
		return s.rdb.Set(ctx, k, sealed, clampTTL(ttl)).Err()
	})
}

// casScript sets KEYS[1] to ARGV[3] for ARGV[4] ms if it still holds
// exactly ARGV[2] (the ciphertext the caller read), or if it is absent
// when ARGV[1] is "absent". Comparing ciphertexts is exact: every seal
// draws a new nonce, so a value rewritten by anyone else, even with the
// same plaintext, no longer matches.
var casScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if ARGV[1] == 'absent' then
  if cur then return 0 end
elseif cur ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return 1
`)

// cadScript deletes KEYS[1] if it still holds exactly ARGV[1].
var cadScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`)

// CompareAndSwapSealed replaces the value under namespace:name with next
// (for ttl) only if the current value is the one the caller expects:
// match(current plaintext) returns true, or — match nil — there is no
// readable value (absent, or one that does not open). It reports whether
// it swapped. This is the fence of a refresh: a lease holder that was too
// slow (its lease expired and another replica stored a newer pair) finds
// the value changed and does not overwrite it.
//
// Two round trips: GET, then a script that swaps only if the stored
// ciphertext is still the one read.
func (s *Store) CompareAndSwapSealed(ctx context.Context, namespace, name string, match func(current []byte) bool, next []byte, ttl time.Duration) (bool, error) {
	raw, found, err := s.getRaw(ctx, namespace, name)
	if err != nil {
		return false, err
	}
	mode, expect := "absent", []byte(nil)
	if found {
		plain, ok := s.open(namespace, name, raw)
		switch {
		case ok && match == nil, ok && !match(plain):
			return false, nil
		case !ok && match != nil:
			return false, nil
		}
		// A value that does not open counts as absent for match == nil,
		// but is replaced only if it is still that same value.
		mode, expect = "equal", raw
	} else if match != nil {
		return false, nil
	}
	k := s.key(namespace, name)
	sealed, err := s.ring.Seal(next, []byte(k))
	if err != nil {
		return false, err
	}
	var swapped int64
	err = s.do(ctx, "EVALSHA", func(ctx context.Context) error {
		var err error
		swapped, err = casScript.Run(ctx, s.rdb, []string{k}, mode, expect, sealed, clampTTL(ttl).Milliseconds()).Int64()
		return err
	})
	return swapped == 1, err
}

// DeleteSealed removes the value under namespace:name if match(current
// plaintext) is true (match nil: whatever it holds). It reports whether it
// deleted. A value changed between the read and the delete is kept.
func (s *Store) DeleteSealed(ctx context.Context, namespace, name string, match func(current []byte) bool) (bool, error) {
	raw, found, err := s.getRaw(ctx, namespace, name)
	if err != nil || !found {
		return false, err
	}
	if match != nil {
		plain, ok := s.open(namespace, name, raw)
		if !ok || !match(plain) {
			return false, nil
		}
	}
	var n int64
	err = s.do(ctx, "EVALSHA", func(ctx context.Context) error {
		var err error
		n, err = cadScript.Run(ctx, s.rdb, []string{s.key(namespace, name)}, raw).Int64()
		return err
	})
	return n == 1, err
}

func (s *Store) getRaw(ctx context.Context, namespace, name string) ([]byte, bool, error) {
	if s == nil {
		return nil, false, &Error{Op: "GET", Cause: "not configured"}
	}
	return s.getRawKey(ctx, s.key(namespace, name))
}

// legacyKey is key without the tenant segment: the name a value had before
// keys named the deployment (Options.Tenant). "" when there is no segment.
func (s *Store) legacyKey(namespace, name string) string {
	if s.tenant == "" {
		return ""
	}
	return s.prefix + namespace + ":" + name
}

// getSealedLegacy is GetSealed at legacyKey: a value written by a version
// that did not name the deployment in its keys (read-only; it expires
// with its TTL).
func (s *Store) getSealedLegacy(ctx context.Context, namespace, name string) ([]byte, bool, error) {
	k := s.legacyKey(namespace, name)
	if k == "" {
		return nil, false, nil
	}
	raw, found, err := s.getRawKey(ctx, k)
	if err != nil || !found {
		return nil, false, err
	}
	plain, err := s.ring.Open(raw, []byte(k))
	if err != nil {
		s.unopenable.Add(1)
		return nil, false, nil
	}
	return plain, true, nil
}

func (s *Store) getRawKey(ctx context.Context, key string) ([]byte, bool, error) {
	var raw []byte
	err := s.do(ctx, "GET", func(ctx context.Context) error {
		var err error
		raw, err = s.rdb.Get(ctx, key).Bytes()
		return err
	})
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return raw, true, nil
}

// open unseals raw read from namespace:name; a failure is counted and is a
// miss for the caller.
func (s *Store) open(namespace, name string, raw []byte) ([]byte, bool) {
	plain, err := s.ring.Open(raw, []byte(s.key(namespace, name)))
	if err != nil {
		s.unopenable.Add(1)
		return nil, false
	}
	return plain, true
}

// clampTTL keeps a TTL within what SET PX accepts.
func clampTTL(ttl time.Duration) time.Duration {
	return max(ttl, time.Millisecond)
}
