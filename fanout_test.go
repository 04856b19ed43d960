package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
)

// addManyGitHub seeds a user with n linked GitHub identities (one GitHub
// account each, with one repository) and returns the user's id.
func addManyGitHub(e *testEnv, name string, n int) string {
	id := "auth0|fan-" + name
	u := fakeauth0.User{UserID: id, Name: "Fan-out " + name}
	for i := range n {
		tok := fmt.Sprintf("%s-gho-fan-%s-%02d", sandbox.SecretMarker, name, i)
		login := fmt.Sprintf("fan-%s-%02d", name, i)
		ghID := 900000 + 100*len(name) + i
		e.sb.GitHub.AddUser(tok, []fakegithub.Repo{{
			ID: int64(ghID), NodeID: fmt.Sprintf("R_fan%d", ghID), Name: "r", FullName: login + "/r",
			Owner: fakegithub.Owner{Login: login, ID: int64(ghID), Type: "User"}, HTMLURL: "https://github.com/" + login + "/r",
			Visibility: "public", DefaultBranch: "main", CreatedAt: fixedNow, UpdatedAt: fixedNow, PushedAt: fixedNow,
		}})
		u.Identities = append(u.Identities, fakeauth0.Identity{Provider: "github", Connection: "github", UserID: ghID, IsSocial: true, AccessToken: tok})
	}
	e.sb.Tenant.AddUser(u)
	return id
}

// fanoutQuery asks every identity's repositories three times (aliases):
// the cost check assumes 8 identities and accepts it.
const fanoutQuery = `{ me { identities { id
  a: repos(first: 1) { nodes { name } }
  b: repos(first: 2) { nodes { name } }
  c: repos(first: 3) { nodes { name } } } } }`

// TestFanOutOfManyIdentities (issue 10.4): a user with 40 linked GitHub
// identities made one accepted request cost 120 GitHub calls (480 with more
// aliases), up to 64 at once. Now MAX_IDENTITIES distinct identities are
// called per request, every field of the others answers
// IDENTITY_LIMIT_EXCEEDED, and the user never has more than
// USER_UPSTREAM_CONCURRENCY calls in flight.
func TestFanOutOfManyIdentities(t *testing.T) {
	t.Parallel()
	cases := []struct {
		maxIdentities, perUser, identities int
	}{
		{10, 8, 40},
		{3, 2, 5},
		{10, 8, 4}, // under the cap: every identity is read
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("max=%d,perUser=%d,identities=%d", tc.maxIdentities, tc.perUser, tc.identities), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, envOptions{env: map[string]string{
				"MAX_IDENTITIES":            fmt.Sprint(tc.maxIdentities),
				"USER_UPSTREAM_CONCURRENCY": fmt.Sprint(tc.perUser),
			}})
			// Calls overlap for long enough that an unbounded fan-out shows
			// in the emulator's in-flight high-water mark.
			e.sb.GitHub.SetLatency(30 * time.Millisecond)
			id := addManyGitHub(e, "many", tc.identities)
			before := e.sb.GitHub.Calls()
			r := e.post(context.Background(), e.sb.Token(id), fanoutQuery, nil)
			if r.Status != 200 {
				t.Fatalf("status = %d %s; want 200", r.Status, r.Raw)
			}
			called := min(tc.identities, tc.maxIdentities)
			if got, want := e.sb.GitHub.Calls()-before, 3*called; got != want {
				t.Errorf("GitHub calls = %d; want %d (3 fields × %d identities)", got, want, called)
			}
			if got := e.sb.GitHub.MaxInFlight(); got > tc.perUser {
				t.Errorf("GitHub calls in flight at once = %d; want at most %d", got, tc.perUser)
			}
			limited := map[float64]int{} // identity index -> fields refused
			for _, ge := range r.Errors {
				if ge.Extensions["code"] != gqlresp.CodeIdentityLimit {
					t.Errorf("error %+v; want only %s", ge, gqlresp.CodeIdentityLimit)
					continue
				}
				idx, _ := ge.Path[2].(float64)
				limited[idx]++
			}
			if want := tc.identities - called; len(limited) != want {
				t.Errorf("identities answering %s = %d; want %d", gqlresp.CodeIdentityLimit, len(limited), want)
			}
			for idx, n := range limited {
				if n != 3 {
					t.Errorf("identity %v: %d of its 3 fields refused; want all or none", idx, n)
				}
			}
			if n := strings.Count(string(r.Raw), `"id":"github|`); n != tc.identities {
				t.Errorf("identities listed = %d; want all %d", n, tc.identities)
			}
		})
	}
}

