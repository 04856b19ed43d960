package guard

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/validator/core"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

// Options select the protections Configure installs. The zero value
// installs Extension with the default limits and costs, disables
// introspection and suggestions, and enables neither APQ nor trusted
// documents.
type Options struct {
	// Limits, zero fields meaning their defaults.
	Limits Limits
	// Costs; a nil Fields map means DefaultCosts.
	Costs Costs
	// Introspection enables __schema and __type (gqlgen's
	// extension.Introspection). Off, gqlgen answers them with an error.
	Introspection bool
	// Suggestions keeps "Did you mean …?" in validation messages. They
	// reveal field, argument, type and enum names even with introspection
	// off.
	Suggestions bool
	// QueryCacheSize is the number of parsed and validated documents gqlgen
	// keeps (an LRU keyed by query text, filled by Extension); 0 disables
	// the cache, and gqlgen then validates each document a second time.
	QueryCacheSize int
	// APQCacheSize enables automatic persisted queries with an LRU of this
	// many queries; 0 disables APQ. gqlgen's APQ rejects a query whose
	// sha256 differs from the hash sent with it ("provided APQ hash does not
	// match query") and answers an unknown hash with PERSISTED_QUERY_NOT_FOUND.
	APQCacheSize int
	// APQPerUser bounds the queries one user may keep registered (0: 50);
	// the store is partitioned by APQUserKey, so one user's registrations
	// evict only their own entries, and holds APQCacheSize/APQPerUser users.
	APQPerUser int
	// APQUserKey names the caller of a request (nil: every caller shares
	// one partition).
	APQUserKey func(context.Context) (string, bool)
	// APQMaxQueryBytes is the longest query APQ stores (0: 32 KiB); a longer
	// one still runs but is not remembered, so the cache holds at most
	// APQCacheSize × APQMaxQueryBytes bytes of text.
	APQMaxQueryBytes int
	// APQShared, when set, is the cluster's APQ store (cluster.APQ): a
	// query registered on one replica is found on the others. The same
	// rules hold: only validated queries are registered, and a user finds
	// only the hashes that user registered.
	APQShared graphql.Cache[string]
	// Trusted, when set, runs only the manifest's documents (see Trusted).
	// It excludes APQ.
	Trusted *Manifest
	// Scalars checks the arguments of these custom scalars (keyed by
	// name) once per request before execution; a value that does not
	// coerce is one BAD_USER_INPUT error naming the argument.
	Scalars map[string]ScalarCheck
	// RequireTrustedID rejects query text sent without an id in trusted
	// mode, even when it is in the manifest.
	RequireTrustedID bool
	// OnAPQ, when set, is called for each APQ lookup by hash alone, with
	// whether the hash was known (metrics).
	OnAPQ func(hit bool)
}

const (
	defaultAPQMaxQueryBytes = 32 << 10
	defaultAPQPerUser       = 50
)

// Validate reports contradictory or out-of-range options.
func (o Options) Validate() error {
	var errs []error
	if err := o.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.QueryCacheSize < 0 || o.APQCacheSize < 0 || o.APQMaxQueryBytes < 0 || o.APQPerUser < 0 {
		errs = append(errs, errors.New("guard: cache sizes must not be negative"))
	}
	if o.Trusted != nil && o.APQCacheSize > 0 {
		errs = append(errs, errors.New("guard: trusted documents and APQ exclude each other: APQ would let clients register any operation"))
	}
	if o.Trusted == nil && o.RequireTrustedID {
		errs = append(errs, errors.New("guard: RequireTrustedID needs a trusted documents manifest"))
	}
	return errors.Join(errs...)
}

// Configure installs the protections on srv, in this order: gqlgen's parser
// token limit (MaxTokens), suggestion settings and capped validation rules,
// the query cache (shared with Extension), then Trusted if set, then
// Extension (which also serves APQ when enabled), then Introspection if
// enabled. Call it
// once, before serving and before adding other extensions. It returns the
// error of an invalid option, or of a cost table or manifest that does not
// match srv's schema (which gqlgen's Use would panic on).
func Configure(srv *handler.Server, o Options) (err error) {
	if err := o.Validate(); err != nil {
		return err
	}
	ext := NewExtension(o.Limits, o.Costs)

	defer func() {
		if r := recover(); r != nil {
			if e, ok := r.(error); ok {
				err = fmt.Errorf("guard: configure: %w", e)
				return
			}
			err = fmt.Errorf("guard: configure: %v", r)
		}
	}()

	srv.SetParserTokenLimit(ext.Limits().MaxTokens)
	ext.suggestions = o.Suggestions
	ext.introspection = o.Introspection
	ext.scalars = o.Scalars
	if !o.Suggestions {
		srv.SetDisableSuggestion(true)
		srv.SetValidationRulesFn(func() *rules.Rules { return CapErrors(RulesWithoutSuggestions(), MaxErrors) })
	} else {
		srv.SetValidationRulesFn(func() *rules.Rules { return CapErrors(rules.NewDefaultRules(), MaxErrors) })
	}
	if o.QueryCacheSize > 0 {
		// Shared with Extension, which adds only documents it validated.
		ext.cache = lru.New[*ast.QueryDocument](o.QueryCacheSize)
		ext.reports, _ = simplelru.NewLRU[*ast.OperationDefinition, Report](o.QueryCacheSize, nil)
		srv.SetQueryCache(ext.cache)
	}
	if o.Trusted == nil && o.APQCacheSize > 0 {
		maxBytes := o.APQMaxQueryBytes
		if maxBytes == 0 {
			maxBytes = defaultAPQMaxQueryBytes
		}
		perUser := o.APQPerUser
		if perUser == 0 {
			perUser = defaultAPQPerUser
		}
		ext.apq = newAPQStore(o.APQCacheSize, perUser, maxBytes, o.APQUserKey)
		ext.apq.observe = o.OnAPQ
		ext.apq.shared = o.APQShared
	}
	// Trusted resolves ids to documents before Extension parses them.
	if o.Trusted != nil {
		srv.Use(NewTrusted(o.Trusted, o.RequireTrustedID))
	}
	srv.Use(ext)
	if o.Introspection {
		srv.Use(extension.Introspection{})
	} else {
		srv.Use(NoIntrospection{})
	}
	return nil
}

// RulesWithoutSuggestions returns gqlparser's default validation rules with
// every "Did you mean …?" removed from their messages. gqlgen's
// SetDisableSuggestion covers only FieldsOnCorrectType and ScalarLeafs;
// KnownArgumentNames, KnownTypeNames and ValuesOfCorrectType would still
// suggest argument, type, input field and enum names. Pass it to
// handler.Server.SetValidationRulesFn together with SetDisableSuggestion(true)
// (gqlgen swaps those two rules back otherwise), as Configure does.
func RulesWithoutSuggestions() *rules.Rules {
	rs := rules.NewDefaultRules()
	for name, fn := range rs.GetInner() {
		rs.ReplaceRule(name, withoutSuggestions(fn))
	}
	return rs
}

func withoutSuggestions(fn core.RuleFunc) core.RuleFunc {
	return func(observers *core.Events, addError core.AddErrFunc) {
		fn(observers, func(options ...core.ErrorOption) {
			addError(append(options, stripSuggestion)...)
		})
	}
}

func stripSuggestion(err *gqlerror.Error) {
	if i := strings.Index(err.Message, " Did you mean "); i >= 0 {
		err.Message = err.Message[:i]
	}
}
