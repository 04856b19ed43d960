package httpmw

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCORSOptionsValidate(t *testing.T) {
	tests := []struct {
		o       CORSOptions
		wantErr string
	}{
		{CORSOptions{}, ""},
		{CORSOptions{AllowedOrigins: []string{"https://app.example.com", "http://localhost:5173"}, AllowCredentials: true}, ""},
		{CORSOptions{AllowedOrigins: []string{"*"}}, ""},
		{CORSOptions{AllowedOrigins: []string{"*"}, AllowCredentials: true}, "cannot be combined with AllowCredentials"},
		{CORSOptions{AllowedOrigins: []string{"https://app.example.com/"}}, "trailing slash"},
		{CORSOptions{AllowedOrigins: []string{"https://app.example.com/path"}}, "scheme://host[:port] only"},
		{CORSOptions{AllowedOrigins: []string{"app.example.com"}}, "want scheme http or https"},
		{CORSOptions{AllowedOrigins: []string{"null"}}, "want scheme http or https"},
		{CORSOptions{AllowedOrigins: []string{"https://*.example.com"}}, "wildcards are not supported"},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("Validate(%+v) = %v; want %q", tt.o, err, tt.wantErr)
		}
		if _, cerr := CORS(tt.o); (cerr == nil) != (err == nil) {
			t.Errorf("CORS(%+v) error = %v; want %v", tt.o, cerr, err)
		}
	}
}

func TestCORS(t *testing.T) {
	const app = "https://app.example.com"
	mw, err := CORS(CORSOptions{AllowedOrigins: []string{app, "http://localhost:5173"}, AllowCredentials: true, MaxAge: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	strict := serve(t, mw(ok))
	anyMW, err := CORS(CORSOptions{AllowedOrigins: []string{"*"}})
	if err != nil {
		t.Fatal(err)
	}
	open := serve(t, anyMW(ok))

	preflight := map[string]string{"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization, content-type"}
	tests := []struct {
		name        string
		url         string
		method      string
		origin      string
		headers     map[string]string
		wantStatus  int
		wantAllow   string // Access-Control-Allow-Origin
		wantCreds   string
		wantMethods string
		wantMaxAge  string
		wantNext    bool
	}{
		{name: "same origin, no Origin header", url: strict, method: "POST", wantStatus: 200, wantNext: true},
		{name: "allowed origin", url: strict, method: "POST", origin: app, wantStatus: 200, wantAllow: app, wantCreds: "true", wantNext: true},
		{name: "allowed origin, other case", url: strict, method: "POST", origin: "HTTPS://APP.example.com", wantStatus: 200, wantAllow: "HTTPS://APP.example.com", wantCreds: "true", wantNext: true},
		{name: "disallowed origin", url: strict, method: "POST", origin: "https://evil.example", wantStatus: 200, wantNext: true},
		{name: "suffix is not a match", url: strict, method: "POST", origin: "https://app.example.com.evil.example", wantStatus: 200, wantNext: true},
		{name: "preflight allowed", url: strict, method: "OPTIONS", origin: "http://localhost:5173", headers: preflight, wantStatus: 204, wantAllow: "http://localhost:5173", wantCreds: "true", wantMethods: "GET, POST, OPTIONS", wantMaxAge: "600"},
		{name: "preflight disallowed", url: strict, method: "OPTIONS", origin: "https://evil.example", headers: preflight, wantStatus: 403},
		{name: "OPTIONS without preflight headers", url: strict, method: "OPTIONS", origin: app, wantStatus: 200, wantAllow: app, wantCreds: "true", wantNext: true},
		{name: "any origin", url: open, method: "POST", origin: "https://whoever.example", wantStatus: 200, wantAllow: "*", wantNext: true},
		{name: "any origin preflight", url: open, method: "OPTIONS", origin: "https://whoever.example", headers: preflight, wantStatus: 204, wantAllow: "*", wantMethods: "GET, POST, OPTIONS", wantMaxAge: "7200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.url, nil)
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, body := do(t, req)
			h := resp.Header
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := string(body) == "ok"; got != tt.wantNext {
				t.Errorf("next handler ran = %v; want %v", got, tt.wantNext)
			}
			checks := []struct{ header, want string }{
				{"Access-Control-Allow-Origin", tt.wantAllow},
				{"Access-Control-Allow-Credentials", tt.wantCreds},
				{"Access-Control-Allow-Methods", tt.wantMethods},
				{"Access-Control-Max-Age", tt.wantMaxAge},
			}
			for _, c := range checks {
				if got := h.Get(c.header); got != c.want {
					t.Errorf("%s = %q; want %q", c.header, got, c.want)
				}
			}
			if !strings.Contains(strings.Join(h.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary = %q; want it to include Origin", h.Values("Vary"))
			}
			if tt.wantMethods != "" {
				for _, want := range []string{"Authorization", "Content-Type", "Apollo-Require-Preflight", "X-Apollo-Operation-Name", "apollographql-client-name", "apollographql-client-version"} {
					if !strings.Contains(h.Get("Access-Control-Allow-Headers"), want) {
						t.Errorf("Access-Control-Allow-Headers = %q; want it to include %s", h.Get("Access-Control-Allow-Headers"), want)
					}
				}
			}
			if tt.wantAllow == "" && (h.Get("Access-Control-Allow-Headers") != "" || h.Get("Access-Control-Expose-Headers") != "") {
				t.Errorf("disallowed request got CORS headers %v", h)
			}
		})
	}
}

func TestSecurityHeaders(t *testing.T) {
	override := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'")
		w.Header().Set("Cache-Control", "public, max-age=60")
	})
	tests := []struct {
		name string
		o    SecurityOptions
		h    http.Handler
		want map[string]string
	}{
		{"API", SecurityOptions{}, ok, map[string]string{
			"X-Content-Type-Options":    "nosniff",
			"Referrer-Policy":           "no-referrer",
			"X-Frame-Options":           "DENY",
			"Cache-Control":             "no-store",
			"Content-Security-Policy":   "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
			"Strict-Transport-Security": "",
		}},
		{"handler overrides", SecurityOptions{HSTSMaxAge: 365 * 24 * time.Hour}, override, map[string]string{
			"X-Frame-Options":           "DENY",
			"Cache-Control":             "public, max-age=60",
			"Content-Security-Policy":   "default-src 'self'",
			"Strict-Transport-Security": "max-age=31536000",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, serve(t, SecurityHeaders(tt.o)(tt.h)), nil)
			resp, _ := do(t, req)
			for k, want := range tt.want {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q; want %q", k, got, want)
				}
			}
		})
	}
}
