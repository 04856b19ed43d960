package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const raw = "gho_SEEKRIT_0123456789"

func TestStringNeverPrints(t *testing.T) {
	s := New(raw)
	type holder struct {
		Token secret
		Name  string
	}
	h := holder{Token: s, Name: "x"}
	cases := map[string]string{
		"%v":         fmt.Sprintf("%v", s),
		"%+v":        fmt.Sprintf("%+v", s),
		"%#v":        fmt.Sprintf("%#v", s),
		"%s":         fmt.Sprintf("%s", s),
		"%q":         fmt.Sprintf("%q", s),
		"%x":         fmt.Sprintf("%x", s),
		"%X":         fmt.Sprintf("%X", s),
		"%d":         fmt.Sprintf("%d", s),
		"struct %v":  fmt.Sprintf("%v", h),
		"struct %+v": fmt.Sprintf("%+v", h),
		"struct %#v": fmt.Sprintf("%#v", h),
		"ptr %v":     fmt.Sprintf("%v", &h),
		"error":      fmt.Errorf("wrap: %v", s).Error(),
		"errors":     errors.New(s.String()).Error(),
	}
	for name, got := range cases {
		if strings.Contains(got, raw) {
			t.Errorf("%s = %q; contains the secret", name, got)
		}
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte(raw)) {
		t.Errorf("json.Marshal = %s; contains the secret", b)
	}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "token", s, "holder", h)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "token", s, "holder", h)
	if strings.Contains(buf.String(), raw) {
		t.Errorf("slog output %q contains the secret", buf.String())
	}
}

type secret = String

func TestRevealAndJSON(t *testing.T) {
	var v struct {
		T String `json:"access_token"`
		N String `json:"refresh_token"`
	}
	if err := json.Unmarshal([]byte(`{"access_token":"`+raw+`","refresh_token":null}`), &v); err != nil {
		t.Fatal(err)
	}
	if got := v.T.Reveal(); got != raw {
		t.Errorf("Reveal() = a %d-byte value; want the %d-byte credential", len(got), len(raw))
	}
	if !v.N.IsZero() {
		t.Errorf("null IsZero() = false; want true")
	}
	if err := json.Unmarshal([]byte(`{"access_token":12}`), &v); err == nil || strings.Contains(err.Error(), "12") {
		t.Errorf("Unmarshal(number) error = %v; want a redacted error", err)
	}
	if got := New("").String(); got != "" {
		t.Errorf("empty String() = %q; want \"\"", got)
	}
	if !New("a").Equal(New("a")) || New("a").Equal(New("b")) {
		t.Error("Equal is wrong")
	}
}
