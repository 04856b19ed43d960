// Package httpx holds the small pieces of HTTP plumbing every outbound
// client of the gateway shares, written once: reading Retry-After, the
// retry backoff (one policy with full jitter), turning a transport error
// into one that names no URL, and the product User-Agent sent to every
// upstream. It has no state and no dependency inside the module.
package httpx
