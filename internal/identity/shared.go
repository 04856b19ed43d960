package identity

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/secret"
)

// SharedCache is a profile cache shared by the replicas of a cluster,
// behind each Loader's own. The Loader asks it on a miss of its own cache,
// before the Management API, and gives it every profile it caches, with
// the lifetime its TTL rules computed. Implementations must be safe for
// concurrent use and must treat a failure as a miss: the Loader then reads
// Auth0 as it would alone.
type SharedCache interface {
	// Get returns userID's profile if one is shared.
	Get(ctx context.Context, userID string) (*Profile, bool)
	// Set shares p for ttl.
	Set(ctx context.Context, userID string, p *Profile, ttl time.Duration)
	// LocalTTL caps how long a replica keeps a profile in its own cache
	// without asking the shared one again: a Reload on one replica reaches
	// the others within it.
	LocalTTL() time.Duration
}

// sharedTimeout bounds the shared cache's work for one profile when the
// caller's context has no deadline (cluster calls are bounded by their
// own timeout already).
const sharedTimeout = time.Second

// fromShared answers a miss of the Loader's own cache from the shared
// cache and keeps the profile locally for at most LocalTTL. A profile
// whose lifetime by this Loader's rules has ended is a miss.
func (l *Loader) fromShared(ctx context.Context, userID string, seq uint64) (*Profile, bool) {
	if l.cfg.Shared == nil {
		return nil, false
	}
	ctx, cancel := context.WithTimeout(ctx, sharedTimeout)
	defer cancel()
	p, ok := l.cfg.Shared.Get(ctx, userID)
	ok = ok && p != nil && p.User != nil
	if o := l.cfg.Observe.SharedCache; o != nil {
		o(ok)
	}
	if !ok {
		return nil, false
	}
	ttl := l.ttl(p)
	if ttl < l.cfg.MinTTL || !l.cfg.Now().Before(p.FetchedAt.Add(ttl)) {
		return nil, false
	}
	if !l.storeLocal(userID, p, ttl, seq) {
		return nil, false
	}
	return p, true
}

// toShared gives a profile just cached to the shared cache for the rest
// of its lifetime.
func (l *Loader) toShared(userID string, p *Profile, ttl time.Duration) {
	if l.cfg.Shared == nil {
		return
	}
	left := p.FetchedAt.Add(ttl).Sub(l.cfg.Now())
	if left <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), sharedTimeout)
	defer cancel()
	l.cfg.Shared.Set(ctx, userID, p, left)
}

// localExpiry is when the Loader's own cache stops serving p: at the end
// of its lifetime, and, with a shared cache, after LocalTTL at most.
func (l *Loader) localExpiry(p *Profile, ttl time.Duration) time.Time {
	exp := p.FetchedAt.Add(ttl)
	if l.cfg.Shared != nil {
		if local := l.cfg.Now().Add(l.cfg.Shared.LocalTTL()); local.Before(exp) {
			exp = local
		}
	}
	return exp
}

// ClusterCache is the SharedCache of a cluster: profiles sealed whole in
// Redis (they hold the user's provider tokens) through
// cluster.TwoLevel, with a short in-process first level. A first-level hit
// costs no round trip; a miss costs one pipelined round trip. When Redis
// cannot be asked every call is a miss or a no-op, and the Loader reads
// Auth0 as a single replica would.
type ClusterCache struct {
	c     *cluster.TwoLevel[*Profile]
	local time.Duration
}

var _ SharedCache = (*ClusterCache)(nil)

// ClusterCacheOptions configure NewClusterCache.
type ClusterCacheOptions struct {
	// LocalTTL caps the in-process life of a shared profile (default 5s).
	LocalTTL time.Duration
	// LocalSize bounds the profiles kept in the first level (default
	// 10,000).
	LocalSize int
	// Now is the clock of the first level (default time.Now).
	Now func() time.Time
}

