package gitlab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/oauthrefresh"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// Provider is Auth0's identities[].provider value for GitLab.
const Provider = "gitlab"

const (
	// DefaultBaseURL is gitlab.com. A self-hosted instance sets its own
	// root URL (https://gitlab.example.com/ or …/gitlab/); API requests go
	// to api/v4/ under it.
	DefaultBaseURL = "https://gitlab.com/"
	// MaxPageSize is GitLab's largest per_page.
	MaxPageSize = 100
)

// Config configures a Client.
type Config struct {
	// BaseURL is the instance's root URL; empty means DefaultBaseURL. A URL
	// that already ends in /api/v4/ is accepted too.
	BaseURL string
	// TokenURL is the instance's OAuth token endpoint; empty means
	// TokenURL(BaseURL), {instance}/oauth/token.
	TokenURL string
	// ClientID and ClientSecret are the GitLab OAuth application of the
	// Auth0 connection, needed only to refresh tokens. Without them
	// Refresh answers ReauthRequired.
	ClientID     string
	ClientSecret secret.String
	// Setting and Logger: see oauthrefresh.Client (the message naming the
	// settings of a rejected client, logged once per period).
	Setting string
	Logger  *slog.Logger
	// Now is the clock for rate-limit resets and token expiry; nil means
	// time.Now.
	Now func() time.Time
}

// Client talks to one GitLab instance. It is immutable and safe for
// concurrent use.
type Client struct {
	api     upstream.Client
	refresh oauthrefresh.Client
}

var (
	_ providers.RepoLister = (*Client)(nil)
	_ providers.Refresher  = (*Client)(nil)
)

// New returns a Client for cfg. hc carries the timeouts; nil means a client
// with a 30-second timeout.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := upstream.ParseBase(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	if strings.HasSuffix(base.Path, "/api/v4/") {
		base.Path = strings.TrimSuffix(base.Path, "api/v4/")
		base.RawPath = ""
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = TokenURL(base.String())
	}
	if err := oauthrefresh.CheckTokenURL(cfg.TokenURL); err != nil {
		return nil, fmt.Errorf("gitlab: %w", err)
	}
	if (cfg.ClientID == "") != cfg.ClientSecret.IsZero() {
		return nil, errors.New("gitlab: client ID and client secret must be set together")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		api: upstream.Client{HTTP: hc, Base: base, Provider: Provider, Classify: classify, Now: now},
		refresh: oauthrefresh.Client{
			HTTP: hc, TokenURL: cfg.TokenURL, Provider: Provider, Name: "GitLab",
			// GitLab's OAuth guide sends client_id and client_secret in the
			// form (https://docs.gitlab.com/api/oauth2/#authorization-code-flow).
			// Its refresh example also carries redirect_uri, which x/oauth2's
			// refresh grant does not send; GitLab's token endpoint
			// (Doorkeeper) checks the client and the refresh token only.
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
			Setting: cfg.Setting, Logger: cfg.Logger, Now: now,
		},
	}, nil
}

// Refresh exchanges a GitLab refresh token at {instance}/oauth/token
// (https://docs.gitlab.com/api/oauth2/#authorization-code-flow). GitLab
// access tokens live two hours, and a refresh ROTATES: it invalidates the
// old access and refresh tokens and returns new ones (Token.RefreshToken),
// so two refreshes of one token race and one loses — the credentials
// broker runs one per identity at a time.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.String) (providers.Token, error) {
	return c.refresh.Refresh(ctx, refreshToken)
}

// pageToken is a GitLab page number: a positive decimal without leading
// zeros, at most 9 digits.
var pageToken = regexp.MustCompile(`^[1-9][0-9]{0,8}$`)

type project struct {
	ID                *int64    `json:"id"` // an integer: missing, null, a fraction or a string is a malformed answer
	Name              string    `json:"name"`
	PathWithNamespace string    `json:"path_with_namespace"`
	WebURL            string    `json:"web_url"`
	Visibility        string    `json:"visibility"`
	Description       *string   `json:"description"`
	StarCount         int       `json:"star_count"`
	LastActivityAt    time.Time `json:"last_activity_at"`
}

