package sandbox

import (
	"net/http"
	"strings"
	"testing"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/providers/all"
)

// TestStartWiresAnEmulatorPerAdapter: the sandbox derives its wiring from
// the adapters' specs, so every adapter of providers/all has an emulator
// listening at its API_URL, and the environment is a valid configuration.
func TestStartWiresAnEmulatorPerAdapter(t *testing.T) {
	sb, err := Start(Options{})
	if err != nil {
		t.Fatalf("Start() error = %v", err)
	}
	defer sb.Close()
	emulators := sb.emulators()
	for _, spec := range all.Specs() {
		if em := emulators[spec.Adapter]; em.fault == nil {
			t.Errorf("emulator of %s has no fault shape for InjectFaults", spec.Adapter)
		}
		if spec.Refreshes() && emulators[spec.Adapter].tokenPath == "" {
			t.Errorf("adapter %s refreshes but its emulator has no token endpoint", spec.Adapter)
		}
		u := sb.Env[spec.APIEnv+"_API_URL"]
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Errorf("%s_API_URL = %q; want a loopback emulator", spec.APIEnv, u)
			continue
		}
		resp, err := http.Get(u)
		if err != nil {
			t.Errorf("GET %s (adapter %s): %v", u, spec.Adapter, err)
			continue
		}
		resp.Body.Close()
	}
	if _, err := config.FromEnv(config.MapEnv(sb.Env)); err != nil {
		t.Errorf("config.FromEnv(sandbox env) error = %v", err)
	}
}
