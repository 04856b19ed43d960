package resolvers

import (
	"context"
	"fmt"

	"github.com/idpgate/idpgate/graph/model"
)

// DefaultMaxIdentities is Deps.MaxIdentities when zero.
const DefaultMaxIdentities = 10

// identityLimitError is an identity beyond the per-request fan-out cap.
type identityLimitError struct{ max int }

func (e *identityLimitError) Error() string {
	return fmt.Sprintf("this request reads provider data for the first %d linked identities only; this one is beyond them", e.max)
}

// withinIdentityLimit fails obj when it is not among the first
// MaxIdentities identities of the caller's profile (Auth0's order, primary
// first, so the answer is the same on every request). The cost check runs
// before the profile is known and assumes a fixed identity count; this cap
// is what bounds the provider calls of a user with many linked identities.
func (r *Resolver) withinIdentityLimit(ctx context.Context, userID string, obj *model.Identity) error {
	p, err := r.profile(ctx, userID)
	if err != nil {
		return err
	}
	for i, idn := range p.User.Identities {
		if identityID(idn) == obj.ID {
			if i >= r.deps.MaxIdentities {
				return &identityLimitError{max: r.deps.MaxIdentities}
			}
			return nil
		}
	}
	return nil // not linked (any more): the call path answers that
}
