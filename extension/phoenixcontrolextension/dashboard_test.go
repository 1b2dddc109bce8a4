// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
)

// TestDashboardIsPublicAndTheAPIIsNot: with auth on, the page and its assets load without a token (so the
// page can ask for one), every API route still refuses without it, and the page carries a strict CSP.
func TestDashboardIsPublicAndTheAPIIsNot(t *testing.T) {
	h := newHost()
	h.exts[component.MustNewID("bearertokenauth")] = startExt(t, bearertokenauthextension.NewFactory(), map[string]any{"token": "s3cret"})
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "node_name": "node-7",
		"auth": map[string]any{"authenticator": "bearertokenauth"}}), h)
	base := "http://" + c.Addr().String()

	tests := []struct {
		path, token string
		status      int
		contentType string
		body        string
	}{
		{"/", "", http.StatusOK, "text/html", `<script src="ui/app.js"`},
		{"/ui/app.js", "", http.StatusOK, "text/javascript", "/api/v1/events"},
		{"/ui/app.css", "", http.StatusOK, "text/css", "svg.chart"},
		{"/ui/common.js", "", http.StatusOK, "text/javascript", "streamEvents"},
		{"/ui/common.css", "", http.StatusOK, "text/css", ":root"},
		{"/ui/missing.js", "", http.StatusUnauthorized, "", ""}, // not a dashboard file: the API's chain
		{"/ui/", "", http.StatusUnauthorized, "", ""},           // no directory listings
		{"/ui/index.html", "", http.StatusUnauthorized, "", ""}, // the page is only at /
		{"/api/v1/info", "", http.StatusUnauthorized, "", ""},   // data needs the token
		{"/api/v1/info", "s3cret", http.StatusOK, "application/json", `"node": "node-7"`},
		{"/ui/missing.js", "s3cret", http.StatusNotFound, "application/json", `"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.path+"/"+tt.token, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, base+tt.path, nil)
			require.NoError(t, err)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.contentType != "" {
				assert.Contains(t, resp.Header.Get("Content-Type"), tt.contentType)
				assert.Contains(t, b.String(), tt.body)
			}
			if tt.status == http.StatusOK && !strings.HasPrefix(tt.path, "/api/") {
				assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'self'")
				assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
			}
		})
	}

	// Writes never reach the static files.
	req, err := http.NewRequest(http.MethodPost, base+"/", strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}
