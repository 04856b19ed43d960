// Package loadtest measures the gateway's request path against the dev
// sandbox's emulators with a fixed upstream latency: latency percentiles,
// throughput against the ideal (clients / upstream latency), Management API
// calls and M2M tokens per request, and memory with many users cached; and,
// in the same run with the same emulators and clients, a floor handler
// (floor.go) next to the gateway at two concurrencies, with throughput,
// p50, p99 and process CPU per request of both. It backs `go run . --load`;
// the figures go in README.md.
package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// Options shape the load.
type Options struct {
	Duration    time.Duration // measured phase
	Warmup      time.Duration // unmeasured phase after every user was seen once
	Users       int           // distinct users sending requests
	Clients     int           // concurrent clients
	Latency     time.Duration // fixed latency of every emulated upstream
	CachedUsers int           // users cached for the memory figure (0 skips it)
	// HighClients is the second concurrency of the floor comparison (the
	// first is Clients), where the CPU rather than the upstream is the
	// limit; 0 compares at Clients only.
	HighClients int
	// Rounds is how many times the floor comparison measures the floor and
	// then the gateway at each concurrency; the figures pool the rounds.
	Rounds int
	// CPUProfile and MemProfile, when set, are files that receive a CPU
	// profile of the gateway's measured phase at the highest concurrency,
	// and heap profiles (alloc_space) right before (MemProfile+".base") and
	// right after it: `go tool pprof -sample_index=alloc_space -diff_base
	// F.base F` shows what that phase allocated. The floor's measured phase
	// at the same concurrency writes the same files with ".floor" added.
	CPUProfile, MemProfile string
}

// DefaultOptions are the figures the README reports.
func DefaultOptions() Options {
	return Options{Duration: 5 * time.Second, Warmup: time.Second, Users: 300, Clients: 32, HighClients: 160, Rounds: 3, Latency: 50 * time.Millisecond, CachedUsers: 10_000}
}

// Build assembles a gateway handler from the sandbox's environment.
type Build func(env map[string]string, logger *slog.Logger) (http.Handler, func(), error)

// Query is what every load request asks: both providers of the user, so
// each request makes two upstream calls that should run concurrently.
const Query = `{ me { id identities { provider repos(first: 5) { nodes { name } } calendar(first: 5) { nodes { title } } } } }`

// ProfileQuery fills the profile cache without provider calls; the memory
// figure uses it so the emulators need not hold data for every user.
const ProfileQuery = `{ me { id name identities { id provider capabilities } } }`

// Report holds the measured figures.
type Report struct {
	Requests        int
	Errors          int
	Elapsed         time.Duration
	P50, P90, P99   time.Duration
	Throughput      float64 // requests per second
	Ideal           float64 // Clients / Latency
	MgmtCalls       int64   // Management API calls during the measured phase
	MgmtPerRequest  float64
	ColdUsers       int   // users seen for the first time before the measured phase
	ColdMgmtCalls   int64 // Management API calls their first requests caused
	TokenFetches    int64 // M2M tokens fetched by the process, all phases
	CachedUsers     int
	RSSBytes        uint64 // resident set after caching CachedUsers users
	HeapBytes       uint64 // live heap after GC, same moment (gateway and emulators)
	CacheHeapBytes  int64  // growth of the live heap while caching the users
	UpstreamLatency time.Duration
	// Phases are the floor comparison: per concurrency, the floor's phase
	// then the gateway's.
	Phases []Phase
}

// Phase is one measured phase of the floor comparison.
type Phase struct {
	Target     string // "floor" or "idpgate"
	Clients    int
	Requests   int
	Errors     int
	Throughput float64 // requests per second
	P50, P99   time.Duration
	CPU        time.Duration // process CPU time (user+system) during the phase
	CPUPerReq  time.Duration
}

