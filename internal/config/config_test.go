package config

import (
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/providers"
)

func env(m map[string]string) Env { return MapEnv(m) }

func base() map[string]string {
	return map[string]string{
		"AUTH0_DOMAIN":        "acme.us.auth0.com",
		"AUTH0_AUDIENCE":      "https://api.example.com",
		"AUTH0_CLIENT_ID":     "m2m",
		"AUTH0_CLIENT_SECRET": "s3cr3t-value",
	}
}

func TestFromEnvDefaults(t *testing.T) {
	c, err := FromEnv(env(base()))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Auth0BaseURL", c.Auth0BaseURL, "https://acme.us.auth0.com"},
		{"Auth0Issuer", c.Auth0Issuer, "https://acme.us.auth0.com/"},
		{"ListenAddr", c.ListenAddr, ":8080"},
		{"github API", c.Resolve("github", providers.Settings{}).APIURL, "https://api.github.com/"},
		{"google token URL", c.Resolve("google", providers.Settings{}).TokenURL, "https://oauth2.googleapis.com/token"},
		{"gitlab token URL", c.Resolve("gitlab", providers.Settings{}).TokenURL, "https://gitlab.com/oauth/token"},
		{"microsoft token URL", c.Resolve("msgraph", providers.Settings{}).TokenURL, "https://login.microsoftonline.com/common/oauth2/v2.0/token"},
		{"connections", len(c.Connections), 0},
		{"Auth0MgmtRPS", c.Auth0MgmtRPS, 2.0},
		{"MaxDepth", c.MaxDepth, 10},
		{"UpstreamTimeout", c.UpstreamTimeout, 10 * time.Second},
		{"Introspection", c.Introspection, false},
		{"secret", c.Auth0ClientSecret.Reveal(), "s3cr3t-value"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v; want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestFromEnvOverrides(t *testing.T) {
	m := base()
	m["AUTH0_DOMAIN"] = "http://127.0.0.1:9000/"
	m["AUTH0_ISSUER"] = "https://login.example.com/"
	m["PORT"] = "9090"
	m["METRICS_ADDR"] = ":9091" // the default :9090 would collide
	m["ALLOWED_ORIGINS"] = "https://app.example.com, http://localhost:3000"
	m["GITHUB_API_URL"] = "https://ghe.example.com/api/v3/"
	c, err := FromEnv(env(m))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	if c.Auth0BaseURL != "http://127.0.0.1:9000" || c.Auth0Issuer != "https://login.example.com/" || c.ListenAddr != ":9090" ||
		len(c.AllowedOrigins) != 2 || c.Resolve("github", providers.Settings{}).APIURL != "https://ghe.example.com/api/v3/" {
		t.Errorf("FromEnv() = %+v; overrides not applied", c)
	}
}

func TestFromEnvErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		set  map[string]string
		drop string
		want string
	}{
		{drop: "AUTH0_DOMAIN", want: "AUTH0_DOMAIN:"},
		{drop: "AUTH0_AUDIENCE", want: "AUTH0_AUDIENCE:"},
		{drop: "AUTH0_CLIENT_ID", want: "AUTH0_CLIENT_ID:"},
		{drop: "AUTH0_CLIENT_SECRET", want: "AUTH0_CLIENT_SECRET:"},
		{set: map[string]string{"AUTH0_DOMAIN": "ftp://x"}, want: "AUTH0_DOMAIN:"},
		{set: map[string]string{"AUTH0_DOMAIN": "acme.auth0.com/path"}, want: "AUTH0_DOMAIN:"},
		{set: map[string]string{"AUTH0_ISSUER": "https://x.example.com"}, want: "AUTH0_ISSUER:"},
		{set: map[string]string{"PORT": "http"}, want: "PORT:"},
		{set: map[string]string{"GITHUB_API_URL": "not a url"}, want: "GITHUB_API_URL:"},
		{set: map[string]string{"GOOGLE_CLIENT_ID": "id"}, want: "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET:"},
		{set: map[string]string{"GITLAB_CLIENT_SECRET": "s"}, want: "GITLAB_CLIENT_ID and GITLAB_CLIENT_SECRET:"},
		{set: map[string]string{"GITLAB_TOKEN_URL": "gitlab.com/oauth/token"}, want: "GITLAB_TOKEN_URL:"},
		{set: map[string]string{"MICROSOFT_TOKEN_URL": "https://user:pw@login.example.com/token"}, want: "MICROSOFT_TOKEN_URL:"},
		{set: map[string]string{"MSGRAPH_API_URL": "ftp://graph.example.com/"}, want: "MSGRAPH_API_URL:"},
		{set: map[string]string{"CONNECTION_GHE_ADAPTER": "gitea"}, want: "CONNECTION_GHE_ADAPTER:"},
		{set: map[string]string{"CONNECTION_GHE_ADAPTER": ""}, want: "CONNECTION_GHE_ADAPTER:"},
		{set: map[string]string{"CONNECTION_GHE_API_URL": "ghe.example.com/api/v3/"}, want: "CONNECTION_GHE_API_URL:"},
		{set: map[string]string{"CONNECTION_ACME_AZUREAD_TOKEN_URL": "not a url"}, want: "CONNECTION_ACME_AZUREAD_TOKEN_URL:"},
		{set: map[string]string{"CONNECTION_ACME_AZUREAD_CLIENT_ID": "app"}, want: "CONNECTION_ACME_AZUREAD_CLIENT_ID and CONNECTION_ACME_AZUREAD_CLIENT_SECRET:"},
		{set: map[string]string{"CONNECTION_ACME_AZUREAD_CLIENT_SECRET": "s"}, want: "CONNECTION_ACME_AZUREAD_CLIENT_ID and CONNECTION_ACME_AZUREAD_CLIENT_SECRET:"},
		{set: map[string]string{"CONNECTION_GHE_ADAPTER": "github", "CONNECTION_GHE_CLIENT_ID": "id", "CONNECTION_GHE_CLIENT_SECRET": "s"}, want: "CONNECTION_GHE_CLIENT_ID:"},
		{set: map[string]string{"CONNECTION_GHE_ADAPTER": "github", "CONNECTION_GHE_TOKEN_URL": "https://ghe.example.com/token"}, want: "CONNECTION_GHE_TOKEN_URL:"},
		{set: map[string]string{"CONNECTION_GHE_SCOPE": "repo"}, want: "CONNECTION_GHE_SCOPE:"},
		{set: map[string]string{"CONNECTION__API_URL": "https://x.example.com/"}, want: "CONNECTION__API_URL:"},
		{set: map[string]string{"CONNECTION_API_URL": "https://x.example.com/"}, want: "CONNECTION_API_URL:"},
		{set: map[string]string{"CONNECTION_ghe_API_URL": "https://x.example.com/"}, want: "CONNECTION_ghe_API_URL:"},
		{set: map[string]string{"ALLOWED_ORIGINS": "*"}, want: "ALLOWED_ORIGINS:"},
		{set: map[string]string{"ALLOWED_ORIGINS": "https://a.example.com/path"}, want: "ALLOWED_ORIGINS:"},
		{set: map[string]string{"MAX_DEPTH": "0"}, want: "MAX_DEPTH:"},
		{set: map[string]string{"MAX_COST": "many"}, want: "MAX_COST:"},
		{set: map[string]string{"AUTH0_MGMT_RPS": "-1"}, want: "AUTH0_MGMT_RPS:"},
		{set: map[string]string{"UPSTREAM_TIMEOUT": "ten"}, want: "UPSTREAM_TIMEOUT:"},
		{set: map[string]string{"INTROSPECTION": "maybe"}, want: "INTROSPECTION:"},
		{set: map[string]string{"REDIS_URL": "redis://localhost:6379"}, want: "REDIS_ENCRYPTION_KEY:"},
		{set: map[string]string{"LOG_LEVEL": "loud"}, want: "LOG_LEVEL:"},
	}
	for _, tc := range cases {
		m := base()
		delete(m, tc.drop)
		for k, v := range tc.set {
			m[k] = v
		}
		t.Run(tc.want+tc.drop, func(t *testing.T) {
			_, err := FromEnv(env(m))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("FromEnv() error = %v; want prefix %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cr3t-value") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q leaks the secret or spans lines", err)
			}
		})
	}
}

