package auth0

import (
	"context"

	"github.com/idpgate/idpgate/internal/secret"
)

// fromCluster gets the M2M token through the cluster's slot: the token
// another replica stored, or one fetched under the cluster-wide lease
// (the others wait for it). The slot calls fetch itself whenever Redis
// cannot help, so only the token endpoint's errors come back. Called with
// c.sem held.
func (c *tokenCache) fromCluster(ctx context.Context) (secret.String, error) {
	tok, expiry, err := c.shared.Token(ctx, c.fetch)
	if err != nil {
		return secret.String{}, err
	}
	if !expiry.IsZero() && !c.now().Before(expiry) {
		// Stored by a replica whose clock runs ahead: use it for this call
		// only rather than cache an expired token.
		return tok, nil
	}
	c.mu.Lock()
	c.tok, c.expiry = tok, expiry
	c.mu.Unlock()
	return tok, nil
}
