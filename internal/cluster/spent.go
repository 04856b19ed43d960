package cluster

import (
	"context"
	"encoding/hex"
	"time"
)

const spentNS = "spent"

// MarkSpent remembers, cluster-wide for ttl, that the credential with
// fingerprint fp must never be presented again (a rotated or rejected
// refresh token). fp is the SHA-256 of the credential: credentials are
// high-entropy, so the hash in the key name reveals nothing, and no value
// is stored besides it.
func (s *Store) MarkSpent(ctx context.Context, fp [32]byte, ttl time.Duration) error {
	return s.do(ctx, "SET", func(ctx context.Context) error {
		return s.rdb.Set(ctx, s.key(spentNS, hex.EncodeToString(fp[:])), "1", clampTTL(ttl)).Err()
	})
}

// IsSpent reports whether fp was marked spent and has not expired. On
// error the answer is unknown; the caller consults its local set.
func (s *Store) IsSpent(ctx context.Context, fp [32]byte) (bool, error) {
	if s == nil {
		return false, &Error{Op: "EXISTS", Cause: "not configured"}
	}
	return s.isSpentKey(ctx, s.key(spentNS, hex.EncodeToString(fp[:])))
}

func (s *Store) isSpentKey(ctx context.Context, key string) (bool, error) {
	var n int64
	err := s.do(ctx, "EXISTS", func(ctx context.Context) error {
		var err error
		n, err = s.rdb.Exists(ctx, key).Result()
		return err
	})
	return n == 1, err
}
