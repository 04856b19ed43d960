package resolvers

import (
	"bytes"
	"strings"
	"testing"
)

func testCodec() cursorCodec { return cursorCodec{key: bytes.Repeat([]byte{7}, 32)} }

func TestCursorRoundTrip(t *testing.T) {
	c := testCodec()
	want := cursorState{Token: "CkQ-token_2", Size: 30, Skip: 4, From: 100, To: 200}
	s := c.encode("auth0|u1", "github|1", "repos", want)
	got, err := c.decode("auth0|u1", "github|1", "repos", s)
	if err != nil || got != want {
		t.Fatalf("decode(encode(%+v)) = %+v, %v; want the same state", want, got, err)
	}
}

func TestCursorRejects(t *testing.T) {
	c := testCodec()
	good := c.encode("auth0|u1", "github|1", "repos", cursorState{Token: "2", Size: 30})
	p, tag, _ := strings.Cut(good, ".")
	other := cursorCodec{key: bytes.Repeat([]byte{8}, 32)}.encode("auth0|u1", "github|1", "repos", cursorState{Token: "2", Size: 30})
	cases := []struct {
		name, user, ident, field, cursor string
	}{
		{"empty", "auth0|u1", "github|1", "repos", ""},
		{"garbage", "auth0|u1", "github|1", "repos", "%%%"},
		{"no tag", "auth0|u1", "github|1", "repos", p},
		{"bad base64 tag", "auth0|u1", "github|1", "repos", p + ".!!"},
		{"short tag", "auth0|u1", "github|1", "repos", p + ".AAAA"},
		{"forged payload", "auth0|u1", "github|1", "repos", "eyJ0IjoiOTk5IiwicyI6MzB9." + tag},
		{"other key", "auth0|u1", "github|1", "repos", other},
		{"other user", "auth0|u2", "github|1", "repos", good},
		{"other identity", "auth0|u1", "github|2", "repos", good},
		{"other field", "auth0|u1", "github|1", "calendar", good},
		{"huge", "auth0|u1", "github|1", "repos", strings.Repeat("A", maxCursorLen+1)},
		{"bad size", "auth0|u1", "github|1", "repos", c.encode("auth0|u1", "github|1", "repos", cursorState{Size: 1000})},
		{"bad skip", "auth0|u1", "github|1", "repos", c.encode("auth0|u1", "github|1", "repos", cursorState{Size: 10, Skip: 11})},
		{"bad window", "auth0|u1", "github|1", "repos", c.encode("auth0|u1", "github|1", "repos", cursorState{Size: 10, From: 5, To: 1})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.decode(tc.user, tc.ident, tc.field, tc.cursor)
			if err == nil {
				t.Fatalf("decode(%q) error = nil; want an input error", tc.cursor)
			}
			if _, ok := err.(*inputError); !ok {
				t.Errorf("decode(%q) error type = %T; want *inputError", tc.cursor, err)
			}
		})
	}
}

func FuzzCursorDecode(f *testing.F) {
	c := testCodec()
	f.Add(c.encode("u", "github|1", "repos", cursorState{Token: "3", Size: 30}))
	f.Add("")
	f.Add("eyJ0IjoiOTk5In0.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		st, err := c.decode("u", "github|1", "repos", s)
		if err == nil && (st.Size < 1 || st.Size > maxPageSize || st.Skip > st.Size) {
			t.Fatalf("decode(%q) accepted an out-of-range state %+v", s, st)
		}
	})
}