// NewClusterCache returns the shared profile cache on s (nil: first level
// only).
func NewClusterCache(s *cluster.Store, o ClusterCacheOptions) (*ClusterCache, error) {
	if o.LocalTTL <= 0 {
		o.LocalTTL = 5 * time.Second
	}
	c, err := cluster.NewTwoLevel(s, cluster.TwoLevelOptions[*Profile]{
		Namespace: "profile",
		LocalTTL:  o.LocalTTL,
		LocalSize: o.LocalSize,
		Encode:    encodeProfile,
		Decode:    decodeProfile,
		Now:       o.Now,
	})
	if err != nil {
		return nil, err
	}
	return &ClusterCache{c: c, local: o.LocalTTL}, nil
}

// Get implements SharedCache.
func (c *ClusterCache) Get(ctx context.Context, userID string) (*Profile, bool) {
	return c.c.Get(ctx, userID)
}

// Set implements SharedCache.
func (c *ClusterCache) Set(ctx context.Context, userID string, p *Profile, ttl time.Duration) {
	c.c.Set(ctx, userID, p, ttl)
}

// Delete implements SharedCache.

// LocalTTL implements SharedCache.
func (c *ClusterCache) LocalTTL() time.Duration { return c.local }

// wireProfile is the plaintext sealed in Redis. The tokens are plain
// strings here only: secret.String marshals as "[REDACTED]".
type wireProfile struct {
	UserID     string         `json:"u"`
	Name       string         `json:"n,omitempty"`
	Nickname   string         `json:"k,omitempty"`
	Email      string         `json:"m,omitempty"`
	Picture    string         `json:"p,omitempty"`
	Identities []wireIdentity `json:"i"`
	FetchedAt  int64          `json:"f"` // Unix ms
	FromSearch bool           `json:"s,omitempty"`
}

type wireIdentity struct {
	Provider     string `json:"p"`
	Connection   string `json:"c"`
	UserID       string `json:"u"`
	IsSocial     bool   `json:"s,omitempty"`
	AccessToken  string `json:"a,omitempty"`
	RefreshToken string `json:"r,omitempty"`
	ExpiresIn    int    `json:"e,omitempty"`
}

func encodeProfile(p *Profile) ([]byte, error) {
	if p == nil || p.User == nil {
		return nil, errors.New("identity: no profile to share")
	}
	u := p.User
	w := wireProfile{
		UserID: u.UserID, Name: u.Name, Nickname: u.Nickname, Email: u.Email, Picture: u.Picture,
		Identities: make([]wireIdentity, len(u.Identities)),
		FetchedAt:  p.FetchedAt.UnixMilli(),
		FromSearch: p.FromSearch,
	}
	for i, id := range u.Identities {
		w.Identities[i] = wireIdentity{
			Provider: id.Provider, Connection: id.Connection, UserID: string(id.UserID), IsSocial: id.IsSocial,
			AccessToken: id.AccessToken.Reveal(), RefreshToken: id.RefreshToken.Reveal(), ExpiresIn: id.ExpiresIn,
		}
	}
	return json.Marshal(w)
}

func decodeProfile(b []byte) (*Profile, error) {
	var w wireProfile
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, errors.New("identity: shared profile does not decode")
	}
	if w.UserID == "" || w.FetchedAt <= 0 {
		return nil, errors.New("identity: shared profile is incomplete")
	}
	u := &auth0.User{
		UserID: w.UserID, Name: w.Name, Nickname: w.Nickname, Email: w.Email, Picture: w.Picture,
		Identities: make([]auth0.Identity, len(w.Identities)),
	}
	for i, id := range w.Identities {
		u.Identities[i] = auth0.Identity{
			Provider: id.Provider, Connection: id.Connection, UserID: auth0.FlexString(id.UserID), IsSocial: id.IsSocial,
			AccessToken: secret.New(id.AccessToken), RefreshToken: secret.New(id.RefreshToken), ExpiresIn: id.ExpiresIn,
		}
	}
	return &Profile{User: u, FetchedAt: time.UnixMilli(w.FetchedAt), FromSearch: w.FromSearch}, nil
}
