package authn

import (
	"crypto/rsa"
	"crypto/sha256"
	"sync"

	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	jwtmiddleware "github.com/auth0/go-jwt-middleware/v2"
	"github.com/auth0/go-jwt-middleware/v2/validator"
	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"
)

const (
	// maxTokenBytes bounds the token before anything parses it. Auth0 access
	// tokens are 1–3 KiB even with many scopes.
	maxTokenBytes = 16 << 10
	// maxHeaderBytes bounds the encoded JOSE header peeked for alg and kid.
	maxHeaderBytes = 1 << 10
)

// Rejection reasons: logged as a category and mapped to the response. They
// say why, never what the token held.
const (
	reasonMissing        = "missing_token"
	reasonBadHeader      = "malformed_authorization_header"
	reasonMalformed      = "malformed_token"
	reasonAlgorithm      = "algorithm_not_allowed"
	reasonNoKeyID        = "missing_kid"
	reasonUnknownKeyID   = "unknown_kid"
	reasonKeysUnavail    = "jwks_unavailable"
	reasonSignature      = "bad_signature"
	reasonIssuer         = "wrong_issuer"
	reasonAudience       = "wrong_audience"
	reasonExpired        = "expired"
	reasonMissingExpiry  = "missing_exp"
	reasonNotYetValid    = "not_yet_valid"
	reasonIssuedInFuture = "issued_in_future"
	reasonNoSubject      = "missing_sub"
	reasonInvalid        = "invalid_token"
)

// rejection is the error every check returns. Its text is the reason only,
// so wrapping it (as jwtmiddleware does) cannot leak token content.
type rejection struct{ reason string }

func (r *rejection) Error() string { return "authn: token rejected: " + r.reason }

func reject(reason string) error { return &rejection{reason: reason} }

// extractBearer wraps jwtmiddleware.AuthHeaderTokenExtractor (scheme
// case-insensitive, one or more spaces before the token, as RFC 7235
// allows) and refuses several Authorization headers, which would be
// ambiguous.
func extractBearer(r *http.Request) (string, error) {
	if len(r.Header.Values("Authorization")) > 1 {
		return "", reject(reasonBadHeader)
	}
	tok, err := jwtmiddleware.AuthHeaderTokenExtractor(r)
	if err != nil {
		return "", reject(reasonBadHeader)
	}
	return tok, nil
}

// joseHeader is the part of the unverified header read before validation.
type joseHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// peekHeader reads alg and kid from a compact JWS without verifying it. It
// accepts only three base64url segments, so neither the JSON serialization
// nor a JWE reaches go-jose.
func peekHeader(tok string) (joseHeader, error) {
	if len(tok) > maxTokenBytes || strings.Count(tok, ".") != 2 {
		return joseHeader{}, reject(reasonMalformed)
	}
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.') {
			return joseHeader{}, reject(reasonMalformed)
		}
	}
	enc, _, _ := strings.Cut(tok, ".")
	if enc == "" || len(enc) > maxHeaderBytes {
		return joseHeader{}, reject(reasonMalformed)
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return joseHeader{}, reject(reasonMalformed)
	}
	var h joseHeader
	if err := json.Unmarshal(raw, &h); err != nil {
		return joseHeader{}, reject(reasonMalformed)
	}
	return h, nil
}

// verificationKey returns the JWKS key kid names, or the rejection of a
// kid the JWKS does not publish, or of a JWKS that cannot be had.
func (a *Authenticator) verificationKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	key, err := a.keys.key(ctx, kid)
	switch {
	case errors.Is(err, errUnknownKeyID):
		return nil, reject(reasonUnknownKeyID)
	case err != nil:
		return nil, reject(reasonKeysUnavail)
	}
	return key, nil
}

