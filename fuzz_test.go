package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/gateway"
	"github.com/idpgate/idpgate/internal/gqlresp"
	"github.com/idpgate/idpgate/internal/sandbox"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/resolvers"
)

// leakWriter is a log sink that keeps nothing but the first line holding
// a seeded secret, so a long fuzz run does not accumulate logs.
type leakWriter struct {
	mu   sync.Mutex
	leak string
}

func (w *leakWriter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(sandbox.SecretMarker)) {
		w.mu.Lock()
		if w.leak == "" {
			w.leak = string(p)
		}
		w.mu.Unlock()
	}
	return len(p), nil
}

func (w *leakWriter) Leak() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.leak
}

// fuzzGateway starts the sandbox and one gateway for a whole fuzz run and
// returns its handler and a valid bearer token for Grace.
func fuzzGateway(f *testing.F) (http.Handler, string, *leakWriter) {
	f.Helper()
	sb, err := sandbox.Start(sandbox.Options{Now: func() time.Time { return fixedNow }})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(sb.Close)
	sb.GitHub.RateLimit = 1 << 30 // one user sends every request
	vars := map[string]string{
		"UPSTREAM_TIMEOUT": "2s",
		// One user sends every input: the per-user limit would answer
		// most of them before they reach GraphQL.
		"USER_RPS": "1000000000", "USER_BURST": "1000000000",
	}
	cfg, err := config.FromEnv(config.MapEnv(sb.Env).Over(vars))
	if err != nil {
		f.Fatal(err)
	}
	logs := &leakWriter{}
	gw, err := gateway.New(cfg, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), gateway.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(gw.Close)
	f.Cleanup(func() {
		if leak := logs.Leak(); leak != "" {
			f.Errorf("a log line holds a seeded secret: %s", leak)
		}
	})
	return gw.Handler(), sb.Token(sandbox.Grace), logs
}

// fuzzVariablesQuery takes the fuzzed input as its variables (mode 3).
const fuzzVariablesQuery = `query($first: Int, $after: String, $from: DateTime, $to: DateTime, $cf: Int, $ca: String) {
  me { identities { repos(first: $first, after: $after) { nodes { name } pageInfo { endCursor } }
    calendar(from: $from, to: $to, first: $cf, after: $ca) { nodes { title } } } } }`

// fuzzRequest builds the request of one input. mode selects how data
// reaches the gateway:
//
//	0  the raw JSON body of a POST
//	1  the query of a JSON POST
//	2  the query parameter of a GET
//	3  the variables of a fixed query (JSON as is, anything else as $after)
//	4  the raw body of a POST with Content-Type application/graphql
//	5  the sha256Hash of an APQ request
func fuzzRequest(mode uint8, data, token string) *http.Request {
	method, target, contentType := http.MethodPost, "/graphql", "application/json"
	var body string
	switch mode % 6 {
	case 0:
		body = data
	case 1:
		b, _ := json.Marshal(map[string]string{"query": data})
		body = string(b)
	case 2:
		method, contentType = http.MethodGet, ""
		target += "?query=" + url.QueryEscape(data)
	case 3:
		vars := json.RawMessage(data)
		if !json.Valid(vars) {
			vars, _ = json.Marshal(map[string]string{"after": data})
		}
		b, _ := json.Marshal(map[string]any{"query": fuzzVariablesQuery, "variables": vars})
		body = string(b)
	case 4:
		contentType, body = "application/graphql", data
	case 5:
		body = persisted(data, "")
	}
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return req
}

// FuzzGraphQLRequest sends arbitrary bodies, queries and variables through
// the whole gateway (middleware, authentication, limits, gqlgen, resolvers
// and the emulated upstreams): the answer is never a 5xx, always a JSON
// object with "errors" or "data", and never holds a seeded secret.
func FuzzGraphQLRequest(f *testing.F) {
	h, token, _ := fuzzGateway(f)
	f.Fuzz(func(t *testing.T, mode uint8, data string) {
		req := fuzzRequest(mode, data, token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		body := w.Body.Bytes()
		if w.Code >= 500 {
			t.Fatalf("mode %d, %q: status %d: %s", mode%6, data, w.Code, body)
		}
		var out map[string]json.RawMessage
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("mode %d, %q: status %d, body is not a JSON object: %q", mode%6, data, w.Code, body)
		}
		if _, ok := out["errors"]; !ok {
			if _, ok := out["data"]; !ok {
				t.Fatalf("mode %d, %q: status %d, body has neither errors nor data: %s", mode%6, data, w.Code, body)
			}
		}
		if bytes.Contains(body, []byte(sandbox.SecretMarker)) {
			t.Fatalf("mode %d, %q: the response holds a seeded secret: %s", mode%6, data, body)
		}
		for k, vs := range w.Header() {
			if strings.Contains(strings.Join(vs, ","), sandbox.SecretMarker) {
				t.Fatalf("mode %d, %q: header %s holds a seeded secret", mode%6, data, k)
			}
		}
	})
}

