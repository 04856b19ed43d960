package cluster

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/idpgate/idpgate/internal/seal"
)

// Options configure New.
type Options struct {
	// URL is redis://[user:password@]host:port[/db] or rediss:// (TLS),
	// as redis.ParseURL reads it. Ignored when Redis is set.
	URL string
	// Redis overrides URL with ready client options (tests).
	Redis *redis.Options
	// Prefix starts every key (default "idpgate:").
	Prefix string
	// Tenant names the deployment the state belongs to (the gateway: its
	// Auth0 tenant and API audience). A short hash of it follows the
	// namespace in every key, so two deployments sharing one Redis and
	// prefix never read each other's profiles or tokens. Empty: no
	// segment.
	Tenant string
	// Ring seals every value that may hold a token (required).
	Ring *seal.Ring
	// Timeout bounds each call to Redis, dial included (default 50ms).
	Timeout time.Duration
	// ProbeInterval: while Redis is unavailable, calls fail at once
	// without touching the network, and one call per interval tries Redis
	// again (default 1s).
	ProbeInterval time.Duration
	// PollInterval is the first interval at which WaitLease looks whether
	// a lease is gone; it doubles up to 4× (default 10ms).
	PollInterval time.Duration
	// Logger receives one line when Redis becomes unavailable and one when
	// it is back (default: discard).
	Logger *slog.Logger
	// Now is the clock of the health state (default time.Now).
	Now func() time.Time
	// ProbeAlone: while Redis is unavailable, a goroutine probes it every
	// ProbeInterval even when no call comes, so that a recovery (and the
	// OnRecover hooks) does not wait for traffic. Close stops it.
	ProbeAlone bool
	// OnState, when set, is called with true at New and at each recovery,
	// and with false each time Redis is found unavailable (metrics).
	OnState func(up bool)
	// OnFailure, when set, is called for each call that did not get a
	// usable answer, with its cause ("timeout", "connection", "protocol",
	// "server", "server: OOM", …, or "unavailable" for a call refused
	// without touching the network): each such call fell back to the
	// in-process state (metrics).
	OnFailure func(cause string)
}

const (
	defaultPrefix        = "idpgate:"
	defaultTimeout       = 50 * time.Millisecond
	defaultProbeInterval = time.Second
	defaultPollInterval  = 10 * time.Millisecond
)

// Store is the connection to the shared Redis, its key prefix, its sealing
// ring and its health state. It is safe for concurrent use. A nil *Store
// is valid: every call fails at once with ErrUnavailable, so the helpers
// built on it run on their in-process level only (no REDIS_URL).
type Store struct {
	rdb      *redis.Client
	prefix   string
	tenant   string // "" or the tenant's hash and ":"
	ring     *seal.Ring
	timeout  time.Duration
	probeInt time.Duration
	pollInt  time.Duration
	log      *slog.Logger
	now      func() time.Time

	mu        sync.Mutex
	gen       uint64 // incremented at each change of state
	down      bool
	since     time.Time // when the current state began
	nextProbe time.Time
	probing   bool
	cause     string // class of the last failure: timeout, connection, protocol
	recover   []func()
	prober    bool // the ProbeAlone goroutine runs
	closed    chan struct{}
	alone     bool
	onState   func(bool)
	onFailure func(string)

	roundTrips atomic.Int64
	failures   atomic.Int64
	fastFails  atomic.Int64
	unopenable atomic.Int64
}

