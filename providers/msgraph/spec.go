package msgraph

import (
	"net/http"

	"github.com/idpgate/idpgate/providers"
)

// Spec describes the Microsoft Graph calendar adapter, serving Auth0's
// Microsoft Account ("windowslive") and Azure AD / Entra ID ("waad")
// connections. Each connection needs the client and authority (token URL)
// of its own app registration: Microsoft binds a refresh token to both.
func Spec() providers.Spec {
	return providers.Spec{
		Adapter:         "msgraph",
		Serves:          []providers.Match{{Provider: ProviderLive}, {Provider: ProviderAAD}},
		APIEnv:          "MSGRAPH",
		DefaultAPIURL:   DefaultBaseURL,
		ClientEnv:       "MICROSOFT",
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
