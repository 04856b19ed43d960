// Package guard rejects GraphQL operations that are too large or too
// expensive before any resolver runs, so a rejected operation never causes an
// upstream call (Auth0, GitHub, Google, …).
//
// It builds on what gqlgen and gqlparser already provide and adds only what
// they lack:
//
//   - gqlparser's parser token limit (handler.Server.SetParserTokenLimit) and
//     its fixed nesting limit (parser.MaxNestingDepth = 1000);
//   - gqlgen's extension.Introspection, installed only when asked for;
//   - automatic persisted queries as gqlgen's extension.AutomaticPersistedQuery
//     serves them (same messages and codes), but a query is registered only
//     once it passed the limits and validated, and the store is partitioned
//     by user (Options.APQUserKey, APQPerUser) with bounded entries;
//   - handler.Server.SetDisableSuggestion, which only covers two validation
//     rules; Configure strips "Did you mean …?" from every rule's message;
//   - Extension: a lexical pre-scan (tokens, directives), then depth,
//     aliases, root fields and field count (__typename included, every
//     operation of the document) on the parsed document BEFORE validation,
//     whose cost grows with the square of the fields sharing a response
//     name; then validation with an error list capped at MaxErrors; then,
//     on the validated operation with variables coerced, the arguments of
//     checked custom scalars (Options.Scalars, once per request) and a cost
//     estimate, all before any resolver runs;
//   - Trusted: a trusted-documents (persisted query list) mode that runs only
//     operations listed in a manifest.
//
// # Limits and their defaults
//
//	MaxDepth       10    nesting of field selections; `me { id }` is 2
//	MaxAliases     15    aliased fields, counted once per expansion
//	MaxRootFields  5     fields at the root, excluding __typename/__schema/__type
//	MaxDirectives  50    '@' tokens in the whole document (lexical)
//	MaxTokens      2000  lexical tokens in the whole document
//	MaxFields      200   field selections, counted once per expansion
//	MaxCost        5000  see the cost model below
//
// For comparison, GraphQL Armor's defaults are depth 6, aliases 15,
// directives 50, tokens 1000 and cost 5000; Apollo Router's are depth 100,
// height 200, aliases 30, root fields 20 and 15000 parser tokens. The
// deepest useful operation on this schema,
// me.identities.repos.edges.node.name, has depth 6: 10 leaves room for schema
// growth while still stopping deep fragment chains. The schema has one root
// field (me), so 5 is already generous. A complete Relay-style query
// (edges, nodes and pageInfo of both repos and calendar) has about 60 fields.
// 2000 tokens is about five times that query and ten times GraphiQL's
// introspection query.
//
// __typename counts as a field for MaxFields (before validation: 1,990 of
// them once cost 300–750 ms of validation) but not for cost. Introspection
// subtrees (__schema, __type) are not counted for depth, fields, root
// fields or cost: their fields are bounded apart (300; GraphiQL's query has
// 229), gqlparser's MaxIntrospectionDepth rule bounds their depth, and with
// introspection disabled they are rejected before validation.
// Fields skipped by @skip(if: true) or @include(if: false), with variables
// resolved, are not counted either, as gqlgen does not execute them.
//
// # Cost model
//
// The cost estimates the work an operation can cause, dominated by upstream
// calls, before anything runs. It follows Apollo's demand-control model:
//
//	cost(field)  = size(field) × (weight(field) + Σ cost(child))
//	weight       = 1 for a field of object type, 0 for a scalar or enum
//	               (and for __typename), unless the table says otherwise
//	size         = 1 for a field that is not a list, otherwise
//	               the value of the field's slicing argument (`first`; its
//	               schema default when absent; variables resolved), or
//	               the parent's slicing argument for its sized fields
//	               (a connection's edges and nodes), or
//	               the table's assumed size, or Costs.DefaultListSize.
//
// DefaultCosts gives Identity.repos and Identity.calendar a weight of 50 (one
// upstream HTTP call weighs as much as 50 result objects) with `first`
// slicing edges and nodes, and assumes 8 linked identities for
// User.identities. With these:
//
//	me { identities { repos { nodes { name } } } }            649  (1 + 8 × (1 + 50 + 30))
//	the same with repos aliased 20 times                   12,809
//	repos and calendar, edges + pageInfo, first: 100        4,025
//	the same with nodes as well as edges                    5,625  (rejected)
//	repos and calendar, edges + nodes + pageInfo, defaults  2,745
//
// The estimate is static: a user with two linked accounts causes a quarter
// of the upstream calls it assumes. Costs are a table keyed "Type.field"
// (FieldCost) so they can be tuned; Costs.Check verifies the table against
// the schema at start-up.
//
// # Errors
//
// Every rejection by Extension is a *gqlerror.Error with extensions.code
// "GRAPHQL_VALIDATION_FAILED" (the code Apollo Server uses for GraphQL Armor
// and depth-limit rules, and the code gqlgen gives validation errors, so the
// transports answer 422, or 400 for application/graphql-response+json (the
// gateway's gqlresp.Conform turns the 422 into 200, as GraphQL over HTTP
// asks of application/json), and nothing executes) and extensions.limit naming the limit: "depth",
// "aliases", "rootFields", "directives", "tokens", "fields" or "cost". The
// message gives the figure and the limit, e.g. "query depth 14 exceeds the
// limit of 10".
//
// Trusted rejects with Apollo Router's safelisting codes:
// "PERSISTED_QUERY_NOT_IN_LIST" (an id that is not in the manifest),
// "QUERY_NOT_IN_SAFELIST" (a query text that is not in it) and
// "PERSISTED_QUERY_ID_REQUIRED" (a query text where only ids are accepted).
// gqlgen answers these with HTTP 200, as it does APQ's
// "PERSISTED_QUERY_NOT_FOUND".
package guard