// Run starts the sandbox, the gateway on a loopback port and the clients,
// and prints the report to out.
func Run(ctx context.Context, opts Options, build Build, out io.Writer) error {
	rep, err := Measure(ctx, opts, build)
	if err != nil {
		return err
	}
	rep.Print(out)
	return nil
}

// Measure runs the load and returns the figures.
func Measure(ctx context.Context, opts Options, build Build) (*Report, error) {
	if opts.Users < 1 || opts.Clients < 1 || opts.Duration <= 0 {
		return nil, fmt.Errorf("loadtest: users, clients and duration must be positive")
	}
	logger := slog.New(slog.DiscardHandler)
	sb, err := sandbox.Start(sandbox.Options{Latency: opts.Latency, LoadUsers: opts.Users, ProfileOnlyUsers: max(0, opts.CachedUsers-opts.Users), Logger: logger})
	if err != nil {
		return nil, err
	}
	defer sb.Close()
	h, closeGW, err := build(sb.Env, logger)
	if err != nil {
		return nil, err
	}
	defer closeGW()
	endpoint, stopGW, err := serve(h)
	if err != nil {
		return nil, err
	}
	defer stopGW()
	fl := newFloor(sb, max(opts.Clients, opts.HighClients))
	defer fl.close()
	floorEndpoint, stopFloor, err := serve(fl)
	if err != nil {
		return nil, err
	}
	defer stopFloor()

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: max(opts.Clients, opts.HighClients) * 2, MaxIdleConns: max(opts.Clients, opts.HighClients) * 4}}
	defer client.CloseIdleConnections()
	ids := sb.LoadUsers[:opts.Users]
	tokens := make([]string, len(ids))
	for i, id := range ids {
		tokens[i] = sb.Token(id)
	}

	// Cold: every user once, so the measured phase runs with warm caches.
	cold := sb.Tenant.Calls()
	if _, err := drive(ctx, client, endpoint, tokens, opts.Clients, 0, len(tokens), Query); err != nil {
		return nil, fmt.Errorf("loadtest: warming: %w", err)
	}
	if opts.Warmup > 0 {
		if _, err := drive(ctx, client, endpoint, tokens, opts.Clients, opts.Warmup, 0, Query); err != nil {
			return nil, fmt.Errorf("loadtest: warm-up: %w", err)
		}
	}
	warm := sb.Tenant.Calls()
	coldCalls := int64((warm.UserByID - cold.UserByID) + (warm.Search - cold.Search))
	before := sb.Tenant.Calls()
	res, err := drive(ctx, client, endpoint, tokens, opts.Clients, opts.Duration, 0, Query)
	if err != nil {
		return nil, err
	}
	after := sb.Tenant.Calls()

	rep := &Report{
		Requests:        len(res.latencies),
		Errors:          res.errors,
		Elapsed:         res.elapsed,
		Ideal:           float64(opts.Clients) / opts.Latency.Seconds(),
		UpstreamLatency: opts.Latency,
		ColdUsers:       len(tokens),
		ColdMgmtCalls:   coldCalls,
	}
	lat := res.latencies
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		rep.P50, rep.P90, rep.P99 = lat[n*50/100], lat[n*90/100], lat[min(n-1, n*99/100)]
	}
	rep.Throughput = float64(rep.Requests) / res.elapsed.Seconds()
	rep.MgmtCalls = int64((after.UserByID - before.UserByID) + (after.Search - before.Search))
	if rep.Requests > 0 {
		rep.MgmtPerRequest = float64(rep.MgmtCalls) / float64(rep.Requests)
	}

	// The floor comparison: the floor's every user once, then per
	// concurrency a warm-up and a measured phase of the floor, then the
	// same of the gateway.
	if _, err := drive(ctx, client, floorEndpoint, tokens, opts.Clients, 0, len(tokens), Query); err != nil {
		return nil, fmt.Errorf("loadtest: warming the floor: %w", err)
	}
	levels := []int{opts.Clients}
	if opts.HighClients > 0 && opts.HighClients != opts.Clients {
		levels = append(levels, opts.HighClients)
	}
	// Rounds alternate floor and gateway, so that a slow spell of the
	// machine (the load generator shares its cores) falls on both; a
	// target's figures pool its rounds' requests, time and CPU.
	rounds := max(1, opts.Rounds)
	for i, c := range levels {
		pooled := map[string]*result{}
		cpus := map[string]time.Duration{}
		for round := range rounds {
			profile := i == len(levels)-1 && round == rounds-1
			for _, t := range []struct{ name, url string }{{"floor", floorEndpoint}, {"idpgate", endpoint}} {
				if opts.Warmup > 0 {
					if _, err := drive(ctx, client, t.url, tokens, c, opts.Warmup, 0, Query); err != nil {
						return nil, fmt.Errorf("loadtest: %s warm-up at %d clients: %w", t.name, c, err)
					}
				}
				var stop func() error
				if profile {
					// The floor's profiles go next to the gateway's, so that
					// `go tool pprof -diff_base` shows where the difference goes.
					cp, mp := opts.CPUProfile, opts.MemProfile
					if t.name == "floor" {
						cp, mp = suffixed(cp, ".floor"), suffixed(mp, ".floor")
					}
					if stop, err = startProfiles(cp, mp); err != nil {
						return nil, err
					}
				}
				cpu0 := CPUTime()
				res, err := drive(ctx, client, t.url, tokens, c, opts.Duration, 0, Query)
				cpu := CPUTime() - cpu0
				if stop != nil {
					if perr := stop(); perr != nil && err == nil {
						err = perr
					}
				}
				if err != nil {
					return nil, fmt.Errorf("loadtest: %s at %d clients: %w", t.name, c, err)
				}
				if p := pooled[t.name]; p != nil {
					p.add(res)
				} else {
					pooled[t.name] = res
				}
				cpus[t.name] += cpu
			}
		}
		for _, name := range []string{"floor", "idpgate"} {
			rep.Phases = append(rep.Phases, pooled[name].phase(name, c, cpus[name]))
		}
	}

	if opts.CachedUsers > 0 {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		sb.SetLatency(0)
		all := make([]string, opts.CachedUsers)
		for i, id := range sb.LoadUsers[:opts.CachedUsers] {
			all[i] = sb.Token(id)
		}
		// Many clients, so the shared loader's batches fill up as they would
		// under real traffic. The profile query caches each user's profile
		// (with its IdP tokens), which is what a user costs the gateway.
		if _, err := drive(ctx, client, endpoint, all, 8*opts.Clients, 0, len(all), ProfileQuery); err != nil {
			return nil, fmt.Errorf("loadtest: caching users: %w", err)
		}
		client.CloseIdleConnections()
		runtime.GC()
		debug.FreeOSMemory() // RSS then reflects what is live, not garbage awaiting the scavenger
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		rep.CachedUsers = opts.CachedUsers
		rep.HeapBytes = ms.HeapAlloc
		rep.CacheHeapBytes = int64(ms.HeapAlloc) - int64(base.HeapAlloc)
		rep.RSSBytes = rss()
	}
	rep.TokenFetches = int64(sb.Tenant.Calls().Token)
	return rep, nil
}

