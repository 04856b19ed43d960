package guard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// apqStore holds automatic persisted queries partitioned by user: one
// user's registrations evict only that user's entries, and a user sees only
// the hashes they registered. At most users × perUser queries of at most
// maxLen bytes are kept. It is safe for concurrent use.
type apqStore struct {
	mu      sync.Mutex
	users   *lru.LRU[*lru.LRU[string]]
	perUser int
	maxLen  int
	userKey func(context.Context) (string, bool)
	observe func(hit bool)        // nil: none
	shared  graphql.Cache[string] // nil: this replica only (see apqshared.go)
}

func newAPQStore(total, perUser, maxLen int, userKey func(context.Context) (string, bool)) *apqStore {
	perUser = min(perUser, total)
	return &apqStore{
		users:   lru.New[*lru.LRU[string]](max(1, total/perUser)),
		perUser: perUser,
		maxLen:  maxLen,
		userKey: userKey,
	}
}

func (s *apqStore) user(ctx context.Context) string {
	if s.userKey == nil {
		return ""
	}
	u, _ := s.userKey(ctx)
	return u
}

func (s *apqStore) get(ctx context.Context, hash string) (string, bool) {
	if q, ok := s.getLocal(ctx, hash); ok {
		return q, true
	}
	return s.getShared(ctx, hash)
}

func (s *apqStore) getLocal(ctx context.Context, hash string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users.Get(ctx, s.user(ctx))
	if !ok {
		return "", false
	}
	return m.Get(ctx, hash)
}

// add stores query under hash for the caller. Call it only once the query
// has passed the limits and validated.
func (s *apqStore) add(ctx context.Context, hash, query string) {
	if len(query) > s.maxLen {
		return
	}
	s.addLocal(ctx, hash, query)
	s.addShared(ctx, hash, query)
}

func (s *apqStore) addLocal(ctx context.Context, hash, query string) {
	u := s.user(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.users.Get(ctx, u)
	if !ok {
		m = lru.New[string](s.perUser)
		s.users.Add(ctx, u, m)
	}
	m.Add(ctx, hash, query)
}

// resolve reads extensions.persistedQuery: a hash alone is replaced by the
// stored query; a hash with a query must match it, and the returned hash
// asks the caller to register the query once it validated ("" otherwise).
// The messages and codes are gqlgen's extension.AutomaticPersistedQuery's.
func (s *apqStore) resolve(ctx context.Context, query *string, ext map[string]any) (register string, gerr *gqlerror.Error) {
	raw, ok := ext["persistedQuery"]
	if !ok || raw == nil {
		return "", nil
	}
	pq, ok := raw.(map[string]any)
	if !ok {
		return "", gqlerror.Errorf("invalid APQ extension data")
	}
	if v, ok := toInt(pq["version"]); !ok || v != 1 {
		return "", gqlerror.Errorf("unsupported APQ version")
	}
	hash, ok := pq["sha256Hash"].(string)
	if !ok {
		return "", gqlerror.Errorf("invalid APQ extension data")
	}
	if *query == "" {
		q, ok := s.get(ctx, hash)
		if s.observe != nil {
			s.observe(ok)
		}
		if !ok {
			err := gqlerror.Errorf("PersistedQueryNotFound")
			errcode.Set(err, gqlresp.CodePersistedQueryNotFound)
			return "", err
		}
		*query = q
		return "", nil
	}
	sum := sha256.Sum256([]byte(*query))
	if hex.EncodeToString(sum[:]) != hash {
		return "", gqlerror.Errorf("provided APQ hash does not match query")
	}
	return hash, nil
}
