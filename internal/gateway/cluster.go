package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idpgate/idpgate/internal/cluster"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/credentials"
	"github.com/idpgate/idpgate/internal/identity"
	"github.com/idpgate/idpgate/internal/seal"
)

// shared is the state the replicas share when REDIS_URL is set: each
// field plugs into its package's seam. Without REDIS_URL every field is
// nil and each package keeps its in-process state, exactly as one replica.
type shared struct {
	store    *cluster.Store        // nil: no Redis
	tokens   credentials.Store     // the broker's store; nil: in memory
	slot     *cluster.TokenSlot    // the M2M token
	profiles identity.SharedCache  // second level of the profile cache
	limiter  *cluster.Limiter      // the per-user limit
	apq      graphql.Cache[string] // persisted queries
}

var silenceDriver sync.Once

// newShared connects the shared state of cfg.Redis. It does not contact
// Redis: a replica starts while Redis is down and shares once it is up.
func newShared(cfg config.Config, logger *slog.Logger, opts Options) (*shared, error) {
	if !cfg.Redis.Enabled() {
		return &shared{}, nil
	}
	silenceDriver.Do(cluster.SilenceDriverLog)
	ring, err := seal.ParseKeys(cfg.Redis.EncryptionKeys.Reveal())
	if err != nil {
		return nil, fmt.Errorf("REDIS_ENCRYPTION_KEY: %s", strings.TrimPrefix(err.Error(), "seal: "))
	}
	onState, onFailure := opts.Telemetry.RedisHooks()
	store, err := cluster.New(cluster.Options{
		OnState:   onState,
		OnFailure: onFailure,
		URL:       cfg.Redis.URL.Reveal(),
		Prefix:    cfg.Redis.KeyPrefix,
		// Another tenant or API sharing this Redis and prefix finds
		// nothing of ours: its keys differ.
		Tenant:  cfg.Auth0Issuer + "\x00" + cfg.Auth0Audience,
		Ring:    ring,
		Timeout: cfg.Redis.Timeout,
		Logger:  logger,
		// A recovery is noticed without traffic, and the pairs refreshed
		// meanwhile are shared at once (credentials.SharedStore).
		ProbeAlone: true,
	})
	if err != nil {
		return nil, fmt.Errorf("REDIS_URL: %s", strings.TrimPrefix(err.Error(), "cluster: "))
	}
	s := &shared{store: store}
	s.tokens = credentials.NewSharedStore(cluster.NewTokens(store, cluster.TokensOptions{}), nil, 0)
	s.slot = cluster.NewTokenSlot(store, cfg.Auth0ClientID, cluster.SlotOptions{})
	if s.profiles, err = identity.NewClusterCache(store, identity.ClusterCacheOptions{Now: opts.Now}); err != nil {
		return nil, err
	}
	if s.limiter, err = cluster.NewLimiter(store, cluster.LimiterOptions{RPS: cfg.UserRPS, Burst: cfg.UserBurst}); err != nil {
		return nil, fmt.Errorf("USER_RPS: %w", err)
	}
	if s.apq, err = cluster.NewAPQ(store, cluster.APQOptions{}); err != nil {
		return nil, err
	}
	logger.Info("shared state: redis", "key_prefix", cfg.Redis.KeyPrefix, "timeout", cfg.Redis.Timeout, "sealing_keys", ring.Len())
	return s, nil
}

// status is /readyz's line on the shared state; nil without Redis (the
// answer stays as it always was).
func (s *shared) status() func() string {
	if s.store == nil {
		return nil
	}
	return s.store.Status
}

// decide is the per-user limit's shared decision; nil without Redis (the
// limiter's own buckets, as always).
func (s *shared) decide() func(ctx context.Context, key string) (bool, time.Duration) {
	if s.limiter == nil {
		return nil
	}
	return func(ctx context.Context, key string) (bool, time.Duration) {
		d := s.limiter.Allow(ctx, key)
		return d.Allowed, d.RetryAfter
	}
}

// SharedStats returns the counters of the shared store: round trips to
// Redis, failures, calls refused while it was away, values that did not
// open. Zero without REDIS_URL.
func (g *Gateway) SharedStats() cluster.Stats { return g.shared.store.Stats() }
