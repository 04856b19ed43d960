package bitbucket

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/oauthrefresh"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// Provider is Auth0's identities[].provider value for Bitbucket.
const Provider = "bitbucket"

const (
	// DefaultBaseURL is Bitbucket Cloud's API.
	DefaultBaseURL = "https://api.bitbucket.org/"
	// DefaultTokenURL is Bitbucket Cloud's OAuth 2.0 token endpoint.
	DefaultTokenURL = "https://bitbucket.org/site/oauth2/access_token"
	// MaxPageSize is the largest pagelen Bitbucket accepts.
	MaxPageSize = 100
)

// Config configures a Client. Empty URLs take the defaults.
type Config struct {
	BaseURL  string
	TokenURL string
	// ClientID and ClientSecret are the Bitbucket OAuth consumer of the
	// Auth0 connection. Without ClientID, Refresh answers ReauthRequired.
	ClientID     string
	ClientSecret secret.String
	// Setting names the configuration of the OAuth client in the message
	// an operator sees when the provider rejects it; Logger receives that
	// message once per period (nil discards it).
	Setting string
	Logger  *slog.Logger
	// Now is the clock for Retry-After and token expiry; nil means time.Now.
	Now func() time.Time
}

// Client talks to Bitbucket Cloud. It is immutable and safe for concurrent
// use.
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
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	base, err := upstream.ParseBase(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("bitbucket: %w", err)
	}
	if err := oauthrefresh.CheckTokenURL(cfg.TokenURL); err != nil {
		return nil, fmt.Errorf("bitbucket: %w", err)
	}
	if (cfg.ClientID == "") != cfg.ClientSecret.IsZero() {
		return nil, errors.New("bitbucket: client ID and client secret must be set together")
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
			HTTP: hc, TokenURL: cfg.TokenURL, Provider: Provider, Name: "Bitbucket",
			// Bitbucket's OAuth 2.0 guide sends the consumer key and secret
			// with HTTP Basic (curl -u "client_id:secret")
			// (https://developer.atlassian.com/cloud/bitbucket/oauth-2/).
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, BasicAuth: true,
			Setting: cfg.Setting, Logger: cfg.Logger,
			// Bitbucket has answered an unusable refresh token with
			// invalid_request ("Invalid refresh_token") as well as
			// invalid_grant.
			ReauthCodes: []string{"invalid_request"},
			Now:         now,
		},
	}, nil
}

// pageToken is a Bitbucket page number: a positive decimal without leading
// zeros, at most 9 digits.
var pageToken = regexp.MustCompile(`^[1-9][0-9]{0,8}$`)

type repoList struct {
	Next   string `json:"next"`
	Values []struct {
		UUID        string    `json:"uuid"`
		Name        string    `json:"name"`
		FullName    string    `json:"full_name"`
		IsPrivate   bool      `json:"is_private"`
		Description string    `json:"description"`
		UpdatedOn   time.Time `json:"updated_on"`
		Links       struct {
			HTML struct {
				Href string `json:"href"`
			} `json:"html"`
		} `json:"links"`
	} `json:"values"`
}

// ListRepos lists the repositories the token owner is a member of, most
// recently updated first
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-get).
// page.Size must be 1..MaxPageSize and page.Token "" or a Page.Next of this
// adapter; anything else is BadInput and sends no request.
func (c *Client) ListRepos(ctx context.Context, token secret.String, page providers.PageRequest) (providers.Page[providers.Repository], error) {
	var out providers.Page[providers.Repository]
	if page.Size < 1 || page.Size > MaxPageSize {
		return out, badInput(fmt.Sprintf("page size must be between 1 and %d", MaxPageSize))
	}
	if page.Token != "" && !pageToken.MatchString(page.Token) {
		return out, badInput("invalid page token")
	}
	q := url.Values{
		"role":    {"member"},
		"pagelen": {strconv.Itoa(page.Size)},
		"sort":    {"-updated_on"},
	}
	if page.Token != "" {
		q.Set("page", page.Token)
	}
	resp, err := c.api.Get(ctx, token, "2.0/repositories", q)
	if err != nil {
		return out, err
	}
	var body repoList
	if err := upstream.Decode(Provider, resp.Body, &body); err != nil {
		return out, err
	}
	out.Items = make([]providers.Repository, 0, len(body.Values))
	for _, v := range body.Values {
		out.Items = append(out.Items, providers.Repository{
			ID:          v.UUID,
			Name:        v.Name,
			FullName:    v.FullName,
			URL:         v.Links.HTML.Href,
			Private:     v.IsPrivate,
			Description: v.Description,
			UpdatedAt:   v.UpdatedOn,
		})
	}
	if body.Next != "" {
		next, err := nextPage(body.Next)
		if err != nil {
			return providers.Page[providers.Repository]{}, &providers.Error{Kind: providers.Unavailable, Provider: Provider, Message: "malformed response from the provider", Err: err}
		}
		out.Next = next
	}
	return out, nil
}

// nextPage extracts the page number of Bitbucket's next link.
func nextPage(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("bitbucket: unparsable next link")
	}
	p := u.Query().Get("page")
	if !pageToken.MatchString(p) {
		return "", errors.New("bitbucket: next link without a page number")
	}
	return p, nil
}

// Refresh exchanges a Bitbucket refresh token
// (https://developer.atlassian.com/cloud/bitbucket/oauth-2/). Bitbucket may
// rotate the refresh token; the new one is in Token.RefreshToken.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.String) (providers.Token, error) {
	return c.refresh.Refresh(ctx, refreshToken)
}

// errorBody is Bitbucket's error shape:
// {"type":"error","error":{"message":…,"detail":{"required":[…]}}}.
type errorBody struct {
	Error struct {
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	} `json:"error"`
}

func classify(resp *http.Response, body []byte, now time.Time) *providers.Error {
	status := fmt.Errorf("bitbucket: status %d", resp.StatusCode)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return &providers.Error{Kind: providers.ReauthRequired, Message: "Bitbucket rejected the access token", Err: status}
	case http.StatusForbidden:
		var eb errorBody
		_ = json.Unmarshal(body, &eb)
		var detail struct {
			Required []string `json:"required"`
		}
		_ = json.Unmarshal(eb.Error.Detail, &detail)
		if len(detail.Required) > 0 || eb.Error.Message == "Your credentials lack one or more required privilege scopes." {
			return &providers.Error{Kind: providers.Forbidden, Message: "the Bitbucket token lacks the repository scope; the user must sign in with Bitbucket again and consent to it", Err: status}
		}
		return &providers.Error{Kind: providers.Forbidden, Message: "Bitbucket denied access", Err: status}
	case http.StatusTooManyRequests:
		return &providers.Error{Kind: providers.RateLimited, Message: "rate limited by Bitbucket", RetryAfter: upstream.RetryAfter(resp.Header, now), Err: status}
	case http.StatusNotFound:
		// The list endpoint exists on every Bitbucket Cloud; a 404 means
		// the configured base URL is wrong.
		return &providers.Error{Kind: providers.Unavailable, Message: "the Bitbucket API was not found at the configured URL", Err: status}
	}
	return nil
}

func badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: Provider, Message: msg}
}
