// Package fakeknobs holds the test knobs the provider emulators under
// internal/sandbox share: a queue of injected faults that requests take
// one at a time, call counters per endpoint, requests in flight (now and
// at most), latency that gives way to the client and to Close, and hung
// requests that Close releases. It also holds what the fakes otherwise
// wrote alike: TokenStates (tokens a test revoked, expired or stripped of
// a scope), BaseURL (the absolute URL a request reached the fake under,
// for next links) and Now (an injected clock with time.Now as default).
//
// It knows nothing of any provider's API. A fake keeps its own public
// methods (FailNext, RateLimitNext, Hang, …) as thin wrappers, takes a
// Fault per request and answers it in its API's shape; faults only one
// API has use kinds from Custom up.
//
// Only the emulators import it.
package fakeknobs
