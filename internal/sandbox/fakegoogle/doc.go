// Package fakegoogle emulates the parts of Google the gateway calls: the
// Calendar API's events.list on the primary calendar (time-window filtering,
// singleEvents/orderBy=startTime ordering, maxResults, opaque page tokens,
// all-day events, Google's JSON error bodies) and the OAuth 2.0 token
// endpoint's refresh_token grant. Knobs let tests inject latency, failures,
// rate limits, missing scopes, expired and revoked tokens and hung
// requests; counters prove how many calls and refreshes were made.
//
// Only tests and the dev sandbox import it.
package fakegoogle
