package authn

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"sync"
	"time"
)

const (
	// maxJWKSBytes bounds the JWKS body; Auth0's is about 3 KiB.
	maxJWKSBytes = 1 << 20
	// fetchTimeout bounds one JWKS fetch, which runs detached from the
	// request that triggered it.
	fetchTimeout = 10 * time.Second
	minRSABits   = 2048
	maxRSABits   = 8192
)

var (
	errUnknownKeyID    = errors.New("authn: no signing key with this kid")
	errKeysUnavailable = errors.New("authn: signing keys unavailable")
)

// keySet caches the tenant's RS256 signing keys by kid. A set is fresh for
// ttl, then fetched again on use; if that fetch fails the old set is used
// for up to another ttl. Fetches outside that schedule (unknown kid, retry
// after a failure) happen at most once per minInterval, and one fetch at a
// time serves every waiting caller. Safe for concurrent use.
type keySet struct {
	url         string
	client      *http.Client
	now         func() time.Time
	ttl         time.Duration
	minInterval time.Duration
	log         *slog.Logger
	onFetch     func(error) // nil: none

	mu          sync.Mutex
	keys        map[string]*rsa.PublicKey // nil until the first successful fetch
	fetchedAt   time.Time
	lastAttempt time.Time // zero: never fetched
	lastErr     error
	inflight    *fetchCall
}

// fetchCall is one JWKS fetch; done is closed when it has finished and the
// set has been updated.
type fetchCall struct {
	done chan struct{}
}

// key returns the key for kid. It fetches when the cache is empty, expired,
// or lacks kid, subject to the single-flight and rate limit. The error is
// errUnknownKeyID when a usable set lacks kid, else errKeysUnavailable (or
// the context's error).
func (s *keySet) key(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	s.mu.Lock()
	if k := s.keys[kid]; k != nil && s.fresh(s.now()) {
		s.mu.Unlock()
		return k, nil
	}
	call := s.startLocked(ctx)
	s.mu.Unlock()

	if call != nil {
		select {
		case <-call.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("authn: wait for jwks: %w", ctx.Err())
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.usable(s.now()) {
		return nil, errKeysUnavailable
	}
	if k := s.keys[kid]; k != nil {
		return k, nil
	}
	return nil, errUnknownKeyID
}

// ready fetches if the cached set is not fresh and reports whether a usable
// set is available.
func (s *keySet) ready(ctx context.Context) error {
	s.mu.Lock()
	if s.fresh(s.now()) {
		s.mu.Unlock()
		return nil
	}
	call := s.startLocked(ctx)
	s.mu.Unlock()
	if call != nil {
		select {
		case <-call.done:
		case <-ctx.Done():
			return fmt.Errorf("authn: wait for jwks: %w", ctx.Err())
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.usable(s.now()) {
		return nil
	}
	if s.lastErr != nil {
		return s.lastErr
	}
	return errKeysUnavailable
}

func (s *keySet) fresh(now time.Time) bool {
	return s.keys != nil && now.Before(s.fetchedAt.Add(s.ttl))
}

// usable includes the grace period after ttl during which a failed refresh
// leaves the old set in use.
func (s *keySet) usable(now time.Time) bool {
	return s.keys != nil && now.Before(s.fetchedAt.Add(2*s.ttl))
}

// startLocked returns the fetch in flight, or starts one unless the last
// attempt was less than minInterval ago, in which case it returns nil. The
// scheduled refresh of an expired set is not rate-limited beyond that: it
// is the first attempt since the set was fetched at least ttl ago (unless
// ttl < minInterval). s.mu must be held.
func (s *keySet) startLocked(ctx context.Context) *fetchCall {
	if s.inflight != nil {
		return s.inflight
	}
	now := s.now()
	if !s.lastAttempt.IsZero() && now.Sub(s.lastAttempt) < s.minInterval {
		return nil
	}
	c := &fetchCall{done: make(chan struct{})}
	s.inflight = c
	s.lastAttempt = now
	// Detached: one caller hanging up must not fail the others waiting on
	// this fetch.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
	go func() {
		defer cancel()
		keys, err := s.fetch(fctx)
		if s.onFetch != nil {
			s.onFetch(err)
		}
		s.mu.Lock()
		if err != nil {
			s.lastErr = err
			s.log.LogAttrs(fctx, slog.LevelWarn, "authn: jwks fetch failed", slog.String("error", err.Error()))
		} else {
			s.keys, s.fetchedAt, s.lastErr = keys, s.now(), nil
		}
		s.inflight = nil
		s.mu.Unlock()
		close(c.done)
	}()
	return c
}

// fetch reads and parses the JWKS. Errors name the status or the parse
// problem, never the body.
func (s *keySet) fetch(ctx context.Context) (map[string]*rsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("authn: build jwks request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("authn: fetch jwks: %w", err)
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxJWKSBytes))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("authn: fetch jwks: unexpected status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("authn: read jwks: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("authn: jwks body exceeds %d bytes", maxJWKSBytes)
	}
	return parseJWKS(body)
}

// jwk is the subset of RFC 7517 fields an RS256 verification key needs.
type jwk struct {
	Kty string `json:"kty"`
	Use string `json:"use"`
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	N   string `json:"n"`
	E   string `json:"e"`
}

// parseJWKS keeps the RSA signature keys usable with RS256 and skips
// anything else (other key types, encryption keys, keys without kid, weak
// or absurd moduli), so one odd entry does not discard the set. A kid that
// appears twice is dropped: which key it means would be ambiguous.
func parseJWKS(body []byte) (map[string]*rsa.PublicKey, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, errors.New("authn: jwks is not a JSON key set")
	}
	keys := make(map[string]*rsa.PublicKey, len(doc.Keys))
	dup := map[string]bool{}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil || k.Kty != "RSA" || k.Kid == "" ||
			(k.Use != "" && k.Use != "sig") || (k.Alg != "" && k.Alg != "RS256") {
			continue
		}
		pub, ok := rsaKey(k.N, k.E)
		if !ok {
			continue
		}
		if _, seen := keys[k.Kid]; seen || dup[k.Kid] {
			delete(keys, k.Kid)
			dup[k.Kid] = true
			continue
		}
		keys[k.Kid] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("authn: jwks holds no usable RS256 signing key")
	}
	return keys, nil
}

func rsaKey(n, e string) (*rsa.PublicKey, bool) {
	nb, err := base64.RawURLEncoding.DecodeString(n)
	if err != nil {
		return nil, false
	}
	eb, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, false
	}
	mod := new(big.Int).SetBytes(nb)
	if bits := mod.BitLen(); bits < minRSABits || bits > maxRSABits {
		return nil, false
	}
	exp := int(new(big.Int).SetBytes(eb).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, false
	}
	return &rsa.PublicKey{N: mod, E: exp}, true
}
