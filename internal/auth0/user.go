package auth0

import (
	"bytes"
	"encoding/json"
	"errors"

	"github.com/idpgate/idpgate/internal/secret"
)

// User is the part of an Auth0 user profile the gateway reads
// (https://auth0.com/docs/api/management/v2/users/get-users-by-id).
type User struct {
	UserID     string     `json:"user_id"`
	Name       string     `json:"name,omitempty"`
	Nickname   string     `json:"nickname,omitempty"`
	Email      string     `json:"email,omitempty"`
	Picture    string     `json:"picture,omitempty"`
	Identities []Identity `json:"identities"`
}

// Identity is one entry of a profile's identities[]: a linked account at an
// identity provider. The tokens are present only when the M2M token has
// read:user_idp_tokens.
type Identity struct {
	Provider   string `json:"provider"`
	Connection string `json:"connection"`
	// UserID is the provider's id of the user. Auth0 sends it as a JSON
	// number for some providers (GitHub) and a string for others.
	UserID       FlexString    `json:"user_id"`
	IsSocial     bool          `json:"isSocial"`
	AccessToken  secret.String `json:"access_token,omitempty"`
	RefreshToken secret.String `json:"refresh_token,omitempty"`
	// ExpiresIn is the access token's lifetime in seconds as the provider
	// reported it at sign-in; zero when unknown.
	ExpiresIn int `json:"expires_in,omitempty"`
}

// FlexString decodes a JSON string or number into a string.
type FlexString string

// UnmarshalJSON accepts "abc", 123 and 1.5e3 (kept as written).
func (f *FlexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = FlexString(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return errors.New("auth0: user_id is neither a string nor a number")
	}
	*f = FlexString(n.String())
	return nil
}
