package gitlab

import (
	"net/http"
	"strings"

	"github.com/idpgate/idpgate/providers"
)

// Spec describes the GitLab adapter. Auth0 has no GitLab provider: GitLab
// sign-in is a Custom Social Connection (strategy and provider "oauth2"),
// conventionally named "gitlab", which is what the adapter serves by
// default. Other instances get their own connection with ADAPTER=gitlab.
func Spec() providers.Spec {
	return providers.Spec{
		Adapter:         "gitlab",
		Serves:          []providers.Match{{Provider: "oauth2", Connection: "gitlab"}},
		APIEnv:          "GITLAB",
		DefaultAPIURL:   DefaultBaseURL,
		ClientEnv:       "GITLAB",
		DefaultTokenURL: TokenURL,
		New: func(s providers.Settings, hc *http.Client) (providers.Provider, error) {
			c, err := New(Config{BaseURL: s.APIURL, TokenURL: s.TokenURL, ClientID: s.ClientID, ClientSecret: s.ClientSecret, Setting: s.Setting, Logger: s.Logger}, hc)
			if err != nil {
				return providers.Provider{}, err
			}
			return providers.Provider{Repos: c, Refresh: c}, nil
		},
	}
}

// TokenURL returns the OAuth token endpoint of the instance whose API root
// is apiURL: {instance}/oauth/token, under the instance root rather than
// its /api/v4/ path (GitLab's OAuth 2.0 provider API,
// https://docs.gitlab.com/api/oauth2/).
func TokenURL(apiURL string) string {
	root := strings.TrimSuffix(apiURL, "/")
	root = strings.TrimSuffix(root, "/api/v4")
	return root + "/oauth/token"
}
