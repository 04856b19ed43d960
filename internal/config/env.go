package config

import (
	"os"
	"sort"
	"strings"
)

// Env is the environment FromEnv reads. Get returns a variable ("" when
// unset); Names lists the variables that are set, which is how the
// CONNECTION_* variables are found: a getenv function alone cannot
// enumerate them. The zero value is an empty environment.
type Env struct {
	Get   func(string) string
	Names []string
}

// OS returns the process environment.
func OS() Env {
	var names []string
	for _, kv := range os.Environ() {
		if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
			names = append(names, k)
		}
	}
	return Env{Get: os.Getenv, Names: names}
}

// MapEnv returns the environment holding exactly m.
func MapEnv(m map[string]string) Env { return Env{}.Over(m) }

// Over returns an environment that answers from m first, then from e (the
// dev sandbox and tests lay their settings over the process's).
func (e Env) Over(m map[string]string) Env {
	get := e.get
	names := append([]string(nil), e.Names...)
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return Env{
		Get: func(k string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return get(k)
		},
		Names: names,
	}
}

func (e Env) get(k string) string {
	if e.Get == nil {
		return ""
	}
	return e.Get(k)
}
