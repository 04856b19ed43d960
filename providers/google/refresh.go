package google

import (
	"context"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// Refresh exchanges a Google refresh token for a new access token
// (https://developers.google.com/identity/protocols/oauth2/web-server#offline)
// through the shared token-endpoint client, with the client credentials
// in the form body as Google expects. Google does not rotate refresh
// tokens, so the result's RefreshToken is empty unless Google sent a new
// one.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.String) (providers.Token, error) {
	return c.refresh.Refresh(ctx, refreshToken)
}
