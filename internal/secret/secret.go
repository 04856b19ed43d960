package secret

import (
	"encoding/json"
	"fmt"
	"log/slog"
)

const redacted = "[REDACTED]"

// String is a credential. Its zero value is the empty credential. A String
// prints as "[REDACTED]" (or "" when empty) whatever verb or encoder is used;
// Reveal returns the value. It is immutable and safe for concurrent use.
type String struct {
	v string
}

// New wraps s.
func New(s string) String { return String{v: s} }

// Reveal returns the credential itself. Call it only to put the value on
// the wire to the party that issued it.
func (s String) Reveal() string { return s.v }

// IsZero reports whether the credential is empty.
func (s String) IsZero() bool { return s.v == "" }

// Equal reports whether s and o hold the same credential.
func (s String) Equal(o String) bool { return s.v == o.v }

// String implements fmt.Stringer.
func (s String) String() string {
	if s.v == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer, so %#v hides the value too.
func (s String) GoString() string { return "secret.String(" + fmt.Sprintf("%q", s.String()) + ")" }

// Format implements fmt.Formatter for every verb (%v, %s, %q, %x, %d, …).
func (s String) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		fmt.Fprintf(f, "%q", s.String())
	case 'v':
		if f.Flag('#') {
			fmt.Fprint(f, s.GoString())
			return
		}
		fmt.Fprint(f, s.String())
	default:
		fmt.Fprint(f, s.String())
	}
}

// LogValue implements slog.LogValuer.
func (s String) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON implements json.Marshaler: the JSON form is redacted too.
func (s String) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf("%q", s.String())), nil }

// MarshalText implements encoding.TextMarshaler (map keys, XML, YAML).
func (s String) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalJSON implements json.Unmarshaler, so upstream responses decode
// straight into a String. A JSON null leaves it empty.
func (s *String) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		s.v = ""
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret: not a JSON string")
	}
	s.v = v
	return nil
}
