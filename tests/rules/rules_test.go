// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package rules proves the experiment's rule fidelity against a real Prometheus server: the built binary
// runs examples/experiment-rules.yaml's experiment in tee mode into Debian's prometheus (2.42) by remote
// write, and every rule's verdict the control API reports for a variant (same / changed / broken, the
// series counts, the firing and pending alerts) must be what the server's own answers give for the same
// rule on the same outputs at the same instant. See README.md.
package rules

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const (
	// collectionInterval is the simulated receiver's. 3 s against a 10 s rule evaluation interval puts the
	// server's evaluations at three different phases of the collections, so two in three of them come at
	// least a second after a collection, when its remote write has surely arrived (see serverRules).
	collectionInterval = 3 * time.Second
	// window is the experiment's: every rule is evaluated at each window's end. The server evaluates the
	// per-variant rule files at the same interval.
	window = 10 * time.Second
	// hosts × processesPerHost processes: two hosts make the per-node recording rules per node.
	hosts            = 2
	processesPerHost = 40
	// warmUp passes from the collector's start before an evaluation is compared: topk ranks CPU by a rate,
	// which needs two points of each process.
	warmUp = 20 * time.Second
	// compared experiment evaluations (one per window) after the warm-up.
	compared = 4

	experimentName = "experiment/process"
	baseline       = "full"
	variantAttr    = "phoenix.variant"
	variantLabel   = "phoenix_variant" // variantAttr as the exporter names the label
	// defaultTolerance is rules.tolerance's default (processor/experimentprocessor README).
	defaultTolerance = 0.01
)

// TestRulesAgainstPrometheus runs the experiment of examples/experiment-rules.yaml (its rule file,
// dashboard, inline query and variants) in tee mode, with every variant's output written into a real
// Prometheus, and requires, at each of several window ends, every rule's experiment verdict on every
// variant to equal the verdict computed from the server's answers to the same rule rewritten per variant.
func TestRulesAgainstPrometheus(t *testing.T) {
	bin := harness.Binary(t)
	harness.NeedTool(t, "prometheus", "prometheus")
	root := harness.RepoRoot(t)
	started := time.Now()

	exp := exampleExperiment(t, root)
	rs := loadRules(t, root, exp)
	variants := sortedKeys(exp["variants"].(map[string]any))
	require.Contains(t, variants, baseline)
	tolerance := defaultTolerance
	if tol, ok := exp["rules"].(map[string]any)["tolerance"].(float64); ok {
		tolerance = tol
	}

	// The server evaluates the same rule groups once per variant, every selector narrowed to it.
	var ruleFiles []string
	for _, v := range variants {
		ruleFiles = append(ruleFiles, writeFile(t, "rules-"+v+".yaml", serverRuleFile(t, rs, v)))
	}
	prom := harness.StartPrometheusWith(t, harness.PrometheusOptions{RemoteWrite: true, ScrapeInterval: window,
		RuleFiles: ruleFiles})

	health, control := harness.FreePort(t), harness.FreePort(t)
	cfg := writeFile(t, "collector.yaml", collectorConfig(t, health, control, prom.RemoteWriteURL(), exp))
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Dir = root // the example's rule paths are relative to the repository's root
	col := harness.StartCmd(t, cmd)
	collectorStart := time.Now()
	if _, err := col.WaitHTTP("http://"+loopback(health)+"/", http.StatusOK, 60*time.Second); err != nil {
		t.Fatalf("collector not healthy: %v", err)
	}

	api := "http://" + loopback(control) + "/api/v1/experiments/" + url.PathEscape(experimentName)
	evals := pollEvaluations(t, col, api, variants, collectorStart.Add(warmUp), compared)
	require.GreaterOrEqual(t, len(evals), 1, "no experiment evaluation observed")
	last := evals[len(evals)-1].At
	// The server must hold every variant's points up to the last evaluation: wait for a later collection.
	require.NoError(t, waitIngested(prom, variants, last.Add(time.Millisecond)), "remote write lags")

	o := &oracle{t: t, prom: prom, rules: rs, variants: variants, tolerance: tolerance, evals: evals,
		serverFrom: collectorStart.Add(warmUp), engine: newEngine3(),
		remote: &remoteRead{url: prom.URL() + "/api/v1/read", client: &http.Client{Timeout: 30 * time.Second}}}
	defer o.engine.Close()
	o.checkRuleList()
	for i := range evals {
		if evals[i].compare {
			o.compareEvaluation(&evals[i])
		}
	}
	o.serverRules()
	o.report()
	if col.Exited() {
		t.Fatalf("collector exited during the run:\n%s", col.Logs())
	}
	t.Logf("run time %s", time.Since(started).Round(time.Second))
}

