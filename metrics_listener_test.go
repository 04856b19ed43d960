package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/config"
)

// notifyBuffer is a syncBuffer that signals each write.
type notifyBuffer struct {
	syncBuffer
	written chan struct{}
}

func (n *notifyBuffer) Write(p []byte) (int, error) {
	k, err := n.syncBuffer.Write(p)
	select {
	case n.written <- struct{}{}:
	default:
	}
	return k, err
}

// waitFor waits until re matches the buffer, up to 10s of writes.
func (n *notifyBuffer) waitFor(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(n.String()); m != nil {
			return m
		}
		select {
		case <-n.written:
		case <-timeout:
			t.Fatalf("no %v within 10s in %q", re, n.String())
		}
	}
}

// TestRunServesMetricsOnItsOwnListener: under --dev the metrics listener
// is on loopback and its URL printed; /metrics and (with PPROF=true)
// /debug/pprof/ are served there and never on the public listener.
func TestRunServesMetricsOnItsOwnListener(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &notifyBuffer{written: make(chan struct{}, 1)}
	errOut := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--dev"}, config.MapEnv(map[string]string{"LISTEN_ADDR": "127.0.0.1:0", "METRICS_ADDR": "127.0.0.1:0", "PPROF": "true"}), out, errOut)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run() = %v", err)
		}
	}()
	public := out.waitFor(t, regexp.MustCompile(`GraphiQL +http://(127\.0\.0\.1:\d+)/`))[1]
	metrics := out.waitFor(t, regexp.MustCompile(`Metrics +http://(127\.0\.0\.1:\d+)/metrics`))[1]
	if public == metrics {
		t.Fatalf("metrics on the public address %s", public)
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	tests := []struct {
		url      string
		want     int
		contains string
	}{
		{"http://" + metrics + "/metrics", 200, "idpgate_upstream_circuit_state"},
		{"http://" + metrics + "/debug/pprof/", 200, "goroutine"},
		{"http://" + public + "/metrics", 404, ""},
		{"http://" + public + "/debug/pprof/", 404, ""},
	}
	for _, tt := range tests {
		if got, body := get(tt.url); got != tt.want || !strings.Contains(body, tt.contains) {
			t.Errorf("GET %s = %d; want %d containing %q", tt.url, got, tt.want, tt.contains)
		}
	}
}
