// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experiment

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/phoenix-platform/otelcol-phoenix/internal/identity"
)

// reference measures like a Meter with Go maps and no shortcuts, to check the Meter's positional hints and
// tables against.
type reference struct {
	cur, prev map[uint64]bool
	last      map[uint64]lastValue
	lastTs    pcommon.Timestamp
	batch     uint32
	increase  float64
	points    uint64
}

func (r *reference) measure(md pmetric.Metrics) {
	r.batch++
	var maxTs pcommon.Timestamp
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		attrs := rms.At(i).Resource().Attributes()
		res := identity.Attrs(attrs)
		stable := pcommon.NewMap()
		attrs.CopyTo(stable)
		stable.Remove("process.parent_pid")
		ms := rms.At(i).ScopeMetrics().At(0).Metrics()
		for k := 0; k < ms.Len(); k++ {
			m := ms.At(k)
			dps := numberPoints(m)
			for d := 0; d < dps.Len(); d++ {
				dp := dps.At(d)
				r.cur[identity.Series(res, identity.String(m.Name()), dp.Attributes())] = true
				r.points++
				maxTs = max(maxTs, dp.Timestamp())
				if m.Name() != "process.cpu.time" {
					continue
				}
				id := identity.Series(identity.Attrs(stable), identity.String(m.Name()), dp.Attributes())
				p, ok := r.last[id]
				ok = ok && p.batch == r.batch-1
				r.last[id] = lastValue{v: value(dp), batch: r.batch}
				switch v := value(dp); {
				case !ok && r.lastTs != 0 && dp.StartTimestamp() >= r.lastTs:
					r.increase += v
				case !ok:
				case v < p.v:
					r.increase += v
				default:
					r.increase += v - p.v
				}
			}
		}
	}
	r.lastTs = maxTs
}

func (r *reference) rotate() windowCounts {
	st := windowCounts{distinct: uint64(len(r.cur))}
	for id := range r.cur {
		if !r.prev[id] {
			st.fresh++
		}
	}
	r.prev, r.cur = r.cur, map[uint64]bool{}
	r.increase, r.points = 0, 0
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
	ref := &reference{cur: map[uint64]bool{}, prev: map[uint64]bool{}, last: map[uint64]lastValue{}}
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
		if b%7 == 0 { // the receiver reorders
			rng.Shuffle(len(procs), func(i, j int) { procs[i], procs[j] = procs[j], procs[i] })
		}
		shown := procs[:len(procs)-rng.IntN(20)] // some batches miss a few processes (gaps)
		md := batch(at, shown...)
		m.Measure(md)
		ref.measure(md)
		require.InDelta(t, ref.increase, m.win.increase[0], 1e-6, "batch %d", b)
		require.Equal(t, ref.points, m.win.datapoints, "batch %d", b)
		require.Equal(t, uint64(len(ref.cur)), m.series.Current().Distinct, "batch %d", b)
		if b%5 == 0 {
			m.Rotate(t0.Add(at))
			want := ref.rotate()
			require.Equal(t, want, windowCounts{m.done.stats.Distinct, m.done.stats.New}, "window ending at batch %d", b)
			require.True(t, m.done.stats.Exact)
		}
	}
}
