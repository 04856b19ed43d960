// Package credentials is the broker between the resolvers and the provider
// tokens: given a user and one of the user's identities it answers which
// access token to send, and, when the provider rejects that token, which
// one to try next — or that the user must sign in with the provider again.
//
// The shape follows golang.org/x/oauth2's TokenSource, plus the one verb a
// TokenSource lacks: a Source's Token returns the token to use and Reject
// says "the provider refused this one". Broker.Do runs the loop for a call.
//
// The sequence a Source owns, each step at most once per call:
//
//  1. The kept token: what this gateway obtained by refreshing earlier
//     (Auth0 still holds the stale one). A kept token within Margin of its
//     expiry is not sent; it goes straight to step 3.
//  2. After a rejection, when the profile came from Auth0's eventually
//     consistent user search, re-read the profile by id: Auth0 may already
//     hold a newer token (the user signed in again). A different token is
//     tried before anything is refreshed.
//  3. Refresh through the identity's providers.Refresher, once per identity
//     at a time (singleflight in the process, Store.Lease across replicas),
//     detached from the caller's context so a caller that hangs up neither
//     cancels the exchange nor loses a rotated refresh token. The kept
//     (possibly rotated) refresh token wins over Auth0's copy; a refresh
//     token the provider answered invalid_grant to, or that rotation
//     replaced, is remembered by its SHA-256 and never sent again.
//  4. Before answering ReauthRequired, one last re-read by id (when step 2
//     did not already run) in case the user has signed in again since the
//     profile was cached.
//
// # Token Vault
//
// A connection may keep its provider tokens in Auth0's Token Vault instead
// of identities[] (Config.Vault: per connection SourceIdentities,
// SourceVault or SourceAuto, which uses Token Vault only for identities
// without an access token). For those, Do takes the token exchanged for
// the caller's bearer token (Request.Subject) through the Vault's
// Exchanger, kept under VaultKey(user, connection) until Margin before it
// expires, one exchange per key at a time (the same singleflight and
// Store.Lease as refresh). When the provider refuses it, Do exchanges once
// more and calls again; a vault token is never refreshed at the provider
// (Token Vault does that), and identities[] of a vault connection is never
// read. A refused fresh token, like Auth0's 401 for a user without a
// connected account, is ReauthRequired with ConnectAccount set.
//
// # Store
//
// The broker keeps its state behind Store, so that several replicas can
// share it. NewMemoryStore is the in-process implementation (bounded LRU).
// A shared implementation (Redis) must provide:
//
//   - Get / CompareAndSwap / CompareAndDelete of a Pair per key: a replica
//     writes its refresh result only if the pair it read is still there; a
//     lost race is not an error (the broker re-reads and uses the winner's
//     pair). Equality is on both tokens (compare sealed blobs or a hash).
//   - MarkSpent / IsSpent of refresh-token fingerprints (SHA-256, never the
//     token), kept at least as long as refresh tokens live (days).
//   - Lease: one refresh per key across replicas. It returns a release
//     function; a lease must expire by itself (TTL) if its holder dies. The
//     broker re-reads the pair after acquiring it, because another replica
//     may have refreshed while it waited.
//
// Keys are built by Key(user, connection, identity id); stored values hold
// tokens, so a shared store must seal them (the Redis work encrypts with
// REDIS_ENCRYPTION_KEY).
//
// A Broker is safe for concurrent use.
package credentials
