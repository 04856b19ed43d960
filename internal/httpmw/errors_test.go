package httpmw

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWriteError(t *testing.T) {
	tests := []struct {
		accept []string
		want   string
	}{
		{nil, "application/json"},
		{[]string{"application/json"}, "application/json"},
		{[]string{"application/graphql-response+json"}, "application/graphql-response+json"},
		{[]string{"application/graphql-response+json, application/json;q=0.9"}, "application/graphql-response+json"},
		{[]string{"application/json, application/graphql-response+json"}, "application/json"},
		{[]string{"application/graphql-response+json;q=0, application/json"}, "application/json"},
		{[]string{"text/html", "application/graphql-response+json"}, "application/graphql-response+json"},
		{[]string{"*/*"}, "application/json"},
		{[]string{"nonsense;;"}, "application/json"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
		for _, a := range tt.accept {
			r.Header.Add("Accept", a)
		}
		w := httptest.NewRecorder()
		WriteError(w, r, http.StatusTeapot, "SOME_CODE", `quote " and <tag>`)
		if got := w.Header().Get("Content-Type"); got != tt.want+"; charset=utf-8" {
			t.Errorf("WriteError with Accept %q: Content-Type = %q; want %q", tt.accept, got, tt.want)
		}
		if w.Code != http.StatusTeapot {
			t.Errorf("status = %d; want %d", w.Code, http.StatusTeapot)
		}
		const wantBody = `{"errors":[{"message":"quote \" and \u003ctag\u003e","extensions":{"code":"SOME_CODE"}}]}`
		if got := w.Body.String(); got != wantBody {
			t.Errorf("body = %s; want %s", got, wantBody)
		}
		if got := w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("X-Content-Type-Options = %q; want nosniff", got)
		}
	}
}
