package config

import (
	"strings"
	"testing"
	"time"
)

func TestBudget(t *testing.T) {
	c, err := FromEnv(env(base()))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	want := Budget{ReloadInterval: 30 * time.Second, ReconsentTTL: 5 * time.Minute, MaxIdentities: 10, UserUpstreamConcurrency: 8, UpstreamConcurrency: 256}
	if c.Budget != want {
		t.Errorf("FromEnv().Budget = %+v; want %+v", c.Budget, want)
	}
	m := base()
	m["AUTH0_RELOAD_INTERVAL"] = "1m"
	m["AUTH0_RECONSENT_TTL"] = "10m"
	m["MAX_IDENTITIES"] = "3"
	m["USER_UPSTREAM_CONCURRENCY"] = "2"
	m["UPSTREAM_CONCURRENCY"] = "40"
	c, err = FromEnv(env(m))
	if err != nil {
		t.Fatalf("FromEnv() error = %v", err)
	}
	want = Budget{ReloadInterval: time.Minute, ReconsentTTL: 10 * time.Minute, MaxIdentities: 3, UserUpstreamConcurrency: 2, UpstreamConcurrency: 40}
	if c.Budget != want {
		t.Errorf("FromEnv().Budget = %+v; want %+v", c.Budget, want)
	}

	bad := []struct{ name, value string }{
		{"AUTH0_RELOAD_INTERVAL", "-1s"},
		{"AUTH0_RELOAD_INTERVAL", "often"},
		{"AUTH0_RELOAD_INTERVAL", "2h"},
		{"AUTH0_RECONSENT_TTL", "10s"}, // shorter than the reload interval
		{"AUTH0_RECONSENT_TTL", "-5m"},
		{"AUTH0_RECONSENT_TTL", "48h"},
		{"MAX_IDENTITIES", "0"},
		{"MAX_IDENTITIES", "101"},
		{"MAX_IDENTITIES", "ten"},
		{"USER_UPSTREAM_CONCURRENCY", "0"},
		{"USER_UPSTREAM_CONCURRENCY", "-3"},
		{"UPSTREAM_CONCURRENCY", "0"},
		{"UPSTREAM_CONCURRENCY", "1025"},
		{"UPSTREAM_CONCURRENCY", "many"},
	}
	for _, tc := range bad {
		t.Run(tc.name+"="+tc.value, func(t *testing.T) {
			m := base()
			m[tc.name] = tc.value
			_, err := FromEnv(env(m))
			if err == nil || !strings.HasPrefix(err.Error(), tc.name+":") {
				t.Errorf("FromEnv(%s=%q) error = %v; want one naming %s", tc.name, tc.value, err, tc.name)
			}
		})
	}
}
