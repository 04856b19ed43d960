package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/idpgate/idpgate/internal/resilience"
	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

const token = "tok_UPSTREAMTEST_s3cr3t"

var now = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

func TestParseBase(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		wantErr  bool
	}{
		{"https://api.github.com", "https://api.github.com/", false},
		{"https://ghe.example/api/v3", "https://ghe.example/api/v3/", false},
		{"http://127.0.0.1:9000/x/?q=1#f", "http://127.0.0.1:9000/x/", false},
		{"api.github.com", "", true},
		{"/api/v3/", "", true},
		{"ftp://host/", "", true},
		{"https://", "", true},
		{"https://ghe.example/api/../v3", "", true},
		{"https://ghe.example/api/%2e/v3/", "", true},
		{"https://user:SECRETPASS@ghe.example/api/v3/", "", true},
		{"https://SECRETUSER@ghe.example/api/v3/", "", true},
		{"ftp://ghe.example/?token=SECRETQUERY", "", true},
		{"https://ghe.example/../?token=SECRETQUERY", "", true},
		{"https://ghe.example:bad port/SECRETRAW", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := ParseBase(tc.in)
			if tc.wantErr {
				if err == nil {
					t.Errorf("ParseBase(%q) = %v; want an error", tc.in, u)
				} else if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("ParseBase(%q) error %q quotes a credential or the query", tc.in, err)
				}
				return
			}
			if err != nil || u.String() != tc.want {
				t.Errorf("ParseBase(%q) = %v, %v; want %q", tc.in, u, err, tc.want)
			}
		})
	}
}

type recorder struct {
	calls atomic.Int32
	last  atomic.Pointer[http.Request]
}

