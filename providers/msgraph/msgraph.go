package msgraph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zone names resolve without a system zoneinfo database

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/oauthrefresh"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// Auth0's identities[].provider values the adapter serves.
const (
	ProviderLive = "windowslive"
	ProviderAAD  = "waad"
)

const (
	// DefaultBaseURL is Microsoft Graph.
	DefaultBaseURL = "https://graph.microsoft.com/"
	// DefaultTokenURL is the identity platform's multi-tenant v2.0 token
	// endpoint.
	DefaultTokenURL = "https://login.microsoftonline.com/common/oauth2/v2.0/token"
	// DefaultScope is what a refresh asks for.
	DefaultScope = "offline_access Calendars.Read"
	// MaxPageSize bounds $top. Graph would take more for calendarView;
	// 100 keeps pages consistent with the other adapters.
	MaxPageSize = 100
)

// Config configures a Client. Empty fields take the defaults.
type Config struct {
	// Provider is the Auth0 provider name errors carry: ProviderLive
	// (the default) or ProviderAAD.
	Provider string
	BaseURL  string
	TokenURL string
	// ClientID and ClientSecret are the Microsoft application of the Auth0
	// connection. Without ClientID, Refresh answers ReauthRequired.
	ClientID     string
	ClientSecret secret.String
	// Setting names the configuration of the OAuth client in the message
	// an operator sees when the provider rejects it; Logger receives that
	// message once per period (nil discards it).
	Setting string
	Logger  *slog.Logger
	// Scope is sent with every refresh; empty means DefaultScope.
	Scope string
	// Now is the clock for Retry-After and token expiry; nil means time.Now.
	Now func() time.Time
}

// Client talks to Microsoft Graph. It is immutable and safe for concurrent
// use.
type Client struct {
	provider string
	api      upstream.Client
	refresh  oauthrefresh.Client
}

var (
	_ providers.EventLister = (*Client)(nil)
	_ providers.Refresher   = (*Client)(nil)
)

