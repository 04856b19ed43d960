package sandbox

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
)

func TestDevEnv(t *testing.T) {
	env := map[string]string{"AUTH0_DOMAIN": "http://127.0.0.1:9", "USER_RPS": "1000", "USER_BURST": "1000"}
	cases := []struct {
		name      string
		mine      map[string]string
		want      map[string]string // what the gateway reads
		wantNotes []string
	}{
		{
			name:      "nothing set",
			want:      map[string]string{"AUTH0_DOMAIN": "http://127.0.0.1:9", "USER_RPS": "1000", "USER_BURST": "1000", "LISTEN_ADDR": "127.0.0.1:8080"},
			wantNotes: []string{"--dev set USER_BURST=1000 USER_RPS=1000 ALLOWED_ORIGINS=http://localhost:5173,http://127.0.0.1:5173,http://localhost:4173,http://127.0.0.1:4173 LISTEN_ADDR=127.0.0.1:8080"},
		},
		{
			name:      "your tunables win",
			mine:      map[string]string{"USER_RPS": "5", "PORT": "9090", "LOG_LEVEL": "debug", "ALLOWED_ORIGINS": "https://app.example.com"},
			want:      map[string]string{"USER_RPS": "5", "USER_BURST": "1000", "LISTEN_ADDR": "127.0.0.1:9090", "LOG_LEVEL": "debug", "ALLOWED_ORIGINS": "https://app.example.com"},
			wantNotes: []string{"--dev set USER_BURST=1000 LISTEN_ADDR=127.0.0.1:9090", "--dev kept your USER_RPS=5"},
		},
		{
			name:      "the emulators' addresses replace yours, and it says so",
			mine:      map[string]string{"AUTH0_DOMAIN": "acme.us.auth0.com", "LISTEN_ADDR": ":7000"},
			want:      map[string]string{"AUTH0_DOMAIN": "http://127.0.0.1:9", "LISTEN_ADDR": ":7000"},
			wantNotes: []string{"--dev points AUTH0_DOMAIN at the emulators instead of your values"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := &Sandbox{Env: env, Tenant: &fakeauth0.Tenant{}}
			devEnv := s.DevEnv(config.MapEnv(tc.mine))
			for k, want := range tc.want {
				if got := devEnv.Get(k); got != want {
					t.Errorf("getenv(%q) = %q; want %q", k, got, want)
				}
			}
			notes := strings.Join(s.devNotes, "\n")
			for _, w := range tc.wantNotes {
				if !strings.Contains(notes, w) {
					t.Errorf("notes %q lack %q", notes, w)
				}
			}
		})
	}
}

func TestPrintBannerHasATokenPerUser(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var b bytes.Buffer
	s.PrintBanner(&b, "127.0.0.1:8080")
	out := b.String()
	for _, want := range []string{"export TOKEN=ey", "export TOKEN_GRACE=ey", "export TOKEN_LINUS=ey", s.Auth0URL, s.GitHubURL, s.GoogleURL, s.GitLabURL, s.BitbucketURL, s.MSGraphURL, "http://127.0.0.1:8080/graphiql/"} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, SecretMarker) {
		t.Errorf("banner shows a seeded secret:\n%s", out)
	}
}

func TestWriteDevFiles(t *testing.T) {
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := filepath.Join(t.TempDir(), "dev")
	if err := s.WriteDevFiles(dir, "127.0.0.1:8080"); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(dir, "spa.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"VITE_AUTH0_DOMAIN=" + s.Auth0URL + "\n", "VITE_AUTH0_CLIENT_ID=sandbox-spa\n", "VITE_GRAPHQL_URL=http://127.0.0.1:8080/graphql\n"} {
		if !strings.Contains(string(env), want) {
			t.Errorf("spa.env = %q; want %q", env, want)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, "secrets.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sec struct {
		Marker string
		Tokens []string
	}
	if err := json.Unmarshal(raw, &sec); err != nil || sec.Marker != SecretMarker {
		t.Fatalf("secrets.json = %s, %v", raw, err)
	}
	want := s.AccessToken(Margaret, "google-oauth2")
	found := false
	for _, tok := range sec.Tokens {
		found = found || tok == want
	}
	if !found || want == "" {
		t.Errorf("secrets.json lacks Margaret's Google token")
	}
	if fi, err := os.Stat(filepath.Join(dir, "secrets.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("secrets.json mode = %v, %v; want 0600", fi.Mode(), err)
	}
}
