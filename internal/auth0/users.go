package auth0

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// searchChunk is the most ids one search asks for: without paging Auth0
// returns at most 50 users per search
// (https://auth0.com/docs/manage-users/user-search/view-search-results-by-page).
const searchChunk = 50

// DefaultMaxSearchURI bounds the request target (path and query string) of
// one search when Config.MaxSearchURI is zero. Auth0 documents no limit but
// answers 414 to a query string that is too long; 4 KiB stays well under
// the 8 KiB front-end limits in common use.
const DefaultMaxSearchURI = 4096

// User returns the user's full profile, identities[] with the identity
// providers' tokens included. It is immediately consistent. A user that
// does not exist is an error matching ErrNotFound.
//
// Auth0 API docs: https://auth0.com/docs/api/management/v2/users/get-users-by-id
func (c *Client) User(ctx context.Context, id string) (*User, error) {
	const path = "api/v2/users/{id}"
	if id == "" || id == "." || id == ".." {
		return nil, &opError{op: "GET " + path, kind: ErrNotFound, detail: "invalid user id"}
	}
	u := new(User)
	if err := c.get(ctx, path, "api/v2/users/"+url.PathEscape(id), u); err != nil {
		return nil, err
	}
	return u, nil
}

// SearchUsers returns the users among ids that user search finds. Search
// is eventually consistent: a user missing from the result may exist (read
// it with User). Duplicate and empty ids are ignored; no ids means no
// request.
//
// The ids are sent in batches of at most 50 whose request target stays
// within Config.MaxSearchURI. Should Auth0 still answer 414 (URI too long),
// the batch is split in halves and each half searched; an id that is too
// long on its own is left out, for the caller to read with User.
//
// Auth0 API docs: https://auth0.com/docs/api/management/v2/users/get-users,
// https://auth0.com/docs/manage-users/user-search/user-search-query-syntax
// and https://auth0.com/docs/manage-users/user-search/user-search-best-practices
func (c *Client) SearchUsers(ctx context.Context, ids []string) ([]*User, error) {
	want := make(map[string]bool, len(ids))
	var uniq []string
	for _, id := range ids {
		if id != "" && !want[id] {
			want[id] = true
			uniq = append(uniq, id)
		}
	}
	var found []*User
	for len(uniq) > 0 {
		n := c.batchLen(uniq)
		page, err := c.search(ctx, uniq[:n])
		if err != nil {
			return nil, err
		}
		uniq = uniq[n:]
		for _, u := range page {
			if u != nil && want[u.UserID] {
				delete(want, u.UserID) // a user listed twice counts once
				found = append(found, u)
			}
		}
	}
	return found, nil
}

// batchLen is how many of ids (at least one) the next search takes: at
// most searchChunk, and no more than keep its request target within the
// bound.
func (c *Client) batchLen(ids []string) int {
	n := 1
	for n < min(len(ids), searchChunk) && c.searchURILen(ids[:n+1]) <= c.maxSearchURI {
		n++
	}
	return n
}

func searchQuery(ids []string) url.Values {
	return url.Values{
		"q":             {userIDQuery(ids)},
		"search_engine": {"v3"},
		"per_page":      {strconv.Itoa(len(ids))},
	}
}

// searchURILen is the length of the request target of a search for ids.
func (c *Client) searchURILen(ids []string) int {
	return len(c.base.EscapedPath()) + len("api/v2/users?") + len(searchQuery(ids).Encode())
}

// search runs one search; on 414 it splits ids in halves and searches each.
func (c *Client) search(ctx context.Context, ids []string) ([]*User, error) {
	var page []*User
	err := c.get(ctx, "api/v2/users", "api/v2/users?"+searchQuery(ids).Encode(), &page)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusRequestURITooLong {
		return page, err
	}
	if len(ids) == 1 {
		c.log.LogAttrs(ctx, slog.LevelWarn, "auth0: a user id is too long for user search; reading it by id instead")
		return nil, nil
	}
	half := len(ids) / 2
	first, err := c.search(ctx, ids[:half])
	if err != nil {
		return nil, err
	}
	second, err := c.search(ctx, ids[half:])
	if err != nil {
		return nil, err
	}
	return append(first, second...), nil
}

// userIDQuery builds user_id:("a" OR "b") in Lucene syntax, escaping
// quotes and backslashes inside the phrases.
func userIDQuery(ids []string) string {
	var b strings.Builder
	b.WriteString("user_id:(")
	for i, id := range ids {
		if i > 0 {
			b.WriteString(" OR ")
		}
		b.WriteByte('"')
		for _, r := range id {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte(')')
	return b.String()
}
