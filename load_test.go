package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/loadtest"
)

// TestLoadRunSmall runs the load harness behind `go run . --load` at a
// small size, so the command keeps working; the figures themselves are
// measured by the command, not asserted here.
func TestLoadRunSmall(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cpuProf, memProf := filepath.Join(dir, "cpu.pprof"), filepath.Join(dir, "mem.pprof")
	opts := loadtest.Options{Duration: 300 * time.Millisecond, Users: 10, Clients: 4, HighClients: 8, Latency: 5 * time.Millisecond, CachedUsers: 30, CPUProfile: cpuProf, MemProfile: memProf}
	var out strings.Builder
	err := loadtest.Run(context.Background(), opts, func(env map[string]string, lg *slog.Logger) (http.Handler, func(), error) {
		cfg, err := config.FromEnv(config.MapEnv(env))
		if err != nil {
			return nil, nil, err
		}
		gw, err := gateway.New(cfg, lg, gateway.Options{})
		if err != nil {
			return nil, nil, err
		}
		return gw.Handler(), gw.Close, nil
	}, &out)
	if err != nil {
		t.Fatalf("loadtest.Run() error = %v", err)
	}
	for _, want := range []string{"0 errors", "latency p50", "throughput", "management API calls", "M2M tokens fetched 1", "30 users cached",
		"floor comparison", "4  floor", "4  idpgate", "8  floor", "8  idpgate", "8  ratio", "CPU/request ≤ 1.6× floor"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{cpuProf, memProf, memProf + ".base"} {
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("profile %s not written (err %v)", f, err)
		}
	}
}

// TestLoadRunRedisSmall runs `--load --load-redis` at a small size with a
// redis-server it starts itself: both reports, the comparison, and no
// Redis call failed.
func TestLoadRunRedisSmall(t *testing.T) {
	t.Parallel()
	redistest.Start(t) // skips (or fails with IDPGATE_REQUIRE_REDIS=1) where redis-server is missing
	opts := loadtest.Options{Duration: 300 * time.Millisecond, Users: 10, Clients: 4, Latency: 5 * time.Millisecond}
	var out strings.Builder
	// A loaded CI machine can stall a loopback round trip past the 50 ms
	// production bound; this test is about the comparison, not Redis's speed.
	env := config.MapEnv(map[string]string{"REDIS_TIMEOUT": "1s"})
	if err := runLoadRedis(context.Background(), opts, env, &out); err != nil {
		t.Fatalf("runLoadRedis() error = %v", err)
	}
	for _, want := range []string{"== state in memory", "== state shared through Redis", "== redis vs memory: throughput", "(0 failed, 0 refused"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Count(out.String(), "0 errors") != 2 {
		t.Errorf("want both runs without errors:\n%s", out.String())
	}
}
