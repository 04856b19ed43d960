package providers

import (
	"context"
	"time"

	"github.com/idpgate/idpgate/internal/secret"
)

// Repository is a source repository the user can access.
type Repository struct {
	ID          string
	Name        string
	FullName    string
	URL         string
	Private     bool
	Description string
	Stars       int
	UpdatedAt   time.Time
}

// CalendarEvent is one event of the user's primary calendar. For all-day
// events Start and End are midnight UTC of the first day and of the day after
// the last (the end is exclusive, as Google and Microsoft both report it).
type CalendarEvent struct {
	ID     string
	Title  string
	Start  time.Time
	End    time.Time
	AllDay bool
	URL    string
	Status string // confirmed, tentative, cancelled
}

// PageRequest asks for one upstream page. Token is the adapter's own page
// state from a previous Page.Next ("" for the first page); it reaches the
// adapter only from a cursor the gateway signed, but adapters still check it.
type PageRequest struct {
	Size  int
	Token string
}

// Page is one upstream page. Next is the token of the following page, or ""
// when this is the last one.
//
// Partial is set when the provider answered but said (or the adapter knows)
// that the list leaves items out — GitHub omits the repositories of
// organizations whose SAML SSO the token is not authorized for, and says
// so in a header. PartialReason says why, in words safe to show a client
// (no token, no upstream body). A partial page is still a success.
type Page[T any] struct {
	Items         []T
	Next          string
	Partial       bool
	PartialReason string
}

// EventQuery asks for the events overlapping [From, To).
type EventQuery struct {
	From, To time.Time
	Page     PageRequest
}

// RepoLister lists the repositories of the user the token belongs to.
type RepoLister interface {
	ListRepos(ctx context.Context, token secret.String, page PageRequest) (Page[Repository], error)
}

// EventLister lists the events of the token owner's primary calendar.
type EventLister interface {
	ListEvents(ctx context.Context, token secret.String, q EventQuery) (Page[CalendarEvent], error)
}

// Token is what a refresh returns. RefreshToken is empty when the provider
// did not rotate it.
type Token struct {
	AccessToken  secret.String
	RefreshToken secret.String
	Expiry       time.Time // zero when unknown
}

// Refresher exchanges a refresh token for a new access token.
type Refresher interface {
	Refresh(ctx context.Context, refreshToken secret.String) (Token, error)
}

// Provider is one identity provider's adapter. A nil field means the
// capability is absent: a provider without Repos has no repositories to list.
type Provider struct {
	Repos    RepoLister
	Calendar EventLister
	Refresh  Refresher
}

// Registry maps Auth0's identities[].provider values (github,
// google-oauth2, …) to adapters. Its zero value is empty; it is read-only
// after start-up and safe for concurrent reads.
type Registry map[string]Provider

// Lookup returns the adapter of an Auth0 provider name. An unknown provider
// (facebook, auth0, samlp, …) yields a Provider with no capabilities.
func (r Registry) Lookup(provider string) Provider { return r[provider] }
