package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/internal/httpx"
	"github.com/idpgate/idpgate/internal/sandbox"
)

// apisReposQuery reads one page of every identity's repositories.
const apisReposQuery = `query($first: Int, $after: String) { me { identities { provider connection repos(first: $first, after: $after) { nodes { fullName } pageInfo { hasNextPage endCursor } } } } }`

type apisRepoPage struct {
	Me struct {
		Identities []struct {
			Provider   string `json:"provider"`
			Connection string `json:"connection"`
			Repos      *struct {
				Nodes []struct {
					FullName string `json:"fullName"`
				} `json:"nodes"`
				PageInfo struct {
					HasNextPage bool    `json:"hasNextPage"`
					EndCursor   *string `json:"endCursor"`
				} `json:"pageInfo"`
			} `json:"repos"`
		} `json:"identities"`
	} `json:"me"`
}

// reposOf returns the repository names and page info of provider's
// identity in r.
func reposOf(t *testing.T, r *gqlResponse, provider string) (names []string, hasNext bool, end string) {
	t.Helper()
	var page apisRepoPage
	if err := json.Unmarshal(r.Data, &page); err != nil {
		t.Fatalf("data %s: %v", r.Data, err)
	}
	for _, id := range page.Me.Identities {
		if id.Provider != provider || id.Repos == nil {
			continue
		}
		for _, n := range id.Repos.Nodes {
			names = append(names, n.FullName)
		}
		if id.Repos.PageInfo.EndCursor != nil {
			end = *id.Repos.PageInfo.EndCursor
		}
		return names, id.Repos.PageInfo.HasNextPage, end
	}
	t.Fatalf("no %s repositories in %s", provider, r.Data)
	return nil, false, ""
}

// TestBitbucketPagesAcrossWorkspaces: Ada's Bitbucket repositories lie in
// three workspaces; paging through the gateway two at a time reaches every
// one exactly once, hasNextPage carrying over from one workspace to the
// next, and the removed cross-workspace endpoint is never called.
func TestBitbucketPagesAcrossWorkspaces(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	seen := map[string]int{}
	workspaces := map[string]bool{}
	vars := map[string]any{"first": 2}
	for pages := 1; ; pages++ {
		if pages > 10 {
			t.Fatal("no last page after 10 pages")
		}
		r := e.post(context.Background(), token, apisReposQuery, vars)
		if r.Status != 200 {
			t.Fatalf("page %d = %d %s", pages, r.Status, r.Raw)
		}
		// The cursor belongs to the Bitbucket identity: the others refuse
		// it, and only they may.
		for _, err := range r.Errors {
			if pages == 1 || err.Extensions["code"] != "BAD_USER_INPUT" || err.Extensions["provider"] == "bitbucket" {
				t.Fatalf("page %d error %+v", pages, err)
			}
		}
		names, hasNext, end := reposOf(t, r, "bitbucket")
		for _, n := range names {
			seen[n]++
			ws, _, _ := strings.Cut(n, "/")
			workspaces[ws] = true
		}
		if !hasNext {
			break
		}
		if end == "" {
			t.Fatalf("page %d has a next page but no endCursor", pages)
		}
		vars["after"] = end
	}
	if len(seen) != 7 || len(workspaces) != 3 {
		t.Errorf("listed %d repositories in %d workspaces (%v); want 7 in 3", len(seen), len(workspaces), seen)
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s listed %d times; want once", n, c)
		}
	}
	if got := e.sb.Bitbucket.GoneCalls(); got != 0 {
		t.Errorf("the gateway called a removed Bitbucket endpoint %d times", got)
	}
}

// TestGoneIsUpstreamUnavailable: a 410 (Bitbucket's CHANGE-2770 answer)
// fails only that field, as UPSTREAM_UNAVAILABLE, and the log says the API
// is gone.
func TestGoneIsUpstreamUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.Bitbucket.FailNext(1, 410)
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), apisReposQuery, map[string]any{"first": 2})
	if r.Status != 200 || len(r.Errors) != 1 {
		t.Fatalf("response = %d %s; want one error", r.Status, r.Raw)
	}
	got := r.Errors[0]
	if got.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || got.Extensions["provider"] != "bitbucket" || strings.Contains(got.Message, "CHANGE-2770") {
		t.Errorf("error = %+v; want UPSTREAM_UNAVAILABLE for bitbucket, no upstream text", got)
	}
	if names, _, _ := reposOf(t, r, "github"); len(names) == 0 {
		t.Error("the GitHub identity lost its repositories too")
	}
	if logs := e.log.String(); !strings.Contains(logs, "API is gone (410 Gone)") {
		t.Error("no log line says the API is gone")
	}
}

