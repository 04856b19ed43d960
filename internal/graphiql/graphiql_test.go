package graphiql

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler("/graphiql/", Options{Endpoint: "/graphql", Token: `tok"</script><script>alert(1)</script>`, DefaultQuery: "{ me { id } }"}))
	defer srv.Close()
	cases := []struct {
		method, path string
		status       int
		contains     string
		ctype        string
	}{
		{"GET", "/graphiql/", 200, `"endpoint":"/graphql"`, "text/html"},
		{"GET", "/graphiql/assets/init.js", 200, "createFetcher", "javascript"},
		{"GET", "/graphiql/assets/graphiql.min.css", 200, ".graphiql-container", "text/css"},
		{"GET", "/graphiql/assets/missing.js", 404, "", ""},
		{"GET", "/graphiql/other", 404, "", ""},
		{"POST", "/graphiql/", 405, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("%s %s = %d; want %d", tc.method, tc.path, resp.StatusCode, tc.status)
			}
			if !strings.Contains(string(body), tc.contains) {
				t.Errorf("%s %s body lacks %q", tc.method, tc.path, tc.contains)
			}
			if tc.ctype != "" && !strings.Contains(resp.Header.Get("Content-Type"), tc.ctype) {
				t.Errorf("Content-Type = %q; want %s", resp.Header.Get("Content-Type"), tc.ctype)
			}
			if tc.status == 200 && resp.Header.Get("Content-Security-Policy") != CSP {
				t.Errorf("CSP = %q; want %q", resp.Header.Get("Content-Security-Policy"), CSP)
			}
			if tc.path == "/graphiql/" && strings.Contains(string(body), "</script><script>alert(1)") {
				t.Errorf("the page does not escape its configuration: %s", body)
			}
		})
	}
}
