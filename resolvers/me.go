package resolvers

import (
	"context"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idpgate/idpgate/graph/model"
	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/identity"
)

// requestState carries the caller's profile from `me` to the identity
// field resolvers of the same operation, so one operation reads the profile
// once and every field sees the same tokens, and counts the identities the
// operation calls providers for.
type requestState struct {
	mu      sync.Mutex
	profile *identity.Profile
	// identities are those whose provider fields ran (MAX_IDENTITIES).
	identities identityBudget
}

type stateKey struct{}

// AroundOperations installs the per-operation state; register it with
// handler.Server.AroundOperations.
func AroundOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	return next(context.WithValue(ctx, stateKey{}, &requestState{}))
}

func (r *Resolver) callerID(ctx context.Context) (string, error) {
	if r.deps.UserID != nil {
		if id, ok := r.deps.UserID(ctx); ok && id != "" {
			return id, nil
		}
	}
	return "", &authError{msg: "authentication required"}
}

// profile returns the caller's profile: the operation's copy when `me`
// already loaded it, else through the shared loader.
func (r *Resolver) profile(ctx context.Context, userID string) (*identity.Profile, error) {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	if st != nil {
		st.mu.Lock()
		p := st.profile
		st.mu.Unlock()
		if p != nil {
			return p, nil
		}
	}
	p, err := r.deps.Profiles.Load(ctx, userID)
	if err != nil {
		return nil, err
	}
	r.remember(ctx, p)
	return p, nil
}

// reload re-reads the caller's profile by id (not search) and makes it the
// operation's copy.
func (r *Resolver) reload(ctx context.Context, userID string) (*identity.Profile, error) {
	p, err := r.deps.Profiles.Reload(ctx, userID)
	if err != nil {
		return nil, err
	}
	r.remember(ctx, p)
	return p, nil
}

func (r *Resolver) remember(ctx context.Context, p *identity.Profile) {
	if st, _ := ctx.Value(stateKey{}).(*requestState); st != nil {
		st.mu.Lock()
		st.profile = p
		st.mu.Unlock()
	}
}

// callerProfile returns the authenticated caller's id and profile.
func (r *Resolver) callerProfile(ctx context.Context) (string, *identity.Profile, error) {
	userID, err := r.callerID(ctx)
	if err != nil {
		return "", nil, err
	}
	p, err := r.profile(ctx, userID)
	if err != nil {
		return "", nil, err
	}
	return userID, p, nil
}

func (r *Resolver) me(ctx context.Context) (*model.User, error) {
	userID, p, err := r.callerProfile(ctx)
	if err != nil {
		return nil, err
	}
	u := p.User
	out := &model.User{
		ID:         userID,
		Name:       optional(u.Name),
		Nickname:   optional(u.Nickname),
		Email:      optional(u.Email),
		Picture:    optional(u.Picture),
		Identities: make([]*model.Identity, 0, len(u.Identities)),
	}
	for _, idn := range u.Identities {
		out.Identities = append(out.Identities, r.identityModel(idn))
	}
	return out, nil
}

func (r *Resolver) identityModel(idn auth0.Identity) *model.Identity {
	prov := r.deps.Providers.Lookup(idn.Provider, idn.Connection)
	caps := []model.Capability{}
	if prov.Repos != nil {
		caps = append(caps, model.CapabilityRepos)
	}
	if prov.Calendar != nil {
		caps = append(caps, model.CapabilityCalendar)
	}
	return &model.Identity{
		ID:           identityID(idn),
		Provider:     idn.Provider,
		Connection:   idn.Connection,
		UserID:       string(idn.UserID),
		IsSocial:     idn.IsSocial,
		Capabilities: caps,
	}
}

func identityID(idn auth0.Identity) string { return idn.Provider + "|" + string(idn.UserID) }

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
