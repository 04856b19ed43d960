package loadtest

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// RunRedis is `--load --load-redis`: the same load twice in one
// invocation, first with the state in memory, then shared through Redis
// (redisURL when set, else a redis-server this run starts on a free
// loopback port and stops), and both reports with their comparison.
// build returns the gateway builder for extra settings on top of the
// sandbox's; stats describes the Redis traffic of the last gateway built.
func RunRedis(ctx context.Context, opts Options, redisURL, encryptionKey string, build func(extra map[string]string) Build, stats func() string, stdout io.Writer) error {
	redisEnv := map[string]string{"REDIS_URL": redisURL, "REDIS_ENCRYPTION_KEY": encryptionKey}
	if redisEnv["REDIS_URL"] == "" {
		url, stop, err := startRedis(ctx)
		if err != nil {
			return err
		}
		defer stop()
		redisEnv["REDIS_URL"] = url
	}
	if redisEnv["REDIS_ENCRYPTION_KEY"] == "" {
		var k [32]byte
		_, _ = rand.Read(k[:])
		redisEnv["REDIS_ENCRYPTION_KEY"] = base64.StdEncoding.EncodeToString(k[:])
	}

	mem, err := Measure(ctx, opts, build(map[string]string{"REDIS_URL": ""}))
	if err != nil {
		return fmt.Errorf("in-memory run: %w", err)
	}
	opts.CachedUsers = 0 // the memory figure is the in-memory run's
	red, err := Measure(ctx, opts, build(redisEnv))
	if err != nil {
		return fmt.Errorf("redis run: %w", err)
	}
	fmt.Fprintln(stdout, "== state in memory")
	mem.Print(stdout)
	fmt.Fprintln(stdout, "== state shared through Redis")
	red.Print(stdout)
	fmt.Fprintln(stdout, "  redis:", stats())
	ratio := red.Throughput / mem.Throughput
	dp50 := red.P50 - mem.P50
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	fmt.Fprintf(stdout, "== redis vs memory: throughput %.1f%% (target within 10%%: %s), p50 %+.1f ms (target within 2 ms: %s)\n",
		100*ratio, verdict(ratio >= 0.9), float64(dp50.Microseconds())/1000, verdict(dp50 <= 2*time.Millisecond))
	return nil
}

// startRedis runs redis-server (from PATH) on a free loopback port with
// persistence off, and returns its URL and the function that stops it.
func startRedis(ctx context.Context) (string, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("--load-redis: redis-server is not installed; install it or set REDIS_URL")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir, err := os.MkdirTemp("", "idpgate-load-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("--load-redis: start redis-server: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		os.RemoveAll(dir)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				ready <- true
			}
		}
		if !signalled {
			ready <- false
		}
	}()
	select {
	case ok := <-ready:
		if !ok {
			stop()
			return "", nil, errors.New("--load-redis: redis-server exited at start")
		}
	case <-time.After(10 * time.Second):
		stop()
		return "", nil, errors.New("--load-redis: redis-server not ready after 10s")
	}
	return "redis://127.0.0.1:" + strconv.Itoa(port) + "/0", stop, nil
}
