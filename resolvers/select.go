package resolvers

import (
	"context"
	"slices"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idpgate/idpgate/graph/model"
)

// identities returns the user's identities that match every filter given
// (provider, connection, capability), in the order me listed them. A
// filter matching nothing yields an empty list, not an error: a client
// asking for its GitLab identities when none is linked has its answer.
func (r *Resolver) identities(_ context.Context, obj *model.User, provider, connection *string, capability *model.Capability) ([]*model.Identity, error) {
	if provider == nil && connection == nil && capability == nil {
		return obj.Identities, nil
	}
	out := make([]*model.Identity, 0, len(obj.Identities))
	for _, idn := range obj.Identities {
		if provider != nil && idn.Provider != *provider {
			continue
		}
		if connection != nil && idn.Connection != *connection {
			continue
		}
		if capability != nil && !slices.Contains(idn.Capabilities, *capability) {
			continue
		}
		out = append(out, idn)
	}
	return out, nil
}

// identity returns the caller's linked identity whose Identity.id is id,
// or nil (without an error) when none is: the Relay convention for an id
// that names nothing, which also covers an identity unlinked since the
// client cached its id. It reads the operation's profile, so asking for
// one identity fans out to that identity only.
func (r *Resolver) identity(ctx context.Context, id string) (*model.Identity, error) {
	_, p, err := r.callerProfile(ctx)
	if err != nil {
		return nil, err
	}
	idn, ok := findIdentity(p.User, id)
	if !ok {
		return nil, nil
	}
	return r.identityModel(idn), nil
}

// identityInScope returns the Identity whose subtree the field of ctx
// belongs to (repos, calendar and everything under them), or nil. The
// error presenter names its provider, so a client paging one identity can
// tell which identity an error is about without parsing paths.
func identityInScope(ctx context.Context) *model.Identity {
	for fc := graphql.GetFieldContext(ctx); fc != nil; fc = fc.Parent {
		switch v := fc.Result.(type) {
		case *model.Identity:
			if v != nil {
				return v
			}
		case **model.Identity: // an element of a list of identities
			if v != nil && *v != nil {
				return *v
			}
		}
	}
	return nil
}
