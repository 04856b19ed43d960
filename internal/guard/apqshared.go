package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
)

// The cluster's APQ store (Options.APQShared) keeps harden's rules: a
// query reaches it only through add (after it passed the limits and
// validated), no longer than maxLen, and under a name that holds the
// user, so a user finds only the hashes that user registered. The shared
// store bounds itself (a TTL per query, its own size cap); each replica
// keeps its per-user LRU in front.

// sharedName is the shared store's name of a user's hash: 32 hex digits
// of the user id's SHA-256 (the id itself stays out of Redis), then the
// query's hash.
func sharedName(user, hash string) string {
	sum := sha256.Sum256([]byte(user))
	return hex.EncodeToString(sum[:16]) + ":" + hash
}

// getShared looks hash up in the shared store and keeps a hit in this
// replica's LRU.
func (s *apqStore) getShared(ctx context.Context, hash string) (string, bool) {
	if s.shared == nil {
		return "", false
	}
	q, ok := s.shared.Get(ctx, sharedName(s.user(ctx), hash))
	if !ok || len(q) > s.maxLen {
		return "", false
	}
	s.addLocal(ctx, hash, q)
	return q, true
}

func (s *apqStore) addShared(ctx context.Context, hash, query string) {
	if s.shared == nil {
		return
	}
	s.shared.Add(ctx, sharedName(s.user(ctx), hash), query)
}