// TestIdentityLimitCountsDistinctIdentities: MAX_IDENTITIES counts the
// distinct identities whose provider fields run in one request, not
// positions in the profile, so identity(id:) and the identities filters
// reach an identity past the tenth, and a selection of all of them still
// calls GitHub for ten.
func TestIdentityLimitCountsDistinctIdentities(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"MAX_IDENTITIES": "10"}})
	user := addManyGitHub(e, "distinct", 40)
	token := e.sb.Token(user)
	// The 35th identity (index 34), as addManyGitHub numbers them.
	thirtyFifth := fmt.Sprintf("github|%d", 900000+100*len("distinct")+34)
	cases := []struct {
		name, query           string
		wantData, wantLimited int // identities with repositories, and refused
		wantCalls             int
	}{
		{"identity(id:) past the tenth", `{ me { identity(id: "` + thirtyFifth + `") { id repos(first: 1) { nodes { fullName } } } } }`, 1, 0, 1},
		{"the 35th twice, aliased", `{ me { a: identity(id: "` + thirtyFifth + `") { id repos(first: 1) { nodes { fullName } } } b: identity(id: "` + thirtyFifth + `") { id repos(first: 2) { nodes { fullName } } } } }`, 2, 0, 2},
		{"all 40", `{ me { identities { id repos(first: 1) { nodes { fullName } } } } }`, 10, 30, 10},
		{"all 40 through a filter", `{ me { identities(provider: "github") { id repos(first: 1) { nodes { fullName } } } } }`, 10, 30, 10},
		{"two fields of all 40", `{ me { identities { id a: repos(first: 1) { nodes { fullName } } b: repos(first: 2) { nodes { fullName } } } } }`, 20, 60, 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sb.GitHub.Calls()
			r := e.post(context.Background(), token, tc.query, nil)
			if r.Status != 200 {
				t.Fatalf("status = %d %s; want 200", r.Status, r.Raw)
			}
			limited := 0
			for _, ge := range r.Errors {
				if ge.Extensions["code"] != gqlresp.CodeIdentityLimit {
					t.Errorf("error %+v; want only %s", ge, gqlresp.CodeIdentityLimit)
				}
				limited++
			}
			if limited != tc.wantLimited {
				t.Errorf("%s errors = %d; want %d", gqlresp.CodeIdentityLimit, limited, tc.wantLimited)
			}
			if got := strings.Count(string(r.Data), `"fullName":"fan-distinct-`); got != tc.wantData {
				t.Errorf("repository lists with data = %d; want %d (%s)", got, tc.wantData, r.Data)
			}
			if tc.wantData > 0 && tc.wantLimited == 0 && !strings.Contains(string(r.Data), "fan-distinct-34/r") {
				t.Errorf("data = %s; want the 35th identity's repository", r.Data)
			}
			if got := e.sb.GitHub.Calls() - before; got != tc.wantCalls {
				t.Errorf("GitHub calls = %d; want %d", got, tc.wantCalls)
			}
		})
	}
}

// TestFairnessUnderHostileUsers (issue 10.4, long): a quiet user's latency
// while four users with 40 GitHub identities each send requests at about
// their per-user rate limit, with GitHub answering in 100ms. The
// quiet user's p99 must stay within 2× of a run without them.
func TestFairnessUnderHostileUsers(t *testing.T) {
	longTest(t)
	const quietRequests, latency = 100, 100 * time.Millisecond
	run := func(hostile int) (p50, p99 time.Duration, hostileOK, hostileLimited, maxInFlight int) {
		e := newEnv(t, envOptions{env: map[string]string{"USER_RPS": "10", "USER_BURST": "40", "LOG_LEVEL": "warn"}})
		e.sb.GitHub.SetLatency(latency)
		quiet := e.sb.Token(sandbox.Grace)
		ctx, stop := context.WithCancel(t.Context())
		var wg sync.WaitGroup
		var mu sync.Mutex
		for h := range hostile {
			tok := e.sb.Token(addManyGitHub(e, fmt.Sprintf("hostile%d", h), 40))
			// Four clients each: a request of theirs takes about 400ms (30
			// calls, 8 at a time), so they send at about USER_RPS.
			for range 4 {
				wg.Go(func() {
					for ctx.Err() == nil {
						r := e.post(ctx, tok, fanoutQuery, nil)
						mu.Lock()
						if r.Status == 200 {
							hostileOK++
						} else if r.Status == 429 {
							hostileLimited++
						}
						mu.Unlock()
					}
				})
			}
		}
		q := `{ me { identities { repos(first: 5) { nodes { name } } } } }`
		e.post(t.Context(), quiet, q, nil) // profile cached
		var lat []time.Duration
		for range quietRequests {
			t0 := time.Now()
			r := e.post(t.Context(), quiet, q, nil)
			lat = append(lat, time.Since(t0))
			if r.Status != 200 || len(r.Errors) > 0 {
				t.Errorf("quiet request = %d %s; want success", r.Status, r.Raw)
			}
		}
		stop()
		wg.Wait()
		slices.Sort(lat)
		return percentile(lat, 0.5), percentile(lat, 0.99), hostileOK, hostileLimited, e.sb.GitHub.MaxInFlight()
	}
	q50, q99, _, _, _ := run(0)
	h50, h99, ok, limited, inFlight := run(4)
	t.Logf("quiet user, GitHub latency %v: alone p50 %v p99 %v; with 4 hostile users (40 identities each; %d requests answered, %d rate limited; at most %d GitHub calls in flight) p50 %v p99 %v",
		latency, q50.Round(time.Millisecond), q99.Round(time.Millisecond), ok, limited, inFlight, h50.Round(time.Millisecond), h99.Round(time.Millisecond))
	if h99 > 2*q99 {
		t.Errorf("quiet user's p99 with hostile users = %v; want at most 2× the quiet run's %v", h99, q99)
	}
}