// presenterMarker stands for a token that ended up in an error's cause.
const presenterMarker = "gho_LEAKED7c1eTOKEN"

// contractCodes are the extensions.code values PresentError may produce.
var contractCodes = map[string]bool{
	gqlresp.CodeUnauthenticated: true, gqlresp.CodeForbidden: true,
	gqlresp.CodeReauthRequired: true, gqlresp.CodeUpstreamRateLimited: true,
	gqlresp.CodeUpstreamUnavailable: true, gqlresp.CodeBadUserInput: true,
	gqlresp.CodeInternal: true,
}

// kindCodes maps a provider error's kind to its code.
var kindCodes = map[providers.Kind]string{
	providers.Unavailable:    gqlresp.CodeUpstreamUnavailable,
	providers.ReauthRequired: gqlresp.CodeReauthRequired,
	providers.Forbidden:      gqlresp.CodeForbidden,
	providers.RateLimited:    gqlresp.CodeUpstreamRateLimited,
	providers.BadInput:       gqlresp.CodeBadUserInput,
}

// syncLog is a log sink for one fuzz input at a time.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) take() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.b.String()
	l.b.Reset()
	return s
}

// FuzzErrorPresenter feeds resolvers' error presenter provider errors with
// arbitrary fields whose cause (Err) holds a token, wrapped the ways
// resolvers and gqlgen wrap them. The presented error always has a code
// of the contract (the kind's code for a provider error, with its
// provider and retryAfter), and never holds the cause's text; a token held
// as a secret.String reaches neither the client nor the log.
func FuzzErrorPresenter(f *testing.F) {
	logs := &syncLog{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	root := resolvers.New(resolvers.Deps{
		CursorKey: make([]byte, 32),
		Logger:    func(context.Context) *slog.Logger { return logger },
	})
	f.Fuzz(func(t *testing.T, provider, message, detail string, kind, wrap uint8, retryAfterMS int64) {
		if strings.Contains(provider+message, presenterMarker) {
			return // fields the contract shows to clients
		}
		logs.take()
		cause := errors.New(detail + presenterMarker + detail)
		if wrap%9 == 8 {
			cause = fmt.Errorf("upstream: request with %v: %s", secret.New(presenterMarker), detail)
		}
		pe := &providers.Error{
			Kind: providers.Kind(kind % 7), Provider: provider, Message: message,
			RetryAfter: time.Duration(retryAfterMS) * time.Millisecond, Err: cause,
		}
		var err error
		switch wrap % 9 {
		case 0, 8:
			err = pe
		case 1:
			err = fmt.Errorf("resolvers: list repos: %w", pe)
		case 2: // as gqlgen wraps a resolver's error (graphql.ErrorOnPath)
			err = &gqlerror.Error{Err: pe, Message: pe.Error()}
		case 3:
			wrapped := fmt.Errorf("resolvers: %s: %w", detail, pe)
			err = &gqlerror.Error{Err: wrapped, Message: wrapped.Error()}
		case 4:
			err = errors.Join(fmt.Errorf("first: %w", cause), pe)
		case 5:
			err = fmt.Errorf("auth0: get user: %w: %w", auth0.ErrUnavailable, cause)
		case 6:
			err = fmt.Errorf("%w: %w", cause, context.DeadlineExceeded)
		case 7:
			err = cause // unknown: internal
		}
		out := root.PresentError(context.Background(), err)
		if out == nil {
			t.Fatalf("PresentError(%v) = nil", err)
		}
		raw, jerr := json.Marshal(out)
		if jerr != nil {
			t.Fatalf("PresentError(%v) does not marshal: %v", err, jerr)
		}
		if strings.Contains(string(raw), presenterMarker) {
			t.Fatalf("PresentError(%q) = %s; holds the cause's token", err, raw)
		}
		code, _ := out.Extensions["code"].(string)
		if !contractCodes[code] {
			t.Fatalf("PresentError(%q) code = %q; want one of the contract", err, code)
		}
		if log := logs.take(); wrap%9 == 8 && strings.Contains(log, presenterMarker) {
			t.Fatalf("the log holds a secret.String's value: %s", log)
		}
		var is *providers.Error
		if !errors.As(err, &is) {
			return
		}
		if want := kindCodes[pe.Kind]; want == "" && code != gqlresp.CodeUpstreamUnavailable || want != "" && code != want {
			t.Errorf("PresentError(kind %v) code = %q; want %q", pe.Kind, code, want)
		}
		if got, _ := out.Extensions["provider"].(string); got != provider {
			t.Errorf("PresentError(provider %q) extensions.provider = %q", provider, got)
		}
		wantRetry := 0
		if pe.RetryAfter > 0 {
			wantRetry = int(math.Ceil(pe.RetryAfter.Seconds()))
		}
		if got, _ := out.Extensions["retryAfter"].(int); got != wantRetry {
			t.Errorf("PresentError(RetryAfter %v) extensions.retryAfter = %v; want %d", pe.RetryAfter, out.Extensions["retryAfter"], wantRetry)
		}
	})
}
