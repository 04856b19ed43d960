package auth0

import (
	"context"
	"net/url"
	"strconv"
	"strings"
)

// searchChunk is how many ids one search request asks for; Auth0 allows
// up to 100 results per page, and the query string must stay short.
const searchChunk = 50

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

// SearchUsers returns the users among ids that user search finds, in one
// request per 50 ids. Search is eventually consistent: a user missing
// from the result may exist (read it with User). Duplicate and empty ids
// are ignored; no ids means no request.
//
// Auth0 API docs: https://auth0.com/docs/api/management/v2/users/get-users
// and https://auth0.com/docs/manage-users/user-search/user-search-query-syntax
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
		chunk := uniq[:min(searchChunk, len(uniq))]
		uniq = uniq[len(chunk):]
		q := url.Values{
			"q":             {userIDQuery(chunk)},
			"search_engine": {"v3"},
			"per_page":      {strconv.Itoa(len(chunk))},
		}
		var page []*User
		if err := c.get(ctx, "api/v2/users", "api/v2/users?"+q.Encode(), &page); err != nil {
			return nil, err
		}
		for _, u := range page {
			if u != nil && want[u.UserID] {
				delete(want, u.UserID) // a user listed twice counts once
				found = append(found, u)
			}
		}
	}
	return found, nil
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
