// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package cost prices a variant's output under the common billing models of metrics backends — active
// series over a horizon, distinct series per hour, data points, bytes — from what the experiment's
// accounting measures per window. It is pure: no collector or transport types.
//
// The series models need the distinct series over a span longer than a window (series that churn or flap
// count once per span, not once per window), so a Tracker per variant takes each closed window's distinct
// series from the meter's cardinality counter, at rotation (never per data point): exactly up to the
// experiment's series_cap, then as HyperLogLog sketches.
package cost // import "github.com/phoenix-platform/otelcol-phoenix/internal/cost"

import (
	"math"
	"time"

	"github.com/axiomhq/hyperloglog"

	"github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Billing models.
const (
	ActiveSeries = "active_series" // price per 1,000 series active within the horizon, per month
	HourlySeries = "hourly_series" // price per 1,000 series, billed on the mean of distinct series per hour
	Datapoints   = "datapoints"    // price per million data points ingested
	Bytes        = "bytes"         // price per GB (10^9 bytes) of OTLP protobuf ingested
)

// Models are the billing models, in documentation order.
var Models = []string{ActiveSeries, HourlySeries, Datapoints, Bytes}

const (
	// HoursPerMonth is a month, as cloud bills count it (8,760 hours a year / 12).
	HoursPerMonth = 730
	// SecondsPerMonth is HoursPerMonth in seconds.
	SecondsPerMonth = HoursPerMonth * 3600
	// DefaultHorizon is how long a series stays active after its last point (active_series).
	DefaultHorizon = 20 * time.Minute
)

// Config is a billing model and its prices, for one experiment.
type Config struct {
	Model    string
	Price    float64 // per month, per 1,000 series (series models), per million data points, or per GB
	Currency string
	// Horizon is how long a series counts as active after the window it was last seen in (active_series).
	Horizon time.Duration
	// IncludedDPM are the data points per minute included per active series; beyond them, OveragePrice is
	// the price per 1,000 data points per minute, per month (active_series; 0: none).
	IncludedDPM  float64
	OveragePrice float64
	// Window is the experiment's accounting window: it sizes the horizon's slots.
	Window time.Duration
	// SeriesCap is how many distinct series are counted exactly over the span a series model bills; beyond
	// it, HyperLogLog.
	SeriesCap int
}

// Usage is what a variant's output measured over the reported window.
type Usage struct {
	// Series is the tracker's figure (Tracker.Series): active series over the horizon, or the mean of
	// distinct series per hour; SeriesExact whether it was counted exactly.
	Series      float64
	SeriesExact bool
	Datapoints  uint64
	Bytes       uint64
	Seconds     float64 // the window's length
}

// Monthly is the monthly cost of u. MonthlySaving and SavingRatio are left to Compare.
func (c *Config) Monthly(u Usage) control.CostStats {
	st := control.CostStats{Model: c.Model, Currency: c.Currency, Exact: true}
	perSecond := func(n uint64) float64 {
		if u.Seconds <= 0 {
			return 0
		}
		return float64(n) / u.Seconds
	}
	switch c.Model {
	case ActiveSeries:
		st.Units, st.Exact = u.Series, u.SeriesExact
		st.Monthly = c.Price * st.Units / 1000
		if c.IncludedDPM > 0 {
			dpm := perSecond(u.Datapoints) * 60
			st.OverageDPM = math.Max(0, dpm-c.IncludedDPM*st.Units)
			st.Monthly += c.OveragePrice * st.OverageDPM / 1000
		}
	case HourlySeries:
		st.Units, st.Exact = u.Series, u.SeriesExact
		st.Monthly = c.Price * st.Units / 1000
	case Datapoints:
		st.Units = perSecond(u.Datapoints) * SecondsPerMonth
		st.Monthly = c.Price * st.Units / 1e6
	case Bytes:
		st.Units = perSecond(u.Bytes) * SecondsPerMonth / 1e9
		st.Monthly = c.Price * st.Units
	}
	st.Units, st.OverageDPM, st.Monthly = bounded(st.Units), bounded(st.OverageDPM), bounded(st.Monthly)
	return st
}

// MaxPrice bounds every price (per unit, a month): beyond it a figure could overflow to +Inf, which no
// backend, JSON encoder or Prometheus client takes.
const MaxPrice = 1e9

// bounded keeps a figure finite: +Inf (only reachable past the validation's bounds) becomes the largest
// float, NaN 0. NaN never reaches a figure.
func bounded(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// Compare fills in v's saving against the baseline's cost: the baseline's monthly cost minus v's, and
// 1 - v's / the baseline's (0 when the baseline costs nothing, as series savings are).
func Compare(v *control.CostStats, baseline control.CostStats) {
	v.MonthlySaving = bounded(baseline.Monthly - v.Monthly)
	v.SavingRatio = 0
	if baseline.Monthly != 0 {
		v.SavingRatio = bounded(1 - v.Monthly/baseline.Monthly)
	}
}

// Window is what a tracker reads of a closed window's distinct series (the meter's cardinality.Counter,
// read before it rotates): a sketch once the window was past its cap, else every series.
type Window interface {
	Current() cardinality.WindowStats
	EachCurrent(f func(h uint64))
	CurrentSketch() *hyperloglog.Sketch
}

// Tracker follows one variant's distinct series over the span its series model bills. Not safe for
// concurrent use.
type Tracker struct {
	active *horizon
	hourly *hourly
}

// NewTracker returns a tracker for the series models, nil for the others (they need none).
func (c *Config) NewTracker() *Tracker {
	switch c.Model {
	case ActiveSeries:
		return &Tracker{active: newHorizon(c.Horizon, c.Window, c.SeriesCap)}
	case HourlySeries:
		return &Tracker{hourly: newHourly(c.SeriesCap)}
	}
	return nil
}

// Rotate takes the window [start, end) that just closed, whose distinct series w holds.
func (t *Tracker) Rotate(start, end time.Time, w Window) {
	if t.active != nil {
		t.active.rotate(end, w)
	} else {
		t.hourly.rotate(start, end, w)
	}
}

// Series is the figure after the last Rotate: the distinct series active within the horizon, or the mean
// of distinct series per hour; exact is false when HyperLogLog estimated it.
func (t *Tracker) Series() (n float64, exact bool) {
	if t.active != nil {
		return t.active.n, t.active.exact
	}
	return t.hourly.n, t.hourly.exact
}

// Bytes is the memory the tracker holds.
func (t *Tracker) Bytes() int {
	if t.active != nil {
		return t.active.bytes()
	}
	return t.hourly.bytes()
}

// sketchBytes is the size of a dense precision-14 sketch.
const sketchBytes = 1 << 14

func newSketch() *hyperloglog.Sketch { return hyperloglog.NewNoSparse() }
