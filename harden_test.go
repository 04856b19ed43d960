package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"

	"github.com/idpgate/idpgate/internal/sandbox"
)

// TestHardenAmplification (issue 10.1, 10.2): documents built to make
// validation expensive or its error list huge answer with a small body and
// at most 21 errors, call no upstream, and APQ keeps none of them.
func TestHardenAmplification(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	alternating := func(n int) string {
		var b strings.Builder
		b.WriteString("{ me { ")
		for i := range n {
			b.WriteString([]string{"x: id ", "x: name "}[i%2])
		}
		b.WriteString("} }")
		return b.String()
	}
	conflictingArgs := func(n int) string {
		var b strings.Builder
		b.WriteString("{ me { identities { ")
		for i := range n {
			b.WriteString("repos(first: " + strings.Repeat("1", 1) + strings.Repeat("0", i%3) + ") { pageInfo { hasNextPage } } ")
		}
		b.WriteString("} } }")
		return b.String()
	}
	tests := []struct {
		name      string
		query     string
		maxErrors int
	}{
		{"650 fields under one key", alternating(650), 1},
		{"1990 __typename", "{ me { " + strings.Repeat("__typename ", 1990) + "} }", 1},
		{"conflicts inside the limits", conflictingArgs(60), 21},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countCalls(e.sb)
			hash := sha256Hex(tt.query)
			r := e.send(http.MethodPost, token, "application/json", persisted(hash, tt.query), nil)
			if len(r.Raw) > 8<<10 || len(r.Errors) == 0 || len(r.Errors) > tt.maxErrors {
				t.Errorf("%d bytes, %d errors; want at most 8 KiB and 1 to %d errors", len(r.Raw), len(r.Errors), tt.maxErrors)
			}
			if r.Status != http.StatusOK {
				t.Errorf("status = %d; want 200 (a request error to an application/json client)", r.Status)
			}
			noUpstreamCalls(t, e.sb, before)
			replay := e.send(http.MethodPost, token, "application/json", persisted(hash, ""), nil)
			wantRejected(t, replay, http.StatusOK, "PERSISTED_QUERY_NOT_FOUND", "PersistedQueryNotFound")
		})
	}
}

// TestHardenGraphQLOverHTTP: the graphql-http audit's SHOULDs on request
// errors (572B, FDE2, 7B9B, 556A, D586, 74FF, 5E5B, 86EE, BCF8, B7N8).
func TestHardenGraphQLOverHTTP(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	body := func(q string, vars map[string]any) string {
		b, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		return string(b)
	}
	cases := []struct {
		name string
		body string
	}{
		{"document parsing failure", body("{", nil)},
		{"document validation failure", body("{ nope }", nil)},
		{"variable coercion failure", body("query($n: Int) { me { identities { repos(first: $n) { nodes { name } } } } }", map[string]any{"n": "many"})},
		{"JSON parsing failure", `{ "not a JSON`},
	}
	for _, tc := range cases {
		for _, accept := range []string{"application/json", "application/graphql-response+json"} {
			t.Run(tc.name+" "+accept, func(t *testing.T) {
				r := e.send(http.MethodPost, token, "application/json", tc.body, map[string]string{"Accept": accept})
				want := http.StatusOK
				if accept != "application/json" || tc.name == "JSON parsing failure" {
					want = http.StatusBadRequest
				}
				if r.Status != want {
					t.Errorf("status = %d; want %d (%s)", r.Status, want, r.Raw)
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, accept) {
					t.Errorf("Content-Type = %q; want %s", ct, accept)
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(r.Raw, &m); err != nil {
					t.Fatalf("body %s: %v", r.Raw, err)
				}
				if _, ok := m["data"]; ok && accept != "application/json" {
					t.Errorf("body has a data entry: %s", r.Raw)
				}
				if len(r.Errors) == 0 {
					t.Errorf("no errors: %s", r.Raw)
				}
			})
		}
	}
}

// TestHardenOneErrorWriter (issue 8.2, 13.3): every response the gateway
// writes itself picks its media type from Accept the same way, and the
// same way gqlgen does for a result. Before, with this Accept header, a
// 401 answered application/graphql-response+json and a 429 (413, 400)
// application/json.
func TestHardenOneErrorWriter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"USER_RPS": "0.001", "USER_BURST": "3", "MAX_BODY_BYTES": "100"}})
	small := `{"query":"{ me { id } }"}`
	for user, accept := range map[string]string{
		sandbox.Grace: "application/json;q=0.9, application/graphql-response+json",
		sandbox.Linus: "application/graphql-response+json, application/json;q=0.9",
	} {
		token := e.sb.Token(user) // a rate-limit bucket of its own
		t.Run(accept, func(t *testing.T) {
			h := map[string]string{"Accept": accept}
			result := e.send(http.MethodPost, token, "application/json", small, h)
			want := result.Header.Get("Content-Type")
			if result.Status != http.StatusOK || len(result.Errors) > 0 {
				t.Fatalf("result = %d %s", result.Status, result.Raw)
			}
			steps := []struct {
				name   string
				r      func() *gqlResponse
				status int
			}{
				{"401", func() *gqlResponse { return e.send(http.MethodPost, "", "application/json", small, h) }, 401},
				{"413", func() *gqlResponse {
					return e.send(http.MethodPost, token, "application/json", `{"query":"{ me { id `+strings.Repeat(" ", 200)+`} }"}`, h)
				}, 413},
				{"400 batch", func() *gqlResponse { return e.send(http.MethodPost, token, "application/json", `[`+small+`]`, h) }, 400},
				{"429", func() *gqlResponse { return e.send(http.MethodPost, token, "application/json", small, h) }, 429},
			}
			for _, s := range steps {
				r := s.r()
				if r.Status != s.status {
					t.Errorf("%s: status = %d; want %d (%s)", s.name, r.Status, s.status, r.Raw)
				}
				if ct := r.Header.Get("Content-Type"); mediaType(ct) != mediaType(want) {
					t.Errorf("%s: Content-Type = %q; want %q, as for a result", s.name, ct, want)
				}
				if len(r.Errors) != 1 || len(r.Data) > 0 {
					t.Errorf("%s: body %s; want one error and no data", s.name, r.Raw)
				}
			}
		})
	}
}

