// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package differential

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// topologies is the matrix: each a named subtest of TestDifferential.
var topologies = []struct {
	name  string
	build func(t *testing.T, bin string) topology
	// alone: the case reads this machine's real processes, so it runs before the parallel cases, whose
	// collectors and Prometheus servers (hundreds of MiB each, all stopping together) would otherwise be the
	// host's churn, and the baseline's lookback ghosts of them, not the case's.
	alone bool
}{
	{"process_only", processOnly, true},
	{"hostmetrics_preset_plus_otlp", hostMetricsPresetPlusOTLP, true},
	{"two_receivers_one_host", twoReceiversOneHost, false},
	{"gateway", gateway, false},
	{"churn_and_chaos", churnAndChaos, false},
	{"flapping", flapping, false},
}

// processOnly: the host_metrics process scraper alone on this machine's real /proc: whatever runs here,
// plus the short-lived probes the test starts (startProbes).
func processOnly(*testing.T, string) topology {
	return topology{
		receivers: map[string]any{
			"host_metrics": map[string]any{
				"collection_interval": processInterval.String(),
				"scrapers": map[string]any{"process": map[string]any{
					"mute_process_name_error":   true,
					"mute_process_exe_error":    true,
					"mute_process_io_error":     true,
					"mute_process_user_error":   true,
					"mute_process_cgroup_error": true,
				}},
			},
		},
		pipeline: []string{"host_metrics"},
		start:    startProbes,
	}
}

// hostMetricsPresetPlusOTLP: the chart's hostMetrics preset as rendered (charts/otelcol-phoenix/examples/
// hostmetrics, kept in sync with the templates by `make chart-test`): one host_metrics receiver with every
// scraper, and the otlp receiver in the same metrics pipeline, fed by an instrumented-service stand-in.
func hostMetricsPresetPlusOTLP(t *testing.T, _ string) topology {
	relay := renderedChartConfig(t, "hostmetrics")
	receivers := relay["receivers"].(map[string]any)
	hm := receivers["host_metrics"].(map[string]any)
	require.Contains(t, hm["scrapers"], "process", "the preset's host_metrics receiver must scrape processes")
	hm["collection_interval"] = processInterval.String()
	delete(hm, "root_path") // the chart mounts the node's / at /hostfs; here the test runs on the host itself
	grpc, httpPort := harness.FreePort(t), harness.FreePort(t)
	otlp := receivers["otlp"].(map[string]any)
	protocols := otlp["protocols"].(map[string]any)
	protocols["grpc"].(map[string]any)["endpoint"] = loopback(grpc)
	protocols["http"].(map[string]any)["endpoint"] = loopback(httpPort)
	pipeline := toStrings(relay["service"].(map[string]any)["pipelines"].(map[string]any)["metrics"].(map[string]any)["receivers"])
	require.Equal(t, []string{"host_metrics", "otlp"}, pipeline, "the chart's metrics pipeline")
	return topology{
		receivers: map[string]any{"host_metrics": hm, "otlp": otlp},
		pipeline:  pipeline,
		start: func(t *testing.T) {
			startProbes(t)
			startAppSender(t, loopback(grpc), processInterval)
		},
	}
}

// twoReceiversOneHost: a process receiver every 2s and a system receiver every 6s in one pipeline for the
// same host. Neither sets host.name (simulated_process emits it only with hosts > 1 or when enabled, so a
// host_name_prefix alone does nothing; host_metrics never does; the chart adds no resource detection), so
// topk sees both as one host, as it does on a node running the chart.
func twoReceiversOneHost(*testing.T, string) topology {
	const systemInterval = 3 * processInterval
	return topology{
		receivers: map[string]any{
			"simulated_process": map[string]any{
				"collection_interval": processInterval.String(),
				"profile":             "realistic",
				"processes":           150,
				"seed":                3,
			},
			"host_metrics/system": map[string]any{
				"collection_interval": systemInterval.String(),
				"scrapers":            map[string]any{"cpu": map[string]any{}, "memory": map[string]any{}, "load": map[string]any{}},
			},
		},
		pipeline: []string{"simulated_process", "host_metrics/system"},
	}
}

