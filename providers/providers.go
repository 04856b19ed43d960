package providers

import (
	"context"
	"sync"
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

// Connection is what the registry knows of one Auth0 connection: its
// name, the adapter serving it and that adapter's capabilities. A zero
// Provider means no capability (facebook, auth0, samlp, …).
type Connection struct {
	Name    string // the Auth0 connection name, as identities[].connection carries it
	Adapter string // Spec.Adapter; "" when no adapter serves the connection
	Provider
}

// Registry maps Auth0 connections (identities[].connection) to adapters.
// The unit is the connection, not the provider string: GitLab arrives as
// provider "oauth2", and a tenant may have several "waad" connections with
// different OAuth clients. Build it at start-up with Add, AddLazy and
// AddDefault; afterwards it is safe for concurrent Lookup. The zero value
// is an empty registry.
type Registry struct {
	named    map[string]named
	defaults map[Match]Connection
	built    sync.Map // lazy connections: key + "\x00" + provider -> Connection
}

type named struct {
	conn  Connection
	build func(provider string) Connection // nil when conn is fixed
}

// Add registers a configured connection under its name.
func (r *Registry) Add(c Connection) {
	if r.named == nil {
		r.named = map[string]named{}
	}
	r.named[ConnectionKey(c.Name)] = named{conn: c}
}

// AddLazy registers a configured connection whose adapter follows the
// Auth0 provider of its identities (settings without ADAPTER): build is
// called once per provider at the first Lookup.
func (r *Registry) AddLazy(name string, build func(provider string) Connection) {
	if r.named == nil {
		r.named = map[string]named{}
	}
	r.named[ConnectionKey(name)] = named{conn: Connection{Name: name}, build: build}
}

// AddDefault registers the adapter serving the identities m matches when
// their connection is not configured.
func (r *Registry) AddDefault(m Match, c Connection) {
	if r.defaults == nil {
		r.defaults = map[Match]Connection{}
	}
	r.defaults[m] = c
}

// Lookup returns the connection serving an identity: the configured
// connection of that name, else the default for its provider and
// connection name, else the default for its provider, else a Connection
// without capabilities.
func (r *Registry) Lookup(provider, connection string) Connection {
	if r == nil {
		return Connection{Name: connection}
	}
	var buf [64]byte
	if n, ok := r.named[string(AppendConnectionKey(buf[:0], connection))]; ok && connection != "" {
		if n.build == nil {
			return n.conn
		}
		key := ConnectionKey(connection) + "\x00" + provider
		if c, ok := r.built.Load(key); ok {
			return c.(Connection)
		}
		c, _ := r.built.LoadOrStore(key, n.build(provider))
		return c.(Connection)
	}
	for _, m := range []Match{{Provider: provider, Connection: connection}, {Provider: provider}} {
		if c, ok := r.defaults[m]; ok {
			c.Name = connection
			return c
		}
	}
	return Connection{Name: connection}
}
