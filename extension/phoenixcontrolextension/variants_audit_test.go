// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// subjectAuth is what an authenticator that names its client (oidc, basicauth) puts in client.Info.
type subjectAuth map[string]string

func (a subjectAuth) GetAttribute(name string) any {
	if v, ok := a[name]; ok {
		return v
	}
	return nil
}

func (a subjectAuth) GetAttributeNames() []string {
	names := make([]string, 0, len(a))
	for k := range a {
		names = append(names, k)
	}
	return names
}

// TestAuditLines: each change's audit line says who (the authenticated subject when there is one, and the
// address) and what (the chain as compact JSON, bounded).
func TestAuditLines(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	reg := newRegistry(zap.New(core))
	reg.RegisterExperiment(newFakeExperiment())
	handler := newAPI(reg, apiInfo{}, 1<<16, testProcessors()).handler()
	addr := &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 4242}
	do := func(method, path, body string, auth client.AuthData) int {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req = req.WithContext(client.NewContext(context.Background(), client.Info{Addr: addr, Auth: auth}))
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	exp := "/api/v1/experiments/experiment%2Fprocess/variants"

	require.Equal(t, http.StatusCreated, do("POST", exp, `{"name":"top30","processors":[{"topk":{"k":30}}]}`, subjectAuth{"subject": "alice"}))
	added := logs.FilterMessage("audit: variant added").All()
	require.Len(t, added, 1)
	fields := added[0].ContextMap()
	assert.Equal(t, "alice@10.0.0.7:4242", fields["client"])
	assert.JSONEq(t, `[{"topk":{"k":30}}]`, fields["definition"].(string))
	assert.NotContains(t, fields["definition"], "\n", "compact")

	// An authenticator that names no one (bearertokenauth): the address.
	require.Equal(t, http.StatusOK, do("DELETE", exp+"/top30", "", nil))
	removed := logs.FilterMessage("audit: variant removed").All()
	require.Len(t, removed, 1)
	fields = removed[0].ContextMap()
	assert.Equal(t, "10.0.0.7:4242", fields["client"])
	assert.JSONEq(t, `[{"topk":{"k":30}}]`, fields["definition"].(string), "what was removed")

	// A long definition is cut, on a rune boundary, saying how long it was.
	long, _ := json.Marshal(map[string]any{"name": "long", "processors": []any{map[string]any{"topk": map[string]any{
		"keep": map[string]any{"patterns": []string{strings.Repeat("é", 3000)}}}}}})
	require.Equal(t, http.StatusCreated, do("POST", exp, string(long), subjectAuth{"username": "bob"}))
	added = logs.FilterMessage("audit: variant added").All()
	require.Len(t, added, 2)
	def := added[1].ContextMap()["definition"].(string)
	assert.Equal(t, "bob@10.0.0.7:4242", added[1].ContextMap()["client"])
	assert.LessOrEqual(t, len(def), maxAuditDefinition+40)
	assert.True(t, utf8.ValidString(def))
	assert.True(t, strings.HasPrefix(def, `[{"topk":{"keep":{"patterns":["éé`), def[:40])
	assert.Contains(t, def, "bytes in all)")
}
