// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

// TestMethodNotAllowedHeader: Allow lists the methods as HTTP has them, comma-separated and sorted.
func TestMethodNotAllowedHeader(t *testing.T) {
	srv := httptest.NewServer(newAPI(newRegistry(zap.NewNop()), apiInfo{}, 1024, testProcessors()).handler())
	defer srv.Close()
	for path, want := range map[string]string{
		"/api/v1/experiments/e/active": "PUT",
		"/api/v1/experiments/e/runs":   "GET, HEAD, POST",
		"/api/v1/simulators/s":         "GET, HEAD, PATCH",
	} {
		req, err := http.NewRequest(http.MethodDelete, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode, path)
		assert.Equal(t, want, resp.Header.Get("Allow"), path)
		assert.Contains(t, string(b), "DELETE is not allowed here; use "+want, path)
	}
	resp, err := http.Head(srv.URL + "/api/v1/info")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "HEAD is GET without the body")
}

// TestAuthFailuresAreJSON: the authenticator's 401 has the API's error shape, and the same requests are
// rejected and accepted as before.
func TestAuthFailuresAreJSON(t *testing.T) {
	h := newHost()
	h.exts[component.MustNewID("bearertokenauth")] = startExt(t, bearertokenauthextension.NewFactory(), map[string]any{"token": "s3cret"})
	c := startControl(t, configFrom(t, map[string]any{"endpoint": "127.0.0.1:0", "auth": map[string]any{"authenticator": "bearertokenauth"}}), h)
	base := "http://" + c.Addr().String()
	for _, tc := range []struct{ path, token string }{{"/api/v1/experiments", ""}, {"/api/v1/experiments", "wrong"}, {"/metrics", ""}, {"/api/v1/nowhere", ""}} {
		req, err := http.NewRequest(http.MethodGet, base+tc.path, nil)
		require.NoError(t, err)
		if tc.token != "" {
			req.Header.Set("Authorization", "Bearer "+tc.token)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, tc)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), tc)
		var body httpjson.ErrorBody
		require.NoError(t, json.Unmarshal(b, &body), "JSON error body: %s", b)
		assert.Equal(t, "unauthorized", body.Error.Code)
		assert.NotEmpty(t, body.Error.Message)
		assert.False(t, strings.Contains(string(b), "s3cret"))
	}
	req, err := http.NewRequest(http.MethodPut, base+"/api/v1/experiments/e/active", strings.NewReader("x"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Encoding", "bogus")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Contains(t, string(b), `"code": "bad_request"`, "confighttp's other errors have the shape too")

	status, body := get(t, base+"/api/v1/experiments", "s3cret")
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "experiments")
	status, _ = get(t, base+"/", "")
	assert.Equal(t, http.StatusOK, status, "the dashboard's files stay public")
}
