// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

var fuzzPaths = []string{
	"/api/v1/experiments", "/api/v1/experiments/experiment%2Fprocess", "/api/v1/experiments/experiment%2Fprocess/active",
	"/api/v1/experiments/nope/active", "/api/v1/simulators", "/api/v1/simulators/simulated_process",
	"/api/v1/simulators/simulated_process/chaos", "/api/v1/openapi.yaml", "/metrics", "/", "/api/v1/experiments/%2F%2F/active",
	"/api/v1/experiments/experiment%2Fprocess/variants", "/api/v1/experiments/experiment%2Fprocess/variants/top20",
	"/api/v1/validate", "/api/v1/import", "/api/v1/templates/top_k?k=30", "/api/v1/processors",
}

var fuzzMethods = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodPost, http.MethodDelete, http.MethodHead}

// FuzzAPI drives the handlers with random requests: never a panic or a 5xx, errors are JSON, and a rejected
// request changes no state. The seeds run with every `go test`; explore with
// go test -run '^$' -fuzz FuzzAPI -fuzztime 60s ./extension/phoenixcontrolextension/
func FuzzAPI(f *testing.F) {
	seeds := []struct {
		method, path uint8
		body, ct     string
	}{
		{1, 2, `{"variant":"top20"}`, "application/json"},
		{1, 2, `{"variant":"nope"}`, "application/json"},
		{1, 2, `{"variant":`, "application/json"},
		{2, 5, `{"processes":5,"profile":"chaos"}`, "application/json"},
		{2, 5, `{"processes":-5}`, "application/json"},
		{3, 6, `{"kind":"kill","target":{"class":"low"}}`, "application/json"},
		{3, 6, `{"kind":"cpu_spike","target":{"pid":1},"intervals":99999}`, "application/json"},
		{3, 6, `[]`, "application/json; charset=utf-8"},
		{4, 0, ``, ""},
		{0, 10, ``, ""},
		{3, 11, `{"name":"top30","processors":[{"topk":{"k":30}}]}`, "application/json"},
		{3, 11, `{"name":"x","processors":[{"bad":{}}]}`, "application/json"},
		{4, 12, ``, ""},
		{3, 13, `{"processors":[{"topk":{"k":-1}},{"batch":{}}]}`, "application/json"},
		{3, 14, `{"yaml":"processors: {topk: {}}"}`, "application/json"},
		{0, 15, ``, ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, s.body, s.ct)
	}
	f.Fuzz(func(t *testing.T, m, p uint8, body, ct string) {
		reg := newRegistry(zap.NewNop())
		exp := newFakeExperiment()
		reg.RegisterExperiment(exp)
		sim := newSimulator(t)
		reg.RegisterSimulator("simulated_process", sim)
		before, beforeSim, beforeVariants := exp.Snapshot().Active, sim.Status(), len(exp.Snapshot().Variants)

		req := httptest.NewRequest(fuzzMethods[int(m)%len(fuzzMethods)], "http://x"+fuzzPaths[int(p)%len(fuzzPaths)], strings.NewReader(body))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		rec := httptest.NewRecorder()
		newAPI(reg, apiInfo{Node: "node-a"}, 1024, testProcessors()).handler().ServeHTTP(rec, req)

		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", req.Method, req.URL, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			var e httpjson.ErrorBody
			if req.Method != http.MethodHead {
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
					t.Fatalf("error is not JSON: %s", rec.Body)
				}
			}
			if exp.Snapshot().Active != before {
				t.Fatalf("a rejected request switched the variant")
			}
			if n := len(exp.Snapshot().Variants); n != beforeVariants {
				t.Fatalf("a rejected request added or removed a variant: %d -> %d", beforeVariants, n)
			}
			if after := sim.Status(); after.Profile != beforeSim.Profile || after.Processes != beforeSim.Processes || after.Live != beforeSim.Live {
				t.Fatalf("a rejected request changed the simulator: %+v -> %+v", beforeSim, after)
			}
		}
	})
}
