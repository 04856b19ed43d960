package sandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
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
func (s *Sandbox) DevEnv(env config.Env) config.Env {
	getenv := env.Get
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
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
	origins := getenv("ALLOWED_ORIGINS")
	if origins == "" {
		origins = strings.Join(defaultSPAOrigins, ",")
		set["ALLOWED_ORIGINS"] = origins
		setNames = append(setNames, "ALLOWED_ORIGINS="+origins)
	}
	s.registerSPA(strings.Split(origins, ","))
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
	return env.Over(set)
}

// SPAClientID is the client id of the example SPA registered with the
// Auth0 emulator.
const SPAClientID = "sandbox-spa"

// defaultSPAOrigins are where Vite serves the example SPA: its dev server
// (5173) and its preview of the build (4173).
var defaultSPAOrigins = []string{"http://localhost:5173", "http://127.0.0.1:5173", "http://localhost:4173", "http://127.0.0.1:4173"}

// registerSPA registers the example SPA with the Auth0 emulator for
// origins: each is an Allowed Web Origin and, with "/", an Allowed
// Callback and Logout URL.
func (s *Sandbox) registerSPA(origins []string) {
	c := fakeauth0.SPAClient{ClientID: SPAClientID, Name: "idpgate example SPA"}
	for _, o := range origins {
		o = strings.TrimSpace(o)
		if o == "" {
			continue
		}
		c.WebOrigins = append(c.WebOrigins, o)
		c.CallbackURLs = append(c.CallbackURLs, o+"/")
		c.LogoutURLs = append(c.LogoutURLs, o+"/")
	}
	s.Tenant.RegisterSPA(c)
}

// signedInAgain is the Auth0 emulator's sign-in hook: signing in with a
// connection again gets new tokens from the provider, which Auth0 stores
// in the identity (as it does on every social login). Only the Google
// emulator can grant again; other connections keep their tokens.
func (s *Sandbox) signedInAgain(userID, connection string) {
	if connection != "google-oauth2" {
		return
	}
	old := s.AccessToken(userID, "google-oauth2")
	who := strings.NewReplacer("|", "-").Replace(userID)
	at, rt := tok("ya29", who), tok("google-rt", who)
	if old == "" || !s.Google.Regrant(old, at, rt) {
		return
	}
	s.Tenant.UpdateIdentity(userID, "google-oauth2", func(idn *fakeauth0.Identity) {
		idn.AccessToken, idn.RefreshToken, idn.ExpiresIn = at, rt, 3599
	})
	s.mu.Lock()
	s.tokens[userID+"/google-oauth2"] = at
	s.mu.Unlock()
}

// SPAEnv returns the example SPA's settings (examples/spa) for this
// sandbox and a gateway at gatewayAddr.
func (s *Sandbox) SPAEnv(gatewayAddr string) [][2]string {
	return [][2]string{
		{"VITE_AUTH0_DOMAIN", s.Auth0URL},
		{"VITE_AUTH0_CLIENT_ID", SPAClientID},
		{"VITE_AUTH0_AUDIENCE", s.Tenant.APIAudience()},
		{"VITE_GRAPHQL_URL", "http://" + gatewayAddr + "/graphql"},
	}
}

// WriteDevFiles writes into dir (created if missing) spa.env, the example
// SPA's settings as KEY=value lines, and secrets.json, every seeded IdP
// token and the marker all seeded secrets contain, for tests that assert
// none reaches a browser. Both are written whole or not at all (0600).
func (s *Sandbox) WriteDevFiles(dir, gatewayAddr string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	var env strings.Builder
	for _, kv := range s.SPAEnv(gatewayAddr) {
		fmt.Fprintf(&env, "%s=%s\n", kv[0], kv[1])
	}
	s.mu.Lock()
	tokens := make([]string, 0, len(s.tokens))
	for _, t := range s.tokens {
		tokens = append(tokens, t)
	}
	s.mu.Unlock()
	slices.Sort(tokens)
	secrets, _ := json.MarshalIndent(map[string]any{"marker": SecretMarker, "tokens": tokens}, "", "  ")
	for name, data := range map[string][]byte{"secrets.json": secrets, "spa.env": []byte(env.String())} {
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return nil
}

// PrintBanner writes what a developer needs after `go run . --dev`: the
// gateway's and emulators' addresses, what --dev configured, an
// `export TOKEN…=` line per demo user (valid 24 hours) and a curl to try.
// gatewayAddr is the gateway's host:port.
func (s *Sandbox) PrintBanner(w io.Writer, gatewayAddr string) {
	var b strings.Builder // written at once: a reader never sees half a banner
	defer func() { _, _ = io.WriteString(w, b.String()) }()
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
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
	p("\nExample SPA (cd examples/spa && npm install), signing in through the Auth0 emulator:\n  ")
	for _, kv := range s.SPAEnv(gatewayAddr) {
		p("%s=%s ", kv[0], kv[1])
	}
	p("npm run dev\n")
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
