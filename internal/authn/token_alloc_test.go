package authn

import (
	"crypto/sha256"
	"strings"
	"testing"
)

// TestSHA256OfDoesNotAllocate: every authenticated request hashes its
// bearer token to find it among the verified ones; that costs no
// allocation, and the hash is SHA-256 of the token's bytes.
func TestSHA256OfDoesNotAllocate(t *testing.T) {
	for _, tok := range []string{"", "a.b.c", strings.Repeat("x", 1500), strings.Repeat("y", maxTokenBytes)} {
		if got, want := sha256Of(tok), sha256.Sum256([]byte(tok)); got != want {
			t.Errorf("sha256Of(%d bytes) = %x; want %x", len(tok), got, want)
		}
		sha256Of(tok) // the pool holds a buffer of this size now
		if raceEnabled {
			continue // the pool drops buffers on purpose under -race
		}
		if n := testing.AllocsPerRun(50, func() { sha256Of(tok) }); n != 0 {
			t.Errorf("sha256Of(%d bytes) allocates %.0f times; want 0", len(tok), n)
		}
	}
}
