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
	"slices"
	"strconv"
	"strings"
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
	// DefaultTokenURL is Bitbucket Cloud's OAuth 2.0 token endpoint
	// (https://developer.atlassian.com/cloud/bitbucket/oauth-2/).
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

// The page token is "<workspace slug>/<page number>": the workspace being
// listed and Bitbucket's page number within it. Slugs are lower-case
// letters, digits, "-", "_" and "."; page numbers positive decimals without
// leading zeros, at most 9 digits.
var (
	workspaceSlug = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,99}$`)
	pageNumber    = regexp.MustCompile(`^[1-9][0-9]{0,8}$`)
)

const (
	// maxWorkspacePages bounds the GET /2.0/user/workspaces pages read
	// (100 workspaces each).
	maxWorkspacePages = 10
	// maxEmptyWorkspaces bounds how many workspaces without a repository of
	// the user one ListRepos call skips before it gives up (and says the
	// page is partial) rather than answer an empty page that continues.
	maxEmptyWorkspaces = 20
)

func parseToken(tok string) (workspace string, page int, ok bool) {
	ws, p, found := strings.Cut(tok, "/")
	if !found || !workspaceSlug.MatchString(ws) || !pageNumber.MatchString(p) {
		return "", 0, false
	}
	n, _ := strconv.Atoi(p)
	return ws, n, true
}

func makeToken(workspace string, page int) string {
	return workspace + "/" + strconv.Itoa(page)
}

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

// workspaceList is a page of GET /2.0/user/workspaces: workspace_access
// objects naming each workspace.
type workspaceList struct {
	Next   string `json:"next"`
	Values []struct {
		Workspace struct {
			Slug string `json:"slug"`
		} `json:"workspace"`
	} `json:"values"`
}

// ListRepos lists the repositories the token owner is a member of, in
// every workspace they can access: workspace after workspace, in the
// order of their slugs, and within one most recently updated first. A page
// never mixes workspaces; its Next continues in the same workspace, or in
// the next one when this one is done.
//
// Atlassian removed the cross-workspace GET /2.0/repositories under
// CHANGE-2770 (https://developer.atlassian.com/cloud/bitbucket/changelog/#CHANGE-2770;
// it answers 410 Gone) and points to GET /2.0/user/workspaces
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-workspaces/#api-user-workspaces-get,
// CHANGE-3022) followed by GET /2.0/repositories/{workspace}
// (https://developer.atlassian.com/cloud/bitbucket/rest/api-group-repositories/#api-repositories-workspace-get)
// with the same role, sort and pagelen parameters.
//
// page.Size must be 1..MaxPageSize and page.Token "" or a Page.Next of this
// adapter; anything else is BadInput and sends no request.
func (c *Client) ListRepos(ctx context.Context, token secret.String, page providers.PageRequest) (providers.Page[providers.Repository], error) {
	var out providers.Page[providers.Repository]
	if page.Size < 1 || page.Size > MaxPageSize {
		return out, badInput(fmt.Sprintf("page size must be between 1 and %d", MaxPageSize))
	}
	var (
		workspace string
		pageNo    = 1
		all       []string // the user's workspaces, read when needed
		err       error
	)
	if page.Token != "" {
		var ok bool
		if workspace, pageNo, ok = parseToken(page.Token); !ok {
			return out, badInput("invalid page token")
		}
	} else {
		if all, err = c.workspaces(ctx, token); err != nil {
			return out, err
		}
		if len(all) == 0 {
			return out, nil
		}
		workspace = all[0]
	}
	for skipped := 0; ; skipped++ {
		items, more, err := c.workspaceRepos(ctx, token, workspace, pageNo, page.Size)
		if errors.Is(err, errNotFound) && page.Token != "" {
			// The user lost access to the workspace of the token (or it
			// never existed): go on with the next one in slug order.
			items, more, err = nil, false, nil
		}
		if err != nil {
			return providers.Page[providers.Repository]{}, err
		}
		if more {
			return providers.Page[providers.Repository]{Items: items, Next: makeToken(workspace, pageNo+1)}, nil
		}
		if all == nil {
			if all, err = c.workspaces(ctx, token); err != nil {
				return providers.Page[providers.Repository]{}, err
			}
		}
		// The workspace after this one in slug order: also right when the
		// user has left this workspace since the token was issued.
		i, _ := slices.BinarySearch(all, workspace+"\x00")
		next := ""
		if i < len(all) {
			next = all[i]
		}
		out = providers.Page[providers.Repository]{Items: items}
		switch {
		case next == "":
			return out, nil
		case len(items) > 0:
			out.Next = makeToken(next, 1)
			return out, nil
		case skipped >= maxEmptyWorkspaces:
			// Rather than an empty page that continues (a client would
			// get no cursor to continue from), stop and say so.
			out.Partial = true
			out.PartialReason = fmt.Sprintf("stopped after %d Bitbucket workspaces without repositories", maxEmptyWorkspaces)
			return out, nil
		}
		workspace, pageNo = next, 1
	}
}

// workspaces returns the slugs of the workspaces the token owner can
// access, sorted, without duplicates.
func (c *Client) workspaces(ctx context.Context, token secret.String) ([]string, error) {
	var slugs []string
	q := url.Values{"pagelen": {strconv.Itoa(MaxPageSize)}}
	for range maxWorkspacePages {
		var body workspaceList
		if _, err := c.api.Get(ctx, token, "2.0/user/workspaces", q, &body); err != nil {
			return nil, err
		}
		for _, v := range body.Values {
			if !workspaceSlug.MatchString(v.Workspace.Slug) {
				return nil, malformed(errors.New("bitbucket: workspace without a valid slug"))
			}
			slugs = append(slugs, v.Workspace.Slug)
		}
		if body.Next == "" {
			break
		}
		// Only the page number of Bitbucket's next link is used: the
		// request stays the one built here.
		next, err := nextPage(body.Next)
		if err != nil {
			return nil, malformed(err)
		}
		q.Set("page", next)
	}
	slices.Sort(slugs)
	return slices.Compact(slugs), nil
}

// workspaceRepos reads one page of the user's repositories in workspace
// and reports whether the workspace has more.
func (c *Client) workspaceRepos(ctx context.Context, token secret.String, workspace string, page, size int) ([]providers.Repository, bool, error) {
	q := url.Values{
		"role":    {"member"},
		"pagelen": {strconv.Itoa(size)},
		"sort":    {"-updated_on"},
	}
	if page > 1 {
		q.Set("page", strconv.Itoa(page))
	}
	var body repoList
	if _, err := c.api.Get(ctx, token, "2.0/repositories/"+url.PathEscape(workspace), q, &body); err != nil {
		return nil, false, err
	}
	items := make([]providers.Repository, 0, len(body.Values))
	for _, v := range body.Values {
		items = append(items, providers.Repository{
			ID:          v.UUID,
			Name:        v.Name,
			FullName:    v.FullName,
			URL:         v.Links.HTML.Href,
			Private:     v.IsPrivate,
			Description: v.Description,
			UpdatedAt:   v.UpdatedOn,
		})
	}
	if body.Next == "" {
		return items, false, nil
	}
	next, err := nextPage(body.Next)
	if err != nil {
		return nil, false, malformed(err)
	}
	if next != strconv.Itoa(page+1) {
		return nil, false, malformed(errors.New("bitbucket: next link does not point to the following page"))
	}
	return items, true, nil
}

// errNotFound marks a 404 from Bitbucket.
var errNotFound = errors.New("bitbucket: not found")

func malformed(err error) *providers.Error {
	return &providers.Error{Kind: providers.Unavailable, Provider: Provider, Message: "malformed response from the provider", Err: err}
}

// nextPage extracts the page number of Bitbucket's next link.
func nextPage(link string) (string, error) {
	u, err := url.Parse(link)
	if err != nil {
		return "", errors.New("bitbucket: unparsable next link")
	}
	p := u.Query().Get("page")
	if !pageNumber.MatchString(p) {
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
		upstream.Sniff(body, &eb)
		var detail struct {
			Required []string `json:"required"`
		}
		upstream.Sniff(eb.Error.Detail, &detail)
		if len(detail.Required) > 0 || eb.Error.Message == "Your credentials lack one or more required privilege scopes." {
			return &providers.Error{Kind: providers.Forbidden, Message: "the Bitbucket token lacks the repository scope; the user must sign in with Bitbucket again and consent to it", Err: status}
		}
		return &providers.Error{Kind: providers.Forbidden, Message: "Bitbucket denied access", Err: status}
	case http.StatusTooManyRequests:
		return &providers.Error{Kind: providers.RateLimited, Message: "rate limited by Bitbucket", RetryAfter: upstream.RetryAfter(resp.Header, now), Err: status}
	case http.StatusNotFound:
		// The workspaces endpoint exists on every Bitbucket Cloud, and the
		// workspaces listed come from it: a 404 means the configured base
		// URL is wrong, or the user lost access to a workspace while
		// paging (the client can start over).
		return &providers.Error{Kind: providers.Unavailable, Message: "Bitbucket did not find the workspace or the API at the configured URL", Err: fmt.Errorf("%w: %w", errNotFound, status)}
	}
	return nil
}

func badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: Provider, Message: msg}
}
