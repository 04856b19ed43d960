// Package redistest starts a real redis-server for tests: its own process
// on a free loopback port, in a temporary directory, with persistence off
// (--save "" --appendonly no). Tests can SIGKILL it and start it again on
// the same port to exercise fallback and recovery.
//
// Where redis-server is not installed, Start skips the test with one line
// saying so, unless IDPGATE_REQUIRE_REDIS=1 (set by .ci/run), which turns
// the skip into a failure.
package redistest

import (
	"bufio"
	"context"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RequireEnv is the variable that makes a missing redis-server a failure.
const RequireEnv = "IDPGATE_REQUIRE_REDIS"

// startTimeout bounds how long Start waits for "Ready to accept connections".
const startTimeout = 10 * time.Second

// Server is one redis-server process owned by a test. Its methods are safe
// for concurrent use.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start runs a redis-server for t and stops it with t.Cleanup.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("redistest: redis-server not found in PATH and %s=1", RequireEnv)
		}
		t.Skip("redistest: redis-server not installed; skipping (apt-get install redis-server, or set " + RequireEnv + "=1 to fail instead)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("redistest: free port: %v", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s := &Server{t: t, bin: bin, dir: t.TempDir(), port: port}
	s.start()
	t.Cleanup(s.stop)
	return s
}

// Addr is host:port of the server.
func (s *Server) Addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

// URL is a redis:// URL of the server's database 0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Client returns a plain client for inspecting the server, closed at the
// end of the test.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1, DialTimeout: time.Second})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Kill sends SIGKILL and waits until the process is gone: no shutdown, no
// goodbye to connected clients, as when a node dies.
func (s *Server) Kill() {
	s.t.Helper()
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		s.t.Fatal("redistest: Kill: not running")
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port after Kill. The data is
// gone (persistence is off), as after losing a cache node.
func (s *Server) Restart() {
	s.t.Helper()
	s.start()
}

// Snapshot makes the server write its RDB file (SAVE, strings
// uncompressed) and returns the file's bytes: everything Redis holds, as
// an attacker with a copy of its disk would read it.
func (s *Server) Snapshot() []byte {
	s.t.Helper()
	c := s.Client()
	if err := c.Save(context.Background()).Err(); err != nil {
		s.t.Fatalf("redistest: SAVE: %v", err)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "dump.rdb"))
	if err != nil {
		s.t.Fatalf("redistest: read dump: %v", err)
	}
	return b
}

func (s *Server) start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("redistest: already running")
	}
	cmd := exec.Command(s.bin,
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.dir,
		"--save", "",
		"--appendonly", "no",
		"--rdbcompression", "no",
		"--daemonize", "no",
		"--loglevel", "notice",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	done := make(chan struct{})
	ready := make(chan struct{})
	var logMu sync.Mutex
	var log strings.Builder
	go func() {
		// Read the log until the process ends, so it never blocks on a
		// full pipe; signal readiness on the line redis-server prints.
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			logMu.Lock()
			log.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if !signalled && strings.Contains(sc.Text(), "Ready to accept connections") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
		_ = cmd.Wait()
		close(done)
	}()
	timer := time.NewTimer(startTimeout)
	defer timer.Stop()
	select {
	case <-ready:
	case <-done:
		logMu.Lock()
		defer logMu.Unlock()
		s.t.Fatalf("redistest: redis-server exited at start:\n%s", log.String())
	case <-timer.C:
		_ = cmd.Process.Kill()
		<-done
		s.t.Fatalf("redistest: redis-server not ready after %v", startTimeout)
	}
	s.cmd, s.done = cmd, done
}

func (s *Server) stop() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}
