// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cost

import (
	"math"
	"testing"
)

// A finite price passes validation ("want a finite number ≥ 0") but price × units overflows to +Inf:
// /metrics then exports phoenix_experiment_cost_monthly +Inf, the saving is Inf-Inf = NaN, and every API
// answer holding the figure (GET /api/v1/experiments, /experiments/{e}, /runs) is HTTP 200 with an empty
// body because encoding/json refuses Inf.
func TestBreakitHugeFinitePriceStaysFinite(t *testing.T) {
	for _, model := range []string{ActiveSeries, HourlySeries, Datapoints, Bytes} {
		c := &Config{Model: model, Price: 1.7e308, Currency: "USD"}
		base := c.Monthly(Usage{Series: 5000, SeriesExact: true, Datapoints: 5_000_000, Bytes: 5e9, Seconds: 10})
		v := c.Monthly(Usage{Series: 2000, SeriesExact: true, Datapoints: 2_000_000, Bytes: 2e9, Seconds: 10})
		Compare(&v, base)
		for name, f := range map[string]float64{"monthly": v.Monthly, "monthly_saving": v.MonthlySaving, "saving_ratio": v.SavingRatio, "units": v.Units} {
			if math.IsNaN(f) || math.IsInf(f, 0) {
				t.Errorf("%s: %s = %v", model, name, f)
			}
		}
	}
}