// serve serves h on a loopback port.
func serve(h http.Handler) (endpoint string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String() + "/graphql", func() { srv.Close() }, nil
}

// cpuTime is the CPU time (user and system) this process used so far: the
// gateway or floor, the emulators and the clients together.
// CPUTime is the process's CPU time so far (user and system), which the
// load run and the request-path benchmarks divide by requests.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// suffixed is path+suffix, or "" for no path.
func suffixed(path, suffix string) string {
	if path == "" {
		return ""
	}
	return path + suffix
}

// startProfiles starts the CPU profile and writes the base heap profile;
// the function it returns stops the one and writes the other.
func startProfiles(cpuPath, memPath string) (func() error, error) {
	var cpuFile *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err != nil {
			return nil, err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return nil, err
		}
		cpuFile = f
	}
	writeHeap := func(path string) error {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	if memPath != "" {
		if err := writeHeap(memPath + ".base"); err != nil {
			if cpuFile != nil {
				pprof.StopCPUProfile()
				cpuFile.Close()
			}
			return nil, err
		}
	}
	return func() error {
		var errs []error
		if cpuFile != nil {
			pprof.StopCPUProfile()
			errs = append(errs, cpuFile.Close())
		}
		if memPath != "" {
			errs = append(errs, writeHeap(memPath))
		}
		return errors.Join(errs...)
	}, nil
}

