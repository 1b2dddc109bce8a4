// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestRenderedDesiredStateIsAccepted: the desired-state file the chart renders is read by the real control
// extension (strict parser) and applied: node-1 is outside the 25% rollout, so it runs the baseline.
func TestRenderedDesiredStateIsAccepted(t *testing.T) {
	r := decode(t, render(t, "-f", filepath.Join(chartDir(t), "ci", "desired-state-values.yaml")))
	cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
	require.NotNil(t, cm)
	file := filepath.Join(t.TempDir(), "desired-state.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["desired-state.yaml"]), 0o600))

	example := harness.NewControlExample(t)
	c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s",
		"--set=extensions::phoenix_control::node_name=node-1")
	resp, err := http.Get(example.API + "/api/v1/desired-state")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var status struct {
		LastError string            `json:"last_error"`
		Applied   map[string]string `json:"applied"`
	}
	require.NoError(t, json.Unmarshal(body, &status), "%s", body)
	require.Empty(t, status.LastError, "%s", body)
	require.Equal(t, map[string]string{"experiment/process": "full"}, status.Applied, "%s", body)
	require.NoError(t, c.Stop(30*time.Second))
}

// TestRenderedDesiredStateVariantsAreBuilt: variants declared in presets.desiredState render into the file,
// and a running collector builds them from it (source desired_state) and makes top30 active, with nothing
// refused.
func TestRenderedDesiredStateVariantsAreBuilt(t *testing.T) {
	r := decode(t, render(t, "-f", filepath.Join(chartDir(t), "ci", "desired-state-variants-values.yaml")))
	cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
	require.NotNil(t, cm)
	file := filepath.Join(t.TempDir(), "desired-state.yaml")
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["desired-state.yaml"]), 0o600))

	example := harness.NewControlExample(t)
	c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s")
	require.NoError(t, c.WaitFor(30*time.Second, builtFromFile(t, example.API, "top30", cm.Data["desired-state.yaml"])))
	require.NoError(t, c.Stop(30*time.Second))
}

// TestHelmExportRendersForTheFleet: a runtime variant added on one node, exported with ?format=helm, is a
// values file the chart takes (schema, checks) over an ordinary control release; the desired-state file it
// renders has a collector that does not have the variant build it and run it.
func TestHelmExportRendersForTheFleet(t *testing.T) {
	example := harness.NewControlExample(t)
	file := filepath.Join(t.TempDir(), "desired-state.yaml") // none yet: written from the render below
	c := example.Start(t, "--set=extensions::phoenix_control::desired_state::path="+file,
		"--set=extensions::phoenix_control::desired_state::poll_interval=1s")
	variants := example.API + "/api/v1/experiments/experiment%2Fprocess/variants"
	status, body := do(t, http.MethodPost, variants, `{"name":"top30","processors":[{"topk":{"k":30}}]}`)
	require.Equal(t, http.StatusCreated, status, body)
	status, exported := do(t, http.MethodGet, variants+"/top30/export?format=helm", "")
	require.Equal(t, http.StatusOK, status, exported)
	// Gone from this node (the other nodes of a fleet never had it): the file brings it back.
	status, body = do(t, http.MethodDelete, variants+"/top30", "")
	require.Equal(t, http.StatusOK, status, body)

	values := filepath.Join(t.TempDir(), "top30.yaml")
	require.NoError(t, os.WriteFile(values, []byte(exported), 0o600))
	ci := filepath.Join(chartDir(t), "ci", "control-values.yaml")
	out, err := helm(t, "lint", "--strict", chartDir(t), "-f", ci, "-f", values)
	require.NoError(t, err, "%s\n%s", out, exported)
	r := decode(t, render(t, "-f", ci, "-f", values))
	cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
	require.NotNil(t, cm, "the export enables the preset:\n%s", exported)
	require.NoError(t, os.WriteFile(file, []byte(cm.Data["desired-state.yaml"]), 0o600))
	require.NoError(t, c.WaitFor(30*time.Second, builtFromFile(t, example.API, "top30", cm.Data["desired-state.yaml"])))
	require.NoError(t, c.Stop(30*time.Second))
}

// TestDesiredStateNullUnsets: a later values file unsets an earlier one's rollout with null (Helm keeps
// keys it does not unset), so active can replace it; the null does not reach the file.
func TestDesiredStateNullUnsets(t *testing.T) {
	values := filepath.Join(t.TempDir(), "active.yaml")
	require.NoError(t, os.WriteFile(values, []byte(`
presets:
  desiredState:
    experiments:
      experiment/process:
        active: top20
        rollout: null
`), 0o600))
	r := decode(t, render(t, "-f", filepath.Join(chartDir(t), "ci", "desired-state-values.yaml"), "-f", values))
	cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
	require.NotNil(t, cm)
	require.Equal(t, "experiments:\n  experiment/process:\n    active: top20", cm.Data["desired-state.yaml"])
}

// builtFromFile is a WaitFor condition: the node built variant from its desired-state file, refused
// nothing in it, and runs it.
func builtFromFile(t *testing.T, api, variant, file string) func() error {
	return func() error {
		var st struct {
			LastError     string                       `json:"last_error"`
			Applied       map[string]string            `json:"applied"`
			Variants      map[string][]string          `json:"variants"`
			VariantErrors map[string]map[string]string `json:"variant_errors"`
		}
		getJSON(t, api+"/api/v1/desired-state", &st)
		if st.LastError != "" || len(st.VariantErrors) > 0 {
			return fmt.Errorf("refused: %s %v\n%s", st.LastError, st.VariantErrors, file)
		}
		if !slices.Equal(st.Variants["experiment/process"], []string{variant}) || st.Applied["experiment/process"] != variant {
			return fmt.Errorf("variants %v, applied %v", st.Variants, st.Applied)
		}
		var exp struct {
			Active   string         `json:"active"`
			Variants []variantState `json:"variants"`
		}
		getJSON(t, api+"/api/v1/experiments/experiment%2Fprocess", &exp)
		fromFile := variantState{Name: variant, Source: "desired_state"}
		if exp.Active != variant || !slices.Contains(exp.Variants, fromFile) {
			return fmt.Errorf("experiment: %+v", exp)
		}
		return nil
	}
}

type variantState struct {
	Name   string `json:"name"`
	Source string `json:"source"`
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	status, body := do(t, http.MethodGet, url, "")
	require.Equal(t, http.StatusOK, status, body)
	require.NoError(t, json.Unmarshal([]byte(body), v), body)
}

// do sends a request to the control API (a JSON body when given) and returns the status and body.
func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}
