package google

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

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/internal/oauthrefresh"
	"github.com/idpgate/idpgate/providers/internal/upstream"
)

// Default endpoints. The token endpoint takes the refresh_token grant
// (https://developers.google.com/identity/protocols/oauth2/web-server,
// "Refreshing an access token").
const (
	DefaultBaseURL  = "https://www.googleapis.com/"
	DefaultTokenURL = "https://oauth2.googleapis.com/token"
)

// MaxPageSize is the largest page ListEvents asks for. Google allows up to
// 2500 events a page; 250 is its default and plenty for a GraphQL page.
const MaxPageSize = 250

// maxPageToken bounds the length of a page token, in bytes.
const maxPageToken = 2048

// provider is Auth0's name for the Google connection, used in errors.
const provider = "google-oauth2"

// Config configures a Client.
type Config struct {
	// BaseURL is the root of Google's APIs; empty means DefaultBaseURL.
	BaseURL string
	// TokenURL is Google's OAuth 2.0 token endpoint; empty means
	// DefaultTokenURL.
	TokenURL string
	// ClientID and ClientSecret are the OAuth client of the Auth0 Google
	// connection, needed only to refresh tokens. Without them Refresh
	// reports ReauthRequired.
	ClientID     string
	ClientSecret secret.String
	// Setting names the configuration of the OAuth client in the message
	// an operator sees when the provider rejects it; Logger receives that
	// message once per period (nil discards it).
	Setting string
	Logger  *slog.Logger
	// Now is the clock for token expiry and Retry-After; nil means time.Now.
	Now func() time.Time
}

// Client lists Google Calendar events and refreshes Google tokens. It is
// safe for concurrent use.
type Client struct {
	up      upstream.Client
	refresh oauthrefresh.Client
}

var (
	_ providers.EventLister = (*Client)(nil)
	_ providers.Refresher   = (*Client)(nil)
)

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
	tokenURL := cfg.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultTokenURL
	}
	if err := oauthrefresh.CheckTokenURL(tokenURL); err != nil {
		return nil, fmt.Errorf("google: %w", err)
	}
	if (cfg.ClientID == "") != cfg.ClientSecret.IsZero() {
		return nil, errors.New("google: client ID and client secret must be set together")
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{
		up: upstream.Client{
			HTTP:     hc,
			Base:     base,
			Provider: provider,
			Classify: classify,
			Now:      cfg.Now,
		},
		refresh: oauthrefresh.Client{
			HTTP: hc, TokenURL: tokenURL, Provider: provider, Name: "Google",
			ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, Now: cfg.Now,
			Setting: cfg.Setting, Logger: cfg.Logger,
		},
	}, nil
}

// eventList is the part of Google's Events resource the gateway reads.
type eventList struct {
	Items         []event `json:"items"`
	NextPageToken string  `json:"nextPageToken"`
}

type event struct {
	ID       string    `json:"id"`
	Status   string    `json:"status"`
	HTMLLink string    `json:"htmlLink"`
	Summary  string    `json:"summary"`
	Start    eventTime `json:"start"`
	End      eventTime `json:"end"`
}

