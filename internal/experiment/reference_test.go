// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// reference is the oracle: it counts series with Go maps, and keeps each counter series' samples as a
// backend stores them (keyed by its labels, not by our hashes; a sample not newer than the last is
// rejected; a NoRecordedValue point is a staleness marker) to compute sum(increase()) with PromQL's rules:
// over a series' samples, staleness markers left out, the growth between consecutive samples, a drop
// counted as a reset from zero.
type reference struct {
	cur, prev map[uint64]bool
	samples   map[string][]refSample
	points    uint64
}

type refSample struct {
	t     pcommon.Timestamp
	v     float64
	stale bool
}

func (r *reference) measure(md pmetric.Metrics) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		res := identity.Attrs(attrs)
		stable := pcommon.NewMap()
		attrs.CopyTo(stable)
		stable.Remove("process.parent_pid") // followed across a re-parenting, as configured
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			dps := numberPoints(m)
			for d := 0; d < dps.Len(); d++ {
				dp := dps.At(d)
				if !dp.Flags().NoRecordedValue() { // a staleness marker is no sample of the series
					r.cur[identity.Series(res, identity.String(m.Name()), dp.Attributes())] = true
				}
				r.points++
				if m.Name() != "process.cpu.time" {
					continue
				}
				key := fmt.Sprint(stable.AsRaw(), dp.Attributes().AsRaw())
				ss := r.samples[key]
				if n := len(ss); n > 0 && dp.Timestamp() <= ss[n-1].t {
					continue
				}
				r.samples[key] = append(ss, refSample{t: dp.Timestamp(), v: value(dp), stale: dp.Flags().NoRecordedValue()})
			}
		}
	}
}

// increase is sum(increase(process.cpu.time[whole run])) without extrapolation.
func (r *reference) increase() float64 {
	var total float64
	for _, ss := range r.samples {
		var prev *refSample
		for i := range ss {
			if ss[i].stale {
				continue
			}
			if prev != nil {
				if ss[i].v >= prev.v {
					total += ss[i].v - prev.v
				} else {
					total += ss[i].v
				}
			}
			prev = &ss[i]
		}
	}
	return total
}

func (r *reference) rotate() windowCounts {
	st := windowCounts{distinct: uint64(len(r.cur))}
	for id := range r.cur {
		if !r.prev[id] {
			st.fresh++
		}
	}
	r.prev, r.cur = r.cur, map[uint64]bool{}
	r.points = 0
	return st
}

type windowCounts struct{ distinct, fresh uint64 }

// TestMeterMatchesReferenceUnderChurn runs batches whose processes come and go, move, restart and change
// parent, so that points keep changing position, and checks the Meter against the reference every window.
func TestMeterMatchesReferenceUnderChurn(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	procs := make([]proc, 300)
	nextPid := int64(1)
	spawn := func(at time.Duration) proc {
		nextPid++
		return proc{pid: nextPid, ppid: 1, exe: "app", start: at - time.Duration(rng.IntN(5))*time.Second, cpu: 0, mem: 1}
	}
	for i := range procs {
		procs[i] = spawn(0)
	}
	o := opts()
	o.SeriesCap = 100_000 // exact
	m := NewMeter(o, t0)
	ref := &reference{cur: map[uint64]bool{}, prev: map[uint64]bool{}, samples: map[string][]refSample{}}
	var increase float64
	var late pmetric.Metrics
	for b := 1; b <= 120; b++ {
		at := time.Duration(b) * 10 * time.Second
		for i := range procs {
			switch x := rng.IntN(100); {
			case x < 4: // exits; a new one takes its place in the list
				procs[i] = spawn(at)
			case x < 6: // re-parented
				procs[i].ppid = int64(rng.IntN(5) + 1)
			case x < 7: // counter reset
				procs[i].cpu = 0
			}
			procs[i].cpu += float64(rng.IntN(10))
		}
		if b%3 == 0 { // the receiver reorders (a process hidden at the tail comes back within a window)
			rng.Shuffle(len(procs), func(i, j int) { procs[i], procs[j] = procs[j], procs[i] })
		}
		var shown []proc // some batches miss a few processes (gaps shorter than a window)
		for _, p := range procs {
			if rng.IntN(30) != 0 {
				shown = append(shown, p)
			}
		}
		md := batch(at, shown...)
		if b%9 == 0 { // staleness markers from a prometheus receiver
			stale := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics().At(0).Sum().DataPoints().At(0)
			stale.SetFlags(pmetric.DefaultDataPointFlags.WithNoRecordedValue(true))
		}
		if b%11 == 0 { // an exporter queue's consumers race: this batch arrives after the next
			late = md
			continue
		}
		for _, x := range []pmetric.Metrics{md, late} {
			if x == (pmetric.Metrics{}) {
				continue
			}
			m.Measure(x)
			ref.measure(x)
		}
		late = pmetric.Metrics{}
		require.Equal(t, ref.points, m.win.datapoints, "batch %d", b)
		require.Equal(t, uint64(len(ref.cur)), m.series.Current().Distinct, "batch %d", b)
		if b%5 == 0 {
			increase += m.increaseOf("process.cpu.time")
			m.Rotate(t0.Add(at))
			want := ref.rotate()
			require.Equal(t, want, windowCounts{m.done.stats.Distinct, m.done.stats.New}, "window ending at batch %d", b)
			require.True(t, m.done.stats.Exact)
		}
	}
	increase += m.increaseOf("process.cpu.time")
	require.InDelta(t, ref.increase(), increase, 1e-6, "sum(increase()) over the run")
}