type result struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
}

// add pools o into r: the requests and the time of both.
func (r *result) add(o *result) {
	r.latencies = append(r.latencies, o.latencies...)
	r.errors += o.errors
	r.elapsed += o.elapsed
}

func (r *result) phase(target string, clients int, cpu time.Duration) Phase {
	p := Phase{Target: target, Clients: clients, Requests: len(r.latencies), Errors: r.errors, CPU: cpu}
	lat := r.latencies
	slices.Sort(lat)
	if n := len(lat); n > 0 {
		p.P50, p.P99 = lat[n*50/100], lat[min(n-1, n*99/100)]
		p.CPUPerReq = cpu / time.Duration(n)
	}
	if r.elapsed > 0 {
		p.Throughput = float64(p.Requests) / r.elapsed.Seconds()
	}
	return p
}

// drive sends requests from clients goroutines, cycling through tokens,
// either for d or until count requests were sent.
func drive(ctx context.Context, client *http.Client, endpoint string, tokens []string, clients int, d time.Duration, count int, query string) (*result, error) {
	body, _ := json.Marshal(map[string]string{"query": query})
	var (
		next    atomic.Int64
		mu      sync.Mutex
		res     = &result{}
		wg      sync.WaitGroup
		firstMu sync.Mutex
		first   error
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 1024)
			errs := 0
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if count > 0 && i >= count {
					break
				}
				if d > 0 && time.Now().After(deadline) {
					break
				}
				t0 := time.Now()
				err := post(ctx, client, endpoint, tokens[i%len(tokens)], body)
				local = append(local, time.Since(t0))
				if err != nil {
					errs++
					firstMu.Lock()
					if first == nil {
						first = err
					}
					firstMu.Unlock()
				}
			}
			mu.Lock()
			res.latencies = append(res.latencies, local...)
			res.errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if res.errors > len(res.latencies)/100 {
		return nil, fmt.Errorf("loadtest: %d of %d requests failed; first: %v", res.errors, len(res.latencies), first)
	}
	return res, nil
}

func post(ctx context.Context, client *http.Client, endpoint, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	if bytes.Contains(b, []byte(`"errors"`)) {
		var r struct {
			Errors []struct {
				Message string `json:"message"`
			} `json:"errors"`
		}
		_ = json.Unmarshal(b, &r)
		if len(r.Errors) > 0 {
			return fmt.Errorf("graphql error: %s", r.Errors[0].Message)
		}
	}
	return nil
}