// validateToken is the jwtmiddleware.ValidateToken: pin the algorithm,
// select the key by kid (refetching the JWKS for an unknown kid), let the
// validator check signature, iss, aud and times, then check the times
// against the injected clock and require sub.
func (a *Authenticator) validateToken(ctx context.Context, tok string) (any, error) {
	// A token verified before (the same bytes, so it passed every check of
	// its header below), whose key is still published with the same
	// material: only its times can have changed.
	var sum [32]byte
	if len(tok) <= maxTokenBytes {
		sum = sha256Of(tok)
		if v, ok := a.verified.Get(sum); ok {
			key, err := a.verificationKey(ctx, v.kid)
			switch {
			case err != nil:
				return nil, err
			case key == v.key || key.Equal(v.key): // the same cached JWKS entry, or the same material refetched
				if err := a.checkTimes(v.claims.RegisteredClaims); err != nil {
					a.verified.Remove(sum)
					return nil, err
				}
				return v.claims, nil
			}
			// The kid now names other key material: verify afresh.
			a.verified.Remove(sum)
		}
	}

	h, err := peekHeader(tok)
	if err != nil {
		return nil, err
	}
	// Compared before any key is looked up: "none", HS256 with the public
	// key as HMAC secret, and PS/ES/RS384… never reach the cache or go-jose.
	if h.Alg != string(validator.RS256) {
		return nil, reject(reasonAlgorithm)
	}
	if h.Kid == "" {
		return nil, reject(reasonNoKeyID)
	}
	key, err := a.verificationKey(ctx, h.Kid)
	if err != nil {
		return nil, err
	}

	out, err := a.val.ValidateToken(context.WithValue(ctx, keyContextKey{}, key), tok)
	if err != nil {
		return nil, reject(validatorReason(err))
	}
	claims, ok := out.(*validator.ValidatedClaims)
	if !ok || claims == nil {
		return nil, reject(reasonInvalid)
	}
	if err := a.checkTimes(claims.RegisteredClaims); err != nil {
		return nil, err
	}
	if strings.TrimSpace(claims.RegisteredClaims.Subject) == "" {
		return nil, reject(reasonNoSubject)
	}
	a.verified.Add(sum, verifiedToken{claims: claims, kid: h.Kid, key: key})
	return claims, nil
}

// checkTimes applies exp, nbf and iat against a.now with a.leeway, with the
// same comparisons as the validator (which uses the wall clock). exp is
// required: a token that never expires is not accepted.
func (a *Authenticator) checkTimes(c validator.RegisteredClaims) error {
	now := a.now()
	if c.Expiry == 0 {
		return reject(reasonMissingExpiry)
	}
	if now.Add(-a.leeway).After(time.Unix(c.Expiry, 0)) {
		return reject(reasonExpired)
	}
	if c.NotBefore != 0 && now.Add(a.leeway).Before(time.Unix(c.NotBefore, 0)) {
		return reject(reasonNotYetValid)
	}
	if c.IssuedAt != 0 && now.Add(a.leeway).Before(time.Unix(c.IssuedAt, 0)) {
		return reject(reasonIssuedInFuture)
	}
	return nil
}

// validatorReason maps the validator's error to a reason category; its
// text, which may quote claims, is dropped.
func validatorReason(err error) string {
	switch {
	case errors.Is(err, jose.ErrCryptoFailure):
		return reasonSignature
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return reasonIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return reasonAudience
	case errors.Is(err, jwt.ErrExpired):
		return reasonExpired
	case errors.Is(err, jwt.ErrNotValidYet):
		return reasonNotYetValid
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return reasonIssuedInFuture
	default:
		return reasonInvalid
	}
}

// sha256Of hashes tok through a reused buffer: the bytes of a token (about
// a kilobyte) would otherwise be copied into a fresh allocation on every
// request.
func sha256Of(tok string) [32]byte {
	bp := tokenBufs.Get().(*[]byte)
	b := append((*bp)[:0], tok...)
	sum := sha256.Sum256(b)
	clear(b)                       // no token stays behind in the pool
	if cap(b) <= 2*maxTokenBytes { // append may round a full-size token's buffer up
		*bp = b[:0]
		tokenBufs.Put(bp)
	}
	return sum
}

var tokenBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}