// forRules are alerts with for: added to the example's rules (whose one for: alert never becomes active),
// relative to the repository's root as the example's files are.
const forRules = "tests/rules/testdata/for-rules.yaml"

// exampleExperiment returns processors.experiment/process of examples/experiment-rules.yaml, made a test:
// tee mode (every variant's output flows, tagged phoenix.variant), a 10 s window, the control extension,
// forRules added to its rule files.
func exampleExperiment(t *testing.T, root string) map[string]any {
	data, err := os.ReadFile(filepath.Join(root, "examples", "experiment-rules.yaml"))
	require.NoError(t, err)
	var doc struct {
		Processors map[string]map[string]any `yaml:"processors"`
	}
	require.NoError(t, yaml.Unmarshal(data, &doc))
	exp, ok := doc.Processors[experimentName]
	require.True(t, ok, "examples/experiment-rules.yaml has no processors.%s", experimentName)
	require.Equal(t, baseline, exp["baseline"])
	_, ok = exp["rules"].(map[string]any)
	require.True(t, ok, "examples/experiment-rules.yaml: no rules: block")
	require.Empty(t, exp["rules"].(map[string]any)["dashboard_variables"], "the test resolves dashboard variables to .*")
	rules := exp["rules"].(map[string]any)
	rules["files"] = append(anySlice(rules["files"]), forRules)
	exp["mode"] = "tee"
	exp["variant_attribute"] = variantAttr
	exp["window"] = window.String()
	exp["control"] = "phoenix_control"
	return exp
}

// collectorConfig: simulated_process (2 hosts × 40 realistic processes, every 3 s) → the experiment →
// batch → prometheus_remote_write into the server, with the translation settings the experiment's store
// assumes (internal/rulefidelity/store.go: resource attributes as labels, target_info and scope labels at
// the exporter's defaults, metric suffixes on).
func collectorConfig(t *testing.T, health, control int, remoteWrite string, exp map[string]any) map[string]any {
	require.NotEqual(t, false, exp["rules"].(map[string]any)["resource_to_telemetry_conversion"],
		"the store must turn resource attributes into labels (its default), as the exporter below does")
	return map[string]any{
		"extensions": map[string]any{
			"health_check":    map[string]any{"endpoint": loopback(health)},
			"phoenix_control": map[string]any{"endpoint": loopback(control)},
		},
		"receivers": map[string]any{
			"simulated_process": map[string]any{
				"collection_interval": collectionInterval.String(),
				"profile":             "realistic",
				"processes":           processesPerHost,
				"hosts":               hosts,
				"seed":                16,
			},
		},
		"processors": map[string]any{
			experimentName: exp,
			"batch":        map[string]any{},
		},
		"exporters": map[string]any{
			"prometheus_remote_write": map[string]any{
				"endpoint":                         remoteWrite,
				"resource_to_telemetry_conversion": map[string]any{"enabled": true},
				// one consumer: every series' points arrive in order (the default 5 may reorder them)
				"remote_write_queue": map[string]any{"num_consumers": 1},
			},
		},
		"service": map[string]any{
			"extensions": []string{"health_check", "phoenix_control"},
			"telemetry":  map[string]any{"metrics": map[string]any{"level": "none"}},
			"pipelines": map[string]any{
				"metrics": map[string]any{
					"receivers":  []string{"simulated_process"},
					"processors": []string{experimentName, "batch"},
					"exporters":  []string{"prometheus_remote_write"},
				},
			},
		},
	}
}

// ruleStats is GET …/variants/{v}/rules (internal/control.RuleStats), decoded on its own so that a change
// of the API's shape shows here.
type ruleStats struct {
	Fidelity    *float64     `json:"fidelity"`
	Same        int          `json:"same"`
	Changed     int          `json:"changed"`
	Broken      int          `json:"broken"`
	EvaluatedAt time.Time    `json:"evaluated_at"`
	Error       string       `json:"error"`
	Rules       []ruleResult `json:"rules"`
}

