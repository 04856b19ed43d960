package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/idpgate/idpgate/internal/secret"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/all"
)

// Connection is one Auth0 connection configured with CONNECTION_<NAME>_*
// variables. Its Settings hold only what those variables set; Resolve
// fills the rest from the provider-level variables and the adapter's
// defaults.
type Connection struct {
	// Key is NAME as the variables spell it (providers.ConnectionKey of the
	// Auth0 connection name).
	Key string
	// Adapter is the adapter CONNECTION_<NAME>_ADAPTER names; empty means
	// the adapter that serves the Auth0 provider of the identities.
	Adapter  string
	Settings providers.Settings
	// TokenSource is CONNECTION_<NAME>_TOKEN_SOURCE: where the identities'
	// provider tokens come from (TokenSourceAuto when unset).
	TokenSource TokenSource
}

// Name is the connection's name for logs and circuit breakers: Key in
// lower case with "_" turned back into "-".
func (c Connection) Name() string {
	return strings.ReplaceAll(strings.ToLower(c.Key), "_", "-")
}

// connectionFields are the FIELDs of CONNECTION_<NAME>_<FIELD>.
var connectionFields = []string{"ADAPTER", "API_URL", "TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET", "TOKEN_SOURCE"}

const connectionPrefix = "CONNECTION_"

// connectionName is NAME: an Auth0 connection name (letters, digits,
// dashes) upper-cased with "-" turned into "_". Auth0 refuses a name that
// starts or ends with a dash or holds two in a row (Management API v2,
// ConnectionName: pattern ^[a-zA-Z0-9](-[a-zA-Z0-9]|[a-zA-Z0-9])*$), so
// a NAME with "_" there is a typo (CONNECTION_GHE__ADAPTER), not a
// connection "ghe-".
var connectionName = regexp.MustCompile(`^[A-Z0-9]+(_[A-Z0-9]+)*$`)

// readProviders reads the provider-level variables of every adapter: the
// defaults of the connections it serves. Only values that are set are
// kept; Resolve applies the adapter's defaults.
func (r *reader) readProviders(c *Config) {
	c.Providers = map[string]providers.Settings{}
	for _, spec := range all.Specs() {
		var s providers.Settings
		r.url(spec.APIEnv+"_API_URL", &s.APIURL)
		if spec.Refreshes() {
			p := spec.ClientEnv
			r.url(p+"_TOKEN_URL", &s.TokenURL)
			r.str(p+"_CLIENT_ID", &s.ClientID)
			r.secret(p+"_CLIENT_SECRET", &s.ClientSecret)
			r.pair(p+"_CLIENT_ID", p+"_CLIENT_SECRET", s.ClientID, s.ClientSecret)
		}
		c.Providers[spec.Adapter] = s
	}
}

