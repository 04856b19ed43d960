// Package all lists every provider adapter once. Configuration, the
// connection registry, the dev sandbox and the README's table derive from
// this list: adding a provider is its package plus one line here (and an
// emulator in internal/sandbox for --dev and the tests).
package all

import (
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/bitbucket"
	"github.com/idpgate/idpgate/providers/github"
	"github.com/idpgate/idpgate/providers/gitlab"
	"github.com/idpgate/idpgate/providers/google"
	"github.com/idpgate/idpgate/providers/msgraph"
)

// Specs returns the adapters' specs in a stable order.
func Specs() []providers.Spec {
	return []providers.Spec{
		github.Spec(),
		gitlab.Spec(),
		bitbucket.Spec(),
		google.Spec(),
		msgraph.Spec(),
	}
}

// Find returns the spec of an adapter name.
func Find(adapter string) (providers.Spec, bool) {
	for _, s := range Specs() {
		if s.Adapter == adapter {
			return s, true
		}
	}
	return providers.Spec{}, false
}
