package providers

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies a provider failure by what the client can do about it.
type Kind int

const (
	// Unavailable: the provider failed, timed out or answered nonsense.
	Unavailable Kind = iota
	// ReauthRequired: the provider rejected the token and it cannot be
	// refreshed; the user must sign in with that provider again.
	ReauthRequired
	// Forbidden: the token is valid but lacks a scope; the user must
	// re-consent to the missing permission.
	Forbidden
	// RateLimited: the provider asked us to slow down; RetryAfter says how
	// long when it told us.
	RateLimited
	// BadInput: the request the gateway would send is invalid (a page token
	// the provider refused, a time window it rejects).
	BadInput
)

func (k Kind) String() string {
	switch k {
	case ReauthRequired:
		return "reauth required"
	case Forbidden:
		return "forbidden"
	case RateLimited:
		return "rate limited"
	case BadInput:
		return "bad input"
	default:
		return "unavailable"
	}
}

// Error is the one error type adapters return. Err is the cause for logs;
// it never holds a token or an upstream body. Message is safe to show a
// client; when empty, the Kind's text is used.
type Error struct {
	Kind     Kind
	Provider string
	// Connection is the Auth0 connection of the identity; set by the
	// gateway, which knows it (an adapter serves several).
	Connection string
	RetryAfter time.Duration // zero when unknown
	// ConnectAccount marks a ReauthRequired that the user fixes by
	// connecting the account to Auth0's Token Vault (Connected Accounts),
	// not by signing in again.
	ConnectAccount bool
	Message        string
	Err            error
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Kind.String()
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Provider, msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Provider, msg)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err's *Error, and false when err has none.
func KindOf(err error) (Kind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return Unavailable, false
}
