package identity

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpgate/idpgate/internal/auth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/secret"
)

// seedPrefix marks every IdP token seeded into the tenant, so the test can
// prove none reaches a log line or an error message.
const seedPrefix = "gho_IDLOADERSEED"

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestLoaderOverHTTP runs the loader with the real Management API client
// against the Auth0 emulator, whose search index lags a minute behind.
func TestLoaderOverHTTP(t *testing.T) {
	c := newClock()
	tenant := &fakeauth0.Tenant{Now: c.Now, SearchIndexLag: time.Minute}
	srv := httptest.NewServer(tenant)
	t.Cleanup(srv.Close)
	tenant.SetBaseURL(srv.URL)

	const indexed = 40
	var ids []string
	for i := range indexed {
		ids = append(ids, addGitHubUser(tenant, 7000+i, fmt.Sprintf("%s%02d", seedPrefix, i)))
	}
	c.Advance(2 * time.Minute) // search sees them all now
	rotated := seedPrefix + "ROTATED"
	tenant.UpdateIdentity(ids[0], "github", func(id *fakeauth0.Identity) { id.AccessToken = rotated })
	late := addGitHubUser(tenant, 8000, seedPrefix+"LATE") // not in the index yet
	const missing = "github|404404"
	keys := append(append([]string{}, ids...), late, missing)

	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clientID, clientSecret := tenant.Credentials()
	client, err := auth0.New(auth0.Config{
		BaseURL:      srv.URL,
		ClientID:     clientID,
		ClientSecret: secret.New(clientSecret),
		HTTPClient:   srv.Client(),
		Now:          c.Now,
		Logger:       logger,
	})
	if err != nil {
		t.Fatalf("auth0.New() error = %v; want nil", err)
	}
	// The window closes when all keys are in: one batch, deterministically.
	l := New(Config{Wait: time.Hour, MaxBatch: len(keys), Now: c.Now, Logger: logger}, client)

	res := loadAll(t.Context(), l, keys...)

	var errText strings.Builder
	for i, k := range keys {
		r := res[i]
		switch k {
		case missing:
			if !errors.Is(r.err, auth0.ErrNotFound) {
				t.Errorf("Load(%q) error = %v; want %v", k, r.err, auth0.ErrNotFound)
			}
			if r.err != nil {
				errText.WriteString(r.err.Error())
			}
			continue
		case late:
			if r.err != nil || r.p.FromSearch {
				t.Errorf("Load(%q) = %+v, %v; want a profile read by id", k, r.p, r.err)
				continue
			}
		default:
			if r.err != nil || !r.p.FromSearch {
				t.Errorf("Load(%q) = %+v, %v; want a profile from search", k, r.p, r.err)
				continue
			}
		}
		if r.p.User.UserID != k || len(r.p.User.Identities) != 1 {
			t.Errorf("Load(%q).User = %+v; want that user with one identity", k, r.p.User)
			continue
		}
		if tok := r.p.User.Identities[0].AccessToken.Reveal(); !strings.HasPrefix(tok, seedPrefix) {
			t.Errorf("Load(%q) access token = %q; want a seeded one", k, tok)
		}
	}
	// Search still has ids[0]'s old token: that is what Reload is for.
	if tok := res[0].p.User.Identities[0].AccessToken.Reveal(); tok == rotated {
		t.Errorf("Load(%q) from search has the rotated token already; the test needs the lagging index", ids[0])
	}
	want := fakeauth0.Counts{Token: 1, Search: 1, UserByID: 2}
	if got := tenant.Calls(); got != want {
		t.Errorf("tenant calls after one batch of %d = %+v; want %+v", len(keys), got, want)
	}

	// Cached now: no more calls.
	loadAll(t.Context(), l, keys[:len(keys)-1]...)
	if got := tenant.Calls(); got != want {
		t.Errorf("tenant calls after cached Loads = %+v; want %+v", got, want)
	}

	// A provider rejected ids[0]'s search-sourced token: Reload reads by id.
	p, err := l.Reload(t.Context(), ids[0])
	if err != nil {
		t.Fatalf("Reload(%q) error = %v; want nil", ids[0], err)
	}
	if tok := p.User.Identities[0].AccessToken.Reveal(); tok != rotated || p.FromSearch {
		t.Errorf("Reload(%q) = token %q, FromSearch %v; want %q, false", ids[0], tok, p.FromSearch, rotated)
	}
	want.UserByID++
	if got, err := l.Load(t.Context(), ids[0]); err != nil || got != p {
		t.Errorf("Load(%q) after Reload = %+v, %v; want the reloaded profile", ids[0], got, err)
	}
	if got := tenant.Calls(); got != want {
		t.Errorf("tenant calls after Reload and a Load = %+v; want %+v", got, want)
	}

	for name, text := range map[string]string{"logs": logs.String(), "errors": errText.String()} {
		if strings.Contains(text, seedPrefix) {
			t.Errorf("%s contain a seeded IdP token:\n%s", name, text)
		}
	}
	if secretText := fmt.Sprintf("%v %+v", res[1].p.User, res[1].p.User); strings.Contains(secretText, seedPrefix) {
		t.Errorf("fmt of a loaded user shows its token: %s", secretText)
	}
}

// addGitHubUser adds a user with one GitHub identity and returns its id.
func addGitHubUser(tenant *fakeauth0.Tenant, githubID int, token string) string {
	id := fmt.Sprintf("github|%d", githubID)
	tenant.AddUser(fakeauth0.User{
		UserID: id,
		Name:   fmt.Sprintf("User %d", githubID),
		Identities: []fakeauth0.Identity{{
			Provider:    "github",
			Connection:  "github",
			UserID:      githubID,
			IsSocial:    true,
			AccessToken: token,
		}},
	})
	return id
}
