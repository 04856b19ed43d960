package httpmw

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/idpgate/idpgate/internal/gqlresp"
)

// echo answers with the body it read.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read: "+err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%d:%s", r.ContentLength, b)
})

// unsized hides the length so the client sends the body chunked.
type unsized struct{ io.Reader }

func TestBodyLimit(t *testing.T) {
	const limit = 64
	url := serve(t, BodyLimit(limit)(echo))
	tests := []struct {
		name       string
		method     string
		body       io.Reader
		wantStatus int
		wantBody   string
	}{
		{"small", http.MethodPost, strings.NewReader("hello"), 200, "5:hello"},
		{"exactly the limit", http.MethodPost, strings.NewReader(strings.Repeat("a", limit)), 200, fmt.Sprintf("%d:%s", limit, strings.Repeat("a", limit))},
		{"one byte over, declared", http.MethodPost, strings.NewReader(strings.Repeat("a", limit+1)), 413, ""},
		{"far over, chunked", http.MethodPost, unsized{strings.NewReader(strings.Repeat("a", 10*limit))}, 413, ""},
		{"one byte over, chunked", http.MethodPost, unsized{strings.NewReader(strings.Repeat("a", limit+1))}, 413, ""},
		{"small, chunked", http.MethodPost, unsized{strings.NewReader("hi")}, 200, "2:hi"},
		{"no body", http.MethodGet, nil, 200, "0:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, url, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s); want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == 413 {
				msg, code := decodeError(t, body)
				if want := "request body exceeds 64 bytes"; msg != want || code != gqlresp.CodeBadRequest {
					t.Errorf("error = %q, %q; want %q, %q", msg, code, want, gqlresp.CodeBadRequest)
				}
				return
			}
			if string(body) != tt.wantBody {
				t.Errorf("body = %q; want %q", body, tt.wantBody)
			}
		})
	}
}

// TestBodyLimitBeforeGqlgen shows why BodyLimit buffers: gqlgen's POST
// transport reads the body itself and answers a read error with 200.
func TestBodyLimitBeforeGqlgen(t *testing.T) {
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `type Query { name: String }`})
	es := &graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			return graphql.OneShot(&graphql.Response{Data: json.RawMessage(`{"name":"x"}`)})
		},
	}
	srv := handler.New(es)
	srv.AddTransport(transport.POST{})
	big := `{"query":"{ name }","variables":{"pad":"` + strings.Repeat("x", 200) + `"}}`

	tests := []struct {
		name       string
		h          http.Handler
		wantStatus int
	}{
		{"MaxBytesReader alone", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 100)
			srv.ServeHTTP(w, r)
		}), http.StatusOK},
		{"BodyLimit", BodyLimit(100)(srv), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, serve(t, tt.h), unsized{strings.NewReader(big)})
			req.Header.Set("Content-Type", "application/json")
			resp, body := do(t, req)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d (%s); want %d", resp.StatusCode, body, tt.wantStatus)
			}
		})
	}
}

func TestRejectBatches(t *testing.T) {
	url := serve(t, RejectBatches()(echo))
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		wantStatus  int
	}{
		{"single operation", http.MethodPost, "application/json", `{"query":"{ me { id } }"}`, 200},
		{"batch", http.MethodPost, "application/json", `[{"query":"{ a }"},{"query":"{ b }"}]`, 400},
		{"batch after whitespace", http.MethodPost, "application/json; charset=utf-8", " \r\n\t[{\"query\":\"{ a }\"}]", 400},
		{"graphql-response json", http.MethodPost, "application/vnd.foo+json", `[1]`, 400},
		{"not JSON", http.MethodPost, "application/graphql", `[not json]`, 200},
		{"empty body", http.MethodPost, "application/json", ``, 200},
		{"only whitespace", http.MethodPost, "application/json", `   `, 200},
		{"GET", http.MethodGet, "", ``, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, url, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			resp, body := do(t, req)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d (%s); want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if tt.wantStatus == 400 {
				msg, code := decodeError(t, body)
				if want := "batched requests are not supported; send one operation per request"; msg != want || code != gqlresp.CodeBadRequest {
					t.Errorf("error = %q, %q; want %q, %q", msg, code, want, gqlresp.CodeBadRequest)
				}
				return
			}
			if want := tt.body; !strings.HasSuffix(string(body), ":"+want) {
				t.Errorf("next handler read %q; want the body %q unchanged", body, want)
			}
		})
	}
}
