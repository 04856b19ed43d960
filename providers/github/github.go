package github

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// DefaultBaseURL is the REST API root of github.com.
const DefaultBaseURL = "https://api.github.com/"

// provider is Auth0's name for the GitHub connection, used in errors.
const provider = "github"

// MaxPageSize is the largest per_page GitHub honours.
const MaxPageSize = 100

// secondaryWait is how long to wait after a secondary rate limit that came
// without Retry-After: GitHub's docs ask for at least one minute.
const secondaryWait = time.Minute

// Config configures a Client.
type Config struct {
	// BaseURL is the REST API root; empty means DefaultBaseURL. GitHub
	// Enterprise Server uses "https://HOST/api/v3/".
	BaseURL string
	// Now is the clock used to turn X-RateLimit-Reset into a wait; nil
	// means time.Now.
	Now func() time.Time
}

// Client lists GitHub repositories. It is safe for concurrent use.
type Client struct {
	up upstream.Client
}

var _ providers.RepoLister = (*Client)(nil)

// New returns a Client for cfg. hc carries the timeouts; nil means a client
// with a 30-second timeout.
func New(cfg Config, hc *http.Client) (*Client, error) {
	raw := cfg.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := upstream.ParseBase(raw)
	if err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	h := http.Header{}
	h.Set("Accept", "application/vnd.github+json")
	h.Set("X-GitHub-Api-Version", "2022-11-28")
	return &Client{up: upstream.Client{
		HTTP:     hc,
		Base:     base,
		Provider: provider,
		Header:   h,
		Classify: classify,
		Now:      cfg.Now,
	}}, nil
}