// serve mounts handler under /base/ and returns a Client for it.
func serve(t *testing.T, handler http.HandlerFunc) (*Client, *recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{}
	mux := http.NewServeMux()
	mux.HandleFunc("/base/", func(w http.ResponseWriter, r *http.Request) {
		rec.calls.Add(1)
		rec.last.Store(r)
		handler(w, r)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		rec.calls.Add(1)
		t.Errorf("request outside the base: %s", r.URL)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	base, err := ParseBase(srv.URL + "/base")
	if err != nil {
		t.Fatal(err)
	}
	return &Client{HTTP: srv.Client(), Base: base, Provider: "test", Now: func() time.Time { return now }}, rec, srv
}

func ok(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"ok":true}`) }

func TestGetResolvesUnderBase(t *testing.T) {
	c, rec, srv := serve(t, ok)
	c.Header = http.Header{}
	c.Header.Set("X-Api-Version", "7")
	var got struct {
		OK bool `json:"ok"`
	}
	if _, err := c.Get(context.Background(), secret.New(token), "user/repos?sort=updated", url.Values{"page": {"2"}}, &got); err != nil {
		t.Fatalf("Get() error: %v", err)
	}
	if !got.OK {
		t.Errorf("Get() decoded %+v; want the response", got)
	}
	r := rec.last.Load()
	if r.URL.Path != "/base/user/repos" || r.URL.Query().Get("page") != "2" || r.URL.Query().Get("sort") != "updated" {
		t.Errorf("request = %s; want /base/user/repos?page=2&sort=updated", r.URL)
	}
	for k, want := range map[string]string{"Authorization": "Bearer " + token, "Accept": "application/json", "X-Api-Version": "7"} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("header %s = %q; want %q", k, got, want)
		}
	}

	// A next link under the base is followed as is.
	next := srv.URL + "/base/user/repos?page=3"
	if _, err := c.Get(context.Background(), secret.New(token), next, nil, nil); err != nil {
		t.Fatalf("Get(next link) error: %v", err)
	}
	if got := rec.last.Load().URL.RequestURI(); got != "/base/user/repos?page=3" {
		t.Errorf("next link request = %s; want /base/user/repos?page=3", got)
	}

	// A custom Auth replaces the Bearer header.
	c.Auth = func(r *http.Request, tok secret.String) { r.Header.Set("PRIVATE-TOKEN", tok.Reveal()) }
	if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); err != nil {
		t.Fatal(err)
	}
	if r := rec.last.Load(); r.Header.Get("Authorization") != "" || r.Header.Get("Private-Token") != token {
		t.Errorf("custom Auth headers = %v; want PRIVATE-TOKEN only", r.Header)
	}
}

func TestGetRefusesPathsOutsideBase(t *testing.T) {
	c, rec, srv := serve(t, ok)
	host := strings.TrimPrefix(srv.URL, "http://")
	for _, p := range []string{
		"/user/repos",
		"https://" + host + "/base/x",  // other scheme
		"http://evil.example/base/x",   // other host
		"//evil.example/base/x",        // scheme-relative
		srv.URL + "/other/x",           // other prefix
		srv.URL + "/basement/x",        // prefix of the prefix
		"http://" + host + ":1/base/x", // other port
		"%zz",                          // unparsable
		// Dot segments, plain and escaped, in next links and relative paths.
		srv.URL + "/base/../other/x",
		srv.URL + "/base/%2e%2e/other/x",
		srv.URL + "/base/%2E%2E/other/x",
		srv.URL + "/base/x/../../other/x",
		srv.URL + "/base/x%2F..%2F..%2Fother",
		srv.URL + "/base/./x",
		srv.URL + "/base/..",
		srv.URL + `/base/..\other`,
		"../other/x",
		"%2e%2e/other/x",
		"x/../../other/x",
		"./x",
		"http://user:pw@" + host + "/base/x", // user info
	} {
		t.Run(p, func(t *testing.T) {
			_, err := c.Get(context.Background(), secret.New(token), p, nil, nil)
			if k, _ := providers.KindOf(err); err == nil || k != providers.BadInput {
				t.Errorf("Get(%q) = %v; want BadInput", p, err)
			}
			if strings.Contains(fmt.Sprint(err), token) {
				t.Errorf("Get(%q) error %q contains the token", p, err)
			}
		})
	}
	if n := rec.calls.Load(); n != 0 {
		t.Errorf("%d requests reached the server; want 0", n)
	}
}

func TestGetAcceptsDotsInsideSegments(t *testing.T) {
	c, rec, srv := serve(t, ok)
	for _, p := range []string{srv.URL + "/base/a.b/..c/...", "v1.2/x..y", srv.URL + "/base//x"} {
		if _, err := c.Get(context.Background(), secret.New(token), p, nil, nil); err != nil {
			t.Errorf("Get(%q) = %v; want success", p, err)
		}
	}
	if n := rec.calls.Load(); n != 3 {
		t.Errorf("%d requests reached the server; want 3", n)
	}
}

func TestGetRedirects(t *testing.T) {
	var stolen atomic.Int32
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		t.Errorf("redirect followed to another host with headers %v", r.Header)
	}))
	defer thief.Close()
	var c *Client
	var srvURL string
	c, rec, srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/inside":
			http.Redirect(w, r, "/base/moved", http.StatusMovedPermanently)
		case "/base/to-other-host":
			http.Redirect(w, r, thief.URL+"/base/x", http.StatusFound)
		case "/base/to-other-path":
			http.Redirect(w, r, srvURL+"/other/x", http.StatusTemporaryRedirect)
		case "/base/to-dot-segment":
			w.Header().Set("Location", srvURL+"/base/%2e%2e/other/x")
			w.WriteHeader(http.StatusFound)
		case "/base/to-https":
			http.Redirect(w, r, "https"+strings.TrimPrefix(srvURL, "http")+"/base/x", http.StatusFound)
		default:
			ok(w, r)
		}
	})
	srvURL = srv.URL
	// GitLab-style credentials in a custom header, which net/http would
	// forward to any host.
	c.Auth = func(r *http.Request, tok secret.String) { r.Header.Set("PRIVATE-TOKEN", tok.Reveal()) }
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"inside", true},
		{"to-other-host", false},
		{"to-other-path", false},
		{"to-dot-segment", false},
		{"to-https", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			_, err := c.Get(context.Background(), secret.New(token), tc.path, nil, nil)
			if tc.ok {
				if err != nil {
					t.Errorf("Get(%q) = %v; want success", tc.path, err)
				} else if got := rec.last.Load(); got.URL.Path != "/base/moved" || got.Header.Get("Private-Token") != token {
					t.Errorf("redirected request = %s with %v; want /base/moved with the token", got.URL.Path, got.Header)
				}
				return
			}
			if !isKind(err, providers.Unavailable) || !errors.Is(err, errRedirect) {
				t.Errorf("Get(%q) = %v; want Unavailable, redirect refused", tc.path, err)
			}
			if s := fmt.Sprint(err); strings.Contains(s, token) || strings.Contains(s, "/other") || strings.Contains(s, thief.URL) {
				t.Errorf("Get(%q) error %q names the target or the token", tc.path, s)
			}
		})
	}
	if n := stolen.Load(); n != 0 {
		t.Errorf("the other host got %d requests; want 0", n)
	}
	// The caller's own CheckRedirect still runs, after the Base check.
	c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if _, err := c.Get(context.Background(), secret.New(token), "inside", nil, nil); !isKind(err, providers.Unavailable) {
		t.Errorf("Get(inside) with ErrUseLastResponse = %v; want the 301 as Unavailable", err)
	}
}

func TestGetCopiesHeader(t *testing.T) {
	c, rec, _ := serve(t, ok)
	c.Header = http.Header{"X-Tenant": make([]string, 1, 4)}
	c.Header["X-Tenant"][0] = "acme"
	c.Auth = func(r *http.Request, tok secret.String) {
		r.Header["X-Tenant"][0] = "changed by Auth" // in place
		r.Header.Add("X-Tenant", "added by Auth")   // into spare capacity
		r.Header.Set("Authorization", "Bearer "+tok.Reveal())
	}
	for range 2 {
		if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := c.Header.Values("X-Tenant"); len(got) != 1 || got[0] != "acme" {
		t.Errorf("Client.Header after Get = %q; want [acme]", got)
	}
	if got := rec.last.Load().Header.Values("X-Tenant"); len(got) != 2 {
		t.Errorf("request X-Tenant = %q; want Auth's two values", got)
	}
}

func TestGetNilHTTP(t *testing.T) {
	c, rec, _ := serve(t, ok)
	c.HTTP = nil
	if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); err != nil || rec.calls.Load() != 1 {
		t.Errorf("Get() with nil HTTP = %v after %d calls; want success after 1", err, rec.calls.Load())
	}
}

func TestGetOversizedErrorBody(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   providers.Kind
	}{{429, providers.RateLimited}, {401, providers.ReauthRequired}, {200, providers.Unavailable}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "12")
				w.WriteHeader(tc.status)
				chunk := []byte(strings.Repeat("x", 64<<10))
				for n := 0; n <= MaxBody; n += len(chunk) {
					if _, err := w.Write(chunk); err != nil {
						return
					}
				}
			})
			_, err := c.Get(context.Background(), secret.New(token), "x", nil, nil)
			if !isKind(err, tc.kind) {
				t.Errorf("Get(status %d, oversized body) = %v; want %v", tc.status, err, tc.kind)
			}
			var pe *providers.Error
			if tc.status == 429 && (!errors.As(err, &pe) || pe.RetryAfter != 12*time.Second) {
				t.Errorf("Get(429, oversized body) = %v; want RetryAfter 12s", err)
			}
		})
	}
}

func TestGetThroughOpenBreaker(t *testing.T) {
	c, rec, srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) })
	tr := resilience.NewTransport(srv.Client().Transport, resilience.Policy{
		Name: "test", Retries: -1, BreakerFailures: 1,
		Now: func() time.Time { return now },
	})
	c.HTTP = &http.Client{Transport: tr}
	if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); !isKind(err, providers.Unavailable) {
		t.Fatalf("Get(503) = %v; want Unavailable", err)
	}
	_, err := c.Get(context.Background(), secret.New(token), "x", url.Values{"pageToken": {"PAGETOKEN_in_url"}}, nil)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.Unavailable || pe.Provider != "test" || !errors.Is(err, resilience.ErrCircuitOpen) {
		t.Errorf("Get(open breaker) = %v; want a *providers.Error of kind Unavailable wrapping ErrCircuitOpen", err)
	}
	if s := fmt.Sprint(err); strings.Contains(s, "PAGETOKEN_in_url") || strings.Contains(s, token) {
		t.Errorf("Get(open breaker) error %q repeats the URL or the token", s)
	}
	if n := rec.calls.Load(); n != 1 {
		t.Errorf("%d requests reached the server; want 1 (none through the open breaker)", n)
	}
}

func TestGetDefaultClassify(t *testing.T) {
	for _, tc := range []struct {
		status     int
		header     map[string]string
		kind       providers.Kind
		retryAfter time.Duration
	}{
		{401, nil, providers.ReauthRequired, 0},
		{403, nil, providers.Forbidden, 0},
		{429, map[string]string{"Retry-After": "12"}, providers.RateLimited, 12 * time.Second},
		{429, map[string]string{"X-RateLimit-Reset": fmt.Sprint(now.Add(time.Minute).Unix())}, providers.RateLimited, time.Minute},
		{429, nil, providers.RateLimited, 0},
		{400, nil, providers.BadInput, 0},
		{404, nil, providers.BadInput, 0},
		{410, nil, providers.Unavailable, 0},
		{422, nil, providers.BadInput, 0},
		{500, nil, providers.Unavailable, 0},
		{502, nil, providers.Unavailable, 0},
		{302, map[string]string{"Location": "http://127.0.0.1:1/"}, providers.Unavailable, 0},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				fmt.Fprintf(w, `{"message":"body with %s"}`, token)
			})
			if tc.status == 302 {
				c.HTTP.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			}
			_, err := c.Get(context.Background(), secret.New(token), "x", nil, nil)
			var pe *providers.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Get() = %v; want a *providers.Error", err)
			}
			if pe.Kind != tc.kind || pe.RetryAfter != tc.retryAfter || pe.Provider != "test" {
				t.Errorf("Get(status %d) = %v (kind %v, retry after %v); want kind %v, retry after %v", tc.status, err, pe.Kind, pe.RetryAfter, tc.kind, tc.retryAfter)
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "body with") {
				t.Errorf("Get() error %q echoes the token or the body", err)
			}
		})
	}
}

func TestGetCustomClassify(t *testing.T) {
	c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(403) })
	c.Classify = func(resp *http.Response, body []byte, at time.Time) *providers.Error {
		if !at.Equal(now) {
			t.Errorf("Classify got time %v; want the injected %v", at, now)
		}
		return &providers.Error{Kind: providers.RateLimited}
	}
	_, err := c.Get(context.Background(), secret.New(token), "x", nil, nil)
	var pe *providers.Error
	if !errors.As(err, &pe) || pe.Kind != providers.RateLimited || pe.Provider != "test" {
		t.Errorf("Get() = %v; want the classifier's RateLimited with the provider filled in", err)
	}
	// nil falls back to the default mapping.
	c.Classify = func(*http.Response, []byte, time.Time) *providers.Error { return nil }
	if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); !isKind(err, providers.Forbidden) {
		t.Errorf("Get() with a nil classification = %v; want Forbidden", err)
	}
}

func isKind(err error, k providers.Kind) bool {
	got, ok := providers.KindOf(err)
	return ok && got == k
}

func TestGetTransportErrors(t *testing.T) {
	t.Run("oversized body", func(t *testing.T) {
		c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
			chunk := []byte(strings.Repeat("x", 64<<10))
			for n := 0; n <= MaxBody; n += len(chunk) {
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		})
		if _, err := c.Get(context.Background(), secret.New(token), "x", nil, nil); !isKind(err, providers.Unavailable) {
			t.Errorf("Get(oversized) = %v; want Unavailable", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		release := make(chan struct{})
		c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		})
		defer close(release)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, err := c.Get(ctx, secret.New(token), "x", url.Values{"pageToken": {"PAGETOKEN_in_url"}}, nil)
		if !isKind(err, providers.Unavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Get(timeout) = %v; want Unavailable wrapping DeadlineExceeded", err)
		}
		if strings.Contains(err.Error(), "PAGETOKEN_in_url") {
			t.Errorf("Get(timeout) error %q repeats the URL", err)
		}
	})
	t.Run("connection refused", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		base, _ := ParseBase(srv.URL)
		srv.Close()
		c := &Client{HTTP: &http.Client{}, Base: base, Provider: "test"}
		_, err := c.Get(context.Background(), secret.New(token), "x", url.Values{"pageToken": {"PAGETOKEN_in_url"}}, nil)
		if !isKind(err, providers.Unavailable) {
			t.Errorf("Get(closed) = %v; want Unavailable", err)
		}
		if s := err.Error(); strings.Contains(s, "PAGETOKEN_in_url") || strings.Contains(s, token) {
			t.Errorf("Get(closed) error %q repeats the URL or the token", s)
		}
	})
}

func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "30"}, 30 * time.Second},
		{"HTTP date", map[string]string{"Retry-After": now.Add(2 * time.Minute).Format(http.TimeFormat)}, 2 * time.Minute},
		{"HTTP date in the past", map[string]string{"Retry-After": now.Add(-time.Minute).Format(http.TimeFormat)}, 0},
		{"Retry-After wins", map[string]string{"Retry-After": "5", "X-RateLimit-Reset": fmt.Sprint(now.Add(time.Hour).Unix())}, 5 * time.Second},
		{"unix reset", map[string]string{"X-RateLimit-Reset": fmt.Sprint(now.Add(90 * time.Second).Unix())}, 90 * time.Second},
		{"unix reset in the past", map[string]string{"X-RateLimit-Reset": fmt.Sprint(now.Add(-time.Hour).Unix())}, 0},
		{"delta reset", map[string]string{"RateLimit-Reset": "42"}, 42 * time.Second},
		{"garbage", map[string]string{"Retry-After": "soon", "X-RateLimit-Reset": "later"}, 0},
		{"negative delta reset", map[string]string{"RateLimit-Reset": "-5"}, 0},
		{"negative Retry-After falls through", map[string]string{"Retry-After": "-5", "RateLimit-Reset": "7"}, 7 * time.Second},
		{"overflowing seconds", map[string]string{"Retry-After": "99999999999"}, MaxRetryAfter},
		{"seconds beyond int64", map[string]string{"Retry-After": "99999999999999999999999"}, MaxRetryAfter}, // httpx.ParseRetryAfter: too many digits is a long wait, not none
		{"HTTP date far ahead", map[string]string{"Retry-After": now.AddDate(5, 0, 0).Format(http.TimeFormat)}, MaxRetryAfter},
		{"unix reset far ahead", map[string]string{"X-RateLimit-Reset": "99999999999"}, MaxRetryAfter},
		{"unix reset beyond time range", map[string]string{"X-RateLimit-Reset": "9223372036854775807"}, MaxRetryAfter},
		{"delta reset just below a day", map[string]string{"RateLimit-Reset": "86399"}, 86399 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range tc.header {
				h.Set(k, v)
			}
			if got := RetryAfter(h, now); got != tc.want {
				t.Errorf("RetryAfter(%v) = %v; want %v", tc.header, got, tc.want)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	for _, tc := range []struct {
		link []string
		want string
	}{
		{nil, ""},
		{[]string{`<https://api.github.com/user/repos?page=2>; rel="next", <https://api.github.com/user/repos?page=5>; rel="last"`}, "https://api.github.com/user/repos?page=2"},
		{[]string{`<https://a/?page=1>; rel="prev", <https://a/?page=3>; rel="next"`}, "https://a/?page=3"},
		{[]string{`<https://a/?page=1>; rel="first"`, `<https://a/?page=4>; rel=next`}, "https://a/?page=4"},
		{[]string{`<https://a/?page=4>; title="x"; REL="prev next"`}, "https://a/?page=4"},
		{[]string{`<https://a/?page=5>; rel="last"`}, ""},
		{[]string{`https://a/?page=2; rel="next"`}, ""},
		// A comma or semicolon inside the target is part of the URL.
		{[]string{`<https://a/?ids=1,2&page=3>; rel="next"`}, "https://a/?ids=1,2&page=3"},
		{[]string{`<https://a/?ids=1,2>; rel="prev", <https://a/?ids=3,4;x=y>; rel="next"`}, "https://a/?ids=3,4;x=y"},
		// Quoted parameters may hold commas and semicolons.
		{[]string{`<https://a/?p=1>; title="a, b; rel=next", <https://a/?p=2>; rel="next"`}, "https://a/?p=2"},
		{[]string{`<https://a/?p=1>; title="say \"hi\", then", <https://a/?p=2>; rel=next`}, "https://a/?p=2"},
		// An entry that is not a link is skipped.
		{[]string{`junk, <https://a/?p=2>; rel="next"`}, "https://a/?p=2"},
		{[]string{`<https://a/?p=2; rel="next"`}, ""},
	} {
		t.Run(strings.Join(tc.link, " | "), func(t *testing.T) {
			h := http.Header{}
			for _, l := range tc.link {
				h.Add("Link", l)
			}
			if got := NextLink(h); got != tc.want {
				t.Errorf("NextLink(%q) = %q; want %q", tc.link, got, tc.want)
			}
		})
	}
}

