package all

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/providers"
)

// TestSpecs: every spec is complete, names a distinct adapter and serves
// distinct identities, and builds with its own defaults.
func TestSpecs(t *testing.T) {
	adapters, served := map[string]bool{}, map[providers.Match]string{}
	for _, s := range Specs() {
		if s.Adapter == "" || s.APIEnv == "" || s.DefaultAPIURL == "" || s.New == nil || len(s.Serves) == 0 {
			t.Errorf("spec %+v is incomplete", s)
			continue
		}
		if adapters[s.Adapter] {
			t.Errorf("adapter %q listed twice", s.Adapter)
		}
		adapters[s.Adapter] = true
		for _, m := range s.Serves {
			if prev, ok := served[m]; ok {
				t.Errorf("%+v served by %s and %s", m, prev, s.Adapter)
			}
			served[m] = s.Adapter
		}
		if s.Refreshes() != (s.DefaultTokenURL != nil) {
			t.Errorf("%s: ClientEnv %q but DefaultTokenURL set %v", s.Adapter, s.ClientEnv, s.DefaultTokenURL != nil)
		}
		set := providers.Settings{APIURL: s.DefaultAPIURL}
		if s.Refreshes() {
			set.TokenURL = s.DefaultTokenURL(s.DefaultAPIURL)
		}
		p, err := s.New(set, &http.Client{})
		if err != nil {
			t.Errorf("%s: New(defaults) error = %v", s.Adapter, err)
		}
		if p.Repos == nil && p.Calendar == nil {
			t.Errorf("%s: New(defaults) has no capability", s.Adapter)
		}
		if s.Refreshes() != (p.Refresh != nil) {
			t.Errorf("%s: reads client settings %v but refreshes %v", s.Adapter, s.Refreshes(), p.Refresh != nil)
		}
		if got, ok := Find(s.Adapter); !ok || got.Adapter != s.Adapter {
			t.Errorf("Find(%q) = %v, %v", s.Adapter, got.Adapter, ok)
		}
	}
	if _, ok := Find("gitea"); ok {
		t.Error(`Find("gitea") = true; want false`)
	}
}

// TestREADMEListsEverySpec: the README's provider table has a row per
// adapter naming what it serves, and its configuration table every
// provider-level variable the specs read.
func TestREADMEListsEverySpec(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, s := range Specs() {
		var row string
		for _, line := range strings.Split(readme, "\n") {
			if strings.HasPrefix(line, "| `"+s.Adapter+"` |") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("README: no provider table row for adapter %s", s.Adapter)
			continue
		}
		for _, m := range s.Serves {
			if !strings.Contains(row, "`"+m.Provider+"`") || (m.Connection != "" && !strings.Contains(row, "connection `"+m.Connection+"`")) {
				t.Errorf("README: row of %s does not name %+v: %s", s.Adapter, m, row)
			}
		}
		vars := []string{s.APIEnv + "_API_URL"}
		if s.Refreshes() {
			vars = append(vars, s.ClientEnv+"_CLIENT_ID", s.ClientEnv+"_TOKEN_URL")
		}
		for _, v := range vars {
			if !strings.Contains(readme, "| `"+v) {
				t.Errorf("README: configuration table lacks %s", v)
			}
		}
	}
}
