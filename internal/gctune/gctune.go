// Package gctune sets the Go garbage collector for a gateway: a GOGC of 200
// instead of 100, and a GOMEMLIMIT at 90% of the container's memory limit,
// unless the operator set either variable.
//
// Why: a gateway keeps a small live heap (caches of profiles and tokens)
// and allocates fast (every request parses, executes and encodes). With
// GOGC=100 the collector runs each time the heap grows by its live size,
// and the load run's profile puts it at the largest single cost of the
// gateway over the floor (internal/loadtest): background marking, mark
// assists and stack scans, ~60 µs of CPU per request at 160 clients.
// GOGC=200 halves how often it runs, for a peak heap of about three times
// the live heap instead of two. The memory limit keeps that safe in a
// container: as the heap nears it the collector runs sooner, whatever
// GOGC says (https://go.dev/doc/gc-guide#Memory_limit).
package gctune

import (
	"errors"
	"log/slog"
	"math"
	"runtime/debug"
	"strconv"

	"github.com/KimMachineGun/automemlimit/memlimit"
)

// DefaultGOGC is the GC percentage set when GOGC is not.
const DefaultGOGC = 200

// limitRatio is the share of the container's memory limit given to the Go
// runtime; the rest is left for memory the cgroup charges but the runtime
// does not count, such as the kernel's socket buffers.
const limitRatio = 0.9

// Settings are the collector settings in force after Apply.
type Settings struct {
	GOGC        int    // percent; -1 is off
	GOGCSource  string // "GOGC" (the operator's) or "default"
	MemoryLimit int64  // bytes; math.MaxInt64 is none
	LimitSource string // "GOMEMLIMIT", "cgroup" or "none"
}

// Apply sets the collector from getenv's GOGC and GOMEMLIMIT (the runtime
// has already read them: a set variable is left alone) and the cgroup
// limit read by provider (nil: the process's cgroup, v1 or v2), and logs
// the result once.
func Apply(getenv func(string) string, provider memlimit.Provider, logger *slog.Logger) Settings {
	var s Settings
	if v := getenv("GOGC"); v != "" {
		s.GOGC, s.GOGCSource = currentGOGC(), "GOGC"
	} else {
		debug.SetGCPercent(DefaultGOGC)
		s.GOGC, s.GOGCSource = DefaultGOGC, "default"
	}
	switch {
	case getenv("GOMEMLIMIT") != "":
		s.MemoryLimit, s.LimitSource = debug.SetMemoryLimit(-1), "GOMEMLIMIT"
	default:
		if provider == nil {
			provider = memlimit.FromCgroup
		}
		limit, err := provider()
		switch {
		case err == nil && limit > 0 && limit <= math.MaxInt64:
			s.MemoryLimit, s.LimitSource = int64(float64(limit)*limitRatio), "cgroup"
			debug.SetMemoryLimit(s.MemoryLimit)
		case err != nil && !errors.Is(err, memlimit.ErrNoLimit) && !errors.Is(err, memlimit.ErrNoCgroup) && !errors.Is(err, memlimit.ErrCgroupsNotSupported):
			logger.Warn("gc: could not read the container's memory limit; GOMEMLIMIT left unset", "error", err.Error())
			fallthrough
		default:
			s.MemoryLimit, s.LimitSource = debug.SetMemoryLimit(-1), "none"
		}
	}
	limit := "none"
	if s.MemoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(s.MemoryLimit, 10)
	}
	logger.Info("gc settings", "gogc", s.GOGC, "gogc_from", s.GOGCSource, "memory_limit_bytes", limit, "memory_limit_from", s.LimitSource)
	return s
}

// String is the settings as the load run prints them.
func (s Settings) String() string {
	limit := "none"
	if s.MemoryLimit != math.MaxInt64 {
		limit = strconv.FormatInt(s.MemoryLimit>>20, 10) + " MiB"
	}
	return "gc: GOGC " + strconv.Itoa(s.GOGC) + " (" + s.GOGCSource + "), memory limit " + limit + " (" + s.LimitSource + ")"
}

// currentGOGC reads the GC percentage without changing it.
func currentGOGC() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
