package guard

import (
	"context"
	"errors"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// Trusted is a gqlgen handler extension that runs only the documents of a
// Manifest (trusted documents, or a persisted query list used as a
// safelist). A client sends either the id alone, as Apollo's persisted
// query link does ({"extensions":{"persistedQuery":{"version":1,
// "sha256Hash":"<id>"}}}), or the id with the query text, which must then
// equal the manifest's, or (unless RequireID) the query text alone, which
// must be one of the manifest's bodies byte for byte. Unlike APQ it never
// learns new documents. Do not install APQ alongside it.
//
// A Trusted is immutable and safe for concurrent use. Create it with
// NewTrusted; the zero value (no manifest) trusts nothing, and Validate
// rejects it.
type Trusted struct {
	manifest  *Manifest
	requireID bool
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = (*Trusted)(nil)

// NewTrusted returns a Trusted for m. With requireID, requests must name an
// id; a query text alone is rejected even when it is in the manifest.
func NewTrusted(m *Manifest, requireID bool) *Trusted {
	return &Trusted{manifest: m, requireID: requireID}
}

// ExtensionName implements graphql.HandlerExtension.
func (t *Trusted) ExtensionName() string { return "TrustedDocuments" }

// Validate implements graphql.HandlerExtension: every document of the
// manifest must validate against the schema, so a stale manifest stops
// start-up instead of failing requests.
func (t *Trusted) Validate(es graphql.ExecutableSchema) error {
	if t.manifest == nil {
		return errors.New("guard: trusted documents: no manifest")
	}
	for id, body := range t.manifest.byID {
		doc, err := parser.ParseQuery(&ast.Source{Input: body})
		if err != nil {
			return fmt.Errorf("guard: trusted documents: %s: %w", truncate(id), err)
		}
		if errs := validator.ValidateWithRules(es.Schema(), doc, nil); len(errs) > 0 {
			return fmt.Errorf("guard: trusted documents: %s: %w", truncate(id), errs[0])
		}
	}
	return nil
}

// MutateOperationParameters implements graphql.OperationParameterMutator.
func (t *Trusted) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	id, present, err := persistedQueryID(p.Extensions)
	if err != nil {
		return err
	}
	if !present {
		switch {
		case t.requireID:
			return trustedError(gqlresp.CodePersistedQueryIDRequired, "this endpoint runs trusted documents only; send extensions.persistedQuery.sha256Hash")
		case p.Query == "":
			return nil // gqlgen reports the missing operation
		case !t.manifest.Contains(p.Query):
			return trustedError(gqlresp.CodeQueryNotInSafelist, "the operation is not in the list of trusted documents")
		}
		return nil
	}
	body, ok := t.manifest.Lookup(id)
	if !ok {
		return trustedError(gqlresp.CodePersistedQueryNotInList, "the persisted query id is not in the list of trusted documents")
	}
	if p.Query != "" && p.Query != body {
		return trustedError(gqlresp.CodeQueryNotInSafelist, "the query text differs from the trusted document with this id")
	}
	p.Query = body
	return nil
}

// persistedQueryID reads extensions.persistedQuery (version 1, sha256Hash).
func persistedQueryID(ext map[string]any) (string, bool, *gqlerror.Error) {
	raw, ok := ext["persistedQuery"]
	if !ok || raw == nil {
		return "", false, nil
	}
	pq, ok := raw.(map[string]any)
	if !ok {
		return "", false, trustedError(gqlresp.CodePersistedQueryNotInList, "extensions.persistedQuery must be an object")
	}
	if v, ok := toInt(pq["version"]); !ok || v != 1 {
		return "", false, trustedError(gqlresp.CodePersistedQueryNotInList, "extensions.persistedQuery.version must be 1")
	}
	id, ok := pq["sha256Hash"].(string)
	if !ok || id == "" {
		return "", false, trustedError(gqlresp.CodePersistedQueryNotInList, "extensions.persistedQuery.sha256Hash must be a non-empty string")
	}
	return id, true, nil
}

func trustedError(code, msg string) *gqlerror.Error {
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}
