package main

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// TestCursorsSignedWhereShown: the gateway signs cursors only when the
// connection selects edges or pageInfo, however it selects them (plainly,
// through a named or inline fragment, behind @include); wherever a cursor
// is shown it is signed and opens the next page, and a nodes-only list
// still answers its nodes.
func TestCursorsSignedWhereShown(t *testing.T) {
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	const head = `query($after: String, $show: Boolean!) { me { identities(provider: "github") { repos(first: 2, after: $after) { nodes { fullName @include(if: $show) } `
	tests := []struct {
		name, sel, tail string
		wantCursor      bool
	}{
		{"pageInfo", `pageInfo { endCursor }`, ``, true},
		{"edges", `edges { cursor }`, ``, true},
		{"named fragment", `...C`, ` fragment C on RepositoryConnection { pageInfo { endCursor } }`, true},
		{"inline fragment", `... on RepositoryConnection { edges { cursor } }`, ``, true},
		{"included edges", `edges @include(if: $show) { cursor }`, ``, true},
		{"deferred edges", `... @defer { edges { cursor } }`, ``, true},
		{"skipped edges", `edges @skip(if: $show) { cursor }`, ``, false},
		{"nodes only", ``, ``, false},
	}
	// The first four repositories, two pages of two, to compare against.
	first := e.post(context.Background(), token, head+`pageInfo { endCursor } } } } }`, map[string]any{"show": true})
	names, end := cursorPage(t, first)
	second := e.post(context.Background(), token, head+`pageInfo { endCursor } } } } }`, map[string]any{"show": true, "after": end})
	more, _ := cursorPage(t, second)
	want := append(names, more...)
	if len(want) != 4 {
		t.Fatalf("two pages listed %v; want 4 repositories", want)
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.post(context.Background(), token, head+tt.sel+` } } } }`+tt.tail, map[string]any{"show": true})
			names, cursor := cursorPage(t, r)
			if len(names) != 2 || names[0] != want[0] || names[1] != want[1] {
				t.Fatalf("first page %v; want %v", names, want[:2])
			}
			if (cursor != "") != tt.wantCursor {
				t.Fatalf("cursor %q; want one: %v", cursor, tt.wantCursor)
			}
			if !tt.wantCursor {
				return
			}
			next := e.post(context.Background(), token, head+tt.sel+` } } } }`+tt.tail, map[string]any{"show": true, "after": cursor})
			names, _ = cursorPage(t, next)
			if len(names) != 2 || names[0] != want[2] || names[1] != want[3] {
				t.Errorf("page after the cursor %v; want %v", names, want[2:])
			}
		})
	}
}

// cursorPage reads the only identity's repository names and its last
// cursor (pageInfo.endCursor or the last edge's cursor, "" when none).
func cursorPage(t *testing.T, r *gqlResponse) (names []string, cursor string) {
	t.Helper()
	if r.Status != 200 || len(r.Errors) > 0 {
		t.Fatalf("response %d %s", r.Status, r.Raw)
	}
	var d struct {
		Me struct {
			Identities []struct {
				Repos struct {
					Nodes []struct {
						FullName string `json:"fullName"`
					} `json:"nodes"`
					Edges []struct {
						Cursor string `json:"cursor"`
					} `json:"edges"`
					PageInfo *struct {
						EndCursor *string `json:"endCursor"`
					} `json:"pageInfo"`
				} `json:"repos"`
			} `json:"identities"`
		} `json:"me"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || len(d.Me.Identities) != 1 {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	repos := d.Me.Identities[0].Repos
	for _, n := range repos.Nodes {
		names = append(names, n.FullName)
	}
	if p := repos.PageInfo; p != nil && p.EndCursor != nil {
		cursor = *p.EndCursor
	}
	if n := len(repos.Edges); n > 0 {
		cursor = repos.Edges[n-1].Cursor
	}
	return names, cursor
}
