// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package smoke

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestGrafanaRules: promtool accepts the rules and their unit tests pass (the alerts fire when, and only
// when, they should).
func TestGrafanaRules(t *testing.T) {
	promtool := harness.NeedTool(t, "promtool", "prometheus")
	dir := filepath.Join(harness.RepoRoot(t), "examples", "grafana")
	for _, args := range [][]string{{"check", "rules", "rules.yaml"}, {"test", "rules", "rules_test.yaml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "promtool %v:\n%s", args, out)
	}
}

// TestGrafanaDashboardAgainstRealSeries: a real Prometheus scrapes the control API of the binary running
// examples/control.yaml and evaluates the rules; every query of the dashboard (panels and variables) and every
// recording rule then returns data, so they reference only series that exist.
func TestGrafanaDashboardAgainstRealSeries(t *testing.T) {
	root := harness.RepoRoot(t)
	dash := readDashboard(t, filepath.Join(root, "examples", "grafana", "otelcol-phoenix-fleet.json"))
	require.NotEmpty(t, dash.queries)

	example := harness.NewControlExample(t)
	c := example.Start(t)
	api := example.API

	// A run, so that the run panel has a phase to show.
	status, body := call(t, "POST", api+"/api/v1/experiments/experiment%2Fprocess/runs",
		`{"candidate":"top20","warm_up":"0s","duration":"2s"}`)
	require.Equal(t, 201, status, body)

	prom := harness.StartPrometheus(t, strings.TrimPrefix(api, "http://"),
		filepath.Join(root, "examples", "grafana", "rules.yaml"))
	for _, q := range append(dash.queries, recordedNames(t, filepath.Join(root, "examples", "grafana", "rules.yaml"))...) {
		require.NoError(t, prom.WaitQuery(60*time.Second, q), "dashboard query %q returns no data", q)
	}
	require.NoError(t, prom.Stop(10*time.Second))
	require.NoError(t, c.Stop(30*time.Second))
}

type dashboard struct {
	queries []string // PromQL, with the variables set to "all"
}

// readDashboard parses the dashboard and returns its queries: panel targets and label_values() variables.
func readDashboard(t *testing.T, path string) dashboard {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name     string `json:"name"`
				Type     string `json:"type"`
				AllValue string `json:"allValue"`
				Query    any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	require.NoError(t, json.Unmarshal(data, &d), "dashboard JSON")
	require.NotEmpty(t, d.UID)

	vars := map[string]string{}
	var out dashboard
	labelValues := regexp.MustCompile(`^label_values\((.+), *\w+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		require.Equal(t, ".+", v.AllValue, "variable %s: All must match every value", v.Name)
		vars["$"+v.Name] = v.AllValue
		q, _ := v.Query.(map[string]any)
		m := labelValues.FindStringSubmatch(q["query"].(string))
		require.NotNil(t, m, "variable %s: want label_values(selector, label)", v.Name)
		out.queries = append(out.queries, m[1])
	}
	for _, p := range d.Panels {
		require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
		for _, tg := range p.Targets {
			require.NotEmpty(t, tg.Expr, "panel %q", p.Title)
			out.queries = append(out.queries, tg.Expr)
		}
	}
	for i, q := range out.queries {
		for name, all := range vars {
			q = strings.ReplaceAll(q, name, all)
		}
		require.NotContains(t, q, "$", "unknown variable in %q", q)
		out.queries[i] = q
	}
	return out
}

func recordedNames(t *testing.T, path string) []string {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var rules struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	require.NoError(t, yaml.Unmarshal(data, &rules))
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names = append(names, r.Record)
			}
		}
	}
	require.NotEmpty(t, names)
	return names
}
