package httpmw

import (
	"net/http"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// WriteError writes status and one GraphQL error with code and message
// through gqlresp.Write, the gateway's one error writer. message must be
// safe to show to the client.
func WriteError(w http.ResponseWriter, r *http.Request, status int, code, message string) {
	gqlresp.Write(w, r, status, code, message, nil)
}

func writeError(w http.ResponseWriter, r *http.Request, status int, code, message string, extra map[string]any) {
	gqlresp.Write(w, r, status, code, message, extra)
}