func TestDecodeNeverEchoesTheBody(t *testing.T) {
	var v struct {
		ID int `json:"id"`
	}
	for _, body := range []string{`{"id": "` + token + `"}`, `{"id": 1, "x": "` + token, `<html>` + token} {
		err := Decode("test", []byte(body), &v)
		if !isKind(err, providers.Unavailable) {
			t.Errorf("Decode(%q) = %v; want Unavailable", body, err)
		}
		if strings.Contains(err.Error(), token) {
			t.Errorf("Decode(%q) error %q echoes the body", body, err)
		}
	}
	if err := Decode("test", []byte(`{"id": 7}`), &v); err != nil || v.ID != 7 {
		t.Errorf("Decode(valid) = %v, id %d; want nil, 7", err, v.ID)
	}
}

func TestReadBounded(t *testing.T) {
	for _, tc := range []struct {
		in      string
		limit   int64
		wantErr bool
	}{{"abc", 3, false}, {"abcd", 3, true}, {"", 0, false}} {
		b, err := ReadBounded(strings.NewReader(tc.in), tc.limit)
		if tc.wantErr != errors.Is(err, ErrTooLarge) || (!tc.wantErr && string(b) != tc.in) {
			t.Errorf("ReadBounded(%q, %d) = %q, %v; want error %v", tc.in, tc.limit, b, err, tc.wantErr)
		}
	}
}

