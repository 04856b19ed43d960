package seal

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of an AES-256 key in bytes.
const KeySize = 32

const (
	version   = 0x01
	idSize    = 4
	nonceSize = 12
	tagSize   = 16
	header    = 1 + idSize
	// Overhead is how many bytes Seal adds to a plaintext.
	Overhead = header + nonceSize + tagSize
)

// ErrOpen is returned by Open for any value that does not open. It never
// says why in more detail: a reader learns nothing from the error, and the
// caller treats it as a miss.
var ErrOpen = errors.New("seal: value does not open")

type key struct {
	id   [idSize]byte
	aead cipher.AEAD
}

// Ring holds the keys. The first key seals; every key opens. A Ring is
// immutable and safe for concurrent use; the zero value has no key and
// seals nothing.
type Ring struct {
	keys []key
}

// NewRing builds a ring from raw 32-byte keys, the sealing key first.
// Errors name the key by its position (1-based), never its bytes.
func NewRing(raw ...[]byte) (*Ring, error) {
	if len(raw) == 0 {
		return nil, errors.New("seal: no key")
	}
	r := &Ring{keys: make([]key, 0, len(raw))}
	for i, k := range raw {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: key %d of %d is %d bytes; want %d", i+1, len(raw), len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d of %d: %w", i+1, len(raw), err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d of %d: %w", i+1, len(raw), err)
		}
		r.keys = append(r.keys, key{id: keyID(k), aead: aead})
	}
	return r, nil
}

// ParseKeys reads one or more comma-separated base64 keys (standard or
// URL alphabet, padded or not) of 32 bytes each, as REDIS_ENCRYPTION_KEY
// holds them, the sealing key first. Blank entries are ignored. Errors name
// the key by position and never contain key material.
func ParseKeys(s string) (*Ring, error) {
	var raw [][]byte
	parts := strings.Split(s, ",")
	n := 0
	for _, p := range parts {
		if strings.TrimSpace(p) != "" {
			n++
		}
	}
	i := 0
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		i++
		k, err := decodeBase64(p)
		if err != nil {
			return nil, fmt.Errorf("seal: key %d of %d is not base64", i, n)
		}
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: key %d of %d is %d bytes; want %d (generate one with: openssl rand -base64 32)", i, n, len(k), KeySize)
		}
		raw = append(raw, k)
	}
	if len(raw) == 0 {
		return nil, errors.New("seal: no key")
	}
	return NewRing(raw...)
}

func decodeBase64(s string) ([]byte, error) {
	var firstErr error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err == nil {
			return b, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

// keyID names a key without revealing it.
func keyID(k []byte) [idSize]byte {
	h := sha256.New()
	h.Write([]byte("idpgate seal key id v1\x00"))
	h.Write(k)
	var id [idSize]byte
	copy(id[:], h.Sum(nil))
	return id
}

// Len reports how many keys the ring holds.
func (r *Ring) Len() int {
	if r == nil {
		return 0
	}
	return len(r.keys)
}

// Seal encrypts plaintext with the first key, binding it to ad (the name
// the value is stored under). Each call draws a fresh random nonce, so
// sealing the same plaintext twice gives different values.
func (r *Ring) Seal(plaintext, ad []byte) ([]byte, error) {
	if r.Len() == 0 {
		return nil, errors.New("seal: no key")
	}
	k := r.keys[0]
	out := make([]byte, header+nonceSize, Overhead+len(plaintext))
	out[0] = version
	copy(out[1:header], k.id[:])
	if _, err := rand.Read(out[header : header+nonceSize]); err != nil {
		return nil, fmt.Errorf("seal: nonce: %w", err)
	}
	return k.aead.Seal(out, out[header:header+nonceSize], plaintext, additional(out[:header], ad)), nil
}

// Open decrypts a value sealed by Seal under the same ad with any key of
// the ring. Anything else gives ErrOpen.
func (r *Ring) Open(sealed, ad []byte) ([]byte, error) {
	if r.Len() == 0 || len(sealed) < Overhead || sealed[0] != version {
		return nil, ErrOpen
	}
	id := sealed[1:header]
	nonce := sealed[header : header+nonceSize]
	aad := additional(sealed[:header], ad)
	for _, k := range r.keys {
		if !bytes.Equal(k.id[:], id) {
			continue
		}
		// Two keys may share an id (1 in 2^32); try each that matches.
		if p, err := k.aead.Open(nil, nonce, sealed[header+nonceSize:], aad); err == nil {
			if p == nil {
				p = []byte{}
			}
			return p, nil
		}
	}
	return nil, ErrOpen
}

// additional binds the header and the storage name: changing the key id or
// moving the value to another name makes Open fail.
func additional(hdr, ad []byte) []byte {
	b := make([]byte, 0, len(hdr)+len(ad))
	b = append(b, hdr...)
	return append(b, ad...)
}
