// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package seriesend

import "go.opentelemetry.io/collector/pdata/pmetric"

// LastInMetric leaves at most one NoRecordedValue point in each metric, as its last point; every other one
// goes into a copy of its metric of its own. The prometheus exporter (v0.159) stops reading a metric at
// its first such point: the points after it were not taken in, and the series they end stayed served,
// frozen, until metric_expiration (an exited process's cpu.time "system" and "wait" next to other).
func LastInMetric(ms pmetric.MetricSlice) {
	for i, n := 0, ms.Len(); i < n; i++ {
		m := ms.At(i)
		switch m.Type() {
		case pmetric.MetricTypeGauge:
			splitEnds(ms, m, func(m pmetric.Metric) pmetric.NumberDataPointSlice { return m.Gauge().DataPoints() })
		case pmetric.MetricTypeSum:
			splitEnds(ms, m, func(m pmetric.Metric) pmetric.NumberDataPointSlice { return m.Sum().DataPoints() })
		case pmetric.MetricTypeHistogram:
			splitEnds(ms, m, func(m pmetric.Metric) pmetric.HistogramDataPointSlice { return m.Histogram().DataPoints() })
		case pmetric.MetricTypeExponentialHistogram:
			splitEnds(ms, m, func(m pmetric.Metric) pmetric.ExponentialHistogramDataPointSlice {
				return m.ExponentialHistogram().DataPoints()
			})
		case pmetric.MetricTypeSummary:
			splitEnds(ms, m, func(m pmetric.Metric) pmetric.SummaryDataPointSlice { return m.Summary().DataPoints() })
		}
	}
}

func splitEnds[P point, S points[P]](ms pmetric.MetricSlice, m pmetric.Metric, pointsOf func(pmetric.Metric) S) {
	dps := pointsOf(m)
	var ends []int
	for k := 0; k < dps.Len(); k++ {
		if dps.At(k).Flags().NoRecordedValue() {
			ends = append(ends, k)
		}
	}
	if len(ends) == 0 || len(ends) == 1 && ends[0] == dps.Len()-1 {
		return
	}
	stay := -1 // the end point left in m, when nothing else is
	if len(ends) == dps.Len() {
		stay, ends = ends[0], ends[1:]
	}
	for _, k := range ends {
		own := ms.AppendEmpty()
		m.CopyTo(own)
		i := 0
		pointsOf(own).RemoveIf(func(P) bool { i++; return i-1 != k })
	}
	i := 0
	pointsOf(m).RemoveIf(func(p P) bool { i++; return i-1 != stay && p.Flags().NoRecordedValue() })
}
