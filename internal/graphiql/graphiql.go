// Package graphiql serves the GraphiQL IDE from assets embedded in the
// binary, so it works offline and behind a strict Content-Security-Policy
// (no CDN, no inline script). The vendored files and their licences are in
// assets/; assets/VERSIONS says where they came from.
package graphiql

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed assets
var files embed.FS

// Options configure the page.
type Options struct {
	// Endpoint is the GraphQL URL the IDE posts to, e.g. "/graphql".
	Endpoint string
	// Token, when set, is pre-filled as the Authorization header. Only the
	// dev sandbox sets it, with a demo user's token.
	Token string
	// DefaultQuery is shown in the editor on first load.
	DefaultQuery string
}

// CSP is the Content-Security-Policy the page needs: everything from the
// gateway's own origin; GraphiQL's editor styles are inline.
const CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>idpgate · GraphiQL</title>
<link rel="stylesheet" href="{{.Base}}assets/graphiql.min.css">
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script id="graphiql-config" type="application/json">{{.Config}}</script>
<script src="{{.Base}}assets/react.production.min.js"></script>
<script src="{{.Base}}assets/react-dom.production.min.js"></script>
<script src="{{.Base}}assets/graphiql.min.js"></script>
<script src="{{.Base}}assets/init.js"></script>
</body>
</html>
`))

type pageConfig struct {
	Endpoint     string `json:"endpoint"`
	Token        string `json:"token,omitempty"`
	DefaultQuery string `json:"defaultQuery,omitempty"`
}

// Handler serves the page at prefix and its assets at prefix+"assets/".
// prefix must end in "/" (for example "/graphiql/").
func Handler(prefix string, opts Options) http.Handler {
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic("graphiql: embedded assets missing: " + err.Error())
	}
	assets := http.StripPrefix(prefix+"assets/", http.FileServer(http.FS(sub)))
	cfg := pageConfig{Endpoint: opts.Endpoint, Token: opts.Token, DefaultQuery: opts.DefaultQuery}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Security-Policy", CSP)
		if strings.HasPrefix(r.URL.Path, prefix+"assets/") {
			w.Header().Set("Cache-Control", "public, max-age=3600")
			assets.ServeHTTP(w, r)
			return
		}
		if r.URL.Path != prefix && r.URL.Path+"/" != prefix {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		// html/template escapes the JSON for the script context.
		_ = page.Execute(w, struct {
			Base   string
			Config pageConfig
		}{prefix, cfg})
	})
}
