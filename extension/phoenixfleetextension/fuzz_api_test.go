// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/fleet"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpguard"
	"github.com/phoenix-platform/otelcol-phoenix/internal/httpjson"
)

var fuzzFleetMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodHead, http.MethodOptions, http.MethodPatch}

// FuzzAPI drives the fleet API as the controller serves it on loopback without auth (guard, page, routes)
// with random requests, in process: never a panic or a 5xx, errors are JSON, and neither a read nor a
// rejected request changes the rollouts or what is persisted of them. "{id}" in a path is a rollout in
// progress. The corpus is in testdata/fuzz/FuzzAPI; make fuzz explores it for a bounded time.
func FuzzAPI(f *testing.F) {
	f.Fuzz(func(t *testing.T, m uint8, path, body, ct, origin string) {
		tbl := newAgents(nopLogger(), 10)
		seedAgent(tbl, "experiment/process", "top20")
		seed := tbl.byUID["seed"].figures
		seed.Experiments = append(seed.Experiments, fleet.Experiment{Name: "experiment/other", Baseline: "full", Active: "full",
			Variants: []fleet.Variant{{Name: "full"}, {Name: "top20"}}})
		ro := newRollouts(tbl, nopLogger(), time.Second)
		store := memStore{}
		ro.load(context.Background(), store)
		running, err := ro.start(fleet.RolloutSpec{Experiment: "experiment/other", Candidate: "top20", Waves: []fleet.Wave{{Count: 1}}})
		if err != nil {
			t.Fatal(err)
		}
		ro.events.Close() // an event stream ends at once: the fuzzer cannot wait on one
		before, persisted := rolloutsJSON(t, ro), bytes.Clone(store[rolloutsKey])

		method := fuzzFleetMethods[int(m)%len(fuzzFleetMethods)]
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		req, err := http.NewRequest(method, "http://localhost"+strings.ReplaceAll(path, "{id}", running.ID), strings.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		req.RequestURI = req.URL.RequestURI()
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		rec := httptest.NewRecorder()
		h := httpguard.Guard{LoopbackHostsOnly: true}.Wrap(withDashboard(newAPI(tbl, ro, time.Second, 1024).handler()))
		h.ServeHTTP(rec, req)
		t.Logf("%s %s: %d", method, req.URL, rec.Code)

		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", method, req.URL, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && method != http.MethodHead {
			var e httpjson.ErrorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code == "" {
				t.Fatalf("%s %s: %d, error is not JSON: %s", method, req.URL, rec.Code, rec.Body)
			}
		}
		if rec.Code >= 400 || method == http.MethodGet || method == http.MethodHead {
			if after := rolloutsJSON(t, ro); after != before {
				t.Fatalf("%s %s (%d) changed the rollouts:\n%s\n->\n%s", method, req.URL, rec.Code, before, after)
			}
			if !bytes.Equal(store[rolloutsKey], persisted) {
				t.Fatalf("%s %s (%d) changed what is persisted", method, req.URL, rec.Code)
			}
		}
	})
}

func rolloutsJSON(t *testing.T, ro *rollouts) string {
	b, err := json.Marshal(ro.snapshot())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
