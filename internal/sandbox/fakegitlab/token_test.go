package fakegitlab

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// TestTokenEndpointErrors: the token endpoint answers as GitLab's
// Doorkeeper does for each bad request, and a refresh token works once.
func TestTokenEndpointErrors(t *testing.T) {
	s := &Server{ClientID: "app", ClientSecret: "app-secret"}
	s.AddUser("at", nil)
	s.AddRefreshToken("rt", "at")
	srv := httptest.NewServer(s)
	defer srv.Close()
	post := func(form url.Values) (int, string) {
		resp, err := http.PostForm(srv.URL+"/oauth/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body struct {
			Error string `json:"error"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body.Error
	}
	good := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"rt"}, "client_id": {"app"}, "client_secret": {"app-secret"}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for key, vs := range good {
			f[key] = vs
		}
		f.Set(k, v)
		return f
	}
	cases := []struct {
		name   string
		form   url.Values
		status int
		code   string
	}{
		{"authorization_code grant", with("grant_type", "authorization_code"), http.StatusBadRequest, "unsupported_grant_type"},
		{"unknown client", with("client_id", "other"), http.StatusUnauthorized, "invalid_client"},
		{"wrong secret", with("client_secret", "nope"), http.StatusUnauthorized, "invalid_client"},
		{"unknown refresh token", with("refresh_token", "nope"), http.StatusBadRequest, "invalid_grant"},
		{"refresh", good, http.StatusOK, ""},
		{"refresh again with the spent token", good, http.StatusBadRequest, "invalid_grant"},
	}
	for _, tc := range cases {
		if status, code := post(tc.form); status != tc.status || code != tc.code {
			t.Errorf("%s: POST /oauth/token = %d %q; want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}
	if got := s.SpentRefreshTokenUses(); got != 1 {
		t.Errorf("SpentRefreshTokenUses() = %d; want 1", got)
	}
	resp, err := http.Get(srv.URL + "/oauth/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /oauth/token = %d; want 405", resp.StatusCode)
	}
}
