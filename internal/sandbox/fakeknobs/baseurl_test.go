package fakeknobs

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name       string
		tls        bool
		mount      string // http.StripPrefix prefix; "" serves at the root
		path       string // request path
		header     map[string]string
		configured string
		want       string // "HOST" stands for the listener's host:port
	}{
		{"root", false, "", "/user/repos", nil, "", "http://HOST/"},
		{"TLS", true, "", "/user/repos", nil, "", "https://HOST/"},
		{"StripPrefix without slash", false, "/gh", "/gh/user/repos", nil, "", "http://HOST/gh/"},
		{"StripPrefix with slash", false, "/gh/", "/gh/user/repos", nil, "", "http://HOST/gh/"},
		{"nested StripPrefix", false, "/a/b", "/a/b/2.0/repositories", nil, "", "http://HOST/a/b/"},
		{"X-Forwarded-Prefix wins over StripPrefix", false, "/gh", "/gh/user/repos",
			map[string]string{"X-Forwarded-Prefix": "/proxy/gh/"}, "", "http://HOST/proxy/gh/"},
		{"X-Forwarded-Prefix without slashes", false, "", "/user/repos",
			map[string]string{"X-Forwarded-Prefix": "gh"}, "", "http://HOST/gh/"},
		{"X-Forwarded-Proto https", false, "", "/user/repos",
			map[string]string{"X-Forwarded-Proto": "https"}, "", "https://HOST/"},
		{"X-Forwarded-Proto http over TLS", true, "", "/user/repos",
			map[string]string{"X-Forwarded-Proto": "http"}, "", "http://HOST/"},
		{"X-Forwarded-Proto other ignored", false, "", "/user/repos",
			map[string]string{"X-Forwarded-Proto": "ftp"}, "", "http://HOST/"},
		{"configured gets a slash", false, "/gh", "/gh/user/repos",
			map[string]string{"X-Forwarded-Prefix": "/ignored"}, "https://ghe.example/api/v3", "https://ghe.example/api/v3/"},
		{"configured keeps one slash", false, "", "/user/repos", nil, "http://127.0.0.1:9000/gitlab/", "http://127.0.0.1:9000/gitlab/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.WriteString(w, BaseURL(r, tt.configured))
			})
			if tt.mount != "" {
				h = http.StripPrefix(tt.mount, h)
			}
			srv := httptest.NewServer(h)
			if tt.tls {
				srv.Close()
				srv = httptest.NewTLSServer(h)
			}
			defer srv.Close()
			req, err := http.NewRequest(http.MethodGet, srv.URL+tt.path+"?page=2", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "HOST", srv.Listener.Addr().String())
			if got := string(body); got != want {
				t.Errorf("BaseURL(%s %q, %q) = %q; want %q", tt.path, tt.header, tt.configured, got, want)
			}
		})
	}
}
