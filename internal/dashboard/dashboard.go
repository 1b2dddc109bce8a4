// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package dashboard serves the extensions' pages — phoenix_control's node dashboard, phoenix_fleet's fleet
// page: each page's own embedded files, and the script and styles they share (common.js, common.css).
package dashboard // import "github.com/phoenix-platform/otelcol-phoenix/internal/dashboard"

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed common.js common.css
var common embed.FS

// CSP allows only the page's own files and its own API: no inline script, nothing from elsewhere.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page's index.html (in files, directory dir) at / and its other files at /ui/<name> — the shared common.js and
// common.css among them — ahead of next, which keeps confighttp's whole chain (auth, CORS, limits). The
// files are public on purpose: they hold no data, and the page must load to ask for the token; every
// figure it shows comes from the authenticated API. Anything else, index.html at /ui/ included, goes to
// next.
func Handler(files fs.FS, dir string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if files, name, ok := find(files, dir, r); ok {
			h := w.Header()
			h.Set("Content-Security-Policy", CSP)
			h.Set("X-Content-Type-Options", "nosniff")
			h.Set("Referrer-Policy", "no-referrer")
			h.Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, files, name)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// find returns the file system and the name of the file a GET asks for: the page's, else a shared one.
func find(page fs.FS, dir string, r *http.Request) (fs.FS, string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return nil, "", false
	}
	name := "index.html"
	if r.URL.Path != "/" {
		rest, ok := strings.CutPrefix(r.URL.Path, "/ui/")
		if !ok || rest == name || strings.Contains(rest, "/") {
			return nil, "", false
		}
		name = rest
	}
	for _, f := range []struct {
		files fs.FS
		name  string
	}{{page, path.Join(dir, name)}, {common, name}} {
		if st, err := fs.Stat(f.files, f.name); err == nil && !st.IsDir() {
			return f.files, f.name, true
		}
	}
	return nil, "", false
}
