package google

import (
	"net/http"

	"github.com/idpgate/idpgate/providers"
)

// Spec describes the Google Calendar adapter, serving Auth0's
// "google-oauth2" connections.
func Spec() providers.Spec {
	return providers.Spec{
		Adapter:         "google",
		Serves:          []providers.Match{{Provider: "google-oauth2"}},
		APIEnv:          "GOOGLE",
		DefaultAPIURL:   DefaultBaseURL,
		ClientEnv:       "GOOGLE",
		DefaultTokenURL: func(string) string { return DefaultTokenURL },
		New: func(s providers.Settings, hc *http.Client) (providers.Provider, error) {
			c, err := New(Config{BaseURL: s.APIURL, TokenURL: s.TokenURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Setting: s.Setting, Logger: s.Logger}, hc)
			if err != nil {
				return providers.Provider{}, err
			}
			return providers.Provider{Calendar: c, Refresh: c}, nil
		},
	}
}
