package gqlresp

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestContentType(t *testing.T) {
	tests := []struct {
		accept []string
		want   string
	}{
		{nil, JSON},
		{[]string{"application/json"}, JSON},
		{[]string{"*/*"}, JSON},
		{[]string{"application/*"}, JSON},
		{[]string{"application/graphql-response+json"}, GraphQLResponse},
		{[]string{"APPLICATION/GraphQL-Response+JSON"}, GraphQLResponse},
		{[]string{"application/graphql-response+json, application/json;q=0.9"}, GraphQLResponse},
		// As gqlgen: the first listed, whatever its quality.
		{[]string{"application/json;q=0.9, application/graphql-response+json"}, JSON},
		{[]string{"application/json, application/graphql-response+json"}, JSON},
		{[]string{"text/html", "application/graphql-response+json"}, GraphQLResponse},
		{[]string{"text/html"}, JSON},
		{[]string{"nonsense;;, application/graphql-response+json"}, GraphQLResponse},
		{[]string{"application/graphql-response+json;q=0, application/json"}, JSON},
		{[]string{"application/graphql-response+json;q=zz"}, JSON},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		for _, a := range tt.accept {
			r.Header.Add("Accept", a)
		}
		if got := ContentType(r); got != tt.want+"; charset=utf-8" {
			t.Errorf("ContentType(Accept %q) = %q; want %q", tt.accept, got, tt.want+"; charset=utf-8")
		}
	}
}

// TestWriteSameForEveryStatus: the drift of issue 8.2 (a 401 honoured
// Accept, a 429 did not) cannot come back: one writer, one rule.
func TestWriteSameForEveryStatus(t *testing.T) {
	for _, status := range []int{400, 401, 413, 429, 500} {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		r.Header.Set("Accept", GraphQLResponse)
		w := httptest.NewRecorder()
		Write(w, r, status, "SOME_CODE", `quote " and <tag>`, map[string]any{"retryAfter": 3})
		if got := w.Header().Get("Content-Type"); got != GraphQLResponse+"; charset=utf-8" {
			t.Errorf("%d: Content-Type = %q; want %s", status, got, GraphQLResponse)
		}
		if w.Code != status {
			t.Errorf("status = %d; want %d", w.Code, status)
		}
		const wantBody = `{"errors":[{"message":"quote \" and \u003ctag\u003e","extensions":{"code":"SOME_CODE","retryAfter":3}}]}`
		if got := w.Body.String(); got != wantBody {
			t.Errorf("%d: body = %s; want %s", status, got, wantBody)
		}
		if got := w.Header().Get("WWW-Authenticate"); (status == 401) != (got != "") {
			t.Errorf("%d: WWW-Authenticate = %q", status, got)
		}
	}
}

func TestConform(t *testing.T) {
	const errBody = `{"errors":[{"message":"Cannot query field","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}],"data":null}`
	big := `{"data":{"x":"` + strings.Repeat("a", 2000) + `"}}`
	tests := []struct {
		name       string
		accept     string
		status     int
		body       string
		chunks     int // the body written in this many Writes with a Flush between
		wantStatus int
		wantData   bool
		wantCode   string
		wantAbort  bool
	}{
		{"validation error to application/json is 200", JSON, 422, errBody, 1, 200, true, "GRAPHQL_VALIDATION_FAILED", false},
		{"validation error to graphql-response is 400 without data", GraphQLResponse, 400, errBody, 1, 400, false, "GRAPHQL_VALIDATION_FAILED", false},
		{"a result passes", GraphQLResponse, 200, `{"data":{"me":null}}`, 1, 200, true, "", false},
		{"an oversized body becomes a small error", JSON, 200, big, 1, 500, false, CodeResponseTooLarge, false},
		{"an oversized stream is cut", JSON, 200, big, 4, 200, false, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := Conform(ConformOptions{MaxBytes: 1000})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ContentType(r))
				w.WriteHeader(tt.status)
				n := len(tt.body) / tt.chunks
				for i := 0; i < tt.chunks; i++ {
					end := (i + 1) * n
					if i == tt.chunks-1 {
						end = len(tt.body)
					}
					_, _ = io.WriteString(w, tt.body[i*n:end])
					w.(http.Flusher).Flush()
				}
			}))
			ts := httptest.NewServer(h)
			defer ts.Close()
			req, _ := http.NewRequest(http.MethodPost, ts.URL, nil)
			req.Header.Set("Accept", tt.accept)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, readErr := io.ReadAll(resp.Body)
			if tt.wantAbort {
				if readErr == nil {
					t.Errorf("stream read %d bytes without error; want the connection cut", len(b))
				}
				if len(b) > 1000 {
					t.Errorf("read %d bytes; want at most 1000", len(b))
				}
				return
			}
			if readErr != nil {
				t.Fatal(readErr)
			}
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d; want %d", resp.StatusCode, tt.wantStatus)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if _, ok := got["data"]; ok != tt.wantData {
				t.Errorf("data entry present = %v; want %v (%s)", ok, tt.wantData, b)
			}
			if tt.wantCode != "" && !strings.Contains(string(got["errors"]), `"code":"`+tt.wantCode+`"`) {
				t.Errorf("errors = %s; want code %s", got["errors"], tt.wantCode)
			}
		})
	}
}
