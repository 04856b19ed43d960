package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/idpgate/idpgate/internal/sandbox/fakeauth0"
	"github.com/idpgate/idpgate/internal/sandbox/fakebitbucket"
	"github.com/idpgate/idpgate/internal/sandbox/fakegithub"
	"github.com/idpgate/idpgate/internal/sandbox/fakegitlab"
	"github.com/idpgate/idpgate/internal/sandbox/fakegoogle"
	"github.com/idpgate/idpgate/internal/sandbox/fakeknobs"
	"github.com/idpgate/idpgate/internal/sandbox/fakemsgraph"
	"github.com/idpgate/idpgate/providers/all"
)

// SecretMarker is part of every seeded IdP token, refresh token and client
// secret, so a test can prove none of them reaches a response or a log.
const SecretMarker = "idpgate-sandbox-secret"

// Options configure Start.
type Options struct {
	// Latency is added to every emulator response (SetLatency changes it).
	Latency time.Duration
	// LoadUsers seeds that many extra users (auth0|load-00000, …) with a
	// GitHub and a Google identity each, for load runs.
	LoadUsers int
	// ProfileOnlyUsers seeds that many more load users that exist only in
	// the Auth0 tenant (their identities' tokens reach no provider data):
	// enough to fill the gateway's profile cache without the emulators
	// holding repositories and events for them.
	ProfileOnlyUsers int
	// Now anchors the seeded calendar events; default time.Now. Tests pass
	// a fixed time so responses are reproducible.
	Now func() time.Time
	// Logger receives the emulators' server errors; default discards.
	Logger *slog.Logger
	// GoogleLatency delays every answer of the Google emulator (on top of
	// Latency): a slow provider, to watch @defer deliver it last.
	GoogleLatency time.Duration
}

// Sandbox is a running set of emulators. Close stops them.
type Sandbox struct {
	Tenant    *fakeauth0.Tenant
	GitHub    *fakegithub.Server
	Google    *fakegoogle.Server
	GitLab    *fakegitlab.Server
	Bitbucket *fakebitbucket.Server
	MSGraph   *fakemsgraph.Server

	// URLs of the emulators (no trailing slash).
	Auth0URL, GitHubURL, GoogleURL, GitLabURL, BitbucketURL, MSGraphURL string

	// Env is the gateway configuration pointing at the emulators.
	Env map[string]string
	// DemoUser has every provider linked; Users lists all demo users.
	DemoUser string
	Users    []DemoUser
	// LoadUsers are the ids of the Options.LoadUsers users.
	LoadUsers []string

	latency atomic.Int64
	faults  faultInjector                    // InjectFaults
	agents  map[string]*fakeknobs.UserAgents // by emulator URL
	servers []*http.Server
	mu      sync.Mutex
	tokens  map[string]string // "<user>/<connection>" -> seeded access token; guarded by mu
	// devNotes say what DevEnv set, kept and replaced, for PrintBanner.
	devNotes []string
}

// AccessToken returns the IdP access token seeded for a user's identity of
// an Auth0 connection ("gitlab" for GitLab, whose provider is "oauth2"),
// for tests that revoke or expire it.
func (s *Sandbox) AccessToken(userID, connection string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[userID+"/"+connection]
}

// VaultClientID is the sandbox tenant's Token Vault Custom API Client.
const VaultClientID = "sandbox-token-vault"

// ExpireVaultToken ends the life of the access token Token Vault holds for
// a user's connection, at the vault and at the provider: the provider
// answers 401 to it, and the next exchange gets a new one.
func (s *Sandbox) ExpireVaultToken(userID, connection string) {
	old := s.Tenant.ExpireVaultToken(userID, connection)
	if old != "" && connection == "google-oauth2" {
		s.Google.ExpireAccessToken(old)
	}
}

