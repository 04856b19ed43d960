// Package identity loads Auth0 user profiles (with the identity providers'
// tokens in identities[]) for the gateway's resolvers.
//
// One [Loader] is shared by every request. A request has a single `me`, so a
// per-request dataloader would batch nothing; a shared one lets concurrent
// requests of different users share one Management API call. Because of that
// sharing:
//
//   - the batch runs on a context detached from whichever caller happened to
//     open the batch window (context.WithoutCancel plus its own timeout), so
//     one client hanging up fails nobody else, while that client's own Load
//     still returns as soon as its context is done;
//   - the dataloader's own cache is disabled (it is an unbounded map that
//     keeps errors forever); results live in a bounded LRU in front of it
//     whose entries expire with the IdP tokens they carry, and errors are
//     never cached.
//
// A batch of one key reads the profile by id (GET /api/v2/users/{id}). A
// larger batch uses user search, which is eventually consistent: every id the
// search does not return is read by id, and profiles that came from search are
// marked [Profile.FromSearch] so a resolver whose provider rejects such a
// token can [Loader.Reload] it by id once.
//
// Every user shares the tenant's Management API budget, so neither kind of
// read may let one user spend it. [Loader.Reload] is budgeted per user: at
// most one call per Config.ReloadInterval, and none while the profile still
// carries the tokens the last re-read saw (they need re-consent; remembered
// for Config.ReconsentTTL). A [Scheduler] in front of the Management API
// client hands out the calls: cold loads first, with every id queued for
// search merged into calls of up to 50 users when the next call is due, then
// re-reads, users taking turns within each class.
package identity
