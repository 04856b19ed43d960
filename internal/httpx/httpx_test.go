package httpx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		value  string
		want   time.Duration
		wantOK bool
	}{
		{"absent", "", 0, false},
		{"seconds", "120", 2 * time.Minute, true},
		{"zero", "0", 0, true},
		{"spaces", " 7 ", 7 * time.Second, true},
		{"negative", "-5", 0, false},
		{"huge", "99999999999", MaxRetryAfter, true},
		{"overflow", "999999999999999999999999", MaxRetryAfter, true},
		{"date ahead", now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{"date past", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"date far", now.Add(1000 * time.Hour).Format(http.TimeFormat), MaxRetryAfter, true},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, ok := ParseRetryAfter(h, now)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.value, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestBackoffWait(t *testing.T) {
	t.Parallel()
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second, Rand: func() float64 { return 0.5 }}
	for attempt, want := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond} {
		if got := b.Wait(attempt); got != want {
			t.Errorf("Wait(%d) = %v; want %v", attempt, got, want)
		}
	}
	if got := (Backoff{}).Wait(3); got != 0 {
		t.Errorf("zero Backoff Wait(3) = %v; want 0", got)
	}
	full := Backoff{Base: time.Second, Max: time.Second}
	for range 100 {
		if got := full.Wait(0); got < 0 || got >= time.Second {
			t.Fatalf("Wait(0) = %v; want in [0, 1s)", got)
		}
	}
}

func TestCleanTransportError(t *testing.T) {
	t.Parallel()
	const secret = "page-token-SECRET"
	cause := errors.New(`proxy said no to https://api.example.com/v1/x?$skiptoken=` + secret)
	err := CleanTransportError(&url.Error{Op: "Get", URL: "https://api.example.com/v1?token=" + secret, Err: cause})
	if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "?") {
		t.Errorf("CleanTransportError() = %q; want no URL path or query", err)
	}
	if !strings.Contains(err.Error(), "https://api.example.com") {
		t.Errorf("CleanTransportError() = %q; want the host kept", err)
	}
	if !errors.Is(err, cause) {
		t.Errorf("errors.Is(cleaned, cause) = false; want true")
	}
	if CleanTransportError(nil) != nil {
		t.Error("CleanTransportError(nil) != nil")
	}

	// A real timeout keeps reading as one.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/?q="+secret, nil)
	_, terr := http.DefaultClient.Do(req)
	cleaned := CleanTransportError(terr)
	var to interface{ Timeout() bool }
	if !errors.As(cleaned, &to) || !to.Timeout() || !errors.Is(cleaned, context.DeadlineExceeded) {
		t.Errorf("cleaned timeout %v lost its Timeout()/DeadlineExceeded", cleaned)
	}
	if strings.Contains(cleaned.Error(), secret) {
		t.Errorf("cleaned timeout %q leaks the query", cleaned)
	}
}

func TestUserAgent(t *testing.T) {
	t.Parallel()
	ua := UserAgent()
	if !strings.HasPrefix(ua, "idpgate/") || len(ua) <= len("idpgate/") {
		t.Fatalf("UserAgent() = %q; want idpgate/<version>", ua)
	}
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.UserAgent() }))
	defer srv.Close()
	c := &http.Client{Transport: UserAgentTransport{}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("User-Agent", "something-else")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got != ua {
		t.Errorf("server saw User-Agent %q; want %q", got, ua)
	}
	if req.Header.Get("User-Agent") != "something-else" {
		t.Error("UserAgentTransport modified the caller's request")
	}
}
