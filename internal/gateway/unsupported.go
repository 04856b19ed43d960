package gateway

import (
	"net/http"

	"github.com/99designs/gqlgen/graphql"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// unsupported is the last transport: it answers the requests no other
// transport takes (a POST whose Content-Type is not application/json, a
// PUT…) with one error and a code, like every other refusal, instead of
// gqlgen's bare "transport not supported" with "data": null. A POST with
// another media type is 415 Unsupported Media Type (GraphQL over HTTP
// lets a server answer it so); any other method is 405 with Allow.
type unsupported struct{}

var _ graphql.Transport = unsupported{}

func (unsupported) Supports(*http.Request) bool { return true }

func (unsupported) Do(w http.ResponseWriter, r *http.Request, _ graphql.GraphExecutor) {
	if r.Method == http.MethodPost {
		gqlresp.Write(w, r, http.StatusUnsupportedMediaType, gqlresp.CodeBadRequest,
			"a GraphQL POST must have Content-Type: application/json", nil)
		return
	}
	w.Header().Set("Allow", "GET, POST, OPTIONS")
	gqlresp.Write(w, r, http.StatusMethodNotAllowed, gqlresp.CodeBadRequest,
		"a GraphQL request is a GET or a POST", nil)
}
