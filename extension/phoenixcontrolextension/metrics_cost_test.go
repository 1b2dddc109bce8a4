// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// snapshotExperiment is a control.Experiment with a fixed snapshot.
type snapshotExperiment struct{ snap control.ExperimentSnapshot }

func (s *snapshotExperiment) Name() string                                         { return s.snap.Name }
func (s *snapshotExperiment) Snapshot() control.ExperimentSnapshot                 { return s.snap }
func (s *snapshotExperiment) SetActive(string) error                               { return nil }
func (s *snapshotExperiment) VariantSteps(string) ([]control.ProcessorStep, error) { return nil, nil }
func (s *snapshotExperiment) AddVariant(context.Context, control.VariantDefinition, string) error {
	return errors.ErrUnsupported
}
func (s *snapshotExperiment) RemoveVariant(context.Context, string) error {
	return errors.ErrUnsupported
}
func (s *snapshotExperiment) CheckVariant(context.Context, control.VariantDefinition) error {
	return errors.ErrUnsupported
}

func costedExperiment() *snapshotExperiment {
	return &snapshotExperiment{snap: control.ExperimentSnapshot{Name: "experiment/costed", Mode: "shadow", Baseline: "full", Active: "full",
		Variants: []control.VariantStats{
			{Name: "full", Baseline: true, Active: true, Cost: &control.CostStats{Model: "active_series", Currency: "EUR", Units: 2100,
				Monthly: 16.8, Exact: true}},
			{Name: "top20", Cost: &control.CostStats{Model: "active_series", Currency: "EUR", Units: 300, Monthly: 2.4,
				MonthlySaving: 14.4, SavingRatio: 0.8571428571428572, Exact: true}},
		}}}
}

// TestCostMetrics: each variant's monthly cost, saving and billed units are exported per experiment and
// variant, with the model and currency once per experiment; an experiment without a cost: block exports none.
func TestCostMetrics(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(costedExperiment())
	reg.RegisterExperiment(&snapshotExperiment{snap: control.ExperimentSnapshot{Name: "experiment/nocost", Baseline: "full", Active: "full",
		Variants: []control.VariantStats{{Name: "full", Baseline: true, Active: true}}}})
	const want = `
# HELP phoenix_experiment_cost_info 1 per experiment with a cost: block, labelled with its billing model and currency.
# TYPE phoenix_experiment_cost_info gauge
phoenix_experiment_cost_info{currency="EUR",experiment="experiment/costed",model="active_series"} 1
# HELP phoenix_experiment_cost_monthly Projected monthly cost of the variant's output on this node under the experiment's billing model (in its currency: phoenix_experiment_cost_info).
# TYPE phoenix_experiment_cost_monthly gauge
phoenix_experiment_cost_monthly{experiment="experiment/costed",variant="full"} 16.8
phoenix_experiment_cost_monthly{experiment="experiment/costed",variant="top20"} 2.4
# HELP phoenix_experiment_cost_saving_monthly The baseline's projected monthly cost on this node minus the variant's (negative: it costs more).
# TYPE phoenix_experiment_cost_saving_monthly gauge
phoenix_experiment_cost_saving_monthly{experiment="experiment/costed",variant="full"} 0
phoenix_experiment_cost_saving_monthly{experiment="experiment/costed",variant="top20"} 14.4
# HELP phoenix_experiment_cost_units What the billing model bills of the variant on this node: active series over the horizon, mean distinct series per hour, data points per month, or GB per month.
# TYPE phoenix_experiment_cost_units gauge
phoenix_experiment_cost_units{experiment="experiment/costed",variant="full"} 2100
phoenix_experiment_cost_units{experiment="experiment/costed",variant="top20"} 300
`
	require.NoError(t, testutil.CollectAndCompare(&collector{reg: reg}, strings.NewReader(want),
		"phoenix_experiment_cost_info", "phoenix_experiment_cost_monthly", "phoenix_experiment_cost_saving_monthly", "phoenix_experiment_cost_units"))
}

// TestCostInTheAPI: the experiment's JSON carries each variant's cost; one without a cost: block has none.
func TestCostInTheAPI(t *testing.T) {
	reg := newRegistry(zap.NewNop())
	reg.RegisterExperiment(costedExperiment())
	reg.RegisterExperiment(newFakeExperiment()) // no cost
	srv := httptest.NewServer(newAPI(reg, apiInfo{Node: "node-a"}, 1024, testProcessors()).handler())
	defer srv.Close()
	run(t, srv, []step{
		{"cost", "GET", "/api/v1/experiments/experiment%2Fcosted", "", "", 200, []string{`"cost": {`, `"model": "active_series"`,
			`"currency": "EUR"`, `"monthly": 2.4`, `"monthly_saving": 14.4`, `"saving_ratio": 0.857142857142857`, `"exact": true`}},
	})
	resp, err := srv.Client().Get(srv.URL + "/api/v1/experiments")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	require.Equal(t, 2, strings.Count(string(body), `"cost": {`), "only the costed experiment's two variants")
}