// TestWithBody: the declared size is a hint only; the limit bounds the
// read whatever the size says, and a body longer or shorter than declared
// is read whole. iotest.OneByteReader makes every Read short, as a slow
// connection would.
func TestWithBody(t *testing.T) {
	long := strings.Repeat("x", 5000)
	read := func(r io.Reader, limit, size int64) (string, error) {
		var got string
		err := withBody(r, limit, size, func(b []byte) error { got = string(b); return nil })
		return got, err
	}
	for _, tc := range []struct {
		name    string
		in      string
		limit   int64
		size    int64
		wantErr bool
	}{
		{"exact size", "abc", 10, 3, false},
		{"unknown size", "abc", 10, -1, false},
		{"longer than declared", long, 10000, 3, false},
		{"shorter than declared", "abc", 10, 9, false},
		{"size above the limit", "abc", 3, 100, false},
		{"over the limit, small size declared", "abcd", 3, 2, true},
		{"over the limit, exact size declared", "abcd", 3, 4, true},
		{"size beyond the hint bound", long, 10000, maxSizeHint + 1, false},
		{"empty", "", 10, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				b, err := read(r, tc.limit, tc.size)
				if tc.wantErr != errors.Is(err, ErrTooLarge) || (!tc.wantErr && b != tc.in) {
					t.Errorf("withBody(%d bytes, %d, %d) = %d bytes, %v; want error %v", len(tc.in), tc.limit, tc.size, len(b), err, tc.wantErr)
				}
			}
		})
	}
	// Buffers are reused: a short body read after a long one is not
	// followed by the long one's bytes.
	if a, _ := read(strings.NewReader(long), 10000, -1); a != long {
		t.Errorf("withBody(%d bytes) = %d bytes", len(long), len(a))
	}
	if b, _ := read(strings.NewReader("abc"), 10000, -1); b != "abc" {
		t.Errorf("after a %d-byte body, withBody(\"abc\") = %q", len(long), b)
	}
	// A read error is returned, and use is not called with a partial body.
	for _, size := range []int64{5, -1} {
		called := false
		err := withBody(iotest.ErrReader(io.ErrUnexpectedEOF), 10, size, func([]byte) error { called = true; return nil })
		if !errors.Is(err, io.ErrUnexpectedEOF) || called {
			t.Errorf("withBody(failing reader, size %d) = %v, use called %v; want unexpected EOF, not called", size, err, called)
		}
	}
	// What use returns is returned.
	errUse := errors.New("use failed")
	if err := withBody(strings.NewReader("abc"), 10, 3, func([]byte) error { return errUse }); err != errUse {
		t.Errorf("withBody(use fails) = %v; want use's error", err)
	}
}

