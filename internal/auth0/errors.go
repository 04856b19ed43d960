package auth0

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors, matched with errors.Is. The errors the Client returns
// wrap them and say which call failed.
var (
	// ErrNotFound: the user does not exist (404 inexistent_user).
	ErrNotFound = errors.New("auth0: not found")
	// ErrUnauthorized: the tenant refused the M2M credentials, or the
	// Management API refused the M2M token (401, or 403 such as
	// insufficient_scope). Retrying does not help; the configuration does.
	ErrUnauthorized = errors.New("auth0: unauthorized")
	// ErrUnavailable: the tenant could not be reached, answered 5xx, or
	// answered something that is not the documented JSON.
	ErrUnavailable = errors.New("auth0: unavailable")
)

// APIError is an error answer of the Management API. It holds the status
// and Auth0's errorCode; the message in the body is dropped because
// bodies may echo what was sent. errors.Is matches ErrNotFound for 404,
// ErrUnauthorized for 401 and 403 and ErrUnavailable for 5xx.
type APIError struct {
	StatusCode int
	ErrorCode  string // Auth0's errorCode, e.g. "inexistent_user"; may be empty

	op string // "GET api/v2/users/{id}"
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("auth0: %s: status %d", e.op, e.StatusCode)
	if e.ErrorCode != "" {
		s += " (" + e.ErrorCode + ")"
	}
	return s
}

// Is reports whether the status falls in target's class.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
	case ErrUnavailable:
		return e.StatusCode >= 500
	}
	return false
}

// RateLimitError is returned when the tenant answered 429 and waiting for
// the reset was not possible: it was later than Config.MaxRetryWait, or
// the retries were used up. Reset is when the tenant accepts calls again
// (zero if it did not say).
type RateLimitError struct {
	Reset     time.Time
	Limit     int // X-RateLimit-Limit; 0 when absent
	Remaining int // X-RateLimit-Remaining

	op string
}

func (e *RateLimitError) Error() string {
	if e.Reset.IsZero() {
		return fmt.Sprintf("auth0: %s: rate limited", e.op)
	}
	return fmt.Sprintf("auth0: %s: rate limited until %s", e.op, e.Reset.UTC().Format(time.RFC3339))
}

// opError is every other failure: kind is a sentinel (or a context
// error), detail says what happened in words that hold no secret, err is
// an optional cause (a transport error).
type opError struct {
	op     string
	kind   error
	detail string
	err    error
}

func (e *opError) Error() string {
	s := "auth0: " + e.op + ": " + e.detail
	if e.err != nil {
		s += ": " + e.err.Error()
	}
	return s
}

func (e *opError) Unwrap() []error {
	if e.err == nil {
		return []error{e.kind}
	}
	return []error{e.kind, e.err}
}
