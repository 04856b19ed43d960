package cluster

import (
	"bytes"
	"crypto/rand"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/cluster/redistest"
	"github.com/idpgate/idpgate/internal/seal"
)

// clock is a settable clock for the health state and the caches.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// logBuffer collects log lines, safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Count(s string) int { return strings.Count(b.String(), s) }

func randomKey(t testing.TB) []byte {
	t.Helper()
	k := make([]byte, seal.KeySize)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func ring(t testing.TB, keys ...[]byte) *seal.Ring {
	t.Helper()
	r, err := seal.NewRing(keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// replica is one gateway's view of the shared Redis.
type replica struct {
	*Store
	clock *clock
	logs  *logBuffer
}

type replicaOpt func(*Options)

func withRing(r *seal.Ring) replicaOpt { return func(o *Options) { o.Ring = r } }

// testTimeout bounds calls in tests that do not inject faults: generous,
// since 30 goroutines dialling fresh pools under -race on a shared machine
// can take longer than production's 50ms.
const testTimeout = 500 * time.Millisecond

// faultTimeout is the production default, for tests that assert how fast
// a call fails when Redis is lost.
const faultTimeout = 50 * time.Millisecond

func withTimeout(d time.Duration) replicaOpt { return func(o *Options) { o.Timeout = d } }

// newReplica connects a Store to srv. Every replica of one test shares
// key unless withRing says otherwise.
func newReplica(t testing.TB, url string, key []byte, opts ...replicaOpt) *replica {
	t.Helper()
	c, logs := newClock(), &logBuffer{}
	o := Options{
		URL:           url,
		Prefix:        "test:",
		Ring:          nil,
		Timeout:       testTimeout,
		ProbeInterval: time.Second,
		PollInterval:  2 * time.Millisecond,
		Logger:        slog.New(slog.NewTextHandler(logs, nil)),
		Now:           c.Now,
	}
	if key != nil {
		o.Ring = ring(t, key)
	}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return &replica{Store: s, clock: c, logs: logs}
}

// cluster starts a redis-server and n replicas sharing one key.
func startCluster(t testing.TB, n int, opts ...replicaOpt) (*redistest.Server, []*replica) {
	t.Helper()
	srv := redistest.Start(t)
	key := randomKey(t)
	rs := make([]*replica, n)
	for i := range rs {
		rs[i] = newReplica(t, srv.URL(), key, opts...)
	}
	return srv, rs
}

func startServer(t testing.TB) *redistest.Server { return redistest.Start(t) }