func mediaType(ct string) string {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.TrimSpace(mt)
}

// TestHardenDateTimeCoercion (issue 10.6, 13.3): an argument that does not
// coerce is one BAD_USER_INPUT error naming it and the expected format,
// whether literal or variable, with no panic, no ERROR log line and no
// upstream call.
func TestHardenDateTimeCoercion(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Grace)
	literal := func(v string) string {
		b, _ := json.Marshal(map[string]any{"query": `{ me { identities { calendar(from: ` + v + `) { nodes { title } } } } }`})
		return string(b)
	}
	variable := func(v any) string {
		b, _ := json.Marshal(map[string]any{
			"query":     `query($f: DateTime) { me { identities { calendar(from: $f) { nodes { title } } } } }`,
			"variables": map[string]any{"f": v},
		})
		return string(b)
	}
	const format = `an RFC 3339 date-time such as 2026-12-07T09:00:00Z`
	tests := []struct {
		name, body, message string
	}{
		{"float literal 1e999", literal(`1e999`), `argument "from" of Identity.calendar: want ` + format},
		{"garbage literal", literal(`"garbage"`), `argument "from" of Identity.calendar: want ` + format},
		{"date without time", literal(`"2026-12-07"`), `argument "from" of Identity.calendar: want ` + format},
		{"variable, date without time", variable("2026-12-07"), `variable "\$f" \(argument "from" of Identity.calendar\): want ` + format},
		{"variable, number", variable(12), `variable "\$f" \(argument "from" of Identity.calendar\): want ` + format},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := countCalls(e.sb)
			logBefore := len(e.log.String())
			r := e.send(http.MethodPost, token, "application/json", tt.body, nil)
			wantRejected(t, r, http.StatusOK, "BAD_USER_INPUT", tt.message)
			noUpstreamCalls(t, e.sb, before)
			logs := e.log.String()[logBefore:]
			if strings.Contains(logs, `"level":"ERROR"`) || strings.Contains(logs, "goroutine") {
				t.Errorf("logs hold an ERROR line or a stack: %s", logs)
			}
		})
	}
	// A valid value still runs.
	r := e.send(http.MethodPost, token, "application/json", variable("2026-12-07T00:00:00Z"), nil)
	if len(r.Errors) > 0 || r.Status != http.StatusOK {
		t.Errorf("valid DateTime: %d %s", r.Status, r.Raw)
	}
}