// Start seeds the emulators and serves each on a free 127.0.0.1 port.
func Start(opts Options) (*Sandbox, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Sandbox{
		Tenant:    &fakeauth0.Tenant{},
		GitHub:    &fakegithub.Server{},
		Google:    &fakegoogle.Server{ClientID: "sandbox-google-client", ClientSecret: SecretMarker + "-google-client-" + randomHex(8)},
		GitLab:    &fakegitlab.Server{ClientID: "sandbox-gitlab-client", ClientSecret: SecretMarker + "-gitlab-client-" + randomHex(8)},
		Bitbucket: &fakebitbucket.Server{ClientID: "sandbox-bitbucket-client", ClientSecret: SecretMarker + "-bitbucket-client-" + randomHex(8)},
		MSGraph:   &fakemsgraph.Server{ClientID: "sandbox-microsoft-client", ClientSecret: SecretMarker + "-microsoft-client-" + randomHex(8)},
	}
	s.Google.Latency = opts.GoogleLatency
	s.tokens = map[string]string{}
	s.agents = map[string]*fakeknobs.UserAgents{}
	s.Tenant.ClientSecret = SecretMarker + "-m2m-" + randomHex(8)
	vaultSecret := SecretMarker + "-token-vault-" + randomHex(8)
	s.Tenant.SetTokenVaultClient(VaultClientID, vaultSecret, "")
	s.latency.Store(int64(opts.Latency))

	var err error
	serve := func(h http.Handler, shape faultShape) string {
		if err != nil {
			return ""
		}
		var u string
		u, err = s.serve(h, shape, opts.Logger)
		return u
	}
	s.Auth0URL = serve(s.Tenant, tenantFault)
	env := map[string]string{}
	emulators := s.emulators()
	for _, spec := range all.Specs() {
		em, ok := emulators[spec.Adapter]
		if !ok {
			err = fmt.Errorf("sandbox: no emulator for adapter %q", spec.Adapter)
			break
		}
		*em.url = serve(em.handler, em.fault)
		env[spec.APIEnv+"_API_URL"] = *em.url + "/"
		if spec.Refreshes() && em.tokenPath != "" {
			env[spec.ClientEnv+"_TOKEN_URL"] = *em.url + em.tokenPath
			env[spec.ClientEnv+"_CLIENT_ID"], env[spec.ClientEnv+"_CLIENT_SECRET"] = em.clientID, em.clientSecret
		}
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	s.Tenant.SetBaseURL(s.Auth0URL)
	s.Tenant.OnLogin(s.signedInAgain)
	s.registerSPA(defaultSPAOrigins)

	s.seed(opts.Now())
	for i := 0; i < opts.LoadUsers+opts.ProfileOnlyUsers; i++ {
		s.LoadUsers = append(s.LoadUsers, s.seedLoadUser(i, opts.Now(), i < opts.LoadUsers))
	}

	clientID, clientSecret := s.Tenant.Credentials()
	for k, v := range map[string]string{
		"AUTH0_DOMAIN":        s.Auth0URL,
		"AUTH0_ISSUER":        s.Tenant.Issuer(),
		"AUTH0_AUDIENCE":      s.Tenant.APIAudience(),
		"AUTH0_CLIENT_ID":     clientID,
		"AUTH0_CLIENT_SECRET": clientSecret,
		// The Custom API Client of the gateway's API, Token Vault grant on.
		"AUTH0_TOKEN_VAULT_CLIENT_ID":     VaultClientID,
		"AUTH0_TOKEN_VAULT_CLIENT_SECRET": vaultSecret,
		"AUTH0_MGMT_RPS":                  "100",
		"AUTH0_MGMT_BURST":                "100",
		// The emulators are cheap; generous per-user limits keep the load
		// run about the gateway, not its throttle.
		"USER_RPS":   "1000",
		"USER_BURST": "1000",
	} {
		env[k] = v
	}
	s.Env = env
	return s, nil
}

// Token mints a bearer token for userID, valid for 24 hours, as the Auth0
// tenant would issue it for the gateway's API.
func (s *Sandbox) Token(userID string) string {
	now := time.Now()
	return s.Tenant.Mint(fakeauth0.TokenSpec{Subject: userID, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(24 * time.Hour), Scope: "openid profile email"})
}

// UserAgents returns, for the emulator served at baseURL (one of the
// *URL fields), how many requests carried each User-Agent value.
func (s *Sandbox) UserAgents(baseURL string) map[string]int {
	if a := s.agents[baseURL]; a != nil {
		return a.Seen()
	}
	return nil
}

// SetLatency changes the latency every emulator adds to its responses.
func (s *Sandbox) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Close stops every emulator and releases requests they hold.
func (s *Sandbox) Close() {
	for _, srv := range s.servers {
		srv.Close()
	}
	s.GitHub.Close()
	s.Google.Close()
	s.GitLab.Close()
	s.Bitbucket.Close()
	s.MSGraph.Close()
}

func (s *Sandbox) serve(h http.Handler, shape faultShape, logger *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sandbox: listen on 127.0.0.1: %w", err)
	}
	agents, delayed := &fakeknobs.UserAgents{}, s.delay(h, shape)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			agents.Record(r) // every emulator records who called it
			delayed.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("sandbox: emulator stopped", "err", err)
		}
	}()
	u := "http://" + ln.Addr().String()
	s.agents[u] = agents
	return u, nil
}

// delay adds the sandbox latency before h answers (not for the tenant's
// key and discovery documents, which the gateway reads once).
func (s *Sandbox) delay(h http.Handler, shape faultShape) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d := time.Duration(s.latency.Load()); d > 0 && r.URL.Path != "/.well-known/jwks.json" && r.URL.Path != "/.well-known/openid-configuration" {
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		if s.faults.inject(w, r, h, shape) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// emulator is a provider emulator as the sandbox wires it: its handler,
// where its URL goes, how InjectFaults shapes its errors, and its OAuth
// token endpoint (path, accepted client; empty when it has none).
type emulator struct {
	handler                http.Handler
	url                    *string
	fault                  faultShape
	tokenPath              string
	clientID, clientSecret string
}

// emulators maps each adapter name (providers.Spec.Adapter) to the
// emulator that serves it; Start wires one per spec of providers/all, so a
// new adapter without an emulator fails Start.
func (s *Sandbox) emulators() map[string]emulator {
	return map[string]emulator{
		"github": {handler: s.GitHub, url: &s.GitHubURL, fault: githubFault},
		"gitlab": {handler: s.GitLab, url: &s.GitLabURL, fault: gitlabFault, tokenPath: "/oauth/token",
			clientID: s.GitLab.ClientID, clientSecret: s.GitLab.ClientSecret},
		"bitbucket": {handler: s.Bitbucket, url: &s.BitbucketURL, fault: bitbucketFault, tokenPath: "/site/oauth2/access_token",
			clientID: s.Bitbucket.ClientID, clientSecret: s.Bitbucket.ClientSecret},
		"google": {handler: s.Google, url: &s.GoogleURL, fault: googleFault, tokenPath: "/token",
			clientID: s.Google.ClientID, clientSecret: s.Google.ClientSecret},
		"msgraph": {handler: s.MSGraph, url: &s.MSGraphURL, fault: msgraphFault, tokenPath: "/common/oauth2/v2.0/token",
			clientID: s.MSGraph.ClientID, clientSecret: s.MSGraph.ClientSecret},
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("sandbox: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
