package fakeknobs

import (
	"net/http"
	"net/url"
	"strings"
)

// BaseURL returns the absolute URL, ending in "/", under which the client
// reached the emulator serving r; fakes start their next links with it.
//
// A non-empty configured (the fake's BaseURL field) wins, with one trailing
// "/" added or kept. Otherwise the URL is derived from the request: the
// scheme (https when r.TLS is set, or X-Forwarded-Proto when it says http
// or https), r.Host, then the mount prefix — X-Forwarded-Prefix when a
// proxy sent one, else the part of the request URI an http.StripPrefix in
// front of the fake removed.
func BaseURL(r *http.Request, configured string) string {
	if configured != "" {
		return strings.TrimSuffix(configured, "/") + "/"
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p == "http" || p == "https" {
		scheme = p
	}
	prefix := r.Header.Get("X-Forwarded-Prefix")
	if prefix == "" {
		// http.StripPrefix leaves RequestURI alone: what it removed is the
		// difference between the two paths.
		if u, err := url.ParseRequestURI(r.RequestURI); err == nil && strings.HasSuffix(u.Path, r.URL.Path) {
			prefix = strings.TrimSuffix(u.Path, r.URL.Path)
		}
	}
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix != "/" {
		prefix += "/"
	}
	return scheme + "://" + r.Host + prefix
}
