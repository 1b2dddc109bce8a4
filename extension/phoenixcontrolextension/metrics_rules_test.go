// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// TestRuleMetrics: each variant's rule fidelity and broken rules are exported once evaluated; a variant
// not evaluated yet, or an experiment without rules, exports neither.
func TestRuleMetrics(t *testing.T) {
	fid := 0.75
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(&snapshotExperiment{snap: control.ExperimentSnapshot{Name: "experiment/ruled", Baseline: "full", Active: "full",
		Variants: []control.VariantStats{
			{Name: "full", Baseline: true, Active: true, Rules: &control.RuleStats{}}, // not evaluated yet
			{Name: "top20", Rules: &control.RuleStats{Fidelity: &fid, Same: 3, Broken: 1}},
		}}})
	reg.RegisterExperiment(&snapshotExperiment{snap: control.ExperimentSnapshot{Name: "experiment/plain", Baseline: "full", Active: "full",
		Variants: []control.VariantStats{{Name: "full", Baseline: true, Active: true}}}})
	const want = `
# HELP phoenix_experiment_rule_fidelity_ratio Share of the experiment's rules that evaluate the same on the variant as on the baseline.
# TYPE phoenix_experiment_rule_fidelity_ratio gauge
phoenix_experiment_rule_fidelity_ratio{experiment="experiment/ruled",variant="top20"} 0.75
# HELP phoenix_experiment_rules_broken Rules with no result, an error or another set of alerts on the variant where the baseline has them.
# TYPE phoenix_experiment_rules_broken gauge
phoenix_experiment_rules_broken{experiment="experiment/ruled",variant="top20"} 1
`
	require.NoError(t, testutil.CollectAndCompare(&collector{reg: reg}, strings.NewReader(want),
		"phoenix_experiment_rule_fidelity_ratio", "phoenix_experiment_rules_broken"))
}
