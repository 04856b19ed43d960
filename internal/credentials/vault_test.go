package credentials

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
)

// exchangerFunc is an Exchanger made of a function.
type exchangerFunc func(ctx context.Context, subject secret.String, connection, loginHint string) (providers.Token, error)

func (f exchangerFunc) Exchange(ctx context.Context, subject secret.String, connection, loginHint string) (providers.Token, error) {
	return f(ctx, subject, connection, loginHint)
}

func TestBrokerVault(t *testing.T) {
	t.Parallel()
	const user, conn = "auth0|hedy", "google-oauth2"
	notConnected := &providers.Error{Kind: providers.ReauthRequired, ConnectAccount: true, Message: "not connected"}
	tests := []struct {
		name         string
		source       TokenSource
		noExchanger  bool
		grant        string          // identities[] access token
		kept         *Pair           // in the store under VaultKey before the call
		exchanges    []string        // what successive exchanges return ("" = notConnected)
		accepted     map[string]bool // tokens the provider accepts
		wantSent     []string
		wantExchange int
		wantKind     providers.Kind // when wantErr
		wantErr      bool
		wantConnect  bool
		wantKept     string
	}{
		{name: "auto, identities token: no exchange", grant: "at-identities", accepted: map[string]bool{"at-identities": true},
			wantSent: []string{"at-identities"}},
		{name: "auto, no identities token: exchange", exchanges: []string{"at-vault"}, accepted: map[string]bool{"at-vault": true},
			wantSent: []string{"at-vault"}, wantExchange: 1, wantKept: "at-vault"},
		{name: "auto, no token, no vault: reauth without exchange", noExchanger: true,
			wantErr: true, wantKind: providers.ReauthRequired},
		{name: "identities, no token: never exchanges", source: SourceIdentities, exchanges: []string{"at-vault"},
			wantErr: true, wantKind: providers.ReauthRequired},
		{name: "vault ignores the identities token", source: SourceVault, grant: "at-identities", exchanges: []string{"at-vault"},
			accepted: map[string]bool{"at-vault": true, "at-identities": true}, wantSent: []string{"at-vault"}, wantExchange: 1, wantKept: "at-vault"},
		{name: "vault without exchanger: unavailable", source: SourceVault, noExchanger: true, wantErr: true, wantKind: providers.Unavailable},
		{name: "kept token valid: no exchange", kept: &Pair{AccessToken: secret.New("at-kept"), Expiry: fixedNow.Add(time.Hour)},
			accepted: map[string]bool{"at-kept": true}, wantSent: []string{"at-kept"}, wantKept: "at-kept"},
		{name: "kept token near expiry: exchanged before use", kept: &Pair{AccessToken: secret.New("at-kept"), Expiry: fixedNow.Add(10 * time.Second)},
			exchanges: []string{"at-new"}, accepted: map[string]bool{"at-kept": true, "at-new": true}, wantSent: []string{"at-new"}, wantExchange: 1, wantKept: "at-new"},
		{name: "provider rejects the kept token: one fresh exchange", kept: &Pair{AccessToken: secret.New("at-kept"), Expiry: fixedNow.Add(time.Hour)},
			exchanges: []string{"at-new"}, accepted: map[string]bool{"at-new": true}, wantSent: []string{"at-kept", "at-new"}, wantExchange: 1, wantKept: "at-new"},
		{name: "provider rejects the fresh token too: connect again", exchanges: []string{"at-1", "at-2"},
			wantSent: []string{"at-1", "at-2"}, wantExchange: 2, wantErr: true, wantKind: providers.ReauthRequired, wantConnect: true, wantKept: "at-2"},
		{name: "not connected: connectAccount, no call", exchanges: []string{""},
			wantExchange: 1, wantErr: true, wantKind: providers.ReauthRequired, wantConnect: true},
		{name: "not connected any more: kept token dropped", kept: &Pair{AccessToken: secret.New("at-kept"), Expiry: fixedNow.Add(time.Hour)},
			exchanges: []string{""}, wantSent: []string{"at-kept"}, wantExchange: 1, wantErr: true, wantKind: providers.ReauthRequired, wantConnect: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := NewMemoryStore(10)
			key := VaultKey(user, conn)
			if tt.kept != nil {
				_, _ = store.CompareAndSwap(context.Background(), key, Pair{}, false, *tt.kept)
			}
			var mu sync.Mutex
			var sent []string
			n := 0
			v := Vault{Sources: map[string]TokenSource{}}
			if tt.source != SourceAuto {
				v.Sources[providers.ConnectionKey(conn)] = tt.source
			}
			if !tt.noExchanger {
				v.Exchanger = exchangerFunc(func(_ context.Context, subject secret.String, connection, _ string) (providers.Token, error) {
					mu.Lock()
					defer mu.Unlock()
					if subject.Reveal() != "bearer-hedy" || connection != conn {
						return providers.Token{}, fmt.Errorf("Exchange(subject is the caller's token: %v, %q); want the caller's token and %s", subject.Reveal() == "bearer-hedy", connection, conn)
					}
					if n >= len(tt.exchanges) {
						return providers.Token{}, fmt.Errorf("exchange %d not expected", n+1)
					}
					at := tt.exchanges[n]
					n++
					if at == "" {
						return providers.Token{}, notConnected
					}
					return providers.Token{AccessToken: secret.New(at), Expiry: fixedNow.Add(time.Hour)}, nil
				})
			}
			refresher := refresherFunc(func(context.Context, secret.String) (providers.Token, error) {
				t.Error("a vault identity was refreshed at the provider")
				return providers.Token{}, &providers.Error{Kind: providers.ReauthRequired}
			})
			b := New(Config{Store: store, Vault: v, Now: func() time.Time { return fixedNow }})
			req := Request{UserID: user, Connection: conn, IdentityID: "google-oauth2|1", Provider: "google-oauth2",
				Grant: Grant{AccessToken: secret.New(tt.grant)}, Subject: secret.New("bearer-hedy")}
			if tt.source == SourceVault || tt.grant == "" {
				req.Refresher = refresher
			}
			err := b.Do(context.Background(), req, func(_ context.Context, tok secret.String) error {
				sent = append(sent, tok.Reveal())
				if tt.accepted[tok.Reveal()] {
					return nil
				}
				return &providers.Error{Kind: providers.ReauthRequired, Message: "rejected"}
			})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Do() = %v; want error %v", err, tt.wantErr)
			}
			var pe *providers.Error
			if tt.wantErr {
				k, _ := providers.KindOf(err)
				if k != tt.wantKind {
					t.Errorf("Do() kind = %v; want %v", k, tt.wantKind)
				}
				if !errors.As(err, &pe) || pe.ConnectAccount != tt.wantConnect || pe.Provider != "google-oauth2" {
					t.Errorf("Do() = %#v; want ConnectAccount %v, provider google-oauth2", pe, tt.wantConnect)
				}
			}
			if fmt.Sprint(sent) != fmt.Sprint(tt.wantSent) {
				t.Errorf("tokens sent = %v; want %v", sent, tt.wantSent)
			}
			if n != tt.wantExchange {
				t.Errorf("exchanges = %d; want %d", n, tt.wantExchange)
			}
			p, ok, _ := store.Get(context.Background(), key)
			if got := p.AccessToken.Reveal(); (tt.wantKept == "") == ok || got != tt.wantKept {
				t.Errorf("kept vault token = %q (%v); want %q", got, ok, tt.wantKept)
			}
		})
	}
}