// TestGetGone: a 410 is Unavailable for every provider, whatever the
// adapter's classifier would say, and the log says the API is gone.
func TestGetGone(t *testing.T) {
	c, _, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusGone)
		fmt.Fprint(w, `{"type":"error","error":{"message":"CHANGE-2770 - Functionality has been deprecated"}}`)
	})
	c.Classify = func(*http.Response, []byte, time.Time) *providers.Error {
		return &providers.Error{Kind: providers.BadInput}
	}
	var logs strings.Builder
	c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	_, err := c.Get(context.Background(), secret.New(token), "x", url.Values{"page": {"2"}}, nil)
	if !isKind(err, providers.Unavailable) {
		t.Errorf("Get(410) = %v; want Unavailable", err)
	}
	if strings.Contains(err.Error(), "CHANGE-2770") {
		t.Errorf("Get(410) = %q; want no upstream body", err)
	}
	if got := logs.String(); !strings.Contains(got, "API is gone") || !strings.Contains(got, "level=WARN") || strings.Contains(got, "page=") || strings.Contains(got, token) {
		t.Errorf("log = %q; want one warning that the API is gone, with no query or token", got)
	}
}

// TestWithBodySizeHintAllocatesOnce: a body of declared size is read into
// one buffer of about that size; the last read, which sees EOF, does not
// double it.
func TestWithBodySizeHintAllocatesOnce(t *testing.T) {
	for _, n := range []int{600, 6000, 20000} {
		body := strings.Repeat("x", n)
		buf := new(bytes.Buffer) // a fresh buffer, as after a GC emptied the pool
		if err := readBody(buf, strings.NewReader(body), 1<<20, int64(n)); err != nil || buf.String() != body {
			t.Fatalf("readBody(%d bytes) = %d bytes, %v", n, buf.Len(), err)
		}
		if got := buf.Cap(); got > (n+bytes.MinRead)*5/4 { // room for the size class, not a doubling
			t.Errorf("withBody(%d bytes, size %d) used a buffer of %d bytes; want about %d", n, n, got, n+bytes.MinRead)
		}
	}
}
