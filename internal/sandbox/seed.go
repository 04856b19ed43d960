package sandbox

import (
	"fmt"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakebitbucket"
	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
	"github.com/idpgate/idpgate/internal/sandbox/fakegitlab"
	"github.com/idpgate/idpgate/internal/sandbox/fakegoogle"
	"github.com/idpgate/idpgate/internal/sandbox/fakemsgraph"
)

// DemoUser describes a seeded user.
type DemoUser struct {
	ID        string
	Name      string
	Providers []string // Auth0 provider names of the linked identities
}

// Seeded demo users.
const (
	// Ada has every provider linked (and a Facebook identity, which has no
	// capability). Her Google access token has expired, so her first
	// calendar read refreshes it.
	Ada = "auth0|ada"
	// Grace signed in with GitHub and linked Google: the classic pair.
	Grace = "github|1815"
	// Linus signed in with GitLab only; his token lacks no scope. GitLab
	// is an Auth0 Custom Social Connection (strategy oauth2) named
	// "gitlab", so his identity reads provider "oauth2", connection
	// "gitlab", user_id "gitlab|1969", and his Auth0 user id
	// "oauth2|gitlab|1969" (https://auth0.com/docs/connections/social/oauth2).
	Linus = "oauth2|gitlab|1969"
	// Margaret signed in with Google and linked GitHub, then revoked the
	// gateway's access at Google: her calendar answers IDP_REAUTH_REQUIRED
	// until she signs in with google-oauth2 again (the login page's
	// connection sign-in, which makes the Google emulator issue new tokens).
	Margaret = "google-oauth2|100000000000000001936"
	// Hedy signed in with GitHub (its token in identities[]) and
	// connected Google through Auth0's Connected Accounts: Auth0 keeps that
	// token in Token Vault, so her google-oauth2 identity carries no
	// access_token and the gateway exchanges her bearer token for it.
	Hedy = "auth0|hedy"
)

// VaultScope is the scope of the Google account connected to Token
// Vault: what Token Vault reports, which may differ from the connection's.
const VaultScope = "openid https://www.googleapis.com/auth/calendar.events.readonly"

// tok returns a distinctive fake credential.
func tok(kind, who string) string {
	return fmt.Sprintf("%s-%s-%s-%s", SecretMarker, kind, who, randomHex(6))
}

func (s *Sandbox) addUser(u fakeauth0.User) {
	s.mu.Lock()
	for _, idn := range u.Identities {
		if idn.AccessToken != "" {
			s.tokens[u.UserID+"/"+idn.Connection] = idn.AccessToken
		}
	}
	s.mu.Unlock()
	s.Tenant.AddUser(u)
}

