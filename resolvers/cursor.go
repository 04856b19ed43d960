package resolvers

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
)

// A cursor is base64url(JSON state) "." base64url(HMAC-SHA256 tag). The tag
// covers the state and a binding (caller, identity, field), so a cursor only
// works for the list it came from: a forged, altered or transplanted cursor
// is rejected before any upstream call, and the upstream page token inside
// it never comes from the client unchecked.
type cursorCodec struct {
	key []byte
}

// cursorState is where a list resumes: upstream page Token fetched with page
// size Size, skipping the first Skip items. Calendar cursors also pin the
// time window (Unix seconds) so later pages are of the same query.
type cursorState struct {
	Token string `json:"t,omitempty"`
	Size  int    `json:"s"`
	Skip  int    `json:"k,omitempty"`
	From  int64  `json:"f,omitempty"`
	To    int64  `json:"u,omitempty"`
}

const (
	maxCursorLen     = 4096
	maxPageTokenLen  = 2048
	cursorTagLen     = 16 // bytes of the HMAC kept
	maxPageSize      = 100
	defaultReposSize = 30
	defaultEventSize = 50
)

func (c cursorCodec) binding(userID, identityID, field string) []byte {
	return []byte(userID + "\x00" + identityID + "\x00" + field + "\x00")
}

func (c cursorCodec) tag(binding, payload []byte) []byte {
	m := hmac.New(sha256.New, c.key)
	m.Write(binding)
	m.Write(payload)
	return m.Sum(nil)[:cursorTagLen]
}

func (c cursorCodec) encode(userID, identityID, field string, st cursorState) string {
	payload, _ := json.Marshal(st) // a struct of strings and ints cannot fail
	tag := c.tag(c.binding(userID, identityID, field), payload)
	return base64.RawURLEncoding.EncodeToString(payload) + "." + base64.RawURLEncoding.EncodeToString(tag)
}

// decode verifies and parses a cursor. Every failure is the same
// inputError, so the answer tells an attacker nothing about which check
// failed.
func (c cursorCodec) decode(userID, identityID, field, cursor string) (cursorState, error) {
	bad := inputErrorf("after: invalid cursor; use a cursor from this list's pageInfo or edges")
	if len(cursor) == 0 || len(cursor) > maxCursorLen {
		return cursorState{}, bad
	}
	p64, t64, ok := strings.Cut(cursor, ".")
	if !ok {
		return cursorState{}, bad
	}
	payload, err := base64.RawURLEncoding.DecodeString(p64)
	if err != nil {
		return cursorState{}, bad
	}
	tag, err := base64.RawURLEncoding.DecodeString(t64)
	if err != nil || len(tag) != cursorTagLen {
		return cursorState{}, bad
	}
	if !hmac.Equal(tag, c.tag(c.binding(userID, identityID, field), payload)) {
		return cursorState{}, bad
	}
	var st cursorState
	if err := json.Unmarshal(payload, &st); err != nil {
		return cursorState{}, bad
	}
	if st.Size < 1 || st.Size > maxPageSize || st.Skip < 0 || st.Skip > st.Size || len(st.Token) > maxPageTokenLen || st.From > st.To {
		return cursorState{}, bad
	}
	return st, nil
}