// New returns a Client for cfg. hc carries the timeouts; nil means a client
// with a 30-second timeout.
func New(cfg Config, hc *http.Client) (*Client, error) {
	if cfg.Provider == "" {
		cfg.Provider = ProviderLive
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = DefaultTokenURL
	}
	if cfg.Scope == "" {
		cfg.Scope = DefaultScope
	}
	base, err := upstream.ParseBase(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("msgraph: %w", err)
	}
	if err := oauthrefresh.CheckTokenURL(cfg.TokenURL); err != nil {
		return nil, fmt.Errorf("msgraph: %w", err)
	}
	if (cfg.ClientID == "") != cfg.ClientSecret.IsZero() {
		return nil, errors.New("msgraph: client ID and client secret must be set together")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Client{
		provider: cfg.Provider,
		api: upstream.Client{
			HTTP: hc, Base: base, Provider: cfg.Provider, Classify: classify, Now: now,
			Header: http.Header{"Prefer": {`outlook.timezone="UTC"`}},
		},
		refresh: oauthrefresh.Client{
			HTTP: hc, TokenURL: cfg.TokenURL, Provider: cfg.Provider, Name: "Microsoft",
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Scope: cfg.Scope,
			Setting: cfg.Setting, Logger: cfg.Logger,
			Now: now,
		},
	}, nil
}

const (
	// calendarViewPath is the endpoint, relative to the base URL.
	calendarViewPath = "v1.0/me/calendarView"
	// maxNextLinkLen bounds an @odata.nextLink kept as a page token (the
	// gateway's cursors carry at most 2048 bytes of page token).
	maxNextLinkLen = 2048
)

const selectFields = "id,subject,start,end,isAllDay,webLink,showAs,isCancelled,responseStatus"

type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

type event struct {
	ID             string           `json:"id"`
	Subject        string           `json:"subject"`
	Start          dateTimeTimeZone `json:"start"`
	End            dateTimeTimeZone `json:"end"`
	IsAllDay       bool             `json:"isAllDay"`
	WebLink        string           `json:"webLink"`
	ShowAs         string           `json:"showAs"`
	IsCancelled    bool             `json:"isCancelled"`
	ResponseStatus struct {
		Response string `json:"response"`
	} `json:"responseStatus"`
}

type eventList struct {
	Value    []event `json:"value"`
	NextLink string  `json:"@odata.nextLink"`
}

// ListEvents lists the events of the user's default calendar that overlap
// [q.From, q.To), earliest first
// (https://learn.microsoft.com/graph/api/user-list-calendarview). Both
// bounds are required and To must be after From; q.Page.Size must be
// 1..MaxPageSize and q.Page.Token "" or a Page.Next of this adapter for the
// same window. Anything else is BadInput and sends no request.
func (c *Client) ListEvents(ctx context.Context, token secret.String, q providers.EventQuery) (providers.Page[providers.CalendarEvent], error) {
	var out providers.Page[providers.CalendarEvent]
	if q.Page.Size < 1 || q.Page.Size > MaxPageSize {
		return out, c.badInput(fmt.Sprintf("page size must be between 1 and %d", MaxPageSize))
	}
	if q.From.IsZero() || q.To.IsZero() || !q.To.After(q.From) {
		return out, c.badInput("the time window needs a start before its end")
	}
	params := url.Values{
		"startDateTime": {q.From.UTC().Format(time.RFC3339Nano)},
		"endDateTime":   {q.To.UTC().Format(time.RFC3339Nano)},
		"$top":          {strconv.Itoa(q.Page.Size)},
		"$orderby":      {"start/dateTime"},
		"$select":       {selectFields},
	}
	var (
		body eventList
		err  error
	)
	if tok := q.Page.Token; tok != "" {
		// The token is Graph's own @odata.nextLink without the configured
		// base (nextToken), joined back here: Graph's paging guide
		// (https://learn.microsoft.com/graph/paging) says to request that
		// URL as it is and never to read or rebuild its $skip/$skiptoken.
		// It must still point at the calendarView of the configured Graph.
		link := c.api.Base.String() + tok
		if strings.HasPrefix(tok, "https://") || strings.HasPrefix(tok, "http://") {
			link = tok // a cursor made before tokens were relative
		}
		if !c.validNextLink(link) {
			return out, c.badInput("invalid page token")
		}
		_, err = c.api.Get(ctx, token, link, nil, &body)
	} else {
		_, err = c.api.Get(ctx, token, calendarViewPath, params, &body)
	}
	if err != nil {
		return out, err
	}
	zones := map[string]*time.Location{}
	out.Items = make([]providers.CalendarEvent, 0, len(body.Value))
	for _, e := range body.Value {
		ev, err := mapEvent(e, zones)
		if err != nil {
			return providers.Page[providers.CalendarEvent]{}, c.malformed(err)
		}
		out.Items = append(out.Items, ev)
	}
	if body.NextLink != "" {
		if !c.validNextLink(body.NextLink) {
			return providers.Page[providers.CalendarEvent]{}, c.malformed(errors.New("msgraph: @odata.nextLink is not a calendarView URL of the configured Graph"))
		}
		out.Next = c.nextToken(body.NextLink)
	}
	return out, nil
}

// nextToken is a valid @odata.nextLink without the configured base: the
// path and query after it. The cursor that carries it (signed, not
// encrypted) then names no upstream host.
func (c *Client) nextToken(link string) string {
	if rel, ok := strings.CutPrefix(link, c.api.Base.String()); ok {
		return rel
	}
	u, _ := url.Parse(link) // validNextLink parsed it
	rel := strings.TrimPrefix(u.EscapedPath(), c.api.Base.Path)
	if u.RawQuery != "" {
		rel += "?" + u.RawQuery
	}
	return rel
}

func mapEvent(e event, zones map[string]*time.Location) (providers.CalendarEvent, error) {
	ev := providers.CalendarEvent{
		ID:     e.ID,
		Title:  e.Subject,
		AllDay: e.IsAllDay,
		URL:    e.WebLink,
		Status: "confirmed",
	}
	switch {
	case e.IsCancelled:
		ev.Status = "cancelled"
	case e.ShowAs == "tentative" || e.ResponseStatus.Response == "tentativelyAccepted":
		ev.Status = "tentative"
	}
	var err error
	if ev.Start, err = parseDateTime(e.Start, e.IsAllDay, zones); err != nil {
		return ev, err
	}
	if ev.End, err = parseDateTime(e.End, e.IsAllDay, zones); err != nil {
		return ev, err
	}
	return ev, nil
}

// parseDateTime turns a Graph dateTimeTimeZone into an instant; for all-day
// events, into midnight UTC of its day (see the package comment).
func parseDateTime(v dateTimeTimeZone, allDay bool, zones map[string]*time.Location) (time.Time, error) {
	loc, ok := zones[v.TimeZone]
	if !ok {
		loc = location(v.TimeZone)
		zones[v.TimeZone] = loc
	}
	// Graph writes "2026-11-29T09:00:00.0000000" without an offset; the
	// fraction is optional to Go's parser. Accept an explicit offset too.
	t, err := time.ParseInLocation("2006-01-02T15:04:05", v.DateTime, loc)
	if err != nil {
		if t, err = time.Parse(time.RFC3339Nano, v.DateTime); err != nil {
			return time.Time{}, errors.New("msgraph: event dateTime is not ISO 8601")
		}
	}
	if !allDay {
		return t.UTC(), nil
	}
	if h, m, s := t.Clock(); h == 0 && m == 0 && s == 0 && t.Nanosecond() == 0 {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	return t.UTC().Add(12 * time.Hour).Truncate(24 * time.Hour), nil
}

// validNextLink reports whether link is an absolute URL of the calendarView
// under the configured Graph base (scheme, host, base path), with no
// fragment, short enough to travel in a cursor.
func (c *Client) validNextLink(link string) bool {
	if len(link) > maxNextLinkLen || !c.api.OnBase(link) {
		return false
	}
	u, err := url.Parse(link)
	// Graph's paths are case-insensitive; the link may spell calendarview.
	return err == nil && u.Fragment == "" && strings.EqualFold(u.Path, c.api.Base.Path+calendarViewPath)
}

// Refresh exchanges a Microsoft refresh token
// (https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#refresh-the-access-token).
// Microsoft issues a new refresh token with each refresh (in
// Token.RefreshToken, which the broker keeps) but does not revoke the old
// one. A refresh token works only with the application (client id) and
// the authority (/common, /consumers, /organizations or /{tenant} in
// TokenURL) that got it, so each connection needs its own settings.
func (c *Client) Refresh(ctx context.Context, refreshToken secret.String) (providers.Token, error) {
	return c.refresh.Refresh(ctx, refreshToken)
}

// errorBody is Graph's OData error: {"error":{"code":…,"message":…}}.
type errorBody struct {
	Error struct {
		Code string `json:"code"`
	} `json:"error"`
}

func classify(resp *http.Response, body []byte, now time.Time) *providers.Error {
	status := fmt.Errorf("msgraph: status %d", resp.StatusCode)
	var eb errorBody
	upstream.Sniff(body, &eb)
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return &providers.Error{Kind: providers.ReauthRequired, Message: "Microsoft rejected the access token", Err: status}
	case http.StatusForbidden:
		if strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_claims") {
			// A conditional access policy wants a fresh sign-in.
			return &providers.Error{Kind: providers.ReauthRequired, Message: "Microsoft requires the user to sign in again", Err: status}
		}
		switch eb.Error.Code {
		case "ErrorAccessDenied", "Authorization_RequestDenied", "AccessDenied", "ErrorInsufficientPermissionsInAccessToken":
			return &providers.Error{Kind: providers.Forbidden, Message: "the Microsoft token lacks the Calendars.Read permission; the user must sign in with Microsoft again and consent to it", Err: status}
		}
		return &providers.Error{Kind: providers.Forbidden, Message: "Microsoft Graph denied access", Err: status}
	case http.StatusTooManyRequests:
		return &providers.Error{Kind: providers.RateLimited, Message: "rate limited by Microsoft Graph", RetryAfter: upstream.RetryAfter(resp.Header, now), Err: status}
	case http.StatusServiceUnavailable:
		return &providers.Error{Kind: providers.Unavailable, Message: "Microsoft Graph is unavailable", RetryAfter: upstream.RetryAfter(resp.Header, now), Err: status}
	case http.StatusNotFound:
		// /me/calendarView exists; Graph answers 404 when the account has
		// no Exchange Online mailbox (MailboxNotEnabledForRESTAPI).
		return &providers.Error{Kind: providers.Unavailable, Message: "the Microsoft account has no calendar Graph can read", Err: status}
	}
	return nil
}

func (c *Client) badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: c.provider, Message: msg}
}

func (c *Client) malformed(err error) *providers.Error {
	return &providers.Error{Kind: providers.Unavailable, Provider: c.provider, Message: "malformed response from the provider", Err: err}
}
