package gateway

import (
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"

	"github.com/idpgate/idpgate/graph"
	"github.com/idpgate/idpgate/graph/model"
	"github.com/idpgate/idpgate/internal/authn"
	"github.com/idpgate/idpgate/internal/config"
	"github.com/idpgate/idpgate/internal/guard"
	"github.com/idpgate/idpgate/internal/incremental"
	"github.com/idpgate/idpgate/internal/telemetry"
	"github.com/idpgate/idpgate/resolvers"
)

// NewGraphQL returns the gqlgen server the gateway serves for root: the
// transports, the error presenter, the recover func, the per-operation
// state and guard's limits from cfg. dev turns introspection and
// suggestions on. Tests that need their own resolver dependencies build
// their server here, so they exercise the production wiring.
func NewGraphQL(root *resolvers.Resolver, cfg config.Config, dev bool) (*handler.Server, error) {
	return newGraphQL(root, cfg, dev, nil, nil)
}

// newGraphQL is NewGraphQL with telemetry (nil: none) and the cluster's
// APQ store (nil: in memory).
func newGraphQL(root *resolvers.Resolver, cfg config.Config, dev bool, tel *telemetry.Telemetry, apq graphql.Cache[string]) (*handler.Server, error) {
	gql := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: root}))
	gql.AddTransport(transport.Options{})
	gql.AddTransport(transport.GET{})
	incremental.Configure(gql) // @defer over multipart/mixed; before POST, which would also take those requests
	gql.AddTransport(transport.POST{})
	gql.AddTransport(unsupported{}) // last: what no transport above takes
	gql.SetErrorPresenter(root.PresentError)
	gql.SetRecoverFunc(root.Recover)
	gql.AroundOperations(resolvers.AroundOperations)
	opts := guard.Options{
		Limits: guard.Limits{
			MaxDepth:      cfg.MaxDepth,
			MaxAliases:    cfg.MaxAliases,
			MaxRootFields: cfg.MaxRootFields,
			MaxDirectives: cfg.MaxDirectives,
			MaxTokens:     cfg.MaxTokens,
			MaxCost:       cfg.MaxCost,
			MaxFields:     cfg.MaxFields,
		},
		Introspection:  cfg.Introspection || dev,
		Suggestions:    dev,
		QueryCacheSize: 1000,
		APQCacheSize:   cfg.APQCacheSize,
		APQPerUser:     cfg.APQPerUser,
		APQUserKey:     authn.UserID,
		OnAPQ:          tel.APQHook(),
		APQShared:      apq,
		Scalars: map[string]guard.ScalarCheck{
			"DateTime": func(v any) error { _, err := model.ParseDateTime(v); return err },
		},
	}
	if cfg.TrustedDocuments != "" {
		m, err := guard.LoadManifest(cfg.TrustedDocuments)
		if err != nil {
			return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %w", err)
		}
		opts.Trusted, opts.APQCacheSize = m, 0
	}
	if err := guard.Configure(gql, opts); err != nil {
		return nil, fmt.Errorf("limits: %w", err)
	}
	if ext := tel.GraphQL(authn.UserID); ext != nil {
		gql.Use(ext)
	}
	return gql, nil
}
