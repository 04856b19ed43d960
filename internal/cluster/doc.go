// Package cluster is the state several idpgate replicas share through
// Redis (or Valkey, the same protocol), built on github.com/redis/go-redis/v9.
//
// # Failure model
//
// Redis is never a single point of failure. Every call is bounded by
// Options.Timeout (50ms by default, dial included) and is never retried.
// A call that does not reach a usable Redis — down, slow, answering
// something that is not Redis — returns an error matching ErrUnavailable,
// and the caller carries on with its in-process state. The Store then
// marks Redis unavailable, logs it once, and refuses further calls at once
// (no network) except one probe per Options.ProbeInterval; the first probe
// that succeeds logs the recovery once and sharing resumes. go-redis
// redials by itself. Status is a line for /readyz, which stays ready
// either way. A nil *Store (REDIS_URL unset) behaves as a Redis that is
// always unavailable: every helper runs on its in-process level only.
//
// # Sealing
//
// Every value that may hold a token — provider token pairs, the M2M token,
// profiles — is sealed with internal/seal (AES-256-GCM, random nonce, the
// full Redis key as associated data) before it reaches Redis. A value that
// does not open (garbage, truncated, sealed with a key no longer in the
// ring, copied from another key) is a miss, counted in Stats.Unopenable,
// never an error and never a panic. Spent refresh tokens are kept by
// SHA-256 only. APQ queries and rate-limit counters hold no secret and are
// stored as is.
//
// # Keys (after the prefix, "idpgate:" by default)
//
//	token:<identity key>   sealed token pair            Tokens
//	lease:token:<key>      refresh lease owner          Tokens.Lock
//	spent:<sha256 hex>     "1", spent refresh token     Tokens.MarkSpent
//	slot:<name>            sealed M2M token             TokenSlot
//	lease:slot:<name>      M2M fetch lease owner        TokenSlot
//	<namespace>:<id>       sealed cached value          TwoLevel (profiles)
//	rate:<key>             GCRA arrival time (µs)       Limiter
//	apq:<user>:<sha256>    persisted query text         APQ (user: 16 bytes of its SHA-256, hex)
//
// # Consumers
//
// internal/gateway (cluster.go) builds one Store when REDIS_URL is set and
// plugs each helper into its consumer's seam; without REDIS_URL none is
// built and every consumer keeps its in-process state:
//
//   - Tokens is the shared level of the credentials broker's token store
//     (credentials.SharedStore): Get, CompareAndSwap (the fence: a slow lease
//     holder cannot overwrite a newer pair), Delete (a rejected pair),
//     MarkSpent/IsSpent (refresh tokens never presented twice), Lock/Wait
//     (one refresh per identity in the cluster; the others wait, bounded,
//     and read the result). On ErrUnavailable the broker uses its
//     in-process store and singleflight, as with one replica.
//   - TokenSlot sits behind internal/auth0's M2M token cache: on a local
//     miss, Token fetches under a lease (one fetch per cluster per token
//     lifetime); after a Management API 401, Drop removes the token for
//     every replica.
//   - TwoLevel[V] is the identity loader's shared profile cache
//     (identity.ClusterCache, behind the loader's own cache): an
//     in-process first level (short LocalTTL) and the sealed second level
//     with the loader's own TTL per value; GetMany serves a dataloader
//     batch with one pipelined round trip, none on a first-level hit.
//   - Limiter gives httpmw's per-user rate limit (RateLimitOptions.Decide)
//     an Allow(ctx, key) decision shared by the cluster (GCRA in one Lua
//     round trip on Redis's clock), with a local token bucket while Redis
//     is away.
//   - APQ is a graphql.Cache[string] behind guard's per-user APQ store
//     (guard.Options.APQShared), which names entries per user.
//
// Redis documentation followed: SET with NX and PX
// (https://redis.io/docs/latest/commands/set/), the single-instance lock
// pattern with a random value released by a compare-and-delete script
// (https://redis.io/docs/latest/develop/clients/patterns/distributed-locks/),
// EVALSHA/script caching and TIME inside scripts (allowed before writes
// since Redis 5 replicates script effects; Lua numbers reach Redis through
// %.14g, hence string.format: redis/redis#1118)
// (https://redis.io/docs/latest/develop/interact/programmability/eval-intro/),
// and pipelining (https://redis.io/docs/latest/develop/use/pipelining/).
package cluster
