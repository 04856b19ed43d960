package sandbox

import (
	"bytes"
	"strings"
	"testing"
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
			wantNotes: []string{"--dev set USER_BURST=1000 USER_RPS=1000 LISTEN_ADDR=127.0.0.1:8080"},
		},
		{
			name:      "your tunables win",
			mine:      map[string]string{"USER_RPS": "5", "PORT": "9090", "LOG_LEVEL": "debug"},
			want:      map[string]string{"USER_RPS": "5", "USER_BURST": "1000", "LISTEN_ADDR": "127.0.0.1:9090", "LOG_LEVEL": "debug"},
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
			s := &Sandbox{Env: env}
			getenv := s.DevEnv(func(k string) string { return tc.mine[k] })
			for k, want := range tc.want {
				if got := getenv(k); got != want {
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
