package fakegitlab

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
)

// The OAuth token endpoint, POST {instance}/oauth/token, as GitLab's OAuth
// 2.0 identity provider API documents the refresh_token grant
// (https://docs.gitlab.com/api/oauth2/): the form carries grant_type,
// refresh_token, client_id and client_secret; the answer carries a new
// access_token, token_type "Bearer", expires_in 7200 and a new
// refresh_token; and the request "invalidates the existing access_token and
// refresh_token", so a refresh token works once. GitLab's OAuth server
// (Doorkeeper) answers an unknown, used or revoked refresh token 400
// invalid_grant, and unknown client credentials 401 invalid_client.

// callToken names POST /oauth/token in the knobs' call counters.
const callToken = "token"

// tokenLifetime is GitLab's access token lifetime (two hours).
const tokenLifetime = 7200

// AddRefreshToken seeds refreshToken as the refresh token that goes with
// accessToken (seeded with AddUser): exchanging it yields a new pair for the
// same user and invalidates both.
func (s *Server) AddRefreshToken(refreshToken, accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.initLocked()
	s.refresh[refreshToken] = accessToken
}

// Refreshes returns how many token endpoint requests were received.
func (s *Server) Refreshes() int { return s.knobs.Calls(callToken) }

// SpentRefreshTokenUses returns how many refresh requests presented a
// refresh token that had already been exchanged (and was refused).
func (s *Server) SpentRefreshTokenUses() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.spentUses
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	s.knobs.Count(callToken)
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "405 Method Not Allowed"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "error_description": "The request is missing a required parameter."})
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "refresh_token" {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported_grant_type", "error_description": "fakegitlab: only the refresh_token grant is emulated"})
		return
	}
	id, secret := f.Get("client_id"), f.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok {
		id, secret = u, p
	}
	if id == "" || (s.ClientID != "" && (id != s.ClientID || secret != s.ClientSecret)) {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "invalid_client", "error_description": "Client authentication failed due to unknown client, no client authentication included, or unsupported authentication method."})
		return
	}
	rt := f.Get("refresh_token")
	s.mu.Lock()
	s.initLocked()
	access, ok := s.refresh[rt]
	if !ok || rt == "" {
		if s.spent[rt] {
			s.spentUses++
		}
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_grant", "error_description": "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client."})
		return
	}
	newAccess, newRefresh := "fakegitlab-access-"+randomHex(12), "fakegitlab-refresh-"+randomHex(12)
	s.users[newAccess] = s.users[access]
	delete(s.users, access)
	delete(s.refresh, rt)
	s.spent[rt] = true
	s.refresh[newRefresh] = newAccess
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  newAccess,
		"token_type":    "Bearer",
		"expires_in":    tokenLifetime,
		"refresh_token": newRefresh,
		"scope":         "read_api",
		"created_at":    nowUnix(s),
	})
}

// revokeGrant drops the refresh tokens that go with accessToken: revoking
// an authorization in GitLab revokes all of its tokens.
func (s *Server) revokeGrant(accessToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for rt, at := range s.refresh {
		if at == accessToken {
			delete(s.refresh, rt)
		}
	}
}

func isTokenPath(path string) bool { return strings.TrimSuffix(path, "/") == "/oauth/token" }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("fakegitlab: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func nowUnix(s *Server) int64 { return fakeknobs.Now(s.Now).Unix() }
