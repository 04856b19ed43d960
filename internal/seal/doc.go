// Package seal encrypts values before they leave the process for a shared
// store (Redis), so that a dump of the store holds no token in clear.
//
// A Ring is a list of AES-256-GCM keys: the first seals, every one opens,
// so keys rotate without downtime (add the new key first, keep the old one
// second until every value sealed with it has expired, then drop it). A
// sealed value is
//
//	version (1 byte, 0x01) | key id (4 bytes) | nonce (12 random bytes) | ciphertext | tag (16 bytes)
//
// The key id is derived from the key (SHA-256 of a label and the key, first
// four bytes), so Open picks the key without trying every one and reveals
// nothing about the key. The caller passes the name the value is stored
// under (the Redis key) as associated data: a value copied to another key
// does not open. Any value that does not open — garbage, truncated, sealed
// with a key not in the ring, or stored under another name — is an error
// (ErrOpen) that callers treat as a cache miss; Open never panics.
//
// The format follows NIST SP 800-38D as implemented by crypto/cipher's
// GCM: a 96-bit random nonce per value. With random nonces one key should
// seal fewer than 2^32 values; a gateway writes a handful of values per
// token refresh, far below that within a key's lifetime, but rotate keys
// regularly all the same.
package seal