type ruleResult struct {
	Name           string   `json:"name"`
	Source         string   `json:"source"`
	Kind           string   `json:"kind"`
	Expr           string   `json:"expr"`
	Verdict        string   `json:"verdict"`
	MaxRelDiff     float64  `json:"max_rel_diff"`
	Reason         string   `json:"reason"`
	Series         int      `json:"series"`
	BaselineSeries int      `json:"baseline_series"`
	Firing         []string `json:"firing"`
	Pending        []string `json:"pending"`
}

// evaluation is one experiment evaluation (a window's end) as the API reported it for every variant.
type evaluation struct {
	At      time.Time
	Stats   map[string]ruleStats // by variant
	compare bool                 // past the warm-up: compared with the server
}

// pollEvaluations reads every variant's rule stats twice a second and keeps each evaluation once (all
// variants at the same evaluated_at), from the first until `want` evaluations after `from` have been seen.
// Every evaluation is kept, compared or not: alerts with for: are followed through all of them.
func pollEvaluations(t *testing.T, col *harness.Collector, api string, variants []string, from time.Time, want int) []evaluation {
	deadline := time.Now().Add(warmUp + time.Duration(want+3)*(window+collectionInterval) + 30*time.Second)
	var evals []evaluation
	n := 0
	for n < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d evaluations after the warm-up within the deadline", n, want)
		}
		if col.Exited() {
			t.Fatalf("collector exited:\n%s", col.Logs())
		}
		time.Sleep(500 * time.Millisecond)
		stats, err := readAll(api, variants)
		if err != nil {
			t.Logf("rules API: %v", err)
			continue
		}
		at := stats[baseline].EvaluatedAt
		if at.IsZero() || (len(evals) > 0 && !at.After(evals[len(evals)-1].At)) {
			continue
		}
		e := evaluation{At: at, Stats: stats, compare: !at.Before(from)}
		for _, v := range variants {
			if s := stats[v]; s.Error != "" {
				t.Errorf("evaluation at %s: variant %s: error %q", at.Format(time.TimeOnly), v, s.Error)
			}
		}
		if e.compare {
			n++
		}
		evals = append(evals, e)
	}
	for i := 1; i < len(evals); i++ {
		if gap := evals[i].At.Sub(evals[i-1].At); gap > window+collectionInterval+2*time.Second {
			t.Logf("evaluations %s and %s are %s apart: one was missed or skipped (alert for: timers follow "+
				"the ones seen)", evals[i-1].At.Format(time.TimeOnly), evals[i].At.Format(time.TimeOnly), gap)
		}
	}
	return evals
}

// readAll reads every variant's rule stats; it retries (up to 5 times) until all carry the same
// evaluated_at, as an evaluation may land between two requests.
func readAll(api string, variants []string) (map[string]ruleStats, error) {
	var lastErr error
	for range 5 {
		out := map[string]ruleStats{}
		same := true
		for _, v := range variants {
			var s ruleStats
			if err := getJSON(api+"/variants/"+url.PathEscape(v)+"/rules", &s); err != nil {
				return nil, err
			}
			out[v] = s
			same = same && s.EvaluatedAt.Equal(out[variants[0]].EvaluatedAt)
		}
		if same {
			return out, nil
		}
		lastErr = fmt.Errorf("variants at different evaluations")
	}
	return nil, lastErr
}

func getJSON(u string, v any) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: status %d: %s", u, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

// waitIngested waits (up to a minute) until the server has a point after `after` for every variant: remote
// write sends each series' points in order (one consumer), so everything before it has arrived.
func waitIngested(prom *harness.Prometheus, variants []string, after time.Time) error {
	deadline := time.Now().Add(time.Minute)
	for {
		samples, err := prom.Query(`max by (`+variantLabel+`) (timestamp(process_memory_usage_bytes))`, time.Now())
		if err == nil {
			newest := map[string]float64{}
			for _, s := range samples {
				newest[s.Labels[variantLabel]] = s.Value
			}
			done := true
			for _, v := range variants {
				done = done && newest[v]*1e3 >= float64(after.UnixMilli())
			}
			if done {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no point after %s for every variant within a minute (last error: %v)",
				after.Format(time.TimeOnly), err)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func loopback(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func writeFile(t *testing.T, name string, v any) string {
	data, err := yaml.Marshal(v)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
