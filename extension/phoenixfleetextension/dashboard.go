// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension // import "github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"
)

//go:embed ui
var uiFiles embed.FS

// dashboardCSP allows only the page's own files and its own API: no inline script, nothing from elsewhere.
const dashboardCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// withDashboard serves the fleet page's static files at / and /ui/ ahead of next (the OpAMP endpoint and
// the fleet API behind confighttp's whole chain: auth, CORS, limits). The files are public on purpose:
// they hold no data, and the page must load to ask for the token; every figure it shows comes from the
// authenticated API.
func withDashboard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if file, ok := dashboardFile(r); ok {
			setDashboardHeaders(w)
			http.ServeFileFS(w, r, uiFiles, file)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// dashboardFile is the embedded file a GET asks for: / is the page, /ui/<name> its assets.
func dashboardFile(r *http.Request) (string, bool) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return "", false
	}
	name := "index.html"
	if r.URL.Path != "/" {
		rest, ok := strings.CutPrefix(r.URL.Path, "/ui/")
		if !ok || rest == name || strings.Contains(rest, "/") {
			return "", false
		}
		name = rest
	}
	if st, err := fs.Stat(uiFiles, "ui/"+name); err != nil || st.IsDir() {
		return "", false
	}
	return "ui/" + name, true
}

func setDashboardHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}