func (s *Sandbox) seed(now time.Time) {
	day := now.UTC().Truncate(24 * time.Hour)

	// Ada: everything.
	adaGH, adaGoogle, adaGoogleRT := tok("gho", "ada"), tok("ya29", "ada"), tok("google-rt", "ada")
	adaGL, adaGLRT, adaBB, adaBBRT := tok("gloa", "ada"), tok("glrt", "ada"), tok("bb", "ada"), tok("bb-rt", "ada")
	adaMS, adaMSRT := tok("eyJ0eXAi-ms", "ada"), tok("ms-rt", "ada")
	s.GitHub.AddUser(adaGH, githubRepos("ada", 45, 9001, now))
	s.Google.AddUser(adaGoogle, adaGoogleRT, googleEvents("ada", day, 12))
	s.Google.ExpireAccessToken(adaGoogle)
	s.GitLab.AddUser(adaGL, gitlabProjects("ada", 7, now))
	s.GitLab.AddRefreshToken(adaGL, adaGLRT)
	s.Bitbucket.AddUser(adaBB, adaBBRT, bitbucketRepos("ada", 7, now))
	s.MSGraph.AddUser(adaMS, adaMSRT, msEvents(day))
	// Microsoft binds a refresh token to the app and authority that got it.
	s.MSGraph.BindRefreshToken(adaMSRT, s.MSGraph.ClientID, "common")
	s.addUser(fakeauth0.User{
		UserID: Ada, Name: "Ada Lovelace", Nickname: "ada", Email: "ada@example.com",
		Picture: "https://example.com/ada.png",
		Identities: []fakeauth0.Identity{
			{Provider: "auth0", Connection: "Username-Password-Authentication", UserID: "ada"},
			{Provider: "github", Connection: "github", UserID: 9001, IsSocial: true, AccessToken: adaGH},
			{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "100000000000000000001", IsSocial: true, AccessToken: adaGoogle, RefreshToken: adaGoogleRT, ExpiresIn: 3599},
			{Provider: "oauth2", Connection: "gitlab", UserID: "gitlab|4242", IsSocial: true, AccessToken: adaGL, RefreshToken: adaGLRT, ExpiresIn: 7200},
			{Provider: "bitbucket", Connection: "bitbucket", UserID: "{7b0f3b5e-0000-4000-8000-00000000ada1}", IsSocial: true, AccessToken: adaBB, RefreshToken: adaBBRT, ExpiresIn: 7200},
			{Provider: "windowslive", Connection: "windowslive", UserID: "0123456789abcdef", IsSocial: true, AccessToken: adaMS, RefreshToken: adaMSRT, ExpiresIn: 3600},
			{Provider: "facebook", Connection: "facebook", UserID: "10150000000000001", IsSocial: true, AccessToken: tok("fb", "ada")},
		},
	})

	// Grace: GitHub primary, Google linked.
	graceGH, graceGoogle, graceRT := tok("gho", "grace"), tok("ya29", "grace"), tok("google-rt", "grace")
	s.GitHub.AddUser(graceGH, githubRepos("grace", 3, 1815, now))
	s.Google.AddUser(graceGoogle, graceRT, googleEvents("grace", day, 4))
	s.addUser(fakeauth0.User{
		UserID: Grace, Name: "Grace Hopper", Nickname: "grace", Email: "grace@example.com",
		Identities: []fakeauth0.Identity{
			{Provider: "github", Connection: "github", UserID: 1815, IsSocial: true, AccessToken: graceGH},
			{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "100000000000000001815", IsSocial: true, AccessToken: graceGoogle, RefreshToken: graceRT, ExpiresIn: 3599},
		},
	})

	// Linus: GitLab only.
	linusGL, linusGLRT := tok("gloa", "linus"), tok("glrt", "linus")
	s.GitLab.AddUser(linusGL, gitlabProjects("linus", 3, now))
	s.GitLab.AddRefreshToken(linusGL, linusGLRT)
	s.addUser(fakeauth0.User{
		UserID: Linus, Name: "Linus", Nickname: "linus", Email: "linus@example.com",
		Identities: []fakeauth0.Identity{
			{Provider: "oauth2", Connection: "gitlab", UserID: "gitlab|1969", IsSocial: true, AccessToken: linusGL, RefreshToken: linusGLRT, ExpiresIn: 7200},
		},
	})

	// Margaret: Google (consent revoked) and GitHub.
	margGH, margGoogle, margRT := tok("gho", "margaret"), tok("ya29", "margaret"), tok("google-rt", "margaret")
	s.GitHub.AddUser(margGH, githubRepos("margaret", 4, 1936, now))
	s.Google.AddUser(margGoogle, margRT, googleEvents("margaret", day, 3))
	s.Google.Revoke(margGoogle)
	s.addUser(fakeauth0.User{
		UserID: Margaret, Name: "Margaret Hamilton", Nickname: "margaret", Email: "margaret@example.com",
		Identities: []fakeauth0.Identity{
			{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "100000000000000001936", IsSocial: true, AccessToken: margGoogle, RefreshToken: margRT, ExpiresIn: 3599},
			{Provider: "github", Connection: "github", UserID: 1936, IsSocial: true, AccessToken: margGH},
		},
	})

	// Hedy: GitHub in identities[], Google in Token Vault. Each vault
	// token is registered with the Google emulator as it is issued and
	// lives an hour; Token Vault issues the next one itself.
	hedyGH := tok("gho", "hedy")
	s.GitHub.AddUser(hedyGH, githubRepos("hedy", 4, 1914, now))
	hedyEvents := googleEvents("hedy", day, 6)
	s.Tenant.ConnectAccount(Hedy, "google-oauth2", VaultScope, func() (string, time.Duration) {
		at := tok("ya29-vault", "hedy")
		s.Google.AddUser(at, "", hedyEvents)
		return at, time.Hour
	})
	s.addUser(fakeauth0.User{
		UserID: Hedy, Name: "Hedy Lamarr", Nickname: "hedy", Email: "hedy@example.com",
		Identities: []fakeauth0.Identity{
			{Provider: "auth0", Connection: "Username-Password-Authentication", UserID: "hedy"},
			{Provider: "github", Connection: "github", UserID: 1914, IsSocial: true, AccessToken: hedyGH},
			{Provider: "google-oauth2", Connection: "google-oauth2", UserID: "100000000000000001914", IsSocial: true},
		},
	})

	s.DemoUser = Ada
	s.Users = []DemoUser{
		{ID: Ada, Name: "Ada Lovelace", Providers: []string{"auth0", "github", "google-oauth2", "oauth2", "bitbucket", "windowslive", "facebook"}},
		{ID: Grace, Name: "Grace Hopper", Providers: []string{"github", "google-oauth2"}},
		{ID: Linus, Name: "Linus", Providers: []string{"oauth2"}},
		{ID: Margaret, Name: "Margaret Hamilton", Providers: []string{"google-oauth2 (consent revoked)", "github"}},
		{ID: Hedy, Name: "Hedy Lamarr", Providers: []string{"auth0", "github", "google-oauth2 (Token Vault)"}},
	}
}