// New returns a Store. It does not contact Redis: the first call does, so
// a replica starts even when Redis is down. Errors never hold the URL.
func New(o Options) (*Store, error) {
	if o.Ring.Len() == 0 {
		return nil, errors.New("cluster: no sealing key")
	}
	ro := o.Redis
	if ro == nil {
		parsed, err := redis.ParseURL(o.URL)
		if err != nil {
			return nil, errors.New("cluster: invalid Redis URL") // its text may hold the password
		}
		ro = parsed
	} else {
		c := *ro
		ro = &c
	}
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if o.Timeout <= 0 {
		o.Timeout = defaultTimeout
	}
	if o.ProbeInterval <= 0 {
		o.ProbeInterval = defaultProbeInterval
	}
	if o.PollInterval <= 0 {
		o.PollInterval = defaultPollInterval
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	// Every call is bounded by its context (Timeout), and a failed call is
	// not retried: the caller falls back to its own state instead.
	ro.ContextTimeoutEnabled = true
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.DialTimeout = max(o.Timeout, time.Second)
	ro.ReadTimeout = o.Timeout
	ro.WriteTimeout = o.Timeout
	ro.PoolTimeout = o.Timeout
	// No CLIENT SETINFO on connect: one round trip less when a connection
	// is (re)dialled within a call's budget.
	ro.DisableIdentity = true
	tenant := ""
	if o.Tenant != "" {
		h := sha256.Sum256([]byte(o.Tenant))
		tenant = hex.EncodeToString(h[:6]) + ":"
	}
	if o.OnState == nil {
		o.OnState = func(bool) {}
	}
	if o.OnFailure == nil {
		o.OnFailure = func(string) {}
	}
	o.OnState(true)
	return &Store{
		onState:   o.OnState,
		onFailure: o.OnFailure,
		rdb:       redis.NewClient(ro),
		prefix:    o.Prefix,
		tenant:    tenant,
		ring:      o.Ring,
		timeout:   o.Timeout,
		probeInt:  o.ProbeInterval,
		pollInt:   o.PollInterval,
		log:       o.Logger,
		now:       o.Now,
		since:     o.Now(),
		closed:    make(chan struct{}),
		alone:     o.ProbeAlone,
	}, nil
}

// Close closes the connections and stops the ProbeAlone goroutine.
func (s *Store) Close() error {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	select {
	case <-s.closed:
	default:
		close(s.closed)
	}
	s.mu.Unlock()
	return s.rdb.Close()
}

// OnRecover registers f, called in its own goroutine each time Redis is
// found available again after an outage (state written in-process
// meanwhile can then be shared). No-op on a nil Store.
func (s *Store) OnRecover(f func()) {
	if s == nil {
		return
	}
	s.mu.Lock()
	s.recover = append(s.recover, f)
	s.mu.Unlock()
}

// probeAlone probes Redis every probe interval until it is back or the
// Store is closed.
func (s *Store) probeAlone() {
	// A quarter of the interval: admit decides when the probe is due.
	t := time.NewTicker(max(s.probeInt/4, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.closed:
			return
		case <-t.C:
		}
		_ = s.do(context.Background(), "PING", func(ctx context.Context) error {
			return s.rdb.Ping(ctx).Err()
		})
		s.mu.Lock()
		up := !s.down
		if up {
			s.prober = false
		}
		s.mu.Unlock()
		if up {
			return
		}
	}
}

// key is the full Redis key of a namespace and name.
func (s *Store) key(namespace, name string) string {
	return s.prefix + namespace + ":" + s.tenant + name
}

// ErrUnavailable is matched (errors.Is) by every error of a call that did
// not reach a usable Redis: not configured, down, slow, or answering
// something that is not Redis. The caller carries on with its in-process
// state.
var ErrUnavailable = errors.New("cluster: redis unavailable")

// Error is the error of a failed call. Its text names the operation and
// the class of failure, never a key, a value or Redis's own message (which
// can echo arguments).
type Error struct {
	Op    string // GET, SET, EVALSHA, …
	Cause string // "not configured", "unavailable", "timeout", "connection", "protocol", "server", "server: <code>"
}

func (e *Error) Error() string {
	if e.Cause == "server" {
		return "cluster: " + e.Op + ": redis refused the command"
	}
	return "cluster: " + e.Op + ": redis unavailable (" + e.Cause + ")"
}

// Is makes every failure match ErrUnavailable: to the caller they all mean
// "use the in-process state".
func (e *Error) Is(target error) bool { return target == ErrUnavailable }

// do runs one round trip under the timeout and keeps the health state.
func (s *Store) do(ctx context.Context, op string, fn func(ctx context.Context) error) error {
	if s == nil {
		return &Error{Op: op, Cause: "not configured"}
	}
	gen, probe, ok := s.admit()
	if !ok {
		s.fastFails.Add(1)
		s.onFailure("unavailable")
		return &Error{Op: op, Cause: "unavailable"}
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	s.roundTrips.Add(1)
	var err error
	if probe && s.refusing() {
		// Redis was up but refusing (OOM, READONLY, …), and reads may
		// still work while writes do not: the probe writes first, so a
		// read does not declare it back while it still refuses writes.
		err = s.rdb.Set(cctx, s.key("health", "probe"), "1", time.Second).Err()
	}
	if err == nil {
		err = fn(cctx)
	}
	if err == nil || errors.Is(err, redis.Nil) {
		s.succeeded(probe)
		return err
	}
	var rerr redis.Error
	if errors.As(err, &rerr) {
		s.failures.Add(1)
		if code := serverState(rerr); code != "" {
			// Redis answered, but refuses every write (or every command)
			// until an operator acts: as unusable as a Redis that is down.
			cause := "server: " + code
			s.onFailure(cause)
			s.failed(gen, probe, cause)
			return &Error{Op: op, Cause: cause}
		}
		s.onFailure("server")
		// Redis answered, with an error of this command only (a script's
		// own error, WRONGTYPE on one key): it is up, this call failed.
		s.succeeded(probe)
		return &Error{Op: op, Cause: "server"}
	}
	if ctx.Err() != nil {
		// The caller gave up (its own deadline or cancellation): says
		// nothing about Redis.
		if probe {
			s.endProbe()
		}
		s.onFailure("canceled")
		return &Error{Op: op, Cause: "timeout"}
	}
	s.failures.Add(1)
	cause := classify(err)
	s.onFailure(cause)
	s.failed(gen, probe, cause)
	return &Error{Op: op, Cause: cause}
}

// stateCodes are the error codes with which Redis refuses commands
// because of its own state or configuration, not because of the command:
// bad credentials or ACL (WRONGPASS, NOAUTH, NOPERM), memory full under
// noeviction (OOM), a replica after failover (READONLY), cluster
// redirections and outages (MOVED, ASK, CLUSTERDOWN, TRYAGAIN), a dataset
// being loaded (LOADING), failed RDB saves (MISCONF), a script running too
// long (BUSY), a replica without its master (MASTERDOWN) or too few
// replicas (NOREPLICAS). Error prefixes: https://redis.io/docs/latest/develop/reference/protocol-spec/#simple-errors
var stateCodes = map[string]bool{
	"WRONGPASS": true, "NOAUTH": true, "NOPERM": true, "OOM": true, "READONLY": true,
	"MOVED": true, "ASK": true, "CLUSTERDOWN": true, "TRYAGAIN": true, "LOADING": true,
	"MISCONF": true, "BUSY": true, "MASTERDOWN": true, "NOREPLICAS": true,
}

// serverState returns the code of a Redis error reply that says Redis
// cannot serve (see stateCodes), "" for an error of the command itself.
// Only a code from the list is returned: the rest of the message can echo
// arguments and is never kept. A script error wrapping one of these
// (Redis 7 keeps the inner code first) counts too.
func serverState(err redis.Error) string {
	msg := err.Error()
	code, _, _ := strings.Cut(msg, " ")
	if stateCodes[code] {
		return code
	}
	return ""
}

func classify(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, redis.ErrPoolTimeout), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &ne), errors.Is(err, net.ErrClosed), errors.Is(err, redis.ErrClosed),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return "connection"
	default:
		return "protocol"
	}
}

