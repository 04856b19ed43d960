package config

import (
	"strings"
	"testing"
)

// TestConnectionNameUnderscores: a NAME that starts or ends with "_" or
// doubles it (a typo such as CONNECTION_GHE__ADAPTER) is refused with the
// variable named, instead of configuring a connection "ghe-".
func TestConnectionNameUnderscores(t *testing.T) {
	for _, name := range []string{"CONNECTION_GHE__ADAPTER", "CONNECTION__GHE_ADAPTER", "CONNECTION_A__B_ADAPTER"} {
		m := base()
		m[name] = "github"
		_, err := FromEnv(env(m))
		if err == nil || !strings.HasPrefix(err.Error(), name+":") {
			t.Errorf("FromEnv(%s=github) error = %v; want one naming %s", name, err, name)
		}
	}
	m := base()
	m["CONNECTION_GHE_CORP_ADAPTER"] = "github"
	if _, err := FromEnv(env(m)); err != nil {
		t.Errorf("FromEnv(CONNECTION_GHE_CORP_ADAPTER=github) error = %v; want none", err)
	}
}
