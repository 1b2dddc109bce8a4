// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// seriesID is a series as a backend labels it: its resource's attributes, its metric's name and its point's
// attributes.
type seriesID struct{ resource, series string }

// liveSeries is what a backend holds after taking in each output in turn: a series is live from a point
// until a NoRecordedValue point ends it.
type liveSeries map[seriesID]bool

func (b liveSeries) take(md pmetric.Metrics) (sent map[seriesID]bool) {
	sent = map[seriesID]bool{}
	eachPoint(md, func(id seriesID, end bool) {
		b[id] = !end
		sent[id] = true
	})
	return sent
}

func eachPoint(md pmetric.Metrics, f func(id seriesID, end bool)) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := fmt.Sprint(rms.At(i).Resource().Attributes().AsRaw())
		sms := rms.At(i).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			ms := sms.At(s).Metrics()
			for j := 0; j < ms.Len(); j++ {
				m := ms.At(j)
				var dps pmetric.NumberDataPointSlice
				switch m.Type() {
				case pmetric.MetricTypeSum:
					dps = m.Sum().DataPoints()
				case pmetric.MetricTypeGauge:
					dps = m.Gauge().DataPoints()
				default:
					continue
				}
				for k := 0; k < dps.Len(); k++ {
					f(seriesID{res, fmt.Sprint(m.Name(), dps.At(k).Attributes().AsRaw())}, dps.At(k).Flags().NoRecordedValue())
				}
			}
		}
	}
}

// resources are the resources of a batch, by their attributes.
func resources(md pmetric.Metrics) map[string]bool {
	out := map[string]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		out[fmt.Sprint(md.ResourceMetrics().At(i).Resource().Attributes().AsRaw())] = true
	}
	return out
}

// TestSwitchEndsThePreviousVariantsSeries: after a switch in shadow mode, the series only the previous
// variant sent end at once (a backend would count them next to the new variant's other for its lookback),
// each once; none the new variant sends is ended; a switch back ends other. The only series a backend still
// holds live without a point are those of processes gone from the input (they end so in the baseline too);
// a resource never in the input (other) is no such process.
func TestSwitchEndsThePreviousVariantsSeries(t *testing.T) {
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "1m", "variants": map[string]any{
		"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]}}})
	cfg.Control = component.MustNewID("phoenix_control")
	sink := &consumertest.MetricsSink{}
	p := start(t, cfg, sink, host)
	backend := liveSeries{}
	everIn := map[string]bool{}
	for i, md := range batches(t) {
		switch i {
		case 2:
			require.NoError(t, p.exp.SetActive("top20"))
		case 4:
			require.NoError(t, p.exp.SetActive("full"))
		}
		present := resources(md)
		for r := range present {
			everIn[r] = true
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		out := sink.AllMetrics()[len(sink.AllMetrics())-1]
		live := map[seriesID]bool{}
		ends := 0
		eachPoint(out, func(id seriesID, end bool) {
			if end {
				ends++
				assert.False(t, live[id], "batch %d: %s is sent and ended", i, id)
			} else {
				live[id] = true
			}
		})
		if i == 2 || i == 4 {
			assert.Positive(t, ends, "batch %d, after a switch: the previous variant's series end", i)
		}
		assert.Zero(t, backend.ghosts(out, present, everIn), "batch %d: series live in the backend that no longer come, of processes still in the input", i)
	}
}

// ghosts takes out in and counts the series live in the backend that out did not send, of resources in
// the input (present) or never in it (other): none should be. The series of processes gone from the
// input end so in the baseline too.
func (b liveSeries) ghosts(out pmetric.Metrics, present, everIn map[string]bool) int {
	sent := b.take(out)
	n := 0
	for id, isLive := range b {
		if isLive && !sent[id] && (present[id.resource] || !everIn[id.resource]) {
			n++
		}
	}
	return n
}

// TestHandoverEndsWhatFlowedAtTheWindowsEdge: a process born in a handover window's last batch flows
// once more with the previous variant's counters (its growth up to the switch stays its own); the first
// batch after the window still ends them. Before, the window closed first and the exporter served them
// frozen for metric_expiration.
func TestHandoverEndsWhatFlowedAtTheWindowsEdge(t *testing.T) {
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg := config(t, map[string]any{"baseline": "full", "active": "full", "window": "10s", "variants": map[string]any{
		"full": map[string]any{}, "top5": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 5}}}}}})
	cfg.Control = component.MustNewID("phoenix_control")
	sink := &consumertest.MetricsSink{}
	p := start(t, cfg, sink, host)
	now := time.Unix(1_800_000_000, 0)
	p.exp.now = func() time.Time { return now }
	in := batches(t)
	last := len(in) - 1
	born := pid(in[last-1]) // born in the window's last batch: in it and the one after, not before
	for pidv := range pid(in[last]) {
		if !born[pidv] {
			delete(born, pidv)
		}
	}
	for _, md := range in[:last-1] {
		for pidv := range pid(md) {
			delete(born, pidv)
		}
	}
	require.NotEmpty(t, born, "the chaos profile starts processes")

	backend, everIn := liveSeries{}, map[string]bool{}
	for i, md := range in {
		switch i {
		case 1:
			require.NoError(t, p.exp.SetActive("top5")) // handed over until 2s + 10s
			now = now.Add(2 * time.Second)
		case last:
			now = now.Add(5 * time.Second) // past the window's end
		default:
			now = now.Add(2 * time.Second)
		}
		present := resources(md)
		for r := range present {
			everIn[r] = true
		}
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		assert.Zero(t, backend.ghosts(sink.AllMetrics()[len(sink.AllMetrics())-1], present, everIn),
			"batch %d at %v: series live in the backend that no longer come, of processes still in the input", i, now.Unix()-1_800_000_000)
	}
}

