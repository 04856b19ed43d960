package authn

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBearer: behind Middleware the handler reaches the validated token as
// a secret.String, which prints as [REDACTED] whatever prints it; outside
// Middleware there is none.
func TestBearer(t *testing.T) {
	good := key(0, "kid-bearer")
	f := newFixture(t, nil, good)
	tok := rsToken(t, good, claimsAt(f.base, nil))
	var got, printed string
	srv := httptest.NewServer(f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := Bearer(r.Context())
		if !ok {
			http.Error(w, "no bearer", http.StatusInternalServerError)
			return
		}
		got = b.Reveal()
		var sb strings.Builder
		slog.New(slog.NewJSONHandler(&sb, nil)).Info("ctx", "bearer", b)
		printed = fmt.Sprintf("%v %s %q %+v %#v", b, b, b, b, b) + sb.String()
	})))
	t.Cleanup(srv.Close)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || got != tok {
		t.Fatalf("status %d, Bearer() matched %v; want 200 and the caller's token", resp.StatusCode, got == tok)
	}
	if strings.Contains(printed, tok) || strings.Contains(printed, tok[strings.LastIndex(tok, ".")+1:]) {
		t.Errorf("printing the bearer revealed it: %s", printed)
	}
	if b, ok := Bearer(context.Background()); ok || !b.IsZero() {
		t.Errorf("Bearer(empty ctx) = %v, %v; want zero, false", b, ok)
	}
}
