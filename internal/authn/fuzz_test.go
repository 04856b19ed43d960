package authn

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// FuzzMiddleware sends arbitrary Authorization values: none may panic, pass,
// or come back in the response.
func FuzzMiddleware(f *testing.F) {
	good := key(0, "kid-fuzz")
	js := newJWKSServer(f, good)
	now := time.Now()
	a, err := New(Config{
		Issuer: testIssuer, Audience: testAudience, JWKSURL: js.URL(), HTTPClient: js.srv.Client(),
		Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		f.Fatal(err)
	}
	h := a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}))
	for _, seed := range []string{
		"", "Bearer", "Bearer ", "bearer  x", "Basic eA==", "Bearer a.b.c", "Bearer a.b.c.d.e.f.g",
		"Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImtpZC1mdXp6In0.e30.c2ln",
		"Bearer eyJhbGciOiJub25lIn0.e30.", "Bearer \x00\xff", "Bearer\ttab",
	} {
		f.Add(seed)
	}
	bodies := map[string]bool{}
	for _, msg := range []string{msgMissing, msgBadHeader, msgInvalid} {
		w := httptest.NewRecorder()
		WriteError(w, httptest.NewRequest(http.MethodPost, "/", nil), http.StatusUnauthorized, gqlresp.CodeUnauthenticated, msg)
		bodies[w.Body.String()] = true
	}
	f.Fuzz(func(t *testing.T, authz string) {
		r := httptest.NewRequest(http.MethodPost, "/query", nil)
		r.Header["Authorization"] = []string{authz}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized || !bodies[w.Body.String()] {
			t.Errorf("Authorization %q = %d %s; want 401 with a fixed body", authz, w.Code, w.Body)
		}
	})
}