// readConnections finds the CONNECTION_<NAME>_<FIELD> variables among
// names and checks each: a known FIELD, a known adapter, absolute http(s)
// URLs, a client id together with its secret, and no client settings for
// an adapter that does not refresh.
func (r *reader) readConnections(c *Config, names []string) {
	byKey := map[string]*Connection{}
	seen := map[string]bool{}
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	for _, name := range sorted {
		if !strings.HasPrefix(name, connectionPrefix) || seen[name] {
			continue
		}
		seen[name] = true
		rest := strings.TrimPrefix(name, connectionPrefix)
		var key, field string
		for _, f := range connectionFields {
			if k, ok := strings.CutSuffix(rest, "_"+f); ok {
				key, field = k, f
				break
			}
		}
		if field == "" {
			r.fail(name, "unknown setting; use CONNECTION_<NAME>_<FIELD> with FIELD one of "+strings.Join(connectionFields, ", "))
			continue
		}
		if !connectionName.MatchString(key) {
			r.fail(name, "NAME must be the Auth0 connection name upper-cased, with \"-\" as \"_\" (never first, last or doubled)")
			continue
		}
		conn := byKey[key]
		if conn == nil {
			conn = &Connection{Key: key}
			byKey[key] = conn
		}
		switch field {
		case "ADAPTER":
			v := strings.ToLower(strings.TrimSpace(r.getenv(name)))
			if _, ok := all.Find(v); !ok {
				r.fail(name, fmt.Sprintf("unknown adapter %q; use one of %s", v, strings.Join(adapterNames(), ", ")))
			}
			conn.Adapter = v
		case "API_URL":
			r.url(name, &conn.Settings.APIURL)
		case "TOKEN_URL":
			r.url(name, &conn.Settings.TokenURL)
		case "CLIENT_ID":
			r.str(name, &conn.Settings.ClientID)
		case "CLIENT_SECRET":
			r.secret(name, &conn.Settings.ClientSecret)
		case "TOKEN_SOURCE":
			r.tokenSource(name, &conn.TokenSource)
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		conn := byKey[k]
		v := connectionPrefix + k
		r.pair(v+"_CLIENT_ID", v+"_CLIENT_SECRET", conn.Settings.ClientID, conn.Settings.ClientSecret)
		if conn.Settings.ClientID != "" {
			conn.Settings.Setting = clientSetting(v)
		}
		if spec, ok := all.Find(conn.Adapter); ok && !spec.Refreshes() {
			for _, f := range []string{"TOKEN_URL", "CLIENT_ID", "CLIENT_SECRET"} {
				if r.getenv(v+"_"+f) != "" {
					r.fail(v+"_"+f, "adapter "+conn.Adapter+" does not refresh tokens and reads no client settings")
				}
			}
		}
		c.Connections = append(c.Connections, *conn)
	}
}

func adapterNames() []string {
	var out []string
	for _, s := range all.Specs() {
		out = append(out, s.Adapter)
	}
	return out
}

// Resolve returns the settings a connection served by adapter uses: its
// own (CONNECTION_<NAME>_*; zero for a connection that only appears in
// identities), then the provider-level variables, then the adapter's
// defaults. A connection with its own API_URL but no TOKEN_URL gets the
// adapter's default token endpoint for that API (GitLab:
// {API_URL}/oauth/token), not the provider-level one; a client id and
// secret are taken as a pair, and Setting names the variables they came
// from.
func (c Config) Resolve(adapter string, own providers.Settings) providers.Settings {
	spec, _ := all.Find(adapter)
	prov := c.Providers[adapter]
	s := own
	if s.APIURL == "" {
		s.APIURL = prov.APIURL
		if s.TokenURL == "" {
			s.TokenURL = prov.TokenURL
		}
	}
	if s.APIURL == "" {
		s.APIURL = spec.DefaultAPIURL
	}
	if !spec.Refreshes() {
		s.TokenURL, s.ClientID, s.ClientSecret, s.Setting = "", "", secret.String{}, ""
		return s
	}
	if s.TokenURL == "" {
		s.TokenURL = spec.DefaultTokenURL(s.APIURL)
	}
	if s.ClientID == "" {
		s.ClientID, s.ClientSecret = prov.ClientID, prov.ClientSecret
		s.Setting = clientSetting(spec.ClientEnv)
	}
	return s
}

// clientSetting names the OAuth client variables with prefix p, for the
// message an operator sees when the provider rejects the client.
func clientSetting(p string) string {
	return p + "_CLIENT_ID/" + p + "_CLIENT_SECRET/" + p + "_TOKEN_URL"
}

func (r *reader) url(name string, dst *string) {
	v := strings.TrimSpace(r.getenv(name))
	if v == "" {
		return
	}
	if err := checkHTTPURL(v); err != nil {
		r.fail(name, err.Error())
		return
	}
	*dst = v
}

func (r *reader) pair(idName, secretName, id string, sec secret.String) {
	if (id == "") != sec.IsZero() {
		r.fail(idName+" and "+secretName, "set both or neither")
	}
}
