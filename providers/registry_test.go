package providers

import (
	"context"
	"testing"

	"github.com/idpgate/idpgate/internal/secret"
)

type repos struct{ name string }

func (repos) ListRepos(context.Context, secret.String, PageRequest) (Page[Repository], error) {
	return Page[Repository]{}, nil
}

// TestRegistryLookup: a configured connection wins over the defaults, a
// default for provider and connection over one for the provider alone,
// and anything else has no capability. A lazy connection is built once
// per provider.
func TestRegistryLookup(t *testing.T) {
	var nilReg *Registry
	if c := nilReg.Lookup("github", "github"); c.Name != "github" || c.Repos != nil {
		t.Errorf("nil registry Lookup = %+v; want a named connection without capability", c)
	}
	reg := &Registry{}
	reg.AddDefault(Match{Provider: "github"}, Connection{Adapter: "github", Provider: Provider{Repos: repos{"dotcom"}}})
	reg.AddDefault(Match{Provider: "oauth2", Connection: "gitlab"}, Connection{Adapter: "gitlab", Provider: Provider{Repos: repos{"gitlab"}}})
	reg.Add(Connection{Name: "github-enterprise", Adapter: "github", Provider: Provider{Repos: repos{"ghe"}}})
	builds := map[string]int{}
	reg.AddLazy("acme", func(provider string) Connection {
		builds[provider]++
		if provider != "github" {
			return Connection{Name: "acme"}
		}
		return Connection{Name: "acme", Adapter: "github", Provider: Provider{Repos: repos{"acme"}}}
	})
	cases := []struct {
		provider, connection, want string
	}{
		{"github", "github", "dotcom"},
		{"github", "other-github", "dotcom"},
		{"oauth2", "github-enterprise", "ghe"},
		{"oauth2", "GITHUB_ENTERPRISE", "ghe"},
		{"oauth2", "gitlab", "gitlab"},
		{"oauth2", "gitlab-2", ""},
		{"github", "acme", "acme"},
		{"github", "acme", "acme"},
		{"oauth2", "acme", ""},
		{"facebook", "facebook", ""},
		{"github", "", "dotcom"},
	}
	for _, tc := range cases {
		c := reg.Lookup(tc.provider, tc.connection)
		got := ""
		if c.Repos != nil {
			got = c.Repos.(repos).name
		}
		if got != tc.want {
			t.Errorf("Lookup(%q, %q) = %q; want %q", tc.provider, tc.connection, got, tc.want)
		}
	}
	if builds["github"] != 1 || builds["oauth2"] != 1 {
		t.Errorf("lazy builds = %v; want one per provider", builds)
	}
}

func TestConnectionKey(t *testing.T) {
	for in, want := range map[string]string{
		"acme-azuread": "ACME_AZUREAD", "GHE": "GHE", "google-oauth2": "GOOGLE_OAUTH2", "": "",
		"Mixed-Case-9": "MIXED_CASE_9", "ärzte-x": "ÄRZTE_X", // outside ASCII: strings.ToUpper's answer
	} {
		if got := ConnectionKey(in); got != want {
			t.Errorf("ConnectionKey(%q) = %q; want %q", in, got, want)
		}
	}
}

// TestLookupDoesNotAllocate: the registry is consulted for every identity
// field of every request; finding a configured connection or a default
// allocates nothing.
func TestLookupDoesNotAllocate(t *testing.T) {
	var r Registry
	r.Add(Connection{Name: "acme-azuread", Adapter: "msgraph"})
	r.AddDefault(Match{Provider: "github"}, Connection{Adapter: "github"})
	for _, tc := range []struct{ provider, connection string }{{"windowslive", "acme-azuread"}, {"github", "github"}, {"nobody", "unknown"}} {
		if n := testing.AllocsPerRun(100, func() { r.Lookup(tc.provider, tc.connection) }); n != 0 {
			t.Errorf("Lookup(%q, %q) allocates %.0f times; want 0", tc.provider, tc.connection, n)
		}
	}
}

// TestAppendConnectionKey keeps what b holds, outside ASCII too.
func TestAppendConnectionKey(t *testing.T) {
	for _, name := range []string{"acme-azuread", "ärzte-x", ""} {
		if got, want := string(AppendConnectionKey([]byte("P_"), name)), "P_"+ConnectionKey(name); got != want {
			t.Errorf("AppendConnectionKey(%q, %q) = %q; want %q", "P_", name, got, want)
		}
	}
}