// ListRepos lists the projects the token owner is a member of, most
// recently active first (https://docs.gitlab.com/api/projects/#list-all-projects).
// page.Size must be 1..MaxPageSize and page.Token "" or a Page.Next of this
// adapter; anything else is BadInput and sends no request.
//
// Private is false only for "public" projects: "internal" ones are visible
// to every signed-in user of the instance but not to the world, so they
// count as private, and an unknown or missing visibility does too.
func (c *Client) ListRepos(ctx context.Context, token secret.String, page providers.PageRequest) (providers.Page[providers.Repository], error) {
	var out providers.Page[providers.Repository]
	if page.Size < 1 || page.Size > MaxPageSize {
		return out, badInput(fmt.Sprintf("page size must be between 1 and %d", MaxPageSize))
	}
	if page.Token != "" && !pageToken.MatchString(page.Token) {
		return out, badInput("invalid page token")
	}
	q := url.Values{
		"membership": {"true"},
		"per_page":   {strconv.Itoa(page.Size)},
		"order_by":   {"last_activity_at"},
		"sort":       {"desc"},
		"simple":     {"false"},
	}
	if page.Token != "" {
		q.Set("page", page.Token)
	}
	projects := make([]project, 0, upstream.Room(page.Size))
	header, err := c.api.Get(ctx, token, "api/v4/projects", q, &projects)
	if err != nil {
		return out, err
	}
	out.Items = make([]providers.Repository, 0, len(projects))
	for _, p := range projects {
		if p.ID == nil {
			return providers.Page[providers.Repository]{}, malformed(errors.New("gitlab: project without an id"))
		}
		r := providers.Repository{
			ID:        strconv.FormatInt(*p.ID, 10),
			Name:      p.Name,
			FullName:  p.PathWithNamespace,
			URL:       p.WebURL,
			Private:   p.Visibility != "public",
			Stars:     p.StarCount,
			UpdatedAt: p.LastActivityAt,
		}
		if p.Description != nil {
			r.Description = *p.Description
		}
		out.Items = append(out.Items, r)
	}
	if next := strings.TrimSpace(header.Get("X-Next-Page")); next != "" {
		if !pageToken.MatchString(next) {
			return providers.Page[providers.Repository]{}, malformed(errors.New("gitlab: X-Next-Page is not a page number"))
		}
		out.Next = next
	}
	return out, nil
}

// errorBody covers GitLab's two error shapes: {"message": …} and OAuth's
// {"error": …, "error_description": …}.
type errorBody struct {
	Error string `json:"error"`
}

func classify(resp *http.Response, body []byte, now time.Time) *providers.Error {
	status := fmt.Errorf("gitlab: status %d", resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return &providers.Error{Kind: providers.ReauthRequired, Message: "GitLab rejected the access token", Err: status}
	case http.StatusForbidden:
		var eb errorBody
		upstream.Sniff(body, &eb)
		if eb.Error == "insufficient_scope" || strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope") {
			return &providers.Error{Kind: providers.Forbidden, Message: "the GitLab token lacks the read_api scope; the user must sign in with GitLab again and consent to it", Err: status}
		}
		return &providers.Error{Kind: providers.Forbidden, Message: "GitLab denied access", Err: status}
	case http.StatusTooManyRequests:
		return &providers.Error{Kind: providers.RateLimited, Message: "rate limited by GitLab", RetryAfter: upstream.RetryAfter(resp.Header, now), Err: status}
	case http.StatusNotFound:
		// /api/v4/projects exists on every instance: a 404 means the
		// configured URL does not point at GitLab.
		return &providers.Error{Kind: providers.Unavailable, Message: "the GitLab API was not found at the configured URL", Err: status}
	}
	return nil
}

func badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: Provider, Message: msg}
}

func malformed(err error) *providers.Error {
	return &providers.Error{Kind: providers.Unavailable, Provider: Provider, Message: "malformed response from the provider", Err: err}
}
