// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

func call(t *testing.T, method, url, body string) (int, string) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestControlExample runs examples/control.yaml: the API lists the experiment and the simulator, a switch
// over HTTP changes what is exported, and after a restart the switch is still in force (file_storage).
func TestControlExample(t *testing.T) {
	bin := harness.Binary(t)
	example := harness.NewControlExample(t)
	api := example.API
	exporter := "http://127.0.0.1:" + strconv.Itoa(example.Ports[8889]) + "/metrics"

	c := example.Start(t)
	status, body := call(t, "GET", api+"/api/v1/experiments", "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, `"name": "experiment/process"`)
	require.Contains(t, body, `"active": "full"`)
	status, body = call(t, "GET", api+"/api/v1/simulators/simulated_process", "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, `"processes": 200`)
	require.NoError(t, c.WaitFor(30*time.Second, func() error { return harness.ExpectBodyContains(exporter, `process_executable_name="pause"`) }))

	// The README's recipe: export into the base pipeline's processors, then merge.
	status, exported := call(t, "GET", api+"/api/v1/experiments/experiment%2Fprocess/variants/top20/export?processors=memory_limiter,batch", "")
	require.Equal(t, 200, status, exported)

	status, body = call(t, "PUT", api+"/api/v1/experiments/experiment%2Fprocess/active", `{"variant":"top20"}`)
	require.Equal(t, 200, status, body)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains(exporter, `process_executable_name="other"`)
	}), "after the switch the top20 variant's output, with its other resource, is exported")
	// The processes top20 rolls into other end with the switch: the exporter stops serving them at once
	// (without their end it serves them, frozen, for metric_expiration, 5 minutes, next to other).
	require.NoError(t, c.WaitFor(10*time.Second, func() error {
		pids, err := servedCPUStates(exporter)
		if err != nil {
			return err
		}
		if len(pids) > 50 { // top20 alone: its 20, the critical agents, those retained: 30-35
			return fmt.Errorf("%d processes served after the switch to top20", len(pids))
		}
		return nil
	}), "the processes full sent and top20 does not are no longer served")
	status, body = call(t, "PUT", api+"/api/v1/experiments/experiment%2Fprocess/active", `{"variant":"nope"}`)
	require.Equal(t, 422, status, body)

	// A short run of by_executable to a verdict, promoted when it passes.
	runs := api + "/api/v1/experiments/experiment%2Fprocess/runs"
	status, body = call(t, "POST", runs, `{"candidate":"by_executable","warm_up":"0s","duration":"4s","activate":true,"auto_promote":true,
		"criteria":{"min_series_reduction":0.3,"min_fidelity":0.9,"critical_visible":true}}`)
	require.Equal(t, 201, status, body)
	require.NoError(t, c.WaitFor(60*time.Second, func() error {
		_, b := call(t, "GET", runs, "")
		return harness.ExpectContains(b, `"phase": "completed"`)
	}), "the run reaches a verdict")
	_, body = call(t, "GET", runs, "")
	require.Contains(t, body, `"pass": true`, body)
	require.Contains(t, body, `"promoted": true`)
	_, body = call(t, "GET", api+"/api/v1/experiments/experiment%2Fprocess", "")
	require.Contains(t, body, `"active": "by_executable"`, "auto-promoted")
	require.NoError(t, c.Stop(30*time.Second))

	c = example.Start(t)
	status, body = call(t, "GET", api+"/api/v1/experiments/experiment%2Fprocess", "")
	require.Equal(t, 200, status, body)
	require.Contains(t, body, `"active": "by_executable"`, "the promoted variant survived the restart")
	_, body = call(t, "GET", api+"/api/v1/experiments/experiment%2Fprocess/runs", "")
	require.Contains(t, body, `"promoted": true`, "the run history survived the restart")
	require.NoError(t, c.Stop(30*time.Second))

	runExported(t, bin, exported)
}

// runExported merges an exported variant with a base config whose pipeline has memory_limiter and batch,
// validates it with the binary, checks that the merged pipeline kept them around the variant, and runs it as
// an ordinary pipeline: the top20 reduction (other + the critical agents) comes out of the exporter.
func runExported(t *testing.T, bin, exported string) {
	dir := t.TempDir()
	promPort := harness.FreePort(t)
	base := `
receivers:
  simulated_process:
    collection_interval: 1s
    processes: 200
processors:
  memory_limiter: {check_interval: 1s, limit_mib: 512}
  batch: {timeout: 1s}
exporters:
  prometheus:
    endpoint: 127.0.0.1:` + strconv.Itoa(promPort) + `
    resource_to_telemetry_conversion: {enabled: true}
service:
  telemetry: {metrics: {level: none}}
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [memory_limiter, batch]
      exporters: [prometheus]
`
	basePath, variantPath := filepath.Join(dir, "base.yaml"), filepath.Join(dir, "variant.yaml")
	require.NoError(t, os.WriteFile(basePath, []byte(base), 0o600))
	require.NoError(t, os.WriteFile(variantPath, []byte(exported), 0o600))
	out, err := harness.Validate(t, bin, basePath, "--config", variantPath)
	require.NoError(t, err, "the exported variant validates: %s\n%s", out, exported)
	merged, err := exec.Command(bin, "print-config", "--config", basePath, "--config", variantPath).Output()
	require.NoError(t, err)
	var cfg struct {
		Service struct {
			Pipelines map[string]struct {
				Processors []string `yaml:"processors"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	require.NoError(t, yaml.Unmarshal(merged, &cfg), "%s", merged)
	require.Equal(t, []string{"memory_limiter", "topk/top20", "batch"}, cfg.Service.Pipelines["metrics"].Processors,
		"the merged pipeline keeps the base's processors, the variant in place:\n%s", exported)

	c := harness.Start(t, bin, basePath, "--config", variantPath)
	require.NoError(t, c.WaitFor(30*time.Second, func() error {
		return harness.ExpectBodyContains("http://127.0.0.1:"+strconv.Itoa(promPort)+"/metrics",
			`process_executable_name="other"`, `process_executable_name="kubelet"`)
	}), "the exported pipeline reduces like the variant")
	require.NoError(t, c.Stop(30*time.Second))
}