type eventTime struct {
	Date     string `json:"date"`
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// ListEvents lists the events of the primary calendar overlapping
// [q.From, q.To), recurring events expanded, ordered by start time
// (https://developers.google.com/calendar/api/v3/reference/events/list).
// A zero From or To leaves that side open. q.Page.Token is a
// nextPageToken from a previous page of the same query.
func (c *Client) ListEvents(ctx context.Context, token secret.String, q providers.EventQuery) (providers.Page[providers.CalendarEvent], error) {
	var out providers.Page[providers.CalendarEvent]
	if q.Page.Size < 1 || q.Page.Size > MaxPageSize {
		return out, badInput("page size must be between 1 and 250")
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.To.After(q.From) {
		return out, badInput("the time window is empty: to must be after from")
	}
	if q.Page.Token != "" && !validPageToken(q.Page.Token) {
		return out, badInput("invalid page token")
	}
	v := url.Values{}
	v.Set("singleEvents", "true")
	v.Set("orderBy", "startTime")
	v.Set("maxResults", strconv.Itoa(q.Page.Size))
	if !q.From.IsZero() {
		// Whole seconds, widened outwards so no overlapping event is lost.
		v.Set("timeMin", q.From.UTC().Truncate(time.Second).Format(time.RFC3339))
	}
	if !q.To.IsZero() {
		to := q.To.UTC()
		if t := to.Truncate(time.Second); !t.Equal(to) {
			to = t.Add(time.Second)
		}
		v.Set("timeMax", to.Format(time.RFC3339))
	}
	if q.Page.Token != "" {
		v.Set("pageToken", q.Page.Token)
	}
	list := eventList{Items: make([]event, 0, upstream.Room(q.Page.Size))}
	if _, err := c.up.Get(ctx, token, "calendar/v3/calendars/primary/events", v, &list); err != nil {
		return out, err
	}
	out.Items = make([]providers.CalendarEvent, 0, len(list.Items))
	for i, e := range list.Items {
		ev, err := mapEvent(e)
		if err != nil {
			return providers.Page[providers.CalendarEvent]{}, &providers.Error{
				Kind: providers.Unavailable, Provider: provider, Message: "malformed response from the provider",
				Err: fmt.Errorf("google: event %d: %w", i, err),
			}
		}
		out.Items = append(out.Items, ev)
	}
	if list.NextPageToken != "" {
		if !validPageToken(list.NextPageToken) {
			// Passing it on would only fail on the next page.
			return providers.Page[providers.CalendarEvent]{}, &providers.Error{
				Kind: providers.Unavailable, Provider: provider, Message: "malformed pagination from the provider",
				Err: errors.New("google: nextPageToken too long or with unexpected characters"),
			}
		}
		out.Next = list.NextPageToken
	}
	return out, nil
}

func mapEvent(e event) (providers.CalendarEvent, error) {
	ev := providers.CalendarEvent{ID: e.ID, Title: e.Summary, URL: e.HTMLLink, Status: e.Status}
	if e.Status == "cancelled" && e.Start == (eventTime{}) && e.End == (eventTime{}) {
		// A cancelled occurrence of a recurring event may carry only its id.
		return ev, nil
	}
	var err error
	if ev.Start, ev.AllDay, err = parseTime(e.Start); err != nil {
		return ev, fmt.Errorf("start: %w", err)
	}
	if ev.End, _, err = parseTime(e.End); err != nil {
		return ev, fmt.Errorf("end: %w", err)
	}
	return ev, nil
}

// parseTime reads a start or end: dateTime (RFC 3339, or local time in
// timeZone), or an all-day date as midnight UTC.
func parseTime(t eventTime) (time.Time, bool, error) {
	switch {
	case t.DateTime != "":
		if v, err := time.Parse(time.RFC3339Nano, t.DateTime); err == nil {
			return v, false, nil
		}
		if t.TimeZone != "" {
			if loc, err := time.LoadLocation(t.TimeZone); err == nil {
				if v, err := time.ParseInLocation("2006-01-02T15:04:05", t.DateTime, loc); err == nil {
					return v, false, nil
				}
			}
		}
		return time.Time{}, false, errors.New("dateTime is not RFC 3339")
	case t.Date != "":
		v, err := time.Parse(time.DateOnly, t.Date)
		if err != nil {
			return time.Time{}, false, errors.New("date is not YYYY-MM-DD")
		}
		return v, true, nil
	default:
		return time.Time{}, false, errors.New("neither dateTime nor date")
	}
}

// validPageToken accepts what Google's opaque page tokens are made of:
// URL-safe base64 and a few unreserved characters, at most 2 KiB.
func validPageToken(s string) bool {
	if len(s) == 0 || len(s) > maxPageToken {
		return false
	}
	for i := range len(s) {
		switch b := s[i]; {
		case 'A' <= b && b <= 'Z', 'a' <= b && b <= 'z', '0' <= b && b <= '9':
		case b == '_' || b == '-' || b == '=' || b == '.' || b == '~':
		default:
			return false
		}
	}
	return true
}

func badInput(msg string) *providers.Error {
	return &providers.Error{Kind: providers.BadInput, Provider: provider, Message: msg}
}

// apiError is Google's JSON error body. It is only inspected for reasons,
// never returned.
type apiError struct {
	Error struct {
		Code   int    `json:"code"`
		Status string `json:"status"`
		Errors []struct {
			Domain string `json:"domain"`
			Reason string `json:"reason"`
		} `json:"errors"`
		Details []struct {
			Reason string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

func (a *apiError) has(reasons ...string) bool {
	for _, r := range reasons {
		for _, e := range a.Error.Errors {
			if e.Reason == r {
				return true
			}
		}
		for _, d := range a.Error.Details {
			if d.Reason == r {
				return true
			}
		}
	}
	return false
}

// classify maps the Calendar API's errors
// (https://developers.google.com/calendar/api/guides/errors). It returns
// nil to let upstream.Classify handle the rest.
func classify(resp *http.Response, body []byte, now time.Time) *providers.Error {
	var a apiError
	upstream.Sniff(body, &a) // a non-JSON body has no reasons
	code := resp.StatusCode
	e := &providers.Error{Provider: provider, Err: fmt.Errorf("status %d", code)}
	switch {
	case code == http.StatusUnauthorized:
		e.Kind, e.Message = providers.ReauthRequired, "Google rejected the access token; sign in with Google again"
	case code == http.StatusForbidden:
		switch {
		case a.has("rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded", "dailyLimitExceeded", "RATE_LIMIT_EXCEEDED"):
			e.Kind, e.Message = providers.RateLimited, "Google rate limit exceeded"
			e.RetryAfter = upstream.RetryAfter(resp.Header, now)
		case a.has("accessNotConfigured", "SERVICE_DISABLED"):
			e.Kind, e.Message = providers.Unavailable, "the Google Calendar API is not enabled for the gateway"
		case a.has("insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT") ||
			strings.Contains(resp.Header.Get("WWW-Authenticate"), "insufficient_scope"):
			e.Kind, e.Message = providers.Forbidden, "the Google token lacks the calendar scope; sign in with Google again and allow calendar access"
		default:
			e.Kind, e.Message = providers.Forbidden, "Google denied access to the calendar"
		}
	case code == http.StatusTooManyRequests:
		e.Kind, e.Message = providers.RateLimited, "Google rate limit exceeded"
		e.RetryAfter = upstream.RetryAfter(resp.Header, now)
	case code == http.StatusBadRequest: // a 410 never gets here: upstream.Client.Get answers it
		e.Kind, e.Message = providers.BadInput, "Google rejected the request"
		if a.has("timeRangeEmpty") {
			e.Message = "the time window is empty"
		}
	case code == http.StatusNotFound:
		// The primary calendar always exists: a 404 means the configured
		// base URL is wrong.
		e.Kind, e.Message = providers.Unavailable, "Google API endpoint not found; check the configured API URL"
	case code >= 500:
		e.Kind, e.Message = providers.Unavailable, "Google failed"
	default:
		return nil
	}
	return e
}
