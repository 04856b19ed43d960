package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
	"github.com/idpgate/idpgate/internal/sandbox/fakemsgraph"
)

// The tests of this file check the connection registry end to end: the
// unit is the Auth0 connection (identities[].connection), each with its own
// adapter settings, HTTP client and circuit breaker.

const connQuery = `query($from: DateTime, $to: DateTime) {
  me { identities { provider connection capabilities
    repos(first: 5) { nodes { name } }
    calendar(from: $from, to: $to, first: 5) { nodes { title } }
  } }
}`

type connIdentity struct {
	Provider     string   `json:"provider"`
	Connection   string   `json:"connection"`
	Capabilities []string `json:"capabilities"`
	Repos        *struct {
		Nodes []struct {
			Name string `json:"name"`
		} `json:"nodes"`
	} `json:"repos"`
	Calendar *struct {
		Nodes []struct {
			Title string `json:"title"`
		} `json:"nodes"`
	} `json:"calendar"`
}

// connIdentities returns the identities of a response by connection name.
func connIdentities(t *testing.T, r *gqlResponse) map[string]connIdentity {
	t.Helper()
	var d struct {
		Me *struct {
			Identities []connIdentity `json:"identities"`
		} `json:"me"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil || d.Me == nil {
		t.Fatalf("data = %s (%v); want me", r.Raw, err)
	}
	out := map[string]connIdentity{}
	for _, idn := range d.Me.Identities {
		out[idn.Connection] = idn
	}
	return out
}

func (c connIdentity) repoNames() []string {
	if c.Repos == nil {
		return nil
	}
	var out []string
	for _, n := range c.Repos.Nodes {
		out = append(out, n.Name)
	}
	return out
}

func (c connIdentity) titles() []string {
	if c.Calendar == nil {
		return nil
	}
	var out []string
	for _, n := range c.Calendar.Nodes {
		out = append(out, n.Title)
	}
	return out
}

// TestGitLabCustomSocialConnection: Auth0 has no GitLab provider; GitLab
// sign-in is a Custom Social Connection, so the identity reads provider
// "oauth2", connection "gitlab" (https://auth0.com/docs/connections/social/oauth2).
// With no configuration the gitlab connection is served by the GitLab
// adapter, and another oauth2 connection has no capability.
func TestGitLabCustomSocialConnection(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	linus := e.sb.AccessToken(sandbox.Linus, "gitlab")
	e.sb.Tenant.AddUser(fakeauth0.User{UserID: "oauth2|gitlab|7", Name: "Two Customs", Identities: []fakeauth0.Identity{
		{Provider: "oauth2", Connection: "gitlab", UserID: "gitlab|7", IsSocial: true, AccessToken: linus},
		{Provider: "oauth2", Connection: "acme-sso", UserID: "acme-sso|7", IsSocial: true, AccessToken: sandbox.SecretMarker + "-acme-sso"},
	}})
	for _, user := range []string{sandbox.Linus, "oauth2|gitlab|7"} {
		r := e.post(context.Background(), e.sb.Token(user), connQuery, window())
		if r.Status != http.StatusOK || len(r.Errors) > 0 {
			t.Fatalf("%s: response = %d %s; want no errors", user, r.Status, r.Raw)
		}
		ids := connIdentities(t, r)
		gl := ids["gitlab"]
		if gl.Provider != "oauth2" || !slices.Equal(gl.Capabilities, []string{"REPOS"}) || len(gl.repoNames()) != 3 {
			t.Errorf("%s: gitlab identity = %+v; want provider oauth2, REPOS, 3 projects", user, gl)
		}
		if other, ok := ids["acme-sso"]; ok && (len(other.Capabilities) != 0 || other.Repos != nil) {
			t.Errorf("%s: acme-sso identity = %+v; want no capability", user, other)
		}
	}
}

// newGHE serves a second GitHub emulator under /api/v3/, as GitHub
// Enterprise Server mounts its REST API.
func newGHE(t *testing.T) (*fakegithub.Server, string) {
	t.Helper()
	ghe := &fakegithub.Server{}
	mux := http.NewServeMux()
	mux.Handle("/api/v3/", http.StripPrefix("/api/v3/", ghe))
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { ghe.Close(); srv.Close() })
	return ghe, srv.URL + "/api/v3/"
}

// TestGitHubEnterpriseConnection: a GitHub Enterprise instance behind a
// custom oauth2 connection "ghe" (CONNECTION_GHE_ADAPTER=github,
// CONNECTION_GHE_API_URL) is read at its own base, and its circuit breaker
// is its own: when the instance fails until its circuit opens, github.com
// keeps answering for the same user, and the open circuit spares the
// instance.
func TestGitHubEnterpriseConnection(t *testing.T) {
	t.Parallel()
	ghe, gheURL := newGHE(t)
	e := newEnv(t, envOptions{env: map[string]string{
		"CONNECTION_GHE_ADAPTER": "github",
		"CONNECTION_GHE_API_URL": gheURL,
	}})
	dotcom, enterprise := sandbox.SecretMarker+"-gho-dotcom-77", sandbox.SecretMarker+"-gho-ghe-77"
	e.sb.GitHub.AddUser(dotcom, []fakegithub.Repo{{ID: 7701, Name: "public-work", FullName: "sam/public-work", HTMLURL: "https://github.com/sam/public-work"}})
	ghe.AddUser(enterprise, []fakegithub.Repo{{ID: 1, Name: "inner-source", FullName: "acme/inner-source", HTMLURL: "https://ghe.acme.com/acme/inner-source"}})
	e.sb.Tenant.AddUser(fakeauth0.User{UserID: "github|77", Name: "Sam", Identities: []fakeauth0.Identity{
		{Provider: "github", Connection: "github", UserID: 77, IsSocial: true, AccessToken: dotcom},
		{Provider: "oauth2", Connection: "ghe", UserID: "ghe|5", IsSocial: true, AccessToken: enterprise},
	}})
	token := e.sb.Token("github|77")

	r := e.post(context.Background(), token, connQuery, window())
	ids := connIdentities(t, r)
	if len(r.Errors) > 0 || !slices.Equal(ids["github"].repoNames(), []string{"public-work"}) || !slices.Equal(ids["ghe"].repoNames(), []string{"inner-source"}) {
		t.Fatalf("response = %s; want public-work from github.com and inner-source from the enterprise instance", r.Raw)
	}

	ghe.FailNext(1000, http.StatusInternalServerError) // a 500 is not retried: one failure per request
	for i := range 10 {                                // the default breaker opens after 10 consecutive failures
		r := e.post(context.Background(), token, connQuery, window())
		if len(r.Errors) != 1 || r.Errors[0].Extensions["code"] != "UPSTREAM_UNAVAILABLE" ||
			r.Errors[0].Extensions["connection"] != "ghe" || r.Errors[0].Extensions["provider"] != "oauth2" {
			t.Fatalf("request %d = %s; want one UPSTREAM_UNAVAILABLE for connection ghe, provider oauth2", i, r.Raw)
		}
	}
	gheBefore, dotcomBefore := ghe.Calls(), e.sb.GitHub.Calls()
	r = e.post(context.Background(), token, connQuery, window())
	ids = connIdentities(t, r)
	if !slices.Equal(ids["github"].repoNames(), []string{"public-work"}) {
		t.Errorf("github.com with the enterprise circuit open = %s; want its repositories", r.Raw)
	}
	if got := ghe.Calls() - gheBefore; got != 0 {
		t.Errorf("enterprise calls with its circuit open = %d; want 0", got)
	}
	if got := e.sb.GitHub.Calls() - dotcomBefore; got != 1 {
		t.Errorf("github.com calls = %d; want 1", got)
	}
	var opened []string
	for _, line := range strings.Split(e.log.String(), "\n") {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) == nil && l["msg"] == "resilience: circuit open" {
			opened = append(opened, fmt.Sprint(l["upstream"]))
		}
	}
	if !slices.Equal(opened, []string{"ghe"}) {
		t.Errorf("circuits opened = %q; want only ghe's", opened)
	}
}

// newMicrosoft serves a second Microsoft identity platform and Graph
// emulator that accepts only its own application, as the app registration
// of another Azure AD tenant would.
func newMicrosoft(t *testing.T, clientID string) (*fakemsgraph.Server, string) {
	t.Helper()
	ms := &fakemsgraph.Server{ClientID: clientID, ClientSecret: sandbox.SecretMarker + "-" + clientID}
	srv := httptest.NewServer(ms)
	t.Cleanup(func() { ms.Close(); srv.Close() })
	return ms, srv.URL
}

// TestMicrosoftConnectionsUseTheirOwnClients: a Microsoft Account
// connection (windowslive, the MICROSOFT_* defaults) and an Azure AD
// connection of another tenant (waad "acme-azuread" with its own
// CONNECTION_ACME_AZUREAD_TOKEN_URL, CLIENT_ID and CLIENT_SECRET) both hold
// expired tokens. Each is refreshed at its own token endpoint with its own
// client: each emulator accepts only its application, so a client that
// reached the wrong connection would fail the refresh.
func TestMicrosoftConnectionsUseTheirOwnClients(t *testing.T) {
	t.Parallel()
	acme, acmeURL := newMicrosoft(t, "acme-app")
	e := newEnv(t, envOptions{env: map[string]string{
		"CONNECTION_ACME_AZUREAD_API_URL":       acmeURL + "/",
		"CONNECTION_ACME_AZUREAD_TOKEN_URL":     acmeURL + "/acme-tenant/oauth2/v2.0/token",
		"CONNECTION_ACME_AZUREAD_CLIENT_ID":     acme.ClientID,
		"CONNECTION_ACME_AZUREAD_CLIENT_SECRET": acme.ClientSecret,
	}})
	start := fixedNow.Add(24 * time.Hour)
	liveAT, liveRT := sandbox.SecretMarker+"-ms-live-at", sandbox.SecretMarker+"-ms-live-rt"
	acmeAT, acmeRT := sandbox.SecretMarker+"-ms-acme-at", sandbox.SecretMarker+"-ms-acme-rt"
	e.sb.MSGraph.AddUser(liveAT, liveRT, []fakemsgraph.Event{{ID: "live1", Subject: "personal", Start: start, End: start.Add(time.Hour)}})
	acme.AddUser(acmeAT, acmeRT, []fakemsgraph.Event{{ID: "acme1", Subject: "acme all-hands", Start: start, End: start.Add(time.Hour)}})
	e.sb.MSGraph.ExpireAccessToken(liveAT)
	acme.ExpireAccessToken(acmeAT)
	e.sb.Tenant.AddUser(fakeauth0.User{UserID: "windowslive|m1", Name: "Morgan", Identities: []fakeauth0.Identity{
		{Provider: "windowslive", Connection: "windowslive", UserID: "m1", IsSocial: true, AccessToken: liveAT, RefreshToken: liveRT, ExpiresIn: 3600},
		{Provider: "waad", Connection: "acme-azuread", UserID: "m1-acme", AccessToken: acmeAT, RefreshToken: acmeRT, ExpiresIn: 3600},
	}})

	r := e.post(context.Background(), e.sb.Token("windowslive|m1"), connQuery, window())
	ids := connIdentities(t, r)
	if len(r.Errors) > 0 || !slices.Equal(ids["windowslive"].titles(), []string{"personal"}) || !slices.Equal(ids["acme-azuread"].titles(), []string{"acme all-hands"}) {
		t.Fatalf("response = %s; want each calendar from its own tenant", r.Raw)
	}
	if got := e.sb.MSGraph.Refreshes(); got != 1 {
		t.Errorf("default Microsoft token endpoint calls = %d; want 1 (windowslive)", got)
	}
	if got := acme.Refreshes(); got != 1 {
		t.Errorf("acme token endpoint calls = %d; want 1 (acme-azuread)", got)
	}
}

// TestMisconfiguredConnectionClientNamesItsSetting: the acme-azuread
// connection's own client secret is wrong. Its refresh fails with
// UPSTREAM_UNAVAILABLE naming CONNECTION_ACME_AZUREAD_CLIENT_ID (the
// setting to fix, not the provider-level MICROSOFT_CLIENT_ID), without the
// secret; the windowslive connection, on the provider-level client, still
// refreshes.
func TestMisconfiguredConnectionClientNamesItsSetting(t *testing.T) {
	t.Parallel()
	acme, acmeURL := newMicrosoft(t, "acme-app")
	const wrong = "not-the-acme-secret"
	e := newEnv(t, envOptions{env: map[string]string{
		"CONNECTION_ACME_AZUREAD_API_URL":       acmeURL + "/",
		"CONNECTION_ACME_AZUREAD_TOKEN_URL":     acmeURL + "/acme-tenant/oauth2/v2.0/token",
		"CONNECTION_ACME_AZUREAD_CLIENT_ID":     acme.ClientID,
		"CONNECTION_ACME_AZUREAD_CLIENT_SECRET": wrong,
	}})
	start := fixedNow.Add(24 * time.Hour)
	liveAT, liveRT := sandbox.SecretMarker+"-ms-live-at", sandbox.SecretMarker+"-ms-live-rt"
	acmeAT, acmeRT := sandbox.SecretMarker+"-ms-acme-at", sandbox.SecretMarker+"-ms-acme-rt"
	e.sb.MSGraph.AddUser(liveAT, liveRT, []fakemsgraph.Event{{ID: "live1", Subject: "personal", Start: start, End: start.Add(time.Hour)}})
	acme.AddUser(acmeAT, acmeRT, []fakemsgraph.Event{{ID: "acme1", Subject: "acme all-hands", Start: start, End: start.Add(time.Hour)}})
	e.sb.MSGraph.ExpireAccessToken(liveAT)
	acme.ExpireAccessToken(acmeAT)
	e.sb.Tenant.AddUser(fakeauth0.User{UserID: "windowslive|m2", Name: "Morgan", Identities: []fakeauth0.Identity{
		{Provider: "windowslive", Connection: "windowslive", UserID: "m2", IsSocial: true, AccessToken: liveAT, RefreshToken: liveRT, ExpiresIn: 3600},
		{Provider: "waad", Connection: "acme-azuread", UserID: "m2-acme", AccessToken: acmeAT, RefreshToken: acmeRT, ExpiresIn: 3600},
	}})

	r := e.post(context.Background(), e.sb.Token("windowslive|m2"), connQuery, window())
	if ids := connIdentities(t, r); !slices.Equal(ids["windowslive"].titles(), []string{"personal"}) {
		t.Errorf("windowslive calendar = %v; want [personal] (its own client works)", ids["windowslive"].titles())
	}
	got := rfErrorFor(t, r, "acme-azuread")
	if got.Extensions["code"] != "UPSTREAM_UNAVAILABLE" || !strings.Contains(got.Message, "CONNECTION_ACME_AZUREAD_CLIENT_ID") || strings.Contains(got.Message, "MICROSOFT_CLIENT_ID") {
		t.Errorf("acme-azuread error = %q %v; want UPSTREAM_UNAVAILABLE naming CONNECTION_ACME_AZUREAD_CLIENT_ID", got.Message, got.Extensions["code"])
	}
	if strings.Contains(string(r.Raw), wrong) || strings.Contains(e.log.String(), wrong) {
		t.Error("the client secret reached the response or the logs")
	}
	if !strings.Contains(e.log.String(), "CONNECTION_ACME_AZUREAD_CLIENT_ID") {
		t.Error("the misconfiguration log line does not name the connection's setting")
	}
}
