package resolvers

import (
	"context"
	"errors"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/graph/model"
	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/credentials"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// withToken calls the provider with the identity's access token through
// the credentials broker, which owns which token to send and what to do
// when the provider refuses it (re-read, refresh, last re-read).
func (r *Resolver) withToken(ctx context.Context, userID string, obj *model.Identity, prov providers.Provider, call func(ctx context.Context, tok secret.String) error) error {
	p, err := r.profile(ctx, userID)
	if err != nil {
		return err
	}
	idn, ok := findIdentity(p.User, obj.ID)
	if !ok {
		return &providers.Error{Kind: providers.ReauthRequired, Provider: obj.Provider, Message: "this identity is no longer linked to the user"}
	}
	req := credentials.Request{
		UserID:     userID,
		Connection: obj.Connection,
		IdentityID: obj.ID,
		Provider:   obj.Provider,
		Grant:      credentials.Grant{AccessToken: idn.AccessToken, RefreshToken: idn.RefreshToken},
		FromSearch: p.FromSearch,
		Reread: func(ctx context.Context) (credentials.Grant, bool, error) {
			fresh, err := r.reload(ctx, userID)
			if err != nil {
				return credentials.Grant{}, false, err
			}
			idn, ok := findIdentity(fresh.User, obj.ID)
			return credentials.Grant{AccessToken: idn.AccessToken, RefreshToken: idn.RefreshToken}, ok, nil
		},
		Refresher: prov.Refresh,
	}
	if r.deps.Bearer != nil {
		req.Subject, _ = r.deps.Bearer(ctx)
	}
	return r.deps.Credentials.Do(ctx, req, func(ctx context.Context, tok secret.String) error {
		cctx, cancel := context.WithTimeout(ctx, r.deps.UpstreamTimeout)
		defer cancel()
		return call(cctx, tok)
	})
}

// named gives a provider error the Auth0 provider and connection of the
// identity it concerns: adapters serve several connections (and windowslive
// and waad alike), so only the resolver knows which one failed.
func named(err error, obj *model.Identity) error {
	var pe *providers.Error
	if !errors.As(err, &pe) {
		return err
	}
	out := *pe // may be shared with other waiters of a refresh: copy
	out.Provider, out.Connection = obj.Provider, obj.Connection
	return &out
}

func findIdentity(u *auth0.User, id string) (auth0.Identity, bool) {
	if u == nil {
		return auth0.Identity{}, false
	}
	for _, idn := range u.Identities {
		if identityID(idn) == id {
			return idn, true
		}
	}
	return auth0.Identity{}, false
}

func pageSize(first *int, def int) (int, error) {
	if first == nil {
		return def, nil
	}
	if *first < 1 || *first > maxPageSize {
		return 0, inputErrorf("first must be between 1 and %d; got %d", maxPageSize, *first)
	}
	return *first, nil
}

// slice picks the items of an upstream page the client asked for: from
// skip, at most want. It returns the cursor state after each picked item
// and whether more items follow.
func slice[T any](page providers.Page[T], req providers.PageRequest, skip, want int, window cursorState) (items []T, after []cursorState, hasNext bool) {
	if skip > len(page.Items) {
		skip = len(page.Items)
	}
	end := skip + want
	if end > len(page.Items) {
		end = len(page.Items)
	}
	items = page.Items[skip:end]
	after = make([]cursorState, len(items))
	for i := range items {
		pos := skip + i + 1
		st := cursorState{Token: req.Token, Size: req.Size, Skip: pos, From: window.From, To: window.To}
		if pos == len(page.Items) && page.Next != "" {
			st = cursorState{Token: page.Next, Size: req.Size, From: window.From, To: window.To}
		}
		after[i] = st
	}
	hasNext = end < len(page.Items) || page.Next != ""
	return items, after, hasNext
}

// pageInfo signs a cursor after each item when the connection field being
// resolved selects edges or pageInfo, the only places a cursor is shown
// (so a plain `nodes` list costs no HMAC); otherwise the cursors are left
// empty and nothing shows them.
func (r *Resolver) pageInfo(ctx context.Context, sel selection, userID, identityID, field string, after []cursorState, hasNext, hasPrev bool) (*model.PageInfo, []string) {
	cursors := make([]string, len(after))
	if sel.edges || sel.pageInfo {
		for i, st := range after {
			cursors[i] = r.cursors.encode(userID, identityID, field, st)
		}
	}
	pi := &model.PageInfo{HasNextPage: hasNext, HasPreviousPage: hasPrev}
	if len(cursors) > 0 {
		pi.StartCursor = &cursors[0]
		pi.EndCursor = &cursors[len(cursors)-1]
	}
	return pi, cursors
}

// selection is what the connection field being resolved selects of
// edges and pageInfo (through fragments too, after @skip/@include): a
// plain `nodes` list costs no cursor and no edge.
type selection struct{ edges, pageInfo bool }

// selected reads the selection of the field being resolved; both when it
// cannot tell.
func selected(ctx context.Context) selection {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return selection{edges: true, pageInfo: true}
	}
	var sel selection
	for _, f := range graphql.CollectFieldsCtx(ctx, nil) {
		switch f.Name {
		case "edges":
			sel.edges = true
		case "pageInfo":
			sel.pageInfo = true
		}
	}
	return sel
}