// admit reports whether a call may go to Redis: always when it is up;
// when down, one call (the probe) per probe interval. gen is the state's
// generation when the call started.
func (s *Store) admit() (gen uint64, probe, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return s.gen, false, true
	}
	if s.probing || s.now().Before(s.nextProbe) {
		return s.gen, false, false
	}
	s.probing = true
	return s.gen, true, true
}

// refusing reports whether Redis is down because it answered with a
// server-state error rather than not at all.
func (s *Store) refusing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down && strings.HasPrefix(s.cause, "server: ")
}

func (s *Store) endProbe() {
	s.mu.Lock()
	s.probing = false
	s.mu.Unlock()
}

// succeeded: only the probe brings Redis back. A call sent before the
// outage that happens to complete afterwards says nothing about now.
func (s *Store) succeeded(probe bool) {
	if !probe {
		return
	}
	s.mu.Lock()
	s.probing = false
	if !s.down {
		s.mu.Unlock()
		return
	}
	was := s.since
	s.down, s.since = false, s.now()
	s.gen++
	hooks := s.recover
	s.mu.Unlock()
	s.onState(true)
	for _, f := range hooks {
		go f()
	}
	s.log.Info("cluster: redis available again; sharing state across replicas",
		slog.Duration("unavailable_for", s.now().Sub(was)))
}

