package gctune

import (
	"bytes"
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

func TestApply(t *testing.T) {
	prevGC, prevLimit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetGCPercent(prevGC); debug.SetMemoryLimit(prevLimit) })
	const gib = 1 << 30
	limit := func(n uint64, err error) memlimit.Provider { return func() (uint64, error) { return n, err } }
	for _, tc := range []struct {
		name        string
		env         map[string]string
		runtimeGOGC int // what the runtime read from GOGC
		provider    memlimit.Provider
		want        Settings
		wantWarn    bool
	}{
		{"defaults in a container", nil, 100, limit(gib, nil), Settings{GOGC: 200, GOGCSource: "default", MemoryLimit: gib * 9 / 10, LimitSource: "cgroup"}, false},
		{"no container limit", nil, 100, limit(0, memlimit.ErrNoLimit), Settings{GOGC: 200, GOGCSource: "default", MemoryLimit: math.MaxInt64, LimitSource: "none"}, false},
		{"not in a cgroup", nil, 100, limit(0, memlimit.ErrNoCgroup), Settings{GOGC: 200, GOGCSource: "default", MemoryLimit: math.MaxInt64, LimitSource: "none"}, false},
		{"unreadable limit", nil, 100, limit(0, errors.New("permission denied")), Settings{GOGC: 200, GOGCSource: "default", MemoryLimit: math.MaxInt64, LimitSource: "none"}, true},
		{"operator's GOGC", map[string]string{"GOGC": "50"}, 50, limit(gib, nil), Settings{GOGC: 50, GOGCSource: "GOGC", MemoryLimit: gib * 9 / 10, LimitSource: "cgroup"}, false},
		{"operator's GOGC off", map[string]string{"GOGC": "off"}, -1, limit(0, memlimit.ErrNoLimit), Settings{GOGC: -1, GOGCSource: "GOGC", MemoryLimit: math.MaxInt64, LimitSource: "none"}, false},
		{"operator's GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "300MiB"}, 100, limit(gib, nil), Settings{GOGC: 200, GOGCSource: "default", MemoryLimit: 300 << 20, LimitSource: "GOMEMLIMIT"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(tc.runtimeGOGC)
			debug.SetMemoryLimit(math.MaxInt64)
			if v := tc.env["GOMEMLIMIT"]; v != "" {
				debug.SetMemoryLimit(300 << 20) // what the runtime read
			}
			var log bytes.Buffer
			got := Apply(func(k string) string { return tc.env[k] }, tc.provider, slog.New(slog.NewTextHandler(&log, nil)))
			if got != tc.want {
				t.Errorf("Apply() = %+v; want %+v", got, tc.want)
			}
			if p := currentGOGC(); p != tc.want.GOGC {
				t.Errorf("GC percent after Apply = %d; want %d", p, tc.want.GOGC)
			}
			if l := debug.SetMemoryLimit(-1); l != tc.want.MemoryLimit {
				t.Errorf("memory limit after Apply = %d; want %d", l, tc.want.MemoryLimit)
			}
			if w := strings.Contains(log.String(), "level=WARN"); w != tc.wantWarn {
				t.Errorf("warned = %v; want %v (log %q)", w, tc.wantWarn, log.String())
			}
			if !strings.Contains(log.String(), "gc settings") {
				t.Errorf("log %q; want the settings line", log.String())
			}
		})
	}
}
