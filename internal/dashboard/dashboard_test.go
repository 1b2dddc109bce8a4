// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package dashboard

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
)

// TestHandler: the page's files and the shared ones are served with the CSP; anything else, other
// methods and directory listings included, goes to next.
func TestHandler(t *testing.T) {
	page := fstest.MapFS{
		"ui/index.html": {Data: []byte("<p>page</p>")},
		"ui/app.js":     {Data: []byte("// app")},
		"ui/common.css": {Data: []byte("/* the page's own */")},
		"ui/sub/x.js":   {Data: []byte("// nested")},
	}
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := Handler(page, "ui", next)
	tests := []struct {
		method, path string
		status       int
		body         string
	}{
		{http.MethodGet, "/", http.StatusOK, "<p>page</p>"},
		{http.MethodHead, "/", http.StatusOK, ""},
		{http.MethodGet, "/ui/app.js", http.StatusOK, "// app"},
		{http.MethodGet, "/ui/common.js", http.StatusOK, "streamEvents"},
		{http.MethodGet, "/ui/common.css", http.StatusOK, "the page's own"}, // the page's file wins
		{http.MethodPost, "/", http.StatusTeapot, ""},
		{http.MethodGet, "/ui/", http.StatusTeapot, ""},
		{http.MethodGet, "/ui/index.html", http.StatusTeapot, ""},
		{http.MethodGet, "/ui/sub/x.js", http.StatusTeapot, ""},
		{http.MethodGet, "/ui/..", http.StatusTeapot, ""},
		{http.MethodGet, "/ui/sub", http.StatusTeapot, ""},
		{http.MethodGet, "/api/v1/info", http.StatusTeapot, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		assert.Equal(t, tt.status, rec.Code, "%s %s", tt.method, tt.path)
		assert.Contains(t, rec.Body.String(), tt.body, "%s %s", tt.method, tt.path)
		if tt.status == http.StatusOK {
			assert.Equal(t, CSP, rec.Header().Get("Content-Security-Policy"), "%s %s", tt.method, tt.path)
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
		} else {
			assert.Empty(t, rec.Header().Get("Content-Security-Policy"), "%s %s: not a page file", tt.method, tt.path)
		}
	}
}

// TestCommonFilesAreSafe: the shared script never parses data as HTML, and neither file loads anything
// from elsewhere.
func TestCommonFilesAreSafe(t *testing.T) {
	for _, name := range []string{"common.js", "common.css"} {
		data, err := common.ReadFile(name)
		assert.NoError(t, err)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://", "<script>", "@import", "url("} {
			assert.NotContains(t, string(data), bad, "%s", name)
		}
	}
}
