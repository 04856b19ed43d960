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
	"github.com/idpgate/idpgate/internal/sandbox/fakemsgraph"
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
	faults  faultInjector // InjectFaults
	servers []*http.Server
	mu      sync.Mutex
	tokens  map[string]string // "<user>/<provider>" -> seeded access token; guarded by mu
	// devNotes say what DevEnv set, kept and replaced, for PrintBanner.
	devNotes []string
}

// AccessToken returns the IdP access token seeded for a user's identity at
// provider, for tests that revoke or expire it.
func (s *Sandbox) AccessToken(userID, provider string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokens[userID+"/"+provider]
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
		GitLab:    &fakegitlab.Server{},
		Bitbucket: &fakebitbucket.Server{ClientID: "sandbox-bitbucket-client", ClientSecret: SecretMarker + "-bitbucket-client-" + randomHex(8)},
		MSGraph:   &fakemsgraph.Server{ClientID: "sandbox-microsoft-client", ClientSecret: SecretMarker + "-microsoft-client-" + randomHex(8)},
	}
	s.Google.Latency = opts.GoogleLatency
	s.tokens = map[string]string{}
	s.Tenant.ClientSecret = SecretMarker + "-m2m-" + randomHex(8)
	s.latency.Store(int64(opts.Latency))

	var err error
	serve := func(h http.Handler) string {
		if err != nil {
			return ""
		}
		var u string
		u, err = s.serve(h, opts.Logger)
		return u
	}
	s.Auth0URL = serve(s.Tenant)
	s.GitHubURL = serve(s.GitHub)
	s.GoogleURL = serve(s.Google)
	s.GitLabURL = serve(s.GitLab)
	s.BitbucketURL = serve(s.Bitbucket)
	s.MSGraphURL = serve(s.MSGraph)
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
	s.Env = map[string]string{
		"AUTH0_DOMAIN":            s.Auth0URL,
		"AUTH0_ISSUER":            s.Tenant.Issuer(),
		"AUTH0_AUDIENCE":          s.Tenant.APIAudience(),
		"AUTH0_CLIENT_ID":         clientID,
		"AUTH0_CLIENT_SECRET":     clientSecret,
		"AUTH0_MGMT_RPS":          "100",
		"AUTH0_MGMT_BURST":        "100",
		"GITHUB_API_URL":          s.GitHubURL + "/",
		"GOOGLE_API_URL":          s.GoogleURL + "/",
		"GOOGLE_TOKEN_URL":        s.GoogleURL + "/token",
		"GOOGLE_CLIENT_ID":        s.Google.ClientID,
		"GOOGLE_CLIENT_SECRET":    s.Google.ClientSecret,
		"GITLAB_API_URL":          s.GitLabURL + "/",
		"BITBUCKET_API_URL":       s.BitbucketURL + "/",
		"BITBUCKET_TOKEN_URL":     s.BitbucketURL + "/site/oauth2/access_token",
		"BITBUCKET_CLIENT_ID":     s.Bitbucket.ClientID,
		"BITBUCKET_CLIENT_SECRET": s.Bitbucket.ClientSecret,
		"MSGRAPH_API_URL":         s.MSGraphURL + "/",
		"MICROSOFT_TOKEN_URL":     s.MSGraphURL + "/common/oauth2/v2.0/token",
		"MICROSOFT_CLIENT_ID":     s.MSGraph.ClientID,
		"MICROSOFT_CLIENT_SECRET": s.MSGraph.ClientSecret,
		// The emulators are cheap; generous per-user limits keep the load
		// run about the gateway, not its throttle.
		"USER_RPS":   "1000",
		"USER_BURST": "1000",
	}
	return s, nil
}

// Token mints a bearer token for userID, valid for 24 hours, as the Auth0
// tenant would issue it for the gateway's API.
func (s *Sandbox) Token(userID string) string {
	now := time.Now()
	return s.Tenant.Mint(fakeauth0.TokenSpec{Subject: userID, IssuedAt: now, NotBefore: now, ExpiresAt: now.Add(24 * time.Hour), Scope: "openid profile email"})
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

func (s *Sandbox) serve(h http.Handler, logger *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("sandbox: listen on 127.0.0.1: %w", err)
	}
	srv := &http.Server{
		Handler:           s.delay(h),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
	s.servers = append(s.servers, srv)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Warn("sandbox: emulator stopped", "err", err)
		}
	}()
	return "http://" + ln.Addr().String(), nil
}

// delay adds the sandbox latency before h answers (not for the tenant's
// key and discovery documents, which the gateway reads once).
func (s *Sandbox) delay(h http.Handler) http.Handler {
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
		if s.faults.inject(w, r, h) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("sandbox: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
