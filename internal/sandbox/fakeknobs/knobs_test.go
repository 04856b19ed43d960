package fakeknobs

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestQueue(t *testing.T) {
	fail := Fault{Kind: Fail, Status: 503}
	limit := Fault{Kind: RateLimit, RetryAfter: 7 * time.Second}
	hang := Fault{Kind: Hang}
	own := Fault{Kind: Custom + 1}
	tests := []struct {
		name string
		push func(q *Queue)
		want []Fault
	}{
		{"empty", func(q *Queue) {}, nil},
		{"n copies", func(q *Queue) { q.Push(3, fail) }, []Fault{fail, fail, fail}},
		{"zero and negative n", func(q *Queue) { q.Push(0, fail); q.Push(-2, hang) }, nil},
		{"first in first out across kinds", func(q *Queue) {
			q.Push(1, hang)
			q.Push(2, limit)
			q.Push(1, own)
			q.Push(1, fail)
		}, []Fault{hang, limit, limit, own, fail}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Queue
			tt.push(&q)
			for i, want := range tt.want {
				if got := q.Next(); got != want {
					t.Errorf("Next() #%d = %+v; want %+v", i, got, want)
				}
			}
			if got := q.Next(); got != (Fault{}) {
				t.Errorf("Next() after %d faults = %+v; want the zero Fault", len(tt.want), got)
			}
		})
	}
}

func TestKnobsQueueConcurrent(t *testing.T) {
	var k Knobs
	const n = 50
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() { defer wg.Done(); k.Push(2, Fault{Kind: Malformed}) }()
	}
	wg.Wait()
	taken := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := 0
			for range 2 {
				if k.Next().Kind == Malformed {
					c++
				}
			}
			taken <- c
		}()
	}
	wg.Wait()
	close(taken)
	sum := 0
	for c := range taken {
		sum += c
	}
	if sum != 2*n {
		t.Errorf("faults taken = %d; want %d", sum, 2*n)
	}
	if f := k.Next(); f != (Fault{}) {
		t.Errorf("Next() after draining = %+v; want the zero Fault", f)
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		name  string
		count []string
		want  map[string]int
	}{
		{"none", nil, map[string]int{"api": 0, "token": 0}},
		{"per endpoint", []string{"api", "token", "api"}, map[string]int{"api": 2, "token": 1, "other": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k Knobs
			for _, e := range tt.count {
				k.Count(e)
			}
			for e, want := range tt.want {
				if got := k.Calls(e); got != want {
					t.Errorf("Calls(%q) = %d; want %d", e, got, want)
				}
			}
		})
	}
}

func TestDelay(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name   string
		closed bool
		ctx    context.Context
		d      time.Duration
		want   bool
	}{
		{"no latency, client gone", false, gone, 0, true},
		{"negative latency", false, gone, -time.Second, true},
		{"waited out", false, live, time.Nanosecond, true},
		{"client gives up", false, gone, time.Hour, false},
		{"cut short by Close", true, live, time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var k Knobs
			if tt.closed {
				k.Close()
			}
			if got := k.Delay(tt.ctx, tt.d); got != tt.want {
				t.Errorf("Delay(%v) = %v; want %v", tt.d, got, tt.want)
			}
		})
	}
}

// holdServer serves requests that hang in k until the client gives up or
// k closes.
func holdServer(t *testing.T, k *Knobs) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.Count("api")
		k.Enter()
		defer k.Leave()
		k.Hold(r.Context())
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(k.Close)
	return srv.URL
}

func TestHoldReleasedByClose(t *testing.T) {
	var k Knobs
	url := holdServer(t, &k)
	const n = 3
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				codes <- -1
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	waitFor(t, "InFlight() == 3", func() bool { return k.InFlight() == n })
	k.Close()
	for range n {
		if code := <-codes; code != http.StatusOK {
			t.Errorf("held request after Close = %d; want 200", code)
		}
	}
	waitFor(t, "InFlight() == 0", func() bool { return k.InFlight() == 0 })
	if got := k.MaxInFlight(); got != n {
		t.Errorf("MaxInFlight() = %d; want %d", got, n)
	}
	k.Close() // idempotent
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET after Close: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("request held after Close = %d; want an immediate 200", resp.StatusCode)
	}
	if got := k.Calls("api"); got != n+1 {
		t.Errorf("Calls(%q) = %d; want %d", "api", got, n+1)
	}
}

func TestHoldReleasedByClient(t *testing.T) {
	var k Knobs
	url := holdServer(t, &k)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "InFlight() == 1", func() bool { return k.InFlight() == 1 })
	cancel()
	if err := <-done; err == nil {
		t.Errorf("held request answered; want the client's error")
	}
	waitFor(t, "InFlight() == 0", func() bool { return k.InFlight() == 0 })
}

func TestSetRetryAfter(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, ""},
		{-time.Second, ""},
		{1500 * time.Millisecond, "2"},
		{30 * time.Second, "30"},
	}
	for _, tt := range tests {
		t.Run(tt.d.String(), func(t *testing.T) {
			h := http.Header{}
			SetRetryAfter(h, tt.d)
			if got := h.Get("Retry-After"); got != tt.want {
				t.Errorf("SetRetryAfter(%v) = %q; want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestWriteMalformed(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteMalformed(rec, "application/json", `{"value": [{"id": "trunc`)
	resp := rec.Result()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || json.Valid(b) {
		t.Errorf("WriteMalformed = %d %q %q; want 200 application/json with invalid JSON", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}

// waitFor polls cond; the bound only stops a broken test from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 2000 {
		if cond() {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never became true", what)
}
