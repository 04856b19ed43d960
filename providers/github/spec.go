package github

import (
	"net/http"

	"github.com/idpgate/idpgate/providers"
)

// Spec describes the GitHub adapter: Auth0's "github" connection by
// default, and GitHub Enterprise Server through a custom connection whose
// API_URL is "https://HOST/api/v3/". GitHub OAuth app tokens do not expire,
// so it reads no client settings.
func Spec() providers.Spec {
	return providers.Spec{
		Adapter:       "github",
		Serves:        []providers.Match{{Provider: "github"}},
		APIEnv:        "GITHUB",
		DefaultAPIURL: DefaultBaseURL,
		New: func(s providers.Settings, hc *http.Client) (providers.Provider, error) {
			c, err := New(Config{BaseURL: s.APIURL}, hc)
			if err != nil {
				return providers.Provider{}, err
			}
			return providers.Provider{Repos: c}, nil
		},
	}
}
