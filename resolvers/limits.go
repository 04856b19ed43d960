package resolvers

import (
	"context"
	"fmt"

	"github.com/idpgate/idpgate/graph/model"
)

// DefaultMaxIdentities is Deps.MaxIdentities when zero.
const DefaultMaxIdentities = 10

// identityLimitError is an identity beyond the per-operation fan-out cap
// (gqlresp.CodeIdentityLimit).
type identityLimitError struct{ max int }

func (e *identityLimitError) Error() string {
	return fmt.Sprintf("this request already reads provider data for %d other linked identities, the most one request may; ask for this one in another request (identity(id:) or identities(provider:, connection:))", e.max)
}

// identityBudget counts the distinct identities whose provider fields
// (repos, calendar) ran in one operation. It lives in the operation's
// requestState, guarded by its mutex.
type identityBudget map[string]struct{}

// withinIdentityLimit admits obj's provider fields when obj is one of the
// first MaxIdentities distinct identities whose provider fields run in this
// operation, and fails them otherwise. Counting distinct identities, not
// positions in the profile, lets identity(id:) and the identities filters
// reach any identity, while one operation still calls the providers for at
// most MaxIdentities identities, however many fields and aliases it asks
// of each. The cost check runs before the profile is known and assumes a
// fixed identity count; this cap is what bounds the provider calls of a
// user with many linked identities. Which identities of a larger selection
// are admitted depends on the order their fields run in; once the cap is
// reached, every field of an admitted identity still runs and every field
// of another fails.
func (r *Resolver) withinIdentityLimit(ctx context.Context, obj *model.Identity) error {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	if st == nil {
		// Outside an operation (AroundOperations not installed) there is
		// nothing to count across fields.
		return nil
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if _, ok := st.identities[obj.ID]; ok {
		return nil
	}
	if len(st.identities) >= r.deps.MaxIdentities {
		return &identityLimitError{max: r.deps.MaxIdentities}
	}
	if st.identities == nil {
		st.identities = identityBudget{}
	}
	st.identities[obj.ID] = struct{}{}
	return nil
}
