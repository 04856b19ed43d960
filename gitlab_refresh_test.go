package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// The end-to-end tests of issue 7's GitLab refresh and misconfigured OAuth
// clients, over HTTP through the gateway to the sandbox's GitLab emulator,
// whose access tokens expire after two hours and whose refresh rotates.

// TestGitLabExpiredTokenRefreshedOnceUnderLoad: Ada's GitLab token has
// expired; 40 concurrent requests share one refresh, and after the new
// token expires too, the next 40 share one refresh with the ROTATED
// refresh token: the spent one is never presented again.
func TestGitLabExpiredTokenRefreshedOnceUnderLoad(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: rfBurstEnv(nil)})
	// Hold each GitLab answer a little so the 40 requests meet the expired
	// token together rather than one after the other's refresh.
	e.sb.SetLatency(50 * time.Millisecond)
	const n = 40
	for round := 1; round <= 2; round++ {
		e.sb.GitLab.Advance(fakeGitLabLifetime)
		for i, r := range rfPostAll(e, n, e.sb.Token(sandbox.Ada), rfReposQuery, nil) {
			if r.Status != http.StatusOK || len(r.Errors) > 0 {
				t.Errorf("round %d request %d = %d %s; want success", round, i, r.Status, r.Raw)
				continue
			}
			rfExpectResolved(t, r, rfAdaRepos())
		}
		if got := e.sb.GitLab.Refreshes(); got != round {
			t.Errorf("round %d: GitLab token endpoint calls = %d; want %d (one per expiry)", round, got, round)
		}
	}
	presented := e.sb.GitLab.PresentedRefreshTokens()
	if len(presented) != 2 || presented[0] == presented[1] {
		t.Errorf("refresh tokens presented = %d (distinct: %v); want 2 distinct (Auth0's, then the rotated one)", len(presented), len(presented) == 2 && presented[0] != presented[1])
	}
	if got := e.sb.GitLab.SpentRefreshTokenUses(); got != 0 {
		t.Errorf("spent refresh tokens presented = %d; want 0", got)
	}
}

// fakeGitLabLifetime is the emulator's access token lifetime (GitLab's two
// hours).
const fakeGitLabLifetime = 2 * time.Hour

// TestMisconfiguredGitLabClientCalledOncePerPeriod: the gateway's GitLab
// client secret is wrong. Under two waves of 40 concurrent requests with
// an expired token, the token endpoint is called once; every request gets
// UPSTREAM_UNAVAILABLE naming the setting to fix, the failure is logged
// once.
func TestMisconfiguredGitLabClientCalledOncePerPeriod(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: rfBurstEnv(map[string]string{"GITLAB_CLIENT_SECRET": "not-the-gitlab-secret"})})
	e.sb.SetLatency(20 * time.Millisecond)
	e.sb.GitLab.Advance(fakeGitLabLifetime)
	const n = 40
	for wave := range 2 {
		for i, r := range rfPostAll(e, n, e.sb.Token(sandbox.Ada), rfReposQuery, nil) {
			rfExpectResolved(t, r, rfAdaRepos(), "gitlab")
			got := rfErrorFor(t, r, "gitlab")
			if got.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || !strings.Contains(got.Message, "GITLAB_CLIENT_ID") {
				t.Errorf("wave %d request %d: gitlab error = %q %v; want UPSTREAM_UNAVAILABLE naming GITLAB_CLIENT_ID", wave, i, got.Message, got.Extensions["code"])
			}
			if strings.Contains(got.Message, "not-the-gitlab-secret") || strings.Contains(got.Message, "Client authentication failed") {
				t.Errorf("message %q leaks the secret or the upstream body", got.Message)
			}
		}
	}
	if got := e.sb.GitLab.Refreshes(); got != 1 {
		t.Errorf("GitLab token endpoint calls under %d requests = %d; want 1 in the period", 2*n, got)
	}
	logs := e.log.String()
	if got := strings.Count(logs, "refreshing is suspended"); got != 1 {
		t.Errorf("misconfiguration log lines = %d; want 1 per period", got)
	}
	if strings.Contains(logs, "not-the-gitlab-secret") {
		t.Error("the client secret reached the logs")
	}
}
