package bitbucket

import (
	"net/http"

	"github.com/idpgate/idpgate/providers"
)

// Spec describes the Bitbucket Cloud adapter, serving Auth0's "bitbucket"
// connections.
func Spec() providers.Spec {
	return providers.Spec{
		Adapter:         "bitbucket",
		Serves:          []providers.Match{{Provider: Provider}},
		APIEnv:          "BITBUCKET",
		DefaultAPIURL:   DefaultBaseURL,
		ClientEnv:       "BITBUCKET",
		DefaultTokenURL: func(string) string { return DefaultTokenURL },
		New: func(s providers.Settings, hc *http.Client) (providers.Provider, error) {
			c, err := New(Config{BaseURL: s.APIURL, TokenURL: s.TokenURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Setting: s.Setting, Logger: s.Logger}, hc)
			if err != nil {
				return providers.Provider{}, err
			}
			return providers.Provider{Repos: c, Refresh: c}, nil
		},
	}
}
