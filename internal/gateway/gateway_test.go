package gateway

import (
	"bytes"
	"go/build"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/internal/config"
)

func TestChainOrder(t *testing.T) {
	var order []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				order = append(order, name)
				next.ServeHTTP(w, r)
			})
		}
	}
	h := chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { order = append(order, "handler") }), mw("a"), mw("b"), mw("c"))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got := strings.Join(order, ","); got != "a,b,c,handler" {
		t.Errorf("chain order = %s; want a,b,c,handler", got)
	}
	if got := chain(http.NotFoundHandler()); got == nil {
		t.Error("chain(h) = nil; want h")
	}
}

// TestRegistry: the registry built from the configuration maps each
// connection to its adapter: the defaults without configuration, the
// configured connections by name, and nothing for the rest. Start-up logs
// which connection uses which adapter, without a secret.
func TestRegistry(t *testing.T) {
	cfg, err := config.FromEnv(config.MapEnv(map[string]string{
		"AUTH0_DOMAIN":                          "acme.us.auth0.com",
		"AUTH0_AUDIENCE":                        "https://api.example.com",
		"AUTH0_CLIENT_ID":                       "m2m",
		"AUTH0_CLIENT_SECRET":                   "m2m-s3cr3t",
		"MICROSOFT_CLIENT_ID":                   "live-app",
		"MICROSOFT_CLIENT_SECRET":               "live-s3cr3t",
		"CONNECTION_GHE_ADAPTER":                "github",
		"CONNECTION_GHE_API_URL":                "https://ghe.acme.com/api/v3/",
		"CONNECTION_ACME_AZUREAD_TOKEN_URL":     "https://login.microsoftonline.com/acme/oauth2/v2.0/token",
		"CONNECTION_ACME_AZUREAD_CLIENT_ID":     "acme-app",
		"CONNECTION_ACME_AZUREAD_CLIENT_SECRET": "acme-s3cr3t",
	}))
	if err != nil {
		t.Fatalf("config.FromEnv() error = %v", err)
	}
	var logs bytes.Buffer
	var clients []string
	reg, err := newRegistry(cfg, func(name string) *http.Client {
		clients = append(clients, name)
		return &http.Client{}
	}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatalf("newRegistry() error = %v", err)
	}
	cases := []struct {
		provider, connection string
		adapter              string
		repos, calendar      bool
	}{
		{"github", "github", "github", true, false},
		{"google-oauth2", "google-oauth2", "google", false, true},
		{"bitbucket", "bitbucket", "bitbucket", true, false},
		{"windowslive", "windowslive", "msgraph", false, true},
		{"waad", "contoso-entra", "msgraph", false, true}, // not configured: the provider's defaults
		{"waad", "acme-azuread", "msgraph", false, true},
		{"waad", "ACME-AzureAD", "msgraph", false, true}, // the key is case-insensitive
		{"oauth2", "gitlab", "gitlab", true, false},
		{"oauth2", "ghe", "github", true, false},
		{"oauth2", "acme-sso", "", false, false},
		{"samlp", "acme-azuread", "", false, false}, // no adapter serves samlp
		{"facebook", "facebook", "", false, false},
		{"auth0", "Username-Password-Authentication", "", false, false},
	}
	for _, tc := range cases {
		c := reg.Lookup(tc.provider, tc.connection)
		if c.Adapter != tc.adapter || (c.Repos != nil) != tc.repos || (c.Calendar != nil) != tc.calendar {
			t.Errorf("Lookup(%q, %q) = adapter %q repos %v calendar %v; want %q %v %v", tc.provider, tc.connection,
				c.Adapter, c.Repos != nil, c.Calendar != nil, tc.adapter, tc.repos, tc.calendar)
		}
	}
	if a, b := reg.Lookup("waad", "acme-azuread"), reg.Lookup("waad", "contoso-entra"); a.Refresh == b.Refresh {
		t.Error("acme-azuread and an unconfigured waad connection share a refresher; want acme's own client")
	}
	if a, b := reg.Lookup("waad", "x"), reg.Lookup("waad", "y"); a.Refresh != b.Refresh {
		t.Error("two unconfigured waad connections have different refreshers; want the provider's default")
	}
	// One client per default and per configured connection, named after it.
	want := "github,gitlab,bitbucket,google-oauth2,windowslive,waad,acme-azuread,ghe"
	if got := strings.Join(clients, ","); got != want {
		t.Errorf("clients = %s; want %s", got, want)
	}
	out := logs.String()
	for _, s := range []string{"s3cr3t"} {
		if strings.Contains(out, s) {
			t.Errorf("start-up log holds a secret: %s", out)
		}
	}
	for _, s := range []string{`"connection":"ghe","adapter":"github","api_url":"https://ghe.acme.com/api/v3/"`, `"connection":"gitlab","provider":"oauth2","adapter":"gitlab"`, `"connection":"acme-azuread"`} {
		if !strings.Contains(out, s) {
			t.Errorf("start-up log lacks %s:\n%s", s, out)
		}
	}
}

// TestProductionDoesNotImportSandbox: the gateway (and so everything
// server.go serves in production) never imports the dev sandbox.
func TestProductionDoesNotImportSandbox(t *testing.T) {
	const module = "github.com/idpgate/idpgate/"
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(pkg, from string)
	walk = func(pkg, from string) {
		if seen[pkg] {
			return
		}
		seen[pkg] = true
		if strings.Contains(pkg, "/internal/sandbox") {
			t.Errorf("%s imports %s", from, pkg)
			return
		}
		p, err := build.ImportDir(filepath.Join(root, strings.TrimPrefix(pkg, module)), 0)
		if err != nil {
			t.Fatalf("import %s: %v", pkg, err)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, module) {
				walk(imp, pkg)
			}
		}
	}
	walk(module+"internal/gateway", "")
	if len(seen) < 10 {
		t.Errorf("walked %d packages; want the gateway's whole tree", len(seen))
	}
}