// rss reads the resident set size of this process (Linux), 0 elsewhere.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, _ := strconv.ParseUint(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// Print writes the figures and how they compare with the targets.
func (r *Report) Print(w io.Writer) {
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "idpgate load: %d requests in %s, %d errors, upstream latency %s\n", r.Requests, r.Elapsed.Round(time.Millisecond), r.Errors, ms(r.UpstreamLatency))
	fmt.Fprintf(w, "  latency p50 %s (+%s over upstream; target +5 ms: %s)\n", ms(r.P50), ms(r.P50-r.UpstreamLatency), check(r.P50-r.UpstreamLatency <= 5*time.Millisecond))
	fmt.Fprintf(w, "  latency p90 %s\n", ms(r.P90))
	fmt.Fprintf(w, "  latency p99 %s (+%s over upstream; target +25 ms: %s)\n", ms(r.P99), ms(r.P99-r.UpstreamLatency), check(r.P99-r.UpstreamLatency <= 25*time.Millisecond))
	fmt.Fprintf(w, "  throughput %.0f req/s = %.1f%% of ideal %.0f req/s (target 90%%: %s)\n", r.Throughput, 100*r.Throughput/r.Ideal, r.Ideal, check(r.Throughput >= 0.9*r.Ideal))
	fmt.Fprintf(w, "  cold start: %d users' first requests made %d Management API calls (shared batches)\n", r.ColdUsers, r.ColdMgmtCalls)
	fmt.Fprintf(w, "  management API calls %d = %.4f per request (target 0.05: %s)\n", r.MgmtCalls, r.MgmtPerRequest, check(r.MgmtPerRequest <= 0.05))
	fmt.Fprintf(w, "  M2M tokens fetched %d (target 1: %s)\n", r.TokenFetches, check(r.TokenFetches == 1))
	if r.CachedUsers > 0 {
		fmt.Fprintf(w, "  memory with %d users cached: RSS %.1f MB for gateway and emulators together, live heap %.1f MB, of which caching the users added %.1f MB (target RSS < 150 MB: %s)\n",
			r.CachedUsers, float64(r.RSSBytes)/1e6, float64(r.HeapBytes)/1e6, float64(r.CacheHeapBytes)/1e6, check(r.RSSBytes < 150e6))
	}
	r.printPhases(w)
}

// printPhases writes the floor comparison: per concurrency the floor, the
// gateway and their ratios, checked against the targets (at the lowest
// concurrency throughput ≥ 0.97× the floor's and p50 within 2 ms; at the
// highest throughput ≥ 0.85× and CPU per request ≤ 1.6× the floor's).
func (r *Report) printPhases(w io.Writer) {
	if len(r.Phases) == 0 {
		return
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
	check := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(w, "floor comparison (same emulators and clients; CPU is the process's: the gateway or floor, the emulators and the clients):\n")
	fmt.Fprintf(w, "  %7s  %-7s  %7s  %8s  %8s  %9s\n", "clients", "", "req/s", "p50", "p99", "CPU/req")
	lowest, highest := r.Phases[0].Clients, r.Phases[len(r.Phases)-1].Clients
	for i := 0; i+1 < len(r.Phases); i += 2 {
		f, g := r.Phases[i], r.Phases[i+1]
		for _, p := range []Phase{f, g} {
			fmt.Fprintf(w, "  %7d  %-7s  %7.0f  %8s  %8s  %9s\n", p.Clients, p.Target, p.Throughput, ms(p.P50), ms(p.P99), fmt.Sprintf("%.3f ms", float64(p.CPUPerReq.Nanoseconds())/1e6))
		}
		tput := g.Throughput / max(f.Throughput, 1e-9)
		cpu := float64(g.CPUPerReq) / max(float64(f.CPUPerReq), 1)
		diff := func(d time.Duration) string { return fmt.Sprintf("%+.1f ms", float64(d.Microseconds())/1000) }
		fmt.Fprintf(w, "  %7d  %-7s  %6.2fx  %8s  %8s  %8.2fx\n", g.Clients, "ratio", tput, diff(g.P50-f.P50), diff(g.P99-f.P99), cpu)
		switch {
		case g.Clients == lowest && len(r.Phases) > 2:
			fmt.Fprintf(w, "  %7s  targets: throughput ≥ 0.97× floor: %s; p50 within 2 ms: %s\n", "", check(tput >= 0.97), check(g.P50-f.P50 <= 2*time.Millisecond))
		case g.Clients == highest:
			fmt.Fprintf(w, "  %7s  targets: throughput ≥ 0.85× floor: %s; CPU/request ≤ 1.6× floor: %s\n", "", check(tput >= 0.85), check(cpu <= 1.6))
		}
	}
}