// gateway: three agents (one binary, three simulated_process receivers with distinct host.name, each its own
// pipeline → batch → one otlp_grpc exporter with a 10-consumer sending queue, so batches may arrive out of
// order) into a gateway's otlp receiver, where the experiment runs.
func gateway(t *testing.T, bin string) topology {
	grpc := harness.FreePort(t)
	agentHealth := harness.FreePort(t)
	receivers := map[string]any{}
	pipelines := map[string]any{}
	for i, name := range []string{"a", "b", "c"} {
		id := "simulated_process/" + name
		receivers[id] = map[string]any{
			"collection_interval": processInterval.String(),
			"profile":             "realistic",
			"processes":           150,
			"host_name_prefix":    "agent-" + name + "-",
			"seed":                11 + i,
			"resource_attributes": map[string]any{"host.name": map[string]any{"enabled": true}},
		}
		pipelines["metrics/"+name] = map[string]any{
			"receivers": []string{id}, "processors": []string{"batch"}, "exporters": []string{"otlp_grpc"},
		}
	}
	agents := map[string]any{
		"extensions": map[string]any{"health_check": map[string]any{"endpoint": loopback(agentHealth)}},
		"receivers":  receivers,
		"processors": map[string]any{"batch": map[string]any{}},
		"exporters": map[string]any{"otlp_grpc": map[string]any{
			"endpoint":      loopback(grpc),
			"tls":           map[string]any{"insecure": true},
			"sending_queue": map[string]any{"num_consumers": 10},
		}},
		"service": map[string]any{
			"extensions": []string{"health_check"},
			"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
			"pipelines":  pipelines,
		},
	}
	return topology{
		receivers: map[string]any{"otlp": map[string]any{"protocols": map[string]any{
			"grpc": map[string]any{"endpoint": loopback(grpc)}}}},
		pipeline: []string{"otlp"},
		start: func(t *testing.T) {
			c := harness.Start(t, bin, writeYAML(t, "agents.yaml", agents))
			if _, err := c.WaitHTTP("http://"+loopback(agentHealth)+"/", http.StatusOK, 60*time.Second); err != nil {
				t.Fatalf("agents not healthy: %v", err)
			}
		},
	}
}

// churnAndChaos: two process receivers in one pipeline, high_churn (new PIDs every interval) and chaos
// (spikes, leaks, OOM kills, restarts), as two hosts.
func churnAndChaos(*testing.T, string) topology {
	sim := func(profile, prefix string, seed int) map[string]any {
		return map[string]any{
			"collection_interval": processInterval.String(),
			"profile":             profile,
			"processes":           150,
			"host_name_prefix":    prefix,
			"seed":                seed,
			"resource_attributes": map[string]any{"host.name": map[string]any{"enabled": true}},
		}
	}
	return topology{
		receivers: map[string]any{
			"simulated_process/churn": sim("high_churn", "churn-", 5),
			"simulated_process/chaos": sim("chaos", "chaos-", 7),
		},
		pipeline: []string{"simulated_process/churn", "simulated_process/chaos"},
	}
}

// flapping: the realistic profile with an extra variant, top10_r0 (top 10 by CPU, no retention), where
// processes near rank 10 cross it often and leave and re-enter the top K.
func flapping(*testing.T, string) topology {
	return topology{
		receivers: map[string]any{"simulated_process": map[string]any{
			"collection_interval": processInterval.String(),
			"profile":             "realistic",
			"processes":           150,
			"seed":                9,
		}},
		pipeline: []string{"simulated_process"},
		variants: map[string]any{"top10_r0": map[string]any{"processors": []any{
			map[string]any{"topk": map[string]any{"k": 10, "retention": 0, "rank_by": map[string]any{"metric": "process.cpu.time"}}},
		}}},
	}
}

// renderedChartConfig returns the collector config (the ConfigMap's `relay`) of a committed chart render,
// charts/otelcol-phoenix/examples/<example>/rendered.yaml.
func renderedChartConfig(t *testing.T, example string) map[string]any {
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "charts", "otelcol-phoenix", "examples", example, "rendered.yaml"))
	require.NoError(t, err)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc struct {
			Kind string            `yaml:"kind"`
			Data map[string]string `yaml:"data"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		if relay, ok := doc.Data["relay"]; doc.Kind == "ConfigMap" && ok {
			var cfg map[string]any
			require.NoError(t, yaml.Unmarshal([]byte(relay), &cfg))
			return cfg
		}
	}
	t.Fatalf("chart example %s: no ConfigMap with a relay config", example)
	return nil
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

// startProbes starts a short-lived shell every second until the test ends, as probes and cron jobs do on a
// node: each burns ~0.1 CPU-second, then sleeps 2–6 s and exits. So the real-/proc cases have processes
// that start and exit every interval whatever else runs on the machine, and an executable (sh) whose
// group loses members with CPU time behind them.
func startProbes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		ticker := time.NewTicker(time.Second)
		defer ticker.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			script := fmt.Sprintf(`i=0; while [ $i -lt 60000 ]; do i=$((i+1)); done; sleep %d`, 2+i%5)
			cmd := exec.CommandContext(ctx, "sh", "-c", script)
			if err := cmd.Start(); err != nil {
				t.Logf("probe: %v", err)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = cmd.Wait()
			}()
		}
	}()
}
