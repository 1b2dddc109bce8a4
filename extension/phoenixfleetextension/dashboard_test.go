// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
)

// authHost is a host with a bearertokenauth extension started.
type authHost struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h authHost) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestDashboardIsPublicAndTheAPIIsNot: with auth on, the fleet page and its assets load without a token (so
// the page can ask for one) with a strict CSP; every API route, the OpAMP endpoint and anything that is not
// a dashboard file still refuse without it.
func TestDashboardIsPublicAndTheAPIIsNot(t *testing.T) {
	authFactory := bearertokenauthextension.NewFactory()
	authCfg := authFactory.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"token": "s3cret"}).Unmarshal(authCfg))
	auth, err := authFactory.Create(context.Background(), extensiontest.NewNopSettings(authFactory.Type()), authCfg)
	require.NoError(t, err)
	require.NoError(t, auth.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { require.NoError(t, auth.Shutdown(context.Background())) })
	h := authHost{Host: componenttest.NewNopHost(), exts: map[component.ID]component.Component{component.MustNewID("bearertokenauth"): auth}}

	cfg := createDefaultConfig().(*Config)
	require.NoError(t, confmap.NewFromStringMap(map[string]any{"endpoint": "127.0.0.1:0", "report_interval": "1s",
		"auth": map[string]any{"authenticator": "bearertokenauth"}}).Unmarshal(cfg))
	require.NoError(t, cfg.Validate())
	f := newFleet(cfg, extensiontest.NewNopSettings(metadata.Type))
	require.NoError(t, f.Start(context.Background(), h))
	t.Cleanup(func() { require.NoError(t, f.Shutdown(context.Background())) })
	base := "http://" + f.Addr().String()

	tests := []struct {
		method, path, token string
		status              int
		contentType, body   string
	}{
		{"GET", "/", "", http.StatusOK, "text/html", `<script src="ui/app.js"`},
		{"HEAD", "/", "", http.StatusOK, "text/html", ""},
		{"GET", "/ui/app.js", "", http.StatusOK, "text/javascript", "/api/v1/fleet/rollouts"},
		{"GET", "/ui/app.css", "", http.StatusOK, "text/css", ".rollout-head"},
		{"GET", "/ui/common.js", "", http.StatusOK, "text/javascript", "streamEvents"},
		{"GET", "/ui/common.css", "", http.StatusOK, "text/css", ":root"},
		{"GET", "/ui/missing.js", "", http.StatusUnauthorized, "", ""}, // not a dashboard file: the API's chain
		{"GET", "/ui/", "", http.StatusUnauthorized, "", ""},           // no directory listings
		{"GET", "/ui/index.html", "", http.StatusUnauthorized, "", ""}, // the page is only at /
		{"GET", "/ui/../api/v1/fleet/agents", "", http.StatusUnauthorized, "", ""},
		{"POST", "/", "", http.StatusUnauthorized, "", ""},                                                         // writes never reach the static files
		{"GET", "/api/v1/fleet/agents", "", http.StatusUnauthorized, "application/json", `"code": "unauthorized"`}, // the API's error shape
		{"GET", opampPath, "", http.StatusUnauthorized, "", ""},
		{"GET", "/api/v1/fleet/agents", "s3cret", http.StatusOK, "application/json", `"agents"`},
		{"GET", "/ui/missing.js", "s3cret", http.StatusNotFound, "application/json", `"not_found"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path+"/"+tt.token, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(""))
			require.NoError(t, err)
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var b strings.Builder
			_, _ = io.Copy(&b, resp.Body)
			assert.Equal(t, tt.status, resp.StatusCode, b.String())
			if tt.contentType != "" {
				assert.Contains(t, resp.Header.Get("Content-Type"), tt.contentType)
				assert.Contains(t, b.String(), tt.body)
			}
			if tt.status == http.StatusOK && !strings.HasPrefix(tt.path, "/api/") {
				csp := resp.Header.Get("Content-Security-Policy")
				assert.Contains(t, csp, "default-src 'none'")
				assert.Contains(t, csp, "script-src 'self'")
				assert.Contains(t, csp, "frame-ancestors 'none'")
				assert.NotContains(t, csp, "unsafe")
				assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
				assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"))
			} else {
				assert.Empty(t, resp.Header.Get("Content-Security-Policy"), "the API's answers are not the page's")
			}
		})
	}
}

// TestDashboardFilesAreSafe: the page's script never parses data as HTML, and loads nothing from elsewhere.
func TestDashboardFilesAreSafe(t *testing.T) {
	for _, name := range []string{"ui/index.html", "ui/app.js", "ui/app.css"} {
		data, err := uiFiles.ReadFile(name)
		require.NoError(t, err)
		s := string(data)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "http://", "https://", "<script>", "style="} {
			assert.NotContains(t, s, bad, "%s", name)
		}
	}
}
