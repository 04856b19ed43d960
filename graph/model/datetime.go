package model

import (
	"errors"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// DateTimeFormat describes what a DateTime input must be, for error
// messages.
const DateTimeFormat = "an RFC 3339 date-time such as 2026-12-07T09:00:00Z"

var errDateTime = errors.New("want " + DateTimeFormat)

// ParseDateTime reads a DateTime input value: a string in RFC 3339 with a
// time and an offset (fractional seconds allowed). Anything else (a
// number, a bare date, an empty string) is an error saying what is
// expected, without echoing the value.
func ParseDateTime(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok || s == "" {
		return time.Time{}, errDateTime
	}
	// RFC 3339 §5.6 lets "T" and "Z" be lower case; Go's layout does not.
	// full-date is always 10 characters, so the separator is at 10.
	if len(s) > 10 && (s[10] == 't' || s[len(s)-1] == 'z') {
		b := []byte(s)
		if b[10] == 't' {
			b[10] = 'T'
		}
		if b[len(b)-1] == 'z' {
			b[len(b)-1] = 'Z'
		}
		s = string(b)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, errDateTime
	}
	return t, nil
}

// UnmarshalDateTime is the DateTime scalar's input coercion (gqlgen.yml
// binds DateTime here). A value that does not coerce is BAD_USER_INPUT,
// not an internal error. The guard rejects such arguments once per request
// before execution, naming the argument; this is the fallback.
func UnmarshalDateTime(v any) (time.Time, error) {
	t, err := ParseDateTime(v)
	if err != nil {
		return time.Time{}, &gqlerror.Error{
			Message:    "DateTime: " + err.Error(),
			Extensions: map[string]any{"code": gqlresp.CodeBadUserInput},
		}
	}
	return t, nil
}

// MarshalDateTime writes a DateTime as RFC 3339 (gqlgen's Time format).
func MarshalDateTime(t time.Time) graphql.Marshaler { return graphql.MarshalTime(t) }
