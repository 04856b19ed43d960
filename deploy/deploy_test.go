// Package deploy holds the deployment files (Dockerfile at the repository
// root, docker-compose.yml, nginx.conf, k8s/). Its test keeps them in step
// with the gateway: every variable they set is one the gateway reads,
// every secret comes from a secret, and the image builds the main package.
package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"go/build"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/idpgate/idpgate/internal/config"
)

// secretVar reports whether a variable holds a secret: it must never be
// written in a deployment file, only referenced.
func secretVar(name string) bool {
	return strings.HasSuffix(name, "_SECRET") || name == "REDIS_URL" || name == "REDIS_ENCRYPTION_KEY"
}

// checkReads makes sure config.Reads answers for the gateway's variables,
// the per-connection CONNECTION_<NAME>_<FIELD> ones included; the tests
// below ask it about every variable a deployment file sets.
func checkReads(t *testing.T) {
	t.Helper()
	if !config.Reads("AUTH0_DOMAIN") || !config.Reads("REDIS_URL") || !config.Reads("CONNECTION_GHE_ADAPTER") || config.Reads("REDIS_PASSWORD") {
		t.Fatalf("config.Reads disagrees with the gateway's variables %v", config.Variables())
	}
}

func readYAML(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

// get walks nested maps and lists: get(doc, "spec", "template", "spec").
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string { s, _ := v.(string); return s }

// interpolation is how compose reads a value from its own environment.
var interpolation = regexp.MustCompile(`^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$|^[a-z]+://:\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}@`)

func TestComposeFile(t *testing.T) {
	checkReads(t)
	docs := readYAML(t, "docker-compose.yml")
	if len(docs) != 1 {
		t.Fatalf("docker-compose.yml has %d documents; want 1", len(docs))
	}
	services, _ := docs[0]["services"].(map[string]any)
	var gateways []string
	for name, svc := range services {
		env, _ := get(svc, "environment").(map[string]any)
		if get(svc, "build") == nil {
			if len(env) > 0 {
				t.Errorf("service %s sets environment; only the gateway's are checked", name)
			}
			continue
		}
		gateways = append(gateways, name)
		if ctx := str(get(svc, "build", "context")); ctx != ".." {
			t.Errorf("%s: build context %q; want .. (the repository root, where the Dockerfile builds .)", name, ctx)
		}
		for k, v := range env {
			if !config.Reads(k) {
				t.Errorf("%s sets %s, which the gateway does not read", name, k)
			}
			if secretVar(k) && !interpolation.MatchString(str(v)) {
				t.Errorf("%s: %s = %q; a secret must come from the environment (${VAR})", name, k, v)
			}
		}
		for _, req := range []string{"AUTH0_DOMAIN", "AUTH0_AUDIENCE", "AUTH0_CLIENT_ID", "AUTH0_CLIENT_SECRET", "REDIS_URL", "REDIS_ENCRYPTION_KEY"} {
			if _, ok := env[req]; !ok {
				t.Errorf("%s does not set %s", name, req)
			}
		}
	}
	if len(gateways) < 2 {
		t.Errorf("compose runs %d gateway replicas (%v); want 2 or more", len(gateways), gateways)
	}
	if _, ok := services["redis"]; !ok {
		t.Errorf("compose has no redis service")
	}
	lb, _ := os.ReadFile("nginx.conf")
	for _, g := range gateways {
		if !bytes.Contains(lb, []byte("server "+g+":8080")) {
			t.Errorf("nginx.conf does not balance over %s", g)
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	checkReads(t)
	files, _ := filepath.Glob("k8s/*.yaml")
	if len(files) == 0 {
		t.Fatal("no manifests in k8s/")
	}
	kinds := map[string]map[string]any{}
	for _, f := range files {
		for _, doc := range readYAML(t, f) {
			kind := str(doc["kind"])
			if kind == "" {
				t.Errorf("%s: a document without kind", f)
				continue
			}
			kinds[kind] = doc
			switch kind {
			case "ConfigMap":
				data, _ := doc["data"].(map[string]any)
				for k := range data {
					if !config.Reads(k) {
						t.Errorf("%s: ConfigMap sets %s, which the gateway does not read", f, k)
					}
					if secretVar(k) {
						t.Errorf("%s: ConfigMap holds %s; secrets belong in the Secret", f, k)
					}
				}
			case "Secret":
				data, _ := doc["stringData"].(map[string]any)
				for k := range data {
					if !config.Reads(k) {
						t.Errorf("%s: Secret has %s, which the gateway does not read", f, k)
					}
				}
			}
		}
	}
	dep := kinds["Deployment"]
	if dep == nil {
		t.Fatal("no Deployment")
	}
	if n, _ := get(dep, "spec", "replicas").(uint64); n < 2 {
		t.Errorf("Deployment replicas = %v; want 2 or more", get(dep, "spec", "replicas"))
	}
	c := get(dep, "spec", "template", "spec", "containers", 0)
	if p := str(get(c, "readinessProbe", "httpGet", "path")); p != "/readyz" {
		t.Errorf("readiness probe path %q; want /readyz", p)
	}
	if p := str(get(c, "livenessProbe", "httpGet", "path")); p != "/healthz" {
		t.Errorf("liveness probe path %q; want /healthz", p)
	}
	for _, r := range []string{"requests", "limits"} {
		if get(c, "resources", r, "memory") == nil {
			t.Errorf("container has no resources.%s.memory", r)
		}
	}
	if get(c, "resources", "requests", "cpu") == nil {
		t.Errorf("container has no resources.requests.cpu")
	}
	env, _ := get(c, "env").([]any)
	var referenced []string
	for _, e := range env {
		name := str(get(e, "name"))
		if !config.Reads(name) {
			t.Errorf("Deployment sets %s, which the gateway does not read", name)
		}
		if secretVar(name) {
			if get(e, "value") != nil || get(e, "valueFrom", "secretKeyRef", "name") == nil {
				t.Errorf("Deployment: %s must come from a secretKeyRef", name)
			}
			referenced = append(referenced, name)
		}
	}
	for _, v := range config.Variables() {
		if secretVar(v) && !slices.Contains(referenced, v) && !providerSpecific(v) {
			t.Errorf("Deployment does not reference the secret setting %s", v)
		}
	}
	if cm := str(get(c, "envFrom", 0, "configMapRef", "name")); cm != "" && kinds["ConfigMap"] == nil {
		t.Errorf("Deployment reads ConfigMap %q, which is not in k8s/", cm)
	}
	labels := get(dep, "spec", "template", "metadata", "labels").(map[string]any)
	for _, kind := range []string{"PodDisruptionBudget", "Service"} {
		doc := kinds[kind]
		if doc == nil {
			t.Errorf("no %s", kind)
			continue
		}
		sel := get(doc, "spec", "selector", "matchLabels")
		if kind == "Service" {
			sel = get(doc, "spec", "selector")
		}
		m, _ := sel.(map[string]any)
		if len(m) == 0 {
			t.Errorf("%s selects nothing", kind)
		}
		for k, v := range m {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v; the pods are labelled %v", kind, k, v, labels)
			}
		}
	}
}

// providerSpecific: per-connection secrets (CONNECTION_<NAME>_CLIENT_SECRET)
// depend on the tenant; the manifests cannot list them in advance.
func providerSpecific(name string) bool { return strings.HasPrefix(name, "CONNECTION_") }

func TestDockerfile(t *testing.T) {
	f, err := os.Open("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var froms, builds []string
	var user, entry string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case strings.HasPrefix(line, "FROM "):
			froms = append(froms, line)
		case strings.HasPrefix(line, "RUN ") && strings.Contains(line, "go build"):
			builds = append(builds, line)
		case strings.HasPrefix(line, "USER "):
			user = strings.TrimPrefix(line, "USER ")
		case strings.HasPrefix(line, "ENTRYPOINT "):
			entry = strings.TrimPrefix(line, "ENTRYPOINT ")
		}
	}
	if len(froms) < 2 {
		t.Errorf("Dockerfile has %d stages; want a multi-stage build", len(froms))
	}
	if len(builds) != 1 {
		t.Fatalf("Dockerfile has %d go build lines; want 1", len(builds))
	}
	b := builds[0]
	if !strings.Contains(b, "CGO_ENABLED=0") {
		t.Errorf("go build without CGO_ENABLED=0: %s", b)
	}
	if fields := strings.Fields(b); fields[len(fields)-1] != "." {
		t.Errorf("go build target %q; want . (the main package at the repository root)", fields[len(fields)-1])
	}
	pkg, err := build.ImportDir("..", 0)
	if err != nil || pkg.Name != "main" {
		t.Errorf("the repository root is package %q (%v); want main, which the Dockerfile builds", pkg.Name, err)
	}
	final := froms[len(froms)-1]
	if !strings.Contains(final, "distroless") && !strings.Contains(final, "scratch") {
		t.Errorf("final stage %q; want distroless or scratch (no shell)", final)
	}
	if user == "" || user == "root" || strings.HasPrefix(user, "0") {
		t.Errorf("USER %q; want a non-root user", user)
	}
	if !strings.HasPrefix(entry, "[") {
		t.Errorf("ENTRYPOINT %s; want the exec form (there is no shell)", entry)
	}
}