// TestConnections: CONNECTION_<NAME>_<FIELD> variables become connections,
// and Resolve layers their settings over the provider-level variables and
// the adapters' defaults.
func TestConnections(t *testing.T) {
	m := base()
	for k, v := range map[string]string{
		"CONNECTION_GHE_ADAPTER":                "GitHub",
		"CONNECTION_GHE_API_URL":                "https://ghe.acme.com/api/v3/",
		"CONNECTION_ACME_AZUREAD_TOKEN_URL":     "https://login.microsoftonline.com/acme-tenant/oauth2/v2.0/token",
		"CONNECTION_ACME_AZUREAD_CLIENT_ID":     "acme-app",
		"CONNECTION_ACME_AZUREAD_CLIENT_SECRET": "acme-s3cr3t",
		"CONNECTION_GL_ACME_ADAPTER":            "gitlab",
		"CONNECTION_GL_ACME_API_URL":            "https://gitlab.acme.com/api/v4/",
		"MICROSOFT_CLIENT_ID":                   "live-app",
		"MICROSOFT_CLIENT_SECRET":               "live-s3cr3t",
		"GITLAB_API_URL":                        "https://code.example.com/",
		"GITLAB_CLIENT_ID":                      "gl-app",
		"GITLAB_CLIENT_SECRET":                  "gl-s3cr3t",
	} {
		m[k] = v
	}
	c, err := FromEnv(env(m))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	var got []string
	conns := map[string]Connection{}
	for _, conn := range c.Connections {
		got = append(got, conn.Name()+"="+conn.Adapter)
		conns[conn.Key] = conn
	}
	if want := "acme-azuread=,ghe=github,gl-acme=gitlab"; strings.Join(got, ",") != want {
		t.Fatalf("connections = %s; want %s", strings.Join(got, ","), want)
	}
	cases := []struct {
		name    string
		adapter string
		own     providers.Settings
		want    providers.Settings
	}{
		{"github default", "github", providers.Settings{}, providers.Settings{APIURL: "https://api.github.com/"}},
		{"github enterprise", "github", conns["GHE"].Settings, providers.Settings{APIURL: "https://ghe.acme.com/api/v3/"}},
		{"gitlab default: token URL under the instance root", "gitlab", providers.Settings{},
			providers.Settings{APIURL: "https://code.example.com/", TokenURL: "https://code.example.com/oauth/token", ClientID: "gl-app", Setting: "GITLAB_CLIENT_ID/GITLAB_CLIENT_SECRET/GITLAB_TOKEN_URL"}},
		{"second gitlab instance: its own token URL, the provider-level client", "gitlab", conns["GL_ACME"].Settings,
			providers.Settings{APIURL: "https://gitlab.acme.com/api/v4/", TokenURL: "https://gitlab.acme.com/oauth/token", ClientID: "gl-app", Setting: "GITLAB_CLIENT_ID/GITLAB_CLIENT_SECRET/GITLAB_TOKEN_URL"}},
		{"windowslive default: /common", "msgraph", providers.Settings{},
			providers.Settings{APIURL: "https://graph.microsoft.com/", TokenURL: "https://login.microsoftonline.com/common/oauth2/v2.0/token", ClientID: "live-app", Setting: "MICROSOFT_CLIENT_ID/MICROSOFT_CLIENT_SECRET/MICROSOFT_TOKEN_URL"}},
		{"second Azure AD tenant", "msgraph", conns["ACME_AZUREAD"].Settings,
			providers.Settings{APIURL: "https://graph.microsoft.com/", TokenURL: "https://login.microsoftonline.com/acme-tenant/oauth2/v2.0/token", ClientID: "acme-app", Setting: "CONNECTION_ACME_AZUREAD_CLIENT_ID/CONNECTION_ACME_AZUREAD_CLIENT_SECRET/CONNECTION_ACME_AZUREAD_TOKEN_URL"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := c.Resolve(tc.adapter, tc.own)
			if s.APIURL != tc.want.APIURL || s.TokenURL != tc.want.TokenURL || s.ClientID != tc.want.ClientID || s.Setting != tc.want.Setting {
				t.Errorf("Resolve(%q) = %+v; want %+v", tc.adapter, s, tc.want)
			}
			if (s.ClientID == "") != s.ClientSecret.IsZero() {
				t.Errorf("Resolve(%q): client id %q without its secret", tc.adapter, s.ClientID)
			}
		})
	}
	if s := c.Resolve("msgraph", conns["ACME_AZUREAD"].Settings); s.ClientSecret.Reveal() != "acme-s3cr3t" {
		t.Errorf("second Azure AD tenant: secret is not its own")
	}
}