// TestGitHubSSOPartialResults: GitHub's X-GitHub-SSO partial-results keeps
// the repositories and adds a PARTIAL_RESULTS error beside them.
func TestGitHubSSOPartialResults(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	e.sb.GitHub.WithholdSSO(e.sb.AccessToken(sandbox.Ada, "github"), 21955855)
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), apisReposQuery, map[string]any{"first": 2})
	if r.Status != 200 || len(r.Errors) != 1 {
		t.Fatalf("response = %d %s; want data and one error", r.Status, r.Raw)
	}
	if names, _, _ := reposOf(t, r, "github"); len(names) != 2 {
		t.Errorf("github repositories = %v; want 2 despite the partial answer", names)
	}
	got := r.Errors[0]
	if got.Extensions["code"] != "PARTIAL_RESULTS" || got.Extensions["provider"] != "github" || got.Extensions["connection"] != "github" ||
		!strings.Contains(got.Message, "SAML") || len(got.Path) == 0 || got.Path[len(got.Path)-1] != "repos" {
		t.Errorf("error = %+v; want PARTIAL_RESULTS on the repos field with provider and connection github", got)
	}
}

// TestEveryUpstreamSeesTheUserAgent: after a request that reaches every
// emulator (Auth0's JWKS, token and users endpoints, each provider's API,
// a refresh), each saw only idpgate/<version>.
func TestEveryUpstreamSeesTheUserAgent(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	r := e.post(context.Background(), e.sb.Token(sandbox.Ada), rfAllQuery, window())
	if r.Status != 200 {
		t.Fatalf("response = %d %s", r.Status, r.Raw)
	}
	want := httpx.UserAgent()
	for name, u := range map[string]string{
		"auth0": e.sb.Auth0URL, "github": e.sb.GitHubURL, "google": e.sb.GoogleURL,
		"gitlab": e.sb.GitLabURL, "bitbucket": e.sb.BitbucketURL, "msgraph": e.sb.MSGraphURL,
	} {
		seen := e.sb.UserAgents(u)
		if len(seen) != 1 || seen[want] == 0 {
			t.Errorf("%s saw User-Agents %v; want only %q", name, seen, want)
		}
	}
}

const apisCalendarQuery = `query($from: DateTime, $to: DateTime, $after: String) { me { identities { provider
  calendar(from: $from, to: $to, first: 1, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } } }`

// TestGraphPagesThroughOpaqueNextLinks: Ada's Microsoft calendar paged one
// event at a time through the gateway: each page follows Graph's
// @odata.nextLink (whose $skiptoken only the emulator understands) to the
// end, every event once.
func TestGraphPagesThroughOpaqueNextLinks(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	vars := window()
	seen := map[string]int{}
	for pages := 1; ; pages++ {
		if pages > 20 {
			t.Fatal("no last page after 20 pages")
		}
		r := e.post(context.Background(), token, apisCalendarQuery, vars)
		var data struct {
			Me struct {
				Identities []struct {
					Provider string `json:"provider"`
					Calendar *struct {
						Nodes []struct {
							ID string `json:"id"`
						} `json:"nodes"`
						PageInfo struct {
							HasNextPage bool    `json:"hasNextPage"`
							EndCursor   *string `json:"endCursor"`
						} `json:"pageInfo"`
					} `json:"calendar"`
				} `json:"identities"`
			} `json:"me"`
		}
		if err := json.Unmarshal(r.Data, &data); err != nil || r.Status != 200 {
			t.Fatalf("page %d = %d %s", pages, r.Status, r.Raw)
		}
		var next string
		found := false
		for _, id := range data.Me.Identities {
			if id.Provider != "windowslive" {
				continue
			}
			if id.Calendar == nil {
				t.Fatalf("page %d: windowslive calendar is null: %s", pages, r.Raw)
			}
			found = true
			for _, n := range id.Calendar.Nodes {
				seen[n.ID]++
			}
			if id.Calendar.PageInfo.HasNextPage && id.Calendar.PageInfo.EndCursor != nil {
				next = *id.Calendar.PageInfo.EndCursor
			}
		}
		if !found {
			t.Fatalf("no windowslive identity in %s", r.Raw)
		}
		if next == "" {
			break
		}
		vars["after"] = next
	}
	if len(seen) < 2 {
		t.Fatalf("saw %d events; want several pages' worth", len(seen))
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("event %s listed %d times; want once", id, n)
		}
	}
	if calls := e.sb.MSGraph.Calls(); calls != len(seen) {
		t.Errorf("Graph calls = %d; want one per page (%d)", calls, len(seen))
	}
}
