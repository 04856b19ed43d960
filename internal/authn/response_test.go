package authn

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

func TestWriteErrorContentType(t *testing.T) {
	const gql, plain = "application/graphql-response+json; charset=utf-8", "application/json; charset=utf-8"
	tests := []struct {
		accept []string
		want   string
	}{
		{nil, plain},
		{[]string{"application/json"}, plain},
		{[]string{"*/*"}, plain},
		{[]string{"application/graphql-response+json"}, gql},
		{[]string{"APPLICATION/GraphQL-Response+JSON"}, gql},
		// The first listed, as gqlgen picks for results (one writer for
		// every status: gqlresp).
		{[]string{"application/json;q=0.9, application/graphql-response+json"}, plain},
		{[]string{"application/graphql-response+json;charset=utf-8;q=0.5,application/json"}, gql},
		{[]string{"application/json", "application/graphql-response+json"}, plain},
		{[]string{"application/graphql-response+json;q=0"}, plain},
		{[]string{"application/graphql-response+json;q=zz"}, plain},
		{[]string{"application/graphql-response+jsonx"}, plain},
		{[]string{";;;,,,"}, plain},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(http.MethodPost, "/query", nil)
		for _, v := range tc.accept {
			r.Header.Add("Accept", v)
		}
		w := httptest.NewRecorder()
		WriteError(w, r, http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "missing bearer token")
		if got := w.Header().Get("Content-Type"); got != tc.want {
			t.Errorf("WriteError(Accept %q) Content-Type = %q; want %q", tc.accept, got, tc.want)
		}
	}
}

func TestWriteErrorThroughMiddleware(t *testing.T) {
	f := newFixture(t, nil, key(0, "kid-a"))
	got := f.do(http.MethodPost, nil, "application/graphql-response+json, application/json;q=0.9")
	if ct := got.header.Get("Content-Type"); got.status != http.StatusUnauthorized || ct != "application/graphql-response+json; charset=utf-8" {
		t.Errorf("no token, Accept graphql-response = %d %q; want 401 %q", got.status, ct, "application/graphql-response+json; charset=utf-8")
	}
}

func TestWriteErrorShape(t *testing.T) {
	tests := []struct {
		status        int
		code, message string
		challenge     string
		body          string
	}{
		{http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "missing bearer token",
			`Bearer error="invalid_token", error_description="missing bearer token"`,
			`{"errors":[{"message":"missing bearer token","extensions":{"code":"UNAUTHENTICATED"}}]}`},
		{http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "say \"hi\"\n\\ é",
			`Bearer error="invalid_token", error_description="say hi "`,
			`{"errors":[{"message":"say \"hi\"\n\\ é","extensions":{"code":"UNAUTHENTICATED"}}]}`},
		{http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "",
			`Bearer error="invalid_token"`,
			`{"errors":[{"message":"","extensions":{"code":"UNAUTHENTICATED"}}]}`},
		{http.StatusServiceUnavailable, gqlresp.CodeUpstreamUnavailable, "try later", "",
			`{"errors":[{"message":"try later","extensions":{"code":"UPSTREAM_UNAVAILABLE"}}]}`},
		{http.StatusBadRequest, "BAD_USER_INPUT", "bad <input> & more", "",
			`{"errors":[{"message":"bad \u003cinput\u003e \u0026 more","extensions":{"code":"BAD_USER_INPUT"}}]}`},
	}
	for _, tc := range tests {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodPost, "/query", nil), tc.status, tc.code, tc.message)
		if w.Code != tc.status {
			t.Errorf("WriteError(%d, %q) status = %d; want %d", tc.status, tc.message, w.Code, tc.status)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("WriteError(%d, %q) WWW-Authenticate = %q; want %q", tc.status, tc.message, got, tc.challenge)
		}
		if got := w.Body.String(); got != tc.body {
			t.Errorf("WriteError(%d, %q) body = %s; want %s", tc.status, tc.message, got, tc.body)
		}
		if !json.Valid(w.Body.Bytes()) {
			t.Errorf("WriteError(%d, %q) body is not JSON", tc.status, tc.message)
		}
		if got := w.Header().Get("Cache-Control"); got != "no-store" {
			t.Errorf("WriteError(%d, %q) Cache-Control = %q; want no-store", tc.status, tc.message, got)
		}
	}

	// A challenge set by the caller is kept.
	w := httptest.NewRecorder()
	w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope"`)
	WriteError(w, httptest.NewRequest(http.MethodPost, "/query", nil), http.StatusUnauthorized, gqlresp.CodeUnauthenticated, "x")
	if got := w.Header().Get("WWW-Authenticate"); got != `Bearer error="insufficient_scope"` {
		t.Errorf("WriteError with a preset challenge: WWW-Authenticate = %q; want it kept", got)
	}
}