// failed marks Redis down, unless the call belongs to an earlier
// generation (sent before a recovery) and so says nothing about now.
func (s *Store) failed(gen uint64, probe bool, cause string) {
	s.mu.Lock()
	if s.down {
		if probe {
			s.probing = false
			s.nextProbe = s.now().Add(s.probeInt)
			s.cause = cause
		}
		s.mu.Unlock()
		return
	}
	if gen != s.gen {
		s.mu.Unlock()
		return
	}
	s.down, s.since = true, s.now()
	s.gen++
	s.nextProbe = s.now().Add(s.probeInt)
	s.cause = cause
	start := s.alone && !s.prober
	if start {
		select {
		case <-s.closed:
			start = false
		default:
			s.prober = true
		}
	}
	s.mu.Unlock()
	s.onState(false)
	if start {
		go s.probeAlone()
	}
	s.log.Warn("cluster: redis unavailable; serving from in-process state until it is back",
		slog.String("cause", cause), slog.Duration("retry_every", s.probeInt))
}

// Healthy reports whether the last call reached Redis. A nil Store is not
// healthy.
func (s *Store) Healthy() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.down
}

// Status is one line for /readyz: the replica stays ready either way,
// since it serves from its own state when Redis is lost.
func (s *Store) Status() string {
	if s == nil {
		return "shared state: none (in memory)"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down {
		return fmt.Sprintf("shared state: redis unavailable (%s) since %s; serving from in-process state",
			s.cause, s.since.UTC().Format(time.RFC3339))
	}
	return "shared state: redis ok"
}

// Stats are counters of the Store since New.
type Stats struct {
	RoundTrips int64 // calls sent to Redis (a pipeline counts once)
	Failures   int64 // calls that failed
	FastFails  int64 // calls refused without touching the network while Redis was down
	Unopenable int64 // values read that did not open (garbage, other key, unknown key): served as misses
}

// Stats returns the counters.
func (s *Store) Stats() Stats {
	if s == nil {
		return Stats{}
	}
	return Stats{
		RoundTrips: s.roundTrips.Load(),
		Failures:   s.failures.Load(),
		FastFails:  s.fastFails.Load(),
		Unopenable: s.unopenable.Load(),
	}
}

// randomToken is 128 random bits in hex (lease owners).
func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// SilenceDriverLog stops go-redis from writing its own lines (dial
// failures, pool messages) to stderr through its process-wide logger: the
// Store logs each change of Redis's state once, through the injected
// logger, and nothing else. Call it once at start-up, before New.
func SilenceDriverLog() { redis.SetLogger(voidLogger{}) }

type voidLogger struct{}

func (voidLogger) Printf(context.Context, string, ...any) {}