// seedLoadUser adds auth0|load-NNNNN with a GitHub and a Google identity,
// and their repositories and events when withData.
func (s *Sandbox) seedLoadUser(i int, now time.Time, withData bool) string {
	id := fmt.Sprintf("auth0|load-%05d", i)
	who := fmt.Sprintf("load%05d", i)
	gh, gg := tok("gho", who), tok("ya29", who)
	if withData {
		s.GitHub.AddUser(gh, githubRepos(who, 5, int64(100000+i), now))
		s.Google.AddUser(gg, "", googleEvents(who, now.UTC().Truncate(24*time.Hour), 5))
	}
	s.addUser(fakeauth0.User{
		UserID: id, Name: fmt.Sprintf("Load %d", i), Nickname: who,
		Identities: []fakeauth0.Identity{
			{Provider: "github", Connection: "github", UserID: 100000 + i, IsSocial: true, AccessToken: gh},
			{Provider: "google-oauth2", Connection: "google-oauth2", UserID: fmt.Sprintf("2%020d", i), IsSocial: true, AccessToken: gg, ExpiresIn: 3599},
		},
	})
	return id
}

func githubRepos(owner string, n int, ownerID int64, now time.Time) []fakegithub.Repo {
	out := make([]fakegithub.Repo, n)
	for i := range out {
		name := fmt.Sprintf("%s-project-%02d", owner, i+1)
		var desc *string
		if i%3 != 2 {
			d := fmt.Sprintf("Demo repository %d of %s", i+1, owner)
			desc = &d
		}
		updated := now.UTC().Truncate(time.Second).Add(-time.Duration(i) * time.Hour)
		out[i] = fakegithub.Repo{
			ID:              ownerID*1000 + int64(i+1),
			NodeID:          fmt.Sprintf("R_kgDO%08d", ownerID*1000+int64(i+1)),
			Name:            name,
			FullName:        owner + "/" + name,
			Owner:           fakegithub.Owner{Login: owner, ID: ownerID, Type: "User"},
			Private:         i%4 == 3,
			HTMLURL:         "https://github.com/" + owner + "/" + name,
			Description:     desc,
			URL:             "https://api.github.com/repos/" + owner + "/" + name,
			CreatedAt:       updated.Add(-90 * 24 * time.Hour),
			UpdatedAt:       updated,
			PushedAt:        updated,
			StargazersCount: (i * 7) % 50,
			Visibility:      map[bool]string{true: "private", false: "public"}[i%4 == 3],
			DefaultBranch:   "main",
		}
	}
	return out
}