// repo is the part of GitHub's repository object the gateway reads.
type repo struct {
	ID          int64     `json:"id"`
	Name        string    `json:"name"`
	FullName    string    `json:"full_name"`
	HTMLURL     string    `json:"html_url"`
	Private     bool      `json:"private"`
	Description *string   `json:"description"`
	Stars       int       `json:"stargazers_count"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// ListRepos lists the repositories of the token's owner, most recently
// updated first (https://docs.github.com/rest/repos/repos#list-repositories-for-the-authenticated-user).
// page.Token is a page number from a previous Page.Next.
func (c *Client) ListRepos(ctx context.Context, token secret.String, page providers.PageRequest) (providers.Page[providers.Repository], error) {
	var out providers.Page[providers.Repository]
	if page.Size < 1 || page.Size > MaxPageSize {
		return out, badInput("page size must be between 1 and 100")
	}
	n := 1
	if page.Token != "" {
		var ok bool
		if n, ok = pageNumber(page.Token); !ok {
			return out, badInput("invalid page token")
		}
	}
	q := url.Values{}
	q.Set("per_page", strconv.Itoa(page.Size))
	q.Set("page", strconv.Itoa(n))
	q.Set("sort", "updated")
	repos := make([]repo, 0, upstream.Room(page.Size))
	header, err := c.up.Get(ctx, token, "user/repos", q, &repos)
	if err != nil {
		return out, err
	}
	out.Items = make([]providers.Repository, 0, len(repos))
	for _, r := range repos {
		desc := ""
		if r.Description != nil {
			desc = *r.Description
		}
		out.Items = append(out.Items, providers.Repository{
			ID:          strconv.FormatInt(r.ID, 10),
			Name:        r.Name,
			FullName:    r.FullName,
			URL:         r.HTMLURL,
			Private:     r.Private,
			Description: desc,
			Stars:       r.Stars,
			UpdatedAt:   r.UpdatedAt,
		})
	}
	if n, ok := ssoPartial(header); ok {
		out.Partial = true
		out.PartialReason = fmt.Sprintf("GitHub left out the repositories of %d organization(s) that enforce SAML single sign-on and have not authorized this token", n)
		if n == 0 {
			out.PartialReason = "GitHub left out the repositories of organizations that enforce SAML single sign-on and have not authorized this token"
		}
	}
	if next := upstream.NextLink(header); next != "" {
		// Only the page number travels in the cursor, never a URL.
		u, err := url.Parse(next)
		if err != nil {
			return providers.Page[providers.Repository]{}, malformedLink()
		}
		p, ok := pageNumber(u.Query().Get("page"))
		if !ok || p <= n {
			return providers.Page[providers.Repository]{}, malformedLink()
		}
		out.Next = strconv.Itoa(p)
	}
	return out, nil
}

// ssoPartial reads X-GitHub-SSO. When a request could return data from
// several organizations, GitHub leaves out those that enforce SAML SSO and
// have not authorized the token, and says so with
// "X-GitHub-SSO: partial-results; organizations=21955855,20582480"
// (https://docs.github.com/rest/authentication/authenticating-to-the-rest-api#personal-access-tokens-and-saml-sso).
// It reports whether the list is partial and how many organization IDs the
// header names (0 when it names none). A "required; url=…" value (a 403 on
// one resource) is not a partial list.
func ssoPartial(h http.Header) (orgs int, partial bool) {
	for _, v := range h.Values("X-GitHub-SSO") {
		kind, params, _ := strings.Cut(v, ";")
		if !strings.EqualFold(strings.TrimSpace(kind), "partial-results") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(name, "organizations") {
				continue
			}
			for _, id := range strings.Split(val, ",") {
				if strings.TrimSpace(id) != "" {
					orgs++
				}
			}
		}
		return orgs, true
	}
	return 0, false
}

// pageNumber parses a positive page number written canonically ("7", not
// "+7" or "007"), so a token has exactly one spelling.
func pageNumber(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 || s[0] == '0' {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n > 0
}

func badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: provider, Message: msg}
}

func malformedLink() *providers.Error {
	return &providers.Error{Kind: providers.Unavailable, Provider: provider, Message: "malformed pagination from the provider"}
}

// classify maps GitHub's error statuses
// (https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api#exceeding-the-rate-limit).
// It returns nil to let upstream.Classify handle the rest.
func classify(resp *http.Response, body []byte, now time.Time) *providers.Error {
	code := resp.StatusCode
	e := &providers.Error{Provider: provider, Err: fmt.Errorf("status %d", code)}
	switch {
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = providers.ReauthRequired, "GitHub rejected the access token; sign in with GitHub again"
	case code == http.StatusForbidden || code == http.StatusTooManyRequests:
		h := resp.Header
		switch {
		case h.Get("X-RateLimit-Remaining") == "0":
			// Primary limit: X-RateLimit-Reset (or Retry-After) says when.
			e.Kind, e.Message = providers.RateLimited, "GitHub rate limit exceeded"
			e.RetryAfter = upstream.RetryAfter(h, now)
		case h.Get("Retry-After") != "" || code == http.StatusTooManyRequests || secondaryLimit(body):
			// Secondary limit: X-RateLimit-Reset belongs to the primary
			// limit here, so only Retry-After counts.
			e.Kind, e.Message = providers.RateLimited, "GitHub secondary rate limit exceeded"
			e.RetryAfter = upstream.RetryAfter(http.Header{"Retry-After": h.Values("Retry-After")}, now)
			if e.RetryAfter == 0 {
				e.RetryAfter = secondaryWait
			}
		default:
			e.Kind, e.Message = providers.Forbidden, "the GitHub token lacks a required permission; sign in with GitHub again and grant it"
		}
	case code == http.StatusNotFound:
		// /user/repos exists on every GitHub; a 404 means the configured
		// base URL is wrong (a GHES root without /api/v3/), not bad input.
		e.Kind, e.Message = providers.Unavailable, "GitHub API endpoint not found; check the configured API URL"
	case code >= 500:
		e.Kind, e.Message = providers.Unavailable, "GitHub failed"
	default:
		return nil
	}
	return e
}

// secondaryLimit reports whether a 403 body is GitHub's secondary rate
// limit message. The body is only inspected, never returned.
func secondaryLimit(body []byte) bool {
	var b struct {
		Message string `json:"message"`
	}
	upstream.Sniff(body, &b)
	return strings.Contains(strings.ToLower(b.Message), "secondary rate limit")
}
