package sandbox

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
)

// tunables are the variables of Env that --dev sets only when the
// developer has not: they change how the gateway behaves, not where the
// emulators are. Everything else in Env wires the gateway to the
// emulators and always replaces the developer's value (a real tenant's
// AUTH0_DOMAIN would make every sandbox token invalid).
var tunables = []string{"AUTH0_MGMT_RPS", "AUTH0_MGMT_BURST", "USER_RPS", "USER_BURST"}

// DevEnv returns the configuration the gateway runs with under --dev:
// getenv overlaid with Env, where the developer's own values of the
// tunables (USER_RPS, …) win, and LISTEN_ADDR defaults to 127.0.0.1 on
// PORT (8080). It records what it set, kept and replaced for
// PrintBanner.
func (s *Sandbox) DevEnv(getenv func(string) string) func(string) string {
	set := map[string]string{}
	s.devNotes = nil
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var setNames, kept, replaced []string
	for _, k := range keys {
		v, mine := s.Env[k], getenv(k)
		switch {
		case mine == "":
			set[k] = v
			if slices.Contains(tunables, k) {
				setNames = append(setNames, k+"="+v)
			}
		case slices.Contains(tunables, k):
			kept = append(kept, k+"="+mine)
		default:
			set[k] = v
			if mine != v {
				replaced = append(replaced, k)
			}
		}
	}
	if getenv("LISTEN_ADDR") == "" {
		port := getenv("PORT")
		if port == "" {
			port = "8080"
		}
		set["LISTEN_ADDR"] = "127.0.0.1:" + port
		setNames = append(setNames, "LISTEN_ADDR="+set["LISTEN_ADDR"])
	}
	if len(setNames) > 0 {
		s.devNotes = append(s.devNotes, "--dev set "+strings.Join(setNames, " ")+" (export your own to change them)")
	}
	if len(kept) > 0 {
		s.devNotes = append(s.devNotes, "--dev kept your "+strings.Join(kept, " "))
	}
	if len(replaced) > 0 {
		s.devNotes = append(s.devNotes, "--dev points "+strings.Join(replaced, ", ")+" at the emulators instead of your values")
	}
	return func(k string) string {
		if v, ok := set[k]; ok {
			return v
		}
		return getenv(k)
	}
}

// PrintBanner writes what a developer needs after `go run . --dev`: the
// gateway's and emulators' addresses, what --dev configured, an
// `export TOKEN…=` line per demo user (valid 24 hours) and a curl to try.
// gatewayAddr is the gateway's host:port.
func (s *Sandbox) PrintBanner(w io.Writer, gatewayAddr string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("\nidpgate dev sandbox: emulated Auth0 and identity providers on 127.0.0.1\n\n")
	p("  GraphiQL   http://%s/graphiql/   (%s's token pre-filled)\n", gatewayAddr, s.userName(s.DemoUser))
	p("  GraphQL    http://%s/graphql\n\n", gatewayAddr)
	p("Emulators:\n")
	for _, e := range []struct{ name, url, env string }{
		{"Auth0", s.Auth0URL, "AUTH0_DOMAIN"},
		{"GitHub", s.GitHubURL, "GITHUB_API_URL"},
		{"Google", s.GoogleURL, "GOOGLE_API_URL"},
		{"GitLab", s.GitLabURL, "GITLAB_API_URL"},
		{"Bitbucket", s.BitbucketURL, "BITBUCKET_API_URL"},
		{"Microsoft", s.MSGraphURL, "MSGRAPH_API_URL"},
	} {
		p("  %-10s %-24s (%s)\n", e.name, e.url, e.env)
	}
	if len(s.devNotes) > 0 {
		p("\n")
		for _, n := range s.devNotes {
			p("%s\n", n)
		}
	}
	p("\nBearer tokens of the demo users (24 hours):\n")
	for _, u := range s.Users {
		p("  # %s (%s): %s\n", u.Name, u.ID, strings.Join(u.Providers, ", "))
		p("  export %s=%s\n", s.tokenVar(u), s.Token(u.ID))
	}
	p("\nTry:\n  curl -s http://%s/graphql -H 'Content-Type: application/json' \\\n    -H \"Authorization: Bearer $TOKEN\" \\\n    -d '{\"query\":\"{ me { name identities { provider capabilities repos(first: 3) { nodes { fullName } } calendar(first: 3) { nodes { title start } } } } }\"}'\n\n", gatewayAddr)
}

// tokenVar names the shell variable of u's token: TOKEN for the main demo
// user (the curl uses it), TOKEN_<FIRST NAME> for the others.
func (s *Sandbox) tokenVar(u DemoUser) string {
	if u.ID == s.DemoUser {
		return "TOKEN"
	}
	first, _, _ := strings.Cut(u.Name, " ")
	name := strings.Map(func(r rune) rune {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r)) {
			return '_'
		}
		return unicode.ToUpper(r)
	}, first)
	return "TOKEN_" + name
}

func (s *Sandbox) userName(id string) string {
	for _, u := range s.Users {
		if u.ID == id {
			first, _, _ := strings.Cut(u.Name, " ")
			return first
		}
	}
	return id
}