func (r *Resolver) repos(ctx context.Context, obj *model.Identity, first *int, after *string) (*model.RepositoryConnection, error) {
	prov := r.deps.Providers.Lookup(obj.Provider, obj.Connection)
	if prov.Repos == nil {
		return nil, nil
	}
	userID, err := r.callerID(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.withinIdentityLimit(ctx, obj); err != nil {
		return nil, err
	}
	size, err := pageSize(first, defaultReposSize)
	if err != nil {
		return nil, err
	}
	req, skip := providers.PageRequest{Size: size}, 0
	if after != nil {
		st, err := r.cursors.decode(userID, obj.ID, "repos", *after)
		if err != nil {
			return nil, err
		}
		req, skip = providers.PageRequest{Size: st.Size, Token: st.Token}, st.Skip
	}
	var page providers.Page[providers.Repository]
	err = r.withToken(ctx, userID, obj, prov.Provider, func(ctx context.Context, tok secret.String) error {
		var err error
		page, err = prov.Repos.ListRepos(ctx, tok, req)
		return err
	})
	if err != nil {
		return nil, named(err, obj)
	}
	if page.Partial {
		addPartial(ctx, obj, page.PartialReason)
	}
	items, states, hasNext := slice(page, req, skip, size, cursorState{})
	sel := selected(ctx)
	pi, cursors := r.pageInfo(ctx, sel, userID, obj.ID, "repos", states, hasNext, after != nil)
	conn := &model.RepositoryConnection{
		Nodes:    make([]*model.Repository, len(items)),
		PageInfo: pi,
	}
	if sel.edges {
		conn.Edges = make([]*model.RepositoryEdge, len(items))
	}
	for i, it := range items {
		n := &model.Repository{
			ID:          obj.Provider + "|" + it.ID,
			Name:        it.Name,
			FullName:    it.FullName,
			URL:         it.URL,
			Private:     it.Private,
			Description: optional(it.Description),
			Stars:       it.Stars,
		}
		if !it.UpdatedAt.IsZero() {
			u := it.UpdatedAt
			n.UpdatedAt = &u
		}
		conn.Nodes[i] = n
		if sel.edges {
			conn.Edges[i] = &model.RepositoryEdge{Cursor: cursors[i], Node: n}
		}
	}
	return conn, nil
}

const (
	defaultWindow = 30 * 24 * time.Hour
	maxWindow     = 366 * 24 * time.Hour
)

func (r *Resolver) calendar(ctx context.Context, obj *model.Identity, from, to *time.Time, first *int, after *string) (*model.CalendarEventConnection, error) {
	prov := r.deps.Providers.Lookup(obj.Provider, obj.Connection)
	if prov.Calendar == nil {
		return nil, nil
	}
	userID, err := r.callerID(ctx)
	if err != nil {
		return nil, err
	}
	if err := r.withinIdentityLimit(ctx, obj); err != nil {
		return nil, err
	}
	size, err := pageSize(first, defaultEventSize)
	if err != nil {
		return nil, err
	}
	var q providers.EventQuery
	skip := 0
	if after != nil {
		st, err := r.cursors.decode(userID, obj.ID, "calendar", *after)
		if err != nil {
			return nil, err
		}
		q = providers.EventQuery{From: time.Unix(st.From, 0).UTC(), To: time.Unix(st.To, 0).UTC(), Page: providers.PageRequest{Size: st.Size, Token: st.Token}}
		if (from != nil && from.Unix() != st.From) || (to != nil && to.Unix() != st.To) {
			return nil, inputErrorf("from and to must be omitted or equal to the window of the after cursor")
		}
		skip = st.Skip
	} else {
		start := r.deps.Now().UTC().Truncate(time.Second)
		if from != nil {
			start = from.UTC().Truncate(time.Second)
		}
		end := start.Add(defaultWindow)
		if to != nil {
			end = to.UTC().Truncate(time.Second)
		}
		if !end.After(start) {
			return nil, inputErrorf("to must be after from")
		}
		if end.Sub(start) > maxWindow {
			return nil, inputErrorf("the window from..to may span at most 366 days")
		}
		// RFC 3339 has four-digit years: a window past 9999 (from near the
		// end of 9999 plus the default 30 days) has no date-time any
		// provider accepts, so it is refused before any upstream call.
		if start.Year() < 1 || end.Year() > 9999 {
			return nil, inputErrorf("the window from..to must lie within the years 0001 to 9999 (to defaults to from plus 30 days)")
		}
		q = providers.EventQuery{From: start, To: end, Page: providers.PageRequest{Size: size}}
	}
	var page providers.Page[providers.CalendarEvent]
	err = r.withToken(ctx, userID, obj, prov.Provider, func(ctx context.Context, tok secret.String) error {
		var err error
		page, err = prov.Calendar.ListEvents(ctx, tok, q)
		return err
	})
	if err != nil {
		return nil, named(err, obj)
	}
	window := cursorState{From: q.From.Unix(), To: q.To.Unix()}
	items, states, hasNext := slice(page, q.Page, skip, size, window)
	sel := selected(ctx)
	pi, cursors := r.pageInfo(ctx, sel, userID, obj.ID, "calendar", states, hasNext, after != nil)
	conn := &model.CalendarEventConnection{
		Nodes:    make([]*model.CalendarEvent, len(items)),
		PageInfo: pi,
	}
	if sel.edges {
		conn.Edges = make([]*model.CalendarEventEdge, len(items))
	}
	for i, it := range items {
		n := &model.CalendarEvent{
			ID:     obj.Provider + "|" + it.ID,
			Title:  it.Title,
			Start:  it.Start,
			End:    it.End,
			AllDay: it.AllDay,
			URL:    optional(it.URL),
			Status: it.Status,
		}
		conn.Nodes[i] = n
		if sel.edges {
			conn.Edges[i] = &model.CalendarEventEdge{Cursor: cursors[i], Node: n}
		}
	}
	return conn, nil
}

// addPartial adds a PARTIAL_RESULTS error on the current field next to its
// data, without failing it. reason is the adapter's, safe to show.
func addPartial(ctx context.Context, obj *model.Identity, reason string) {
	if reason == "" {
		reason = "the provider answered with partial results"
	}
	name := obj.Connection // as other identity errors: the connection names it to the user
	if name == "" {
		name = obj.Provider
	}
	graphql.AddError(ctx, &gqlerror.Error{
		Message: name + ": " + reason,
		Path:    graphql.GetPath(ctx),
		Extensions: map[string]any{
			"code":       gqlresp.CodePartialResults,
			"provider":   obj.Provider,
			"connection": obj.Connection,
		},
	})
}
