// Package fakegithub emulates the part of the GitHub REST API the gateway
// calls: GET /user/repos with GitHub's pagination (Link header), rate-limit
// headers (X-RateLimit-*), error bodies ({"message", "documentation_url",
// "status"}) and Authorization checks. Knobs let tests inject latency,
// failures, primary and secondary rate limits, revoked tokens and hung
// requests, and counters prove how many calls were made and how many ran at
// once.
//
// Only tests and the dev sandbox import it.
package fakegithub