// TestHardenRequestTimeout (issue 10.7): REQUEST_TIMEOUT bounds the whole
// request; an identity still pending at the deadline answers
// UPSTREAM_UNAVAILABLE while the others return their data.
func TestHardenRequestTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{env: map[string]string{"REQUEST_TIMEOUT": "2s", "UPSTREAM_TIMEOUT": "2s"}})
	token := e.sb.Token(sandbox.Grace)
	// 600ms per upstream call: the M2M token and the profile take 1.2s, so
	// Google's own 2s UPSTREAM_TIMEOUT would end at 3.2s.
	e.sb.SetLatency(600 * time.Millisecond)
	e.sb.Google.Hang(10)
	start := time.Now()
	r := e.post(context.Background(), token, `{ me { identities { provider repos(first: 2) { nodes { name } } calendar(first: 2) { nodes { title } } } } }`, nil)
	elapsed := time.Since(start)
	if elapsed > 2600*time.Millisecond {
		t.Errorf("answered after %v; want about REQUEST_TIMEOUT (2s)", elapsed)
	}
	if !strings.Contains(string(r.Data), "grace-project") {
		t.Errorf("data = %s; want GitHub's repositories", r.Data)
	}
	if codes := r.codes(); len(codes) != 1 || codes[0] != "UPSTREAM_UNAVAILABLE" {
		t.Errorf("codes = %v; want one UPSTREAM_UNAVAILABLE (%s)", codes, r.Raw)
	}
}

// TestHardenLargestAnswer measures the largest answer the default limits
// let Ada (every provider linked) ask for: both connections at first: 100
// with every field, under the cost limit. README's Limits cites the figure;
// MAX_RESPONSE_BYTES (4 MiB) must stay far above it.
func TestHardenLargestAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, envOptions{})
	token := e.sb.Token(sandbox.Ada)
	const q = `{ me { id name nickname email picture identities { id provider connection userId isSocial capabilities
	  repos(first: 100) { pageInfo { hasNextPage endCursor } edges { cursor node { id name fullName url private description stars updatedAt } } nodes { id name fullName url private description stars updatedAt } }
	  calendar(first: 100) { pageInfo { hasNextPage endCursor } nodes { id title start end allDay url status } } } } }`
	r := e.post(context.Background(), token, q, nil)
	if r.Status != http.StatusOK || len(r.Data) == 0 || string(r.Data) == "null" {
		t.Fatalf("largest query = %d %.300s; want data", r.Status, r.Raw)
	}
	for _, err := range r.Errors {
		if err.Extensions["code"] == "GRAPHQL_VALIDATION_FAILED" {
			t.Fatalf("largest query rejected: %s", r.Raw)
		}
	}
	t.Logf("largest answer at the default limits for %s: %d bytes", sandbox.Ada, len(r.Raw))
	if len(r.Raw) > 1<<20 {
		t.Errorf("answer is %d bytes; want well under MAX_RESPONSE_BYTES (4 MiB)", len(r.Raw))
	}
}

// TestHardenConnectionFlood (issue 10.5): 300 connections without a token
// from one address hold at most MAX_CONNS_PER_IP sockets, each for about
// UNAUTH_IDLE_TIMEOUT, while a signed-in user on another address is served.
func TestHardenConnectionFlood(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MAX_CONNS_PER_IP": "8", "UNAUTH_IDLE_TIMEOUT": "500ms"}
	e := newEnv(t, envOptions{env: env})
	cfg, err := config.FromEnv(config.MapEnv(e.sb.Env).Over(env))
	if err != nil {
		t.Fatal(err)
	}
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := limitListener(tcp, cfg)
	srv := newServer(context.Background(), cfg, e.gw.Handler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	type held struct {
		c  net.Conn
		br *bufio.Reader
	}
	var (
		mu    sync.Mutex
		conns []held
		wg    sync.WaitGroup
	)
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(c, "POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				c.Close() // closed at accept: over the cap
				return
			}
			resp.Body.Close()
			mu.Lock()
			conns = append(conns, held{c, br})
			mu.Unlock()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, h := range conns {
			h.c.Close()
		}
	})
	if open := ln.Open(); open > 8 {
		t.Errorf("%d connections open after the flood; want at most MAX_CONNS_PER_IP (8)", open)
	}

	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", strings.NewReader(`{"query":"{ me { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.sb.Token(sandbox.Grace))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("authenticated request during the flood: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"name"`) {
		t.Errorf("authenticated request during the flood = %d %s; want 200", resp.StatusCode, b)
	}

	// Every flood connection still open is closed by the server within
	// about UNAUTH_IDLE_TIMEOUT (a blocking read until EOF, no sleep).
	start := time.Now()
	for _, h := range conns {
		h.c.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			if _, err := h.br.ReadByte(); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("a connection without a token was still open after 5s")
				}
				break
			}
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("flood connections closed after %v; want about 500ms", d)
	}
}
