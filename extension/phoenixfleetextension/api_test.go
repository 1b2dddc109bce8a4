// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// TestOpenAPIMatchesRoutes: every route is documented, every documented route exists, with the same methods.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]any `yaml:"paths"`
	}
	require.NoError(t, yaml.Unmarshal(openAPI, &doc))
	documented := map[string][]string{}
	for path, ops := range doc.Paths {
		for m := range ops {
			documented[path] = append(documented[path], strings.ToUpper(m))
		}
		slices.Sort(documented[path])
	}
	served := map[string][]string{}
	tbl := newAgents(nopLogger(), 10)
	for _, r := range newAPI(tbl, newRollouts(tbl, nopLogger(), time.Second), time.Second, 1024).routes() {
		for m := range r.methods {
			served[r.pattern] = append(served[r.pattern], m)
		}
		slices.Sort(served[r.pattern])
	}
	assert.Equal(t, served, documented)
}

// TestAPIErrors: wrong methods, unknown routes and bad rollout requests answer JSON errors and start nothing.
func TestAPIErrors(t *testing.T) {
	tbl := newAgents(nopLogger(), 10)
	ro := newRollouts(tbl, nopLogger(), time.Second)
	srv := httptest.NewServer(newAPI(tbl, ro, time.Second, 1024).handler())
	defer srv.Close()
	for _, c := range []struct {
		method, path, ct, body string
		status                 int
		want                   string
	}{
		{"DELETE", "/api/v1/fleet/agents", "", "", 405, "GET"},
		{"GET", "/api/v1/nope", "", "", 404, "not_found"},
		{"GET", "/api/v1/fleet/agents/nope", "", "", 404, "no agent"},
		{"POST", "/api/v1/fleet/rollouts", "text/plain", "{}", 415, "application/json"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":`, 400, "bad_json"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":"e","bogus":1}`, 400, "unknown field"},
		// encoding/json would take these silently: a key in another case, a key twice, a second document
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"Experiment":"e"}`, 400, "case-sensitive"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":"e","experiment":"f"}`, 400, "given twice"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":"e"} {}`, 400, "one JSON object"},
		{"POST", "/api/v1/fleet/rollouts", "application/json; charset=latin1", `{}`, 415, "UTF-8"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":"` + strings.Repeat("x", 2000) + `"}`, 413, "too_large"},
		{"POST", "/api/v1/fleet/rollouts", "application/json", `{"experiment":"e","candidate":"","waves":[{"percent":150}]}`, 422, "invalid"},
		{"POST", "/api/v1/fleet/rollouts/nope/cancel", "", "", 404, "not_found"},
		{"GET", "/api/v1/fleet/openapi.yaml", "", "", 200, "openapi: 3"},
	} {
		req, err := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		if c.ct != "" {
			req.Header.Set("Content-Type", c.ct)
		}
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		var b strings.Builder
		_, _ = io.Copy(&b, resp.Body)
		resp.Body.Close()
		assert.Equal(t, c.status, resp.StatusCode, "%s %s: %s", c.method, c.path, b.String())
		assert.Contains(t, b.String(), c.want, "%s %s", c.method, c.path)
	}
	assert.Empty(t, ro.snapshot(), "no rollout started")
}
