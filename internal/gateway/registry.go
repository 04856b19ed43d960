package gateway

import (
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"

	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/providers"
	"github.com/idpgate/idpgate/providers/all"
)

// newRegistry builds the connection registry from cfg and the adapters'
// specs. Every configured connection gets its own HTTP client from client
// (so its own circuit breaker, named after it); each default (a provider's
// connections that are not configured) gets one client its connections
// share. It logs which connection uses which adapter, without secrets.
func newRegistry(cfg config.Config, client func(name string) *http.Client, logger *slog.Logger) (*providers.Registry, error) {
	reg := &providers.Registry{}
	specs := all.Specs()
	// resolve layers a connection's settings; the adapter logs to logger.
	resolve := func(adapter string, own providers.Settings) providers.Settings {
		s := cfg.Resolve(adapter, own)
		s.Logger = logger
		return s
	}
	for _, spec := range specs {
		for _, m := range spec.Serves {
			name := m.Provider
			if m.Connection != "" {
				name = m.Connection
			}
			s := resolve(spec.Adapter, providers.Settings{})
			p, err := spec.New(s, client(name))
			if err != nil {
				return nil, fmt.Errorf("%s_API_URL: %w", spec.APIEnv, err)
			}
			reg.AddDefault(m, providers.Connection{Adapter: spec.Adapter, Provider: p})
			logConnection(logger, "default connection", m.Connection, m.Provider, spec, s)
		}
	}
	for _, conn := range cfg.Connections {
		name, hc := conn.Name(), client(conn.Name())
		build := func(spec providers.Spec) (providers.Connection, error) {
			p, err := spec.New(resolve(spec.Adapter, conn.Settings), hc)
			if err != nil {
				return providers.Connection{}, fmt.Errorf("CONNECTION_%s: %w", conn.Key, err)
			}
			return providers.Connection{Name: name, Adapter: spec.Adapter, Provider: p}, nil
		}
		if conn.Adapter != "" {
			spec, _ := all.Find(conn.Adapter)
			c, err := build(spec)
			if err != nil {
				return nil, err
			}
			reg.Add(c)
			logConnection(logger, "connection", name, "", spec, resolve(spec.Adapter, conn.Settings))
			continue
		}
		// No ADAPTER: the identities' provider chooses. Build every
		// candidate now, so a setting that does not fit fails start-up
		// rather than a request.
		byProvider := map[string]providers.Connection{}
		for _, spec := range specs {
			c, err := build(spec)
			if err != nil {
				return nil, err
			}
			for _, m := range spec.Serves {
				if m.Connection == "" || providers.ConnectionKey(m.Connection) == conn.Key {
					byProvider[m.Provider] = c
				}
			}
		}
		// The adapter depends on the identity's provider: log it as
		// "by provider" and list which adapter serves which provider.
		served := make([]string, 0, len(byProvider))
		for provider, c := range byProvider {
			served = append(served, provider+"="+c.Adapter)
		}
		sort.Strings(served)
		logger.Info("connection", "connection", name, "adapter", "by provider", "adapters", strings.Join(served, ","))
		reg.AddLazy(name, func(provider string) providers.Connection {
			if c, ok := byProvider[provider]; ok {
				return c
			}
			return providers.Connection{Name: name}
		})
	}
	return reg, nil
}

// logConnection logs a connection's adapter and settings, never the
// client secret. A default names the provider it serves (and the
// connection, when it serves only one).
func logConnection(logger *slog.Logger, msg, name, provider string, spec providers.Spec, s providers.Settings) {
	var attrs []any
	if name != "" {
		attrs = append(attrs, "connection", name)
	}
	if provider != "" {
		attrs = append(attrs, "provider", provider)
	}
	attrs = append(attrs, "adapter", spec.Adapter, "api_url", s.APIURL)
	if spec.Refreshes() {
		attrs = append(attrs, "token_url", s.TokenURL, "client_id", s.ClientID)
	}
	logger.Info(msg, attrs...)
}