func googleEvents(who string, day time.Time, n int) []fakegoogle.Event {
	out := make([]fakegoogle.Event, 0, n)
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("%sevt%03d", who, i+1)
		e := fakegoogle.Event{
			ID:       id,
			Status:   "confirmed",
			HTMLLink: "https://www.google.com/calendar/event?eid=" + id,
			Summary:  fmt.Sprintf("%s meeting %d", who, i+1),
		}
		start := day.Add(time.Duration(i+1)*24*time.Hour + 9*time.Hour)
		if i%5 == 4 {
			// an all-day event
			e.Summary = fmt.Sprintf("%s offsite %d", who, i+1)
			e.Start = fakegoogle.EventDateTime{Date: start.Format("2006-01-02")}
			e.End = fakegoogle.EventDateTime{Date: start.Add(24 * time.Hour).Format("2006-01-02")}
		} else {
			e.Start = fakegoogle.EventDateTime{DateTime: start.Format(time.RFC3339), TimeZone: "UTC"}
			e.End = fakegoogle.EventDateTime{DateTime: start.Add(time.Hour).Format(time.RFC3339), TimeZone: "UTC"}
		}
		if i%7 == 6 {
			e.Status = "tentative"
		}
		out = append(out, e)
	}
	return out
}

func gitlabProjects(owner string, n int, now time.Time) []fakegitlab.Project {
	out := make([]fakegitlab.Project, n)
	vis := []string{"public", "private", "internal"}
	for i := range out {
		name := fmt.Sprintf("%s-lab-%02d", owner, i+1)
		d := "GitLab demo project " + name
		out[i] = fakegitlab.Project{
			ID:                int64(5000 + i + 1),
			Name:              name,
			PathWithNamespace: owner + "/" + name,
			Description:       &d,
			Visibility:        vis[i%3],
			StarCount:         i * 3,
			LastActivityAt:    now.UTC().Truncate(time.Second).Add(-time.Duration(i) * 2 * time.Hour),
			WebURL:            "https://gitlab.com/" + owner + "/" + name,
		}
	}
	return out
}

// bitbucketRepos seeds n repositories spread over the owner's personal
// workspace and two shared ones, so that listing them walks three
// workspaces (Bitbucket lists repositories per workspace since CHANGE-2770).
func bitbucketRepos(owner string, n int, now time.Time) []fakebitbucket.Repo {
	workspaces := []string{owner, owner + "-team", "analytical-engine"}
	out := make([]fakebitbucket.Repo, n)
	for i := range out {
		ws := workspaces[i%len(workspaces)]
		slug := fmt.Sprintf("%s-bb-%02d", owner, i+1)
		out[i] = fakebitbucket.Repo{
			UUID:        fmt.Sprintf("{00000000-0000-4000-8000-%012d}", i+1),
			Name:        slug,
			FullName:    ws + "/" + slug,
			Private:     i%2 == 0,
			Description: "Bitbucket demo repository " + slug,
			UpdatedOn:   now.UTC().Truncate(time.Second).Add(-time.Duration(i) * 3 * time.Hour),
			HTMLURL:     "https://bitbucket.org/" + ws + "/" + slug,
		}
	}
	return out
}

func msEvents(day time.Time) []fakemsgraph.Event {
	berlin := day.Add(2*24*time.Hour + 8*time.Hour) // 09:00 in Berlin in winter
	return []fakemsgraph.Event{
		{ID: "AAMkAGada001=", Subject: "Analytical Engine review", Start: day.Add(24*time.Hour + 14*time.Hour), End: day.Add(24*time.Hour + 15*time.Hour), WebLink: "https://outlook.live.com/calendar/item/1"},
		{ID: "AAMkAGada002=", Subject: "Berlin stand-up", Start: berlin, End: berlin.Add(30 * time.Minute), TimeZone: "Europe/Berlin", ShowAs: "tentative", WebLink: "https://outlook.live.com/calendar/item/2"},
		{ID: "AAMkAGada003=", Subject: "Holiday", Start: day.Add(5 * 24 * time.Hour), End: day.Add(6 * 24 * time.Hour), AllDay: true, WebLink: "https://outlook.live.com/calendar/item/3"},
		{ID: "AAMkAGada004=", Subject: "Cancelled sync", Start: day.Add(3*24*time.Hour + 10*time.Hour), End: day.Add(3*24*time.Hour + 11*time.Hour), IsCancelled: true, WebLink: "https://outlook.live.com/calendar/item/4"},
	}
}
