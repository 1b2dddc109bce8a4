// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package runs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// withCost gives the scripted experiment a cost: block: the baseline at 100 USD a month, the candidate at
// candidate (nil: no figure in the window).
func withCost(e *scripted, candidate *control.CostStats) {
	e.snap.Variants[0].Cost = &control.CostStats{Model: "active_series", Currency: "USD", Units: 12_500, Monthly: 100, Exact: true}
	e.snap.Variants[1].Cost = candidate
}

func candidateCost(monthly float64) *control.CostStats {
	return &control.CostStats{Model: "active_series", Currency: "USD", Units: monthly * 125, Monthly: monthly,
		MonthlySaving: 100 - monthly, SavingRatio: 1 - monthly/100, Exact: true}
}

// runToVerdict runs a 3-minute run through its windows, setting the candidate's cost each window.
func runToVerdict(t *testing.T, e *scripted, s Spec, cost func() *control.CostStats) *Run {
	r, err := New("r-cost", e, s, t0)
	require.NoError(t, err)
	r.Step(e, e.SetActive, t0)
	for i := 1; i <= 4; i++ {
		e.window(t0.Add(time.Duration(i)*time.Minute), 0.99, 1, 0.8)
		e.snap.Variants[1].Cost = cost()
		r.Step(e, e.SetActive, t0.Add(time.Duration(i)*time.Minute))
	}
	r.Step(e, e.SetActive, t0.Add(4*time.Minute))
	require.Equal(t, Completed, r.Phase)
	require.NotNil(t, r.Verdict)
	return r
}

func TestMinCostSavingVerdict(t *testing.T) {
	s := spec()
	s.Criteria.MinCostSaving = 0.5

	e := newScripted()
	withCost(e, candidateCost(40))
	r := runToVerdict(t, e, s, func() *control.CostStats { return candidateCost(40) })
	assert.True(t, r.Verdict.Pass, "%v", r.Verdict.Reasons)
	require.NotNil(t, r.Verdict.Cost, "the verdict carries the cost figures")
	assert.InDelta(t, 0.6, r.Verdict.Cost.SavingRatio, 1e-12)
	assert.Equal(t, 60.0, r.Verdict.Cost.MonthlySaving)
	assert.Equal(t, "USD", r.Verdict.Cost.Currency)

	e = newScripted()
	withCost(e, candidateCost(70))
	r = runToVerdict(t, e, s, func() *control.CostStats { return candidateCost(70) })
	assert.False(t, r.Verdict.Pass)
	assert.Equal(t, []string{"cost saving 0.3000 < 0.5000 (30.00 USD a month saved of 100.00)"}, r.Verdict.Reasons)

	// A window without a cost figure fails closed.
	e = newScripted()
	withCost(e, candidateCost(10))
	r = runToVerdict(t, e, s, func() *control.CostStats { return nil })
	assert.False(t, r.Verdict.Pass)
	assert.Equal(t, []string{"cost: no figure in the window (min_cost_saving 0.5000)"}, r.Verdict.Reasons)
	assert.Nil(t, r.Verdict.Cost)

	// A baseline that costs nothing (no data reached it) is no saving either.
	e = newScripted()
	withCost(e, candidateCost(0))
	r = runToVerdict(t, e, s, func() *control.CostStats {
		return &control.CostStats{Model: "active_series", Currency: "USD"}
	})
	assert.False(t, r.Verdict.Pass)
	assert.Equal(t, []string{"cost: the baseline costs nothing in the window (min_cost_saving 0.5000)"}, r.Verdict.Reasons)

	// Without the criterion, the cost is reported and decides nothing.
	s.Criteria.MinCostSaving = 0
	e = newScripted()
	withCost(e, candidateCost(90))
	r = runToVerdict(t, e, s, func() *control.CostStats { return candidateCost(90) })
	assert.True(t, r.Verdict.Pass, "%v", r.Verdict.Reasons)
	require.NotNil(t, r.Verdict.Cost)
	assert.InDelta(t, 0.1, r.Verdict.Cost.SavingRatio, 1e-12)
}

func TestMinCostSavingValidation(t *testing.T) {
	s := spec()
	s.Criteria.MinCostSaving = 0.3
	_, err := New("r", newScripted(), s, t0)
	require.ErrorIs(t, err, ErrInvalid)
	assert.ErrorContains(t, err, "criteria.min_cost_saving: experiment experiment/process has no cost: block")

	e := newScripted()
	withCost(e, candidateCost(40))
	_, err = New("r", e, s, t0)
	require.NoError(t, err)

	for _, v := range []float64{-0.1, 1.5} {
		s.Criteria.MinCostSaving = v
		_, err = New("r", e, s, t0)
		require.ErrorIs(t, err, ErrInvalid)
		assert.ErrorContains(t, err, "criteria.min_cost_saving")
		assert.ErrorContains(t, err, "want 0..1")
	}
}