// TestBrokerVaultConcurrentShareOneExchange: 30 requests of one user at
// once, nothing kept: one exchange, and every request gets its token.
func TestBrokerVaultConcurrentShareOneExchange(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var exchanges atomic.Int32
		release := make(chan struct{})
		b := New(Config{Vault: Vault{Exchanger: exchangerFunc(func(context.Context, secret.String, string, string) (providers.Token, error) {
			exchanges.Add(1)
			<-release
			return providers.Token{AccessToken: secret.New("at-vault"), Expiry: time.Now().Add(time.Hour)}, nil
		})}})
		req := Request{UserID: "u", Connection: "google-oauth2", IdentityID: "google-oauth2|1", Provider: "google-oauth2", Subject: secret.New("bearer")}
		errs := make([]error, 30)
		var wg sync.WaitGroup
		for i := range errs {
			wg.Go(func() {
				errs[i] = b.Do(context.Background(), req, func(_ context.Context, tok secret.String) error {
					if tok.Reveal() != "at-vault" {
						return &providers.Error{Kind: providers.ReauthRequired}
					}
					return nil
				})
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("request %d: Do() = %v; want nil", i, err)
			}
		}
		if got := exchanges.Load(); got != 1 {
			t.Errorf("exchanges = %d; want 1", got)
		}
	})
}
