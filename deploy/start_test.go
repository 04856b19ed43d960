package deploy

import (
	"regexp"
	"testing"

	"github.com/idpgate/idpgate/internal/config"
)

// composeVar is one ${NAME...} reference of compose interpolation.
var composeVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}`)

// TestComposeConfigStarts: the gateway's environment in the compose file,
// its ${VAR} references filled as an operator's .env would, is a
// configuration the gateway starts with, REDIS_URL included (start-up
// refused REDIS_URL until the shared state was wired).
func TestComposeConfigStarts(t *testing.T) {
	docs := readYAML(t, "docker-compose.yml")
	services, _ := docs[0]["services"].(map[string]any)
	operator := map[string]string{
		"AUTH0_DOMAIN":         "acme.us.auth0.com",
		"AUTH0_AUDIENCE":       "https://api.example.com",
		"AUTH0_CLIENT_ID":      "m2m-client",
		"AUTH0_CLIENT_SECRET":  "m2m-secret",
		"REDIS_PASSWORD":       "redis-password",
		"REDIS_ENCRYPTION_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
	}
	checked := 0
	for name, svc := range services {
		env, _ := get(svc, "environment").(map[string]any)
		if get(svc, "build") == nil {
			continue
		}
		vars := map[string]string{}
		for k, v := range env {
			vars[k] = composeVar.ReplaceAllStringFunc(str(v), func(ref string) string {
				return operator[composeVar.FindStringSubmatch(ref)[1]] // unset: empty, as compose without a default
			})
		}
		cfg, err := config.FromEnv(config.MapEnv(vars))
		if err != nil {
			t.Errorf("%s: the gateway refuses the compose configuration: %v", name, err)
			continue
		}
		if !cfg.Redis.Enabled() {
			t.Errorf("%s: REDIS_URL not set; want the replicas to share state", name)
		}
		checked++
	}
	if checked < 2 {
		t.Errorf("checked %d gateway services; want 2 or more", checked)
	}
}

// TestKubernetesConfigStarts: the ConfigMap, with the example Secret's
// keys filled as an operator would (the empty ones given a value), is a
// configuration the gateway starts with, sharing state through Redis.
func TestKubernetesConfigStarts(t *testing.T) {
	vars := map[string]string{}
	for _, doc := range readYAML(t, "k8s/configmap.yaml") {
		data, _ := doc["data"].(map[string]any)
		for k, v := range data {
			vars[k] = str(v)
		}
	}
	filled := map[string]string{
		"AUTH0_CLIENT_SECRET":  "m2m-secret",
		"REDIS_ENCRYPTION_KEY": "a2tra2tra2tra2tra2tra2tra2tra2tra2tra2tra2s=",
	}
	for _, doc := range readYAML(t, "k8s/secret.example.yaml") {
		data, _ := doc["stringData"].(map[string]any)
		for k, v := range data {
			if vars[k] = str(v); vars[k] == "" {
				vars[k] = filled[k]
			}
		}
	}
	cfg, err := config.FromEnv(config.MapEnv(vars))
	if err != nil {
		t.Fatalf("the gateway refuses the ConfigMap and Secret: %v", err)
	}
	if !cfg.Redis.Enabled() {
		t.Error("REDIS_URL not set; want the replicas to share state")
	}
}
