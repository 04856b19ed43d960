package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

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
		{"GitHubAPIURL", c.GitHubAPIURL, "https://api.github.com/"},
		{"GoogleTokenURL", c.GoogleTokenURL, "https://oauth2.googleapis.com/token"},
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
	m["ALLOWED_ORIGINS"] = "https://app.example.com, http://localhost:3000"
	m["GITHUB_API_URL"] = "https://ghe.example.com/api/v3/"
	c, err := FromEnv(env(m))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	if c.Auth0BaseURL != "http://127.0.0.1:9000" || c.Auth0Issuer != "https://login.example.com/" || c.ListenAddr != ":9090" ||
		len(c.AllowedOrigins) != 2 || c.GitHubAPIURL != "https://ghe.example.com/api/v3/" {
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
		{set: map[string]string{"GOOGLE_CLIENT_ID": "id"}, want: "GOOGLE_CLIENT_ID and GOOGLE_CLIENT_SECRET"},
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
