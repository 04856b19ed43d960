package seal

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func newKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustRing(t testing.TB, keys ...[]byte) *Ring {
	t.Helper()
	r, err := NewRing(keys...)
	if err != nil {
		t.Fatalf("NewRing: %v", err)
	}
	return r
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	r := mustRing(t, newKey(t))
	for _, plain := range [][]byte{nil, {}, []byte("x"), []byte("gho_canary_token_value"), bytes.Repeat([]byte{0xff}, 64<<10)} {
		s, err := r.Seal(plain, []byte("idpgate:tok:a"))
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		if got, want := len(s), len(plain)+Overhead; got != want {
			t.Errorf("len(Seal(%d bytes)) = %d; want %d", len(plain), got, want)
		}
		if len(plain) > 4 && bytes.Contains(s, plain) {
			t.Errorf("sealed value contains the plaintext")
		}
		got, err := r.Open(s, []byte("idpgate:tok:a"))
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if !bytes.Equal(got, plain) || got == nil {
			t.Errorf("Open(Seal(%q)) = %q; want the plaintext, non-nil", plain, got)
		}
	}
}

func TestSealUsesFreshNonce(t *testing.T) {
	t.Parallel()
	r := mustRing(t, newKey(t))
	a, _ := r.Seal([]byte("same"), []byte("k"))
	b, _ := r.Seal([]byte("same"), []byte("k"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal; want distinct nonces")
	}
}

func TestOpenRejects(t *testing.T) {
	t.Parallel()
	k1, k2, k3 := newKey(t), newKey(t), newKey(t)
	r := mustRing(t, k1, k2)
	good, err := r.Seal([]byte("refresh-token-canary"), []byte("idpgate:tok:user1"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := mustRing(t, k3).Seal([]byte("refresh-token-canary"), []byte("idpgate:tok:user1"))
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name  string
		value []byte
		ad    string
	}{
		{"nil", nil, "idpgate:tok:user1"},
		{"empty", []byte{}, "idpgate:tok:user1"},
		{"garbage", []byte("this is not a sealed value at all, just text"), "idpgate:tok:user1"},
		{"truncated to header", good[:header], "idpgate:tok:user1"},
		{"truncated by one", good[:len(good)-1], "idpgate:tok:user1"},
		{"shorter than overhead", good[:Overhead-1], "idpgate:tok:user1"},
		{"other key name", good, "idpgate:tok:user2"},
		{"empty key name", good, ""},
		{"unknown key", other, "idpgate:tok:user1"},
		{"version flipped", flip(0), "idpgate:tok:user1"},
		{"key id flipped", flip(2), "idpgate:tok:user1"},
		{"nonce flipped", flip(header + 3), "idpgate:tok:user1"},
		{"ciphertext flipped", flip(header + nonceSize + 1), "idpgate:tok:user1"},
		{"tag flipped", flip(len(good) - 1), "idpgate:tok:user1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := r.Open(tt.value, []byte(tt.ad))
			if !errors.Is(err, ErrOpen) || got != nil {
				t.Errorf("Open = %q, %v; want nil, ErrOpen", got, err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	t.Parallel()
	oldKey, newK := newKey(t), newKey(t)
	before := mustRing(t, oldKey)
	sealedOld, _ := before.Seal([]byte("v-old"), []byte("n"))

	after := mustRing(t, newK, oldKey) // new key first, old key second
	if got, err := after.Open(sealedOld, []byte("n")); err != nil || string(got) != "v-old" {
		t.Fatalf("after rotation Open(old value) = %q, %v; want v-old", got, err)
	}
	sealedNew, _ := after.Seal([]byte("v-new"), []byte("n"))
	if _, err := before.Open(sealedNew, []byte("n")); !errors.Is(err, ErrOpen) {
		t.Errorf("old ring opened a value sealed after rotation: err = %v; want ErrOpen (the new key must seal)", err)
	}
	dropped := mustRing(t, newK)
	if _, err := dropped.Open(sealedOld, []byte("n")); !errors.Is(err, ErrOpen) {
		t.Errorf("ring without the old key: Open = %v; want ErrOpen", err)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	k := newKey(t)
	std := base64.StdEncoding.EncodeToString(k)
	tests := []struct {
		name    string
		in      string
		keys    int
		wantErr string
	}{
		{"std", std, 1, ""},
		{"raw std", base64.RawStdEncoding.EncodeToString(k), 1, ""},
		{"url", base64.URLEncoding.EncodeToString(k), 1, ""},
		{"two with spaces", " " + std + " , " + base64.StdEncoding.EncodeToString(newKey(t)), 2, ""},
		{"trailing comma", std + ",", 1, ""},
		{"empty", "", 0, "no key"},
		{"commas only", ",,", 0, "no key"},
		{"not base64", "not*base64!", 0, "key 1 of 1 is not base64"},
		{"16 bytes", base64.StdEncoding.EncodeToString(k[:16]), 0, "key 1 of 1 is 16 bytes; want 32"},
		{"second too long", std + "," + base64.StdEncoding.EncodeToString(append(bytes.Clone(k), 1)), 0, "key 2 of 2 is 33 bytes; want 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseKeys(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeys(%q) error = %v; want it to contain %q", tt.in, err, tt.wantErr)
				}
				if strings.Contains(err.Error(), std) || (len(tt.in) > 8 && strings.Contains(err.Error(), tt.in)) {
					t.Errorf("error %q contains key material", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKeys(%q) = %v", tt.in, err)
			}
			if r.Len() != tt.keys {
				t.Errorf("Len() = %d; want %d", r.Len(), tt.keys)
			}
		})
	}
}

func TestNewRingErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewRing(); err == nil {
		t.Error("NewRing() = nil error; want one")
	}
	if _, err := NewRing(newKey(t), make([]byte, 24)); err == nil || !strings.Contains(err.Error(), "key 2 of 2 is 24 bytes") {
		t.Errorf("NewRing(32, 24 bytes) error = %v; want key 2 named", err)
	}
	var zero Ring
	if _, err := zero.Seal([]byte("x"), nil); err == nil {
		t.Error("zero Ring sealed; want an error")
	}
	if _, err := zero.Open(make([]byte, 64), nil); !errors.Is(err, ErrOpen) {
		t.Errorf("zero Ring Open = %v; want ErrOpen", err)
	}
}

func FuzzOpen(f *testing.F) {
	k := bytes.Repeat([]byte{7}, KeySize)
	r := mustRing(f, k, bytes.Repeat([]byte{9}, KeySize))
	good, _ := r.Seal([]byte("canary"), []byte("idpgate:tok:x"))
	f.Add(good, []byte("idpgate:tok:x"))
	f.Add(good[:len(good)-3], []byte("idpgate:tok:x"))
	f.Add([]byte{version, 0, 0, 0, 0}, []byte(""))
	f.Add([]byte("garbage"), []byte("k"))
	f.Fuzz(func(t *testing.T, value, ad []byte) {
		p, err := r.Open(value, ad)
		if err != nil {
			if !errors.Is(err, ErrOpen) || p != nil {
				t.Fatalf("Open = %q, %v; want nil, ErrOpen", p, err)
			}
			return
		}
		// Whatever opened must seal and open back to itself.
		s, err := r.Seal(p, ad)
		if err != nil {
			t.Fatal(err)
		}
		if q, err := r.Open(s, ad); err != nil || !bytes.Equal(p, q) {
			t.Fatalf("reseal round trip = %q, %v; want %q", q, err, p)
		}
	})
}