// pid is the process.pid of each process in md.
func pid(md pmetric.Metrics) map[int64]bool {
	out := map[int64]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		if v, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get("process.pid"); ok {
			out[v.Int()] = true
		}
	}
	return out
}

// withoutHandover is md without the resources a switch's handover added: the previous variant's copies of
// a process, each with an end (its gauges end at once, its counters at the next batch). The simulator
// sends no ends of its own.
func withoutHandover(md pmetric.Metrics) pmetric.Metrics {
	out := pmetric.NewMetrics()
	md.CopyTo(out)
	out.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool {
		one := pmetric.NewMetrics()
		rm.CopyTo(one.ResourceMetrics().AppendEmpty())
		ended := false
		eachPoint(one, func(_ seriesID, end bool) { ended = ended || end })
		return ended
	})
	return out
}

// growth is what a backend's increase() adds up over a whole stream for one metric: per series, the
// differences of consecutive samples, a drop counted as a reset from zero; ends are no samples.
type growth struct {
	last  map[seriesID]float64
	total float64
}

func (g *growth) take(md pmetric.Metrics, metric string) {
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		res := fmt.Sprint(rms.At(i).Resource().Attributes().AsRaw())
		sms := rms.At(i).ScopeMetrics()
		for s := 0; s < sms.Len(); s++ {
			ms := sms.At(s).Metrics()
			for j := 0; j < ms.Len(); j++ {
				if ms.At(j).Name() != metric {
					continue
				}
				dps := ms.At(j).Sum().DataPoints()
				for k := 0; k < dps.Len(); k++ {
					dp := dps.At(k)
					if dp.Flags().NoRecordedValue() {
						continue
					}
					id := seriesID{res, fmt.Sprint(dp.Attributes().AsRaw())}
					v := dp.DoubleValue()
					if prev, ok := g.last[id]; ok {
						if v >= prev {
							g.total += v - prev
						} else {
							g.total += v
						}
					}
					g.last[id] = v
				}
			}
		}
	}
}

// TestSwitchKeepsCounterTotals: switching between two top K variants and the baseline, the growth a
// backend adds up from what flowed equals the input's. Each variant's other counts from its own start, so
// without continuity the backend saw other jump (or drop: a reset) by their difference at each switch
// (top20 → top5: +5.6%; top20 → full: -11.6%); switching back soon after, or several times between two
// batches, was off by up to +40.9% before the handover carried on through a further switch.
func TestSwitchKeepsCounterTotals(t *testing.T) {
	named := map[string]map[int]string{
		"top20 to top5":            {2: "top5"},
		"top20 to top5, later":     {3: "top5"},
		"top20 to full":            {2: "full"},
		"top20 to full to top5":    {2: "full", 4: "top5"},
		"full to top5, other ends": {0: "full", 3: "top5"},
		"top20 to top5 to full":    {2: "top5", 4: "full"},
		"full to top20 and back":   {0: "full", 2: "top20", 3: "full"},
		"top20 to full and back":   {2: "full", 3: "top20"},
		"full to top20 to top5":    {0: "full", 2: "top20", 3: "top5"},
	}
	for name, switches := range named {
		seq := map[int][]string{}
		for i, v := range switches {
			seq[i] = []string{v}
		}
		t.Run(name, func(t *testing.T) { assertSwitchesKeepTotals(t, seq) })
	}
	// Switches at random batches, each made while the previous one is handed over (the window is 1m):
	// topk's own ends before a switch, variants ending what another sent in the same batch, a variant
	// coming back to one it left.
	names := []string{"full", "top20", "top5", "by_exe"}
	for seed := range 100 {
		r := rand.New(rand.NewPCG(uint64(seed), 1))
		switches := map[int][]string{}
		for i := range len(batches(t)) {
			for range r.IntN(4) / 2 * r.IntN(4) { // none half the time, else up to 3
				switches[i] = append(switches[i], names[r.IntN(len(names))])
			}
		}
		t.Run(fmt.Sprint("random ", seed), func(t *testing.T) { assertSwitchesKeepTotals(t, switches) })
	}
}

// assertSwitchesKeepTotals runs the chaos batches through top20 (full, top5 and by_exe beside it)
// switched as given before batch i (several switches: in turn, no batch between them), and compares the
// CPU time a backend adds up on the output with the input's.
func assertSwitchesKeepTotals(t *testing.T, switches map[int][]string) {
	host := newHost()
	host.exts[component.MustNewID("phoenix_control")] = &fakeRegistry{}
	cfg := config(t, map[string]any{"baseline": "full", "active": "top20", "window": "1m", "variants": map[string]any{
		"full": map[string]any{}, "top20": map[string]any{"processors": chains["topk"]},
		"top5":   map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 5}}}},
		"by_exe": map[string]any{"processors": []any{map[string]any{"topk": map[string]any{"k": 3, "group_by": []any{"process.executable.name"}}}}}}})
	cfg.Control = component.MustNewID("phoenix_control")
	sink := &consumertest.MetricsSink{}
	p := start(t, cfg, sink, host)
	in, out := &growth{last: map[seriesID]float64{}}, &growth{last: map[seriesID]float64{}}
	for i, md := range batches(t) {
		for _, v := range switches[i] {
			require.NoError(t, p.exp.SetActive(v))
		}
		in.take(md, "process.cpu.time")
		require.NoError(t, p.ConsumeMetrics(context.Background(), md))
		out.take(sink.AllMetrics()[len(sink.AllMetrics())-1], "process.cpu.time")
	}
	require.Positive(t, in.total)
	assert.InEpsilon(t, in.total, out.total, 0.0001, "CPU time a backend adds up over %v: input %v, output %v", switches, in.total, out.total)
}
