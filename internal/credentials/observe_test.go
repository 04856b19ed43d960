package credentials

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// observed records what Config.Observe received.
type observed struct {
	mu      sync.Mutex
	refresh []string // provider/rotated/err per exchange
	waits   []time.Duration
}

type ctxKey struct{}

func (o *observed) observer() Observer {
	return Observer{
		Refresh: func(ctx context.Context, provider string) (context.Context, func(bool, error)) {
			return context.WithValue(ctx, ctxKey{}, "span of "+provider), func(rotated bool, err error) {
				o.mu.Lock()
				defer o.mu.Unlock()
				o.refresh = append(o.refresh, provider+"/"+map[bool]string{true: "rotated", false: "same"}[rotated]+"/"+map[bool]string{true: "err", false: "ok"}[err != nil])
			}
		},
		JoinWait: func(provider string, d time.Duration) {
			o.mu.Lock()
			defer o.mu.Unlock()
			o.waits = append(o.waits, d)
		},
	}
}

// TestObserveRefresh: each exchange is reported once with its provider,
// whether the refresh token rotated, and its error; the exchange runs in
// the context the hook returned (where a span lives).
func TestObserveRefresh(t *testing.T) {
	tests := []struct {
		name   string
		answer func(rt secret.String) (providers.Token, error)
		want   string
	}{
		{"same refresh token", func(rt secret.String) (providers.Token, error) {
			return providers.Token{AccessToken: secret.New("at-new")}, nil
		}, "google-oauth2/same/ok"},
		{"rotated", func(rt secret.String) (providers.Token, error) {
			return tok("at-new", "rt-new", time.Hour), nil
		}, "google-oauth2/rotated/ok"},
		{"invalid_grant", func(rt secret.String) (providers.Token, error) {
			return providers.Token{}, &providers.Error{Kind: providers.ReauthRequired, Message: "invalid_grant"}
		}, "google-oauth2/same/err"},
		{"token endpoint down", func(rt secret.String) (providers.Token, error) {
			return providers.Token{}, &providers.Error{Kind: providers.Unavailable, Err: errors.New("status 503")}
		}, "google-oauth2/same/err"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o observed
			var seen any
			r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
				seen = ctx.Value(ctxKey{})
				return tt.answer(rt)
			})
			b := New(Config{Now: func() time.Time { return fixedNow }, Observe: o.observer()})
			req := Request{UserID: "u", Connection: "google-oauth2", IdentityID: "google-oauth2|1", Provider: "google-oauth2",
				Grant: Grant{AccessToken: secret.New("at-old"), RefreshToken: secret.New("rt-old")}, Refresher: r}
			_ = b.Do(context.Background(), req, func(_ context.Context, tok secret.String) error {
				if tok.Reveal() == "at-new" {
					return nil
				}
				return &providers.Error{Kind: providers.ReauthRequired}
			})
			if len(o.refresh) != 1 || o.refresh[0] != tt.want {
				t.Errorf("observed refreshes = %v; want [%s]", o.refresh, tt.want)
			}
			if seen != "span of google-oauth2" {
				t.Errorf("exchange context value = %v; want the hook's context", seen)
			}
			if len(o.waits) != 0 {
				t.Errorf("join waits = %v; want none for a lone caller", o.waits)
			}
		})
	}
}

// TestObserveJoinWait: callers that join another's refresh report how
// long they waited; the one that ran the exchange does not.
func TestObserveJoinWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var o observed
		release := make(chan struct{})
		r := refresherFunc(func(ctx context.Context, rt secret.String) (providers.Token, error) {
			<-release
			return tok("at-new", "", time.Hour), nil
		})
		b := New(Config{Now: time.Now, Observe: o.observer()})
		req := Request{UserID: "u", Connection: "gitlab", IdentityID: "oauth2|1", Provider: "gitlab",
			Grant: Grant{AccessToken: secret.New("at-old"), RefreshToken: secret.New("rt-old")}, Refresher: r}
		call := func(_ context.Context, tok secret.String) error {
			if tok.Reveal() == "at-new" {
				return nil
			}
			return &providers.Error{Kind: providers.ReauthRequired}
		}
		const n = 3
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { _ = b.Do(context.Background(), req, call) })
		}
		synctest.Wait() // all three wait on the one exchange
		time.Sleep(2 * time.Second)
		close(release)
		wg.Wait()
		if len(o.refresh) != 1 {
			t.Errorf("observed refreshes = %v; want one exchange", o.refresh)
		}
		if len(o.waits) != n-1 {
			t.Fatalf("join waits = %v; want %d (every caller but the one that exchanged)", o.waits, n-1)
		}
		for _, d := range o.waits {
			if d != 2*time.Second {
				t.Errorf("join wait = %v; want 2s", d)
			}
		}
	})
}
