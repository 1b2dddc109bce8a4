// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package differential

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// oracle compares each variant's output with the baseline's in Prometheus and collects every figure and
// every breach of one case.
type oracle struct {
	t        *testing.T
	prom     *harness.Prometheus
	caseName string
	variants []string // every variant, sorted, the baseline included
	ghosts   ghostCount

	rows       [][]string
	breaches   []string
	types      map[string]string // metric family → counter, gauge or histogram
	typesErr   error
	span       [2]time.Time // the time the families are looked up over
	phase      int64        // ms into the collection cycle of the compared instants (midPhase)
	phaseKnown bool
}

func (o *oracle) breach(format string, args ...any) {
	o.breaches = append(o.breaches, fmt.Sprintf(format, args...))
}

// fail records a query error as a breach: a figure that cannot be computed is not a pass.
func (o *oracle) fail(what string, err error) {
	o.breach("%s: %v", what, err)
}

func (o *oracle) row(cells ...string) { o.rows = append(o.rows, cells) }

// others are the variants compared with the baseline.
func (o *oracle) others() []string {
	out := make([]string, 0, len(o.variants))
	for _, v := range o.variants {
		if v != baselineVariant {
			out = append(out, v)
		}
	}
	return out
}

// byVariant is a query's result keyed by phoenix_variant.
func byVariant(samples []harness.Sample) map[string]float64 {
	out := make(map[string]float64, len(samples))
	for _, s := range samples {
		out[s.Labels["phoenix_variant"]] = s.Value
	}
	return out
}

// midPhase returns (and keeps) the offset, within the collection cycle, of the instant halfway between two
// collections of the process receivers: the middle of the widest gap between the phases of the baseline's
// points before end. There a window [w] of n intervals holds exactly n points of each live series and an
// instant query sees each series' latest point, whatever the jitter of collections and exports.
func (o *oracle) midPhase(end time.Time) (int64, error) {
	if o.phaseKnown {
		return o.phase, nil
	}
	series, err := o.prom.QueryMatrix(fmt.Sprintf(`process_memory_usage_bytes{phoenix_variant=%q}[20s]`, baselineVariant), end)
	if err != nil {
		return 0, err
	}
	period := processInterval.Milliseconds()
	seen := map[int64]bool{}
	for _, s := range series {
		for _, p := range s.Points {
			seen[p.T.UnixMilli()%period] = true
		}
	}
	if len(seen) == 0 {
		return 0, fmt.Errorf("no baseline points before %s", end.Format(time.TimeOnly))
	}
	phases := make([]int64, 0, len(seen))
	for ph := range seen {
		phases = append(phases, ph)
	}
	sort.Slice(phases, func(i, j int) bool { return phases[i] < phases[j] })
	mid, widest := int64(0), int64(-1)
	for i, ph := range phases {
		next := phases[(i+1)%len(phases)]
		if i == len(phases)-1 {
			next += period
		}
		if gap := next - ph; gap > widest {
			widest, mid = gap, (ph+gap/2)%period
		}
	}
	o.t.Logf("%s: baseline points at %d phase(s) of the %s cycle, widest gap %dms: instants at +%dms", o.caseName,
		len(phases), processInterval, widest, mid)
	o.phase, o.phaseKnown = mid, true
	return mid, nil
}

// atPhase returns the last instant at the mid phase not after t.
func atPhase(t time.Time, phase int64) time.Time {
	period := processInterval.Milliseconds()
	ms := t.UnixMilli()
	return time.UnixMilli(ms - ((ms-phase)%period+period)%period)
}

// instants returns the first and last of the instants the totals are compared at: one every collection
// interval, halfway between two collections, over the measureSpan before end.
func (o *oracle) instants(end time.Time) (time.Time, time.Time, error) {
	phase, err := o.midPhase(end)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	stop := atPhase(end, phase)
	return stop.Add(-measureSpan), stop, nil
}

// totals compares, for every process counter family (process_cpu_time_seconds_total,
// process_disk_io_bytes_total, …), sum(rate(F[w])) and sum(increase(F[w])) for each window w, and for every
// process gauge family (process_memory_usage_bytes, …) sum(F), of every variant with the baseline's at an
// instant every collection interval over the last measureSpan before end: the mean relative error must stay
// within totalsTolerance (the worst instant is printed too).
func (o *oracle) totals(end time.Time) {
	// extrapolated: PromQL's rate()/increase(), which extrapolate each series by its own samples (see
	// sampleGrowth): reported, and judged on the backend's samples instead.
	type check struct {
		label, query string
		extrapolated bool
	}
	var checks []check
	types, err := o.metadata()
	if err != nil {
		return
	}
	var counters, gauges []string
	for f, typ := range types {
		switch {
		case !strings.HasPrefix(f, "process_"):
		case typ == "counter":
			counters = append(counters, f)
		case typ == "gauge":
			gauges = append(gauges, f)
		}
	}
	sort.Strings(counters)
	sort.Strings(gauges)
	if len(counters) == 0 || len(gauges) == 0 {
		o.breach("totals: process counters %v, gauges %v: want both", counters, gauges)
	}
	for _, f := range counters {
		for _, n := range windowIntervals {
			w := promDuration(time.Duration(n) * processInterval)
			for _, fn := range []string{"rate", "increase"} {
				checks = append(checks, check{fmt.Sprintf("sum(%s(%s[%s]))", fn, f, w),
					fmt.Sprintf("sum by (phoenix_variant) (%s(%s[%s]))", fn, f, w), true})
			}
		}
	}
	for _, f := range gauges {
		checks = append(checks, check{fmt.Sprintf("sum(%s)", f), fmt.Sprintf("sum by (phoenix_variant) (%s)", f), false})
	}
	start, stop, err := o.instants(end)
	if err != nil {
		o.fail("instants", err)
		return
	}
	for _, f := range counters {
		o.sampleGrowth(f, start, stop)
	}
	for _, c := range checks {
		series, err := o.prom.QueryRange(c.query, start, stop, processInterval)
		if err != nil {
			o.fail(c.label, err)
			continue
		}
		values := map[string]map[int64]float64{}
		for _, s := range series {
			m := map[int64]float64{}
			for _, p := range s.Points {
				m[p.T.UnixMilli()] = p.V
			}
			values[s.Labels["phoenix_variant"]] = m
		}
		base := values[baselineVariant]
		if len(base) == 0 {
			o.breach("%s: no baseline values", c.label)
			continue
		}
		instants := make([]int64, 0, len(base))
		for ts := range base {
			instants = append(instants, ts)
		}
		sort.Slice(instants, func(i, j int) bool { return instants[i] < instants[j] })
		for _, v := range o.others() {
			var sumBase, sumVar, sumErr, worst, worstBase, worstVar float64
			worstAt, missing := int64(0), 0
			for _, ts := range instants {
				b := base[ts]
				x, ok := values[v][ts]
				if !ok {
					missing++
					continue
				}
				e := relErr(x, b)
				sumBase, sumVar, sumErr = sumBase+b, sumVar+x, sumErr+e
				if e >= worst {
					worst, worstAt, worstBase, worstVar = e, ts, b, x
				}
			}
			worstText := fmt.Sprintf("%s at %s (%s vs %s)", pct(worst), time.UnixMilli(worstAt).Format(time.TimeOnly), num(worstVar), num(worstBase))
			n := float64(len(instants) - missing)
			mean := sumErr / math.Max(n, 1)
			ok := missing == 0 && mean <= totalsTolerance
			if c.extrapolated {
				o.row(c.label, v, num(sumBase/math.Max(n, 1)), num(sumVar/math.Max(n, 1)), pct(mean), worstText,
					"reported", "extrapolation")
				continue
			}
			o.row(c.label, v, num(sumBase/math.Max(n, 1)), num(sumVar/math.Max(n, 1)), pct(mean), worstText,
				"≤ "+pct(totalsTolerance), verdict(ok))
			if missing > 0 {
				o.breach("%s %s: no value at %d of %d instants where the baseline has one (no point within the lookback)",
					v, c.label, missing, len(instants))
			}
			if mean > totalsTolerance {
				o.breach("%s %s: mean relative error %s over %d instants (worst %s), want ≤ %s",
					v, c.label, pct(mean), len(instants)-missing, worstText, pct(totalsTolerance))
			}
		}
	}
}

// passThrough checks that every series of a non-process metric (every name but process_*: system_* from
// the other scrapers, application metrics from OTLP) is in each variant with the baseline's labels and
// samples — the same timestamps and values over the last measureSpan — and that a variant adds none.
func (o *oracle) passThrough(end time.Time) {
	q := fmt.Sprintf(`{phoenix_variant!="", __name__!~"process_.*|target_info"}[%s]`, promDuration(measureSpan))
	all, err := o.prom.QueryMatrix(q, end)
	if err != nil {
		o.fail("non-process series", err)
		return
	}
	perVariant := map[string]map[string][]harness.Point{}
	for _, s := range all {
		v := s.Labels["phoenix_variant"]
		if perVariant[v] == nil {
			perVariant[v] = map[string][]harness.Point{}
		}
		perVariant[v][withoutLabel(s.Labels, "phoenix_variant")] = s.Points
	}
	base := perVariant[baselineVariant]
	if len(base) == 0 {
		o.row("non-process series", "all", "none in the baseline", "", "", "", "", "n/a")
		return
	}
	for _, v := range o.others() {
		got := perVariant[v]
		var missing, extra []string
		differ, samples := 0, 0
		var first string
		for key, bp := range base {
			vp, ok := got[key]
			if !ok {
				missing = append(missing, key)
				continue
			}
			at := make(map[int64]float64, len(vp))
			for _, p := range vp {
				at[p.T.UnixMilli()] = p.V
			}
			for _, p := range bp {
				samples++
				x, ok := at[p.T.UnixMilli()]
				if ok && sameValue(x, p.V) {
					continue
				}
				differ++
				if first == "" {
					value := "no sample"
					if ok {
						value = fmt.Sprint(x)
					}
					first = fmt.Sprintf("%s at %s: baseline %v, %s %s", key, p.T.Format("15:04:05.000"), p.V, v, value)
				}
			}
			if len(vp) > len(bp) {
				differ += len(vp) - len(bp)
			}
		}
		for key := range got {
			if _, ok := base[key]; !ok {
				extra = append(extra, key)
			}
		}
		sort.Strings(missing)
		sort.Strings(extra)
		ok := len(missing) == 0 && len(extra) == 0 && differ == 0
		o.row("non-process series (labels, samples)", v, fmt.Sprintf("%d series", len(base)), fmt.Sprintf("%d series", len(got)),
			fmt.Sprintf("missing %d, extra %d", len(missing), len(extra)), fmt.Sprintf("%d samples differ or extra (baseline %d)", differ, samples),
			"0 / 0 / 0", verdict(ok))
		if len(missing) > 0 {
			o.breach("%s: %d of %d non-process series of the baseline missing, e.g. %s", v, len(missing), len(base), examples(missing))
		}
		if len(extra) > 0 {
			o.breach("%s: %d non-process series not in the baseline, e.g. %s", v, len(extra), examples(extra))
		}
		if differ > 0 {
			o.breach("%s: %d of %d samples of non-process series differ from the baseline's, first %s", v, differ, samples, first)
		}
	}
}

// onePointPerInterval checks that no series of a variant gets more points in one collection interval
// than the baseline's series do: two values under one series identity in one interval (two sources
// writing one `other`, a batch applied twice) are what a scraping backend shows as a series flipping
// between values, and what remote write shows as extra points. Per family, the most points any series
// has in a window of one interval ending at the compared instants (each holds one collection).
func (o *oracle) onePointPerInterval(end time.Time) {
	types, err := o.metadata()
	if err != nil {
		return
	}
	start, stop, err := o.instants(end)
	if err != nil {
		o.fail("instants", err)
		return
	}
	families := make([]string, 0, len(types))
	for f := range types {
		families = append(families, f)
	}
	sort.Strings(families)
	worst := map[string]float64{}
	worstFamily := map[string]string{}
	baseMax := 0.0
	for _, f := range families {
		sel := f
		if types[f] == "histogram" {
			sel = f + "_count"
		}
		series, err := o.prom.QueryRange(fmt.Sprintf(`max by (phoenix_variant) (count_over_time(%s{phoenix_variant!=""}[%s]))`,
			sel, promDuration(processInterval)), start, stop, processInterval)
		if err != nil {
			o.fail("points per interval of "+f, err)
			continue
		}
		most := map[string]float64{}
		for _, s := range series {
			for _, p := range s.Points {
				most[s.Labels["phoenix_variant"]] = math.Max(most[s.Labels["phoenix_variant"]], p.V)
			}
		}
		b := most[baselineVariant]
		baseMax = math.Max(baseMax, b)
		for _, v := range o.others() {
			worst[v] = math.Max(worst[v], most[v])
			if most[v] > b {
				o.breach("%s: a series of %s has %v points in one %s interval, the baseline's at most %v: two values under one series identity",
					v, f, most[v], processInterval, b)
				if worstFamily[v] == "" {
					worstFamily[v] = f
				}
			}
		}
	}
	for _, v := range o.others() {
		o.row(fmt.Sprintf("most points of one series in one %s interval, over %d families", processInterval, len(families)), v,
			num(baseMax), num(worst[v]), "more than the baseline: "+orNone(worstFamily[v]), "", "≤ baseline", verdict(worstFamily[v] == ""))
	}
}

// resets checks that the reduction makes no counter look reset: for every counter family, a variant's
// sum(resets()) over the compared span must not exceed the baseline's (the baseline's is 0 unless a source
// really reset). A series carrying two sources' values in turn also shows as resets.
func (o *oracle) resets(end time.Time) {
	types, err := o.metadata()
	if err != nil {
		return
	}
	span := promDuration(measureSpan + time.Duration(windowIntervals[len(windowIntervals)-1])*processInterval)
	var families []string
	for name, typ := range types {
		switch typ {
		case "counter":
			families = append(families, name)
		case "histogram":
			families = append(families, name+"_count")
		}
	}
	sort.Strings(families)
	totalBase, totalVar := 0.0, map[string]float64{}
	for _, f := range families {
		samples, err := o.prom.Query(fmt.Sprintf(`sum by (phoenix_variant) (resets(%s{phoenix_variant!=""}[%s]))`, f, span), end)
		if err != nil {
			o.fail("resets("+f+")", err)
			continue
		}
		got := byVariant(samples)
		b := got[baselineVariant]
		totalBase += b
		for _, v := range o.others() {
			x := got[v]
			totalVar[v] += x
			if x > b {
				o.row("sum(resets("+f+"["+span+"]))", v, num(b), num(x), "", "", "≤ baseline", verdict(false))
				o.breach("%s: sum(resets(%s[%s])) = %v, baseline %v: the reduction makes the counter look reset", v, f, span, x, b)
			}
		}
	}
	for _, v := range o.others() {
		o.row(fmt.Sprintf("sum(resets()) over %d counter families [%s]", len(families), span), v, num(totalBase), num(totalVar[v]),
			"", "", "≤ baseline", verdict(totalVar[v] <= totalBase))
	}
}

// metadata returns (and keeps) the type of every metric family the variants have: by name, as the
// exporters' translation makes them (UnderscoreEscapingWithSuffixes): a family F is a histogram when
// F_bucket exists (F_bucket, F_sum, F_count are its series), a counter when its name ends in _total (only
// monotonic cumulative sums get the suffix), a gauge otherwise (gauges and non-monotonic sums). Remote
// write carries no # TYPE lines, and Prometheus 2.42 keeps no metadata from it.
func (o *oracle) metadata() (map[string]string, error) {
	if o.types != nil || o.typesErr != nil {
		return o.types, o.typesErr
	}
	names, err := o.prom.LabelValues("__name__", `{phoenix_variant!=""}`, o.span[0], o.span[1])
	if err != nil {
		o.typesErr = err
		o.fail("metric families", err)
		return nil, err
	}
	all := map[string]bool{}
	for _, n := range names {
		all[n] = true
	}
	o.types = map[string]string{}
	for n := range all {
		if f, ok := strings.CutSuffix(n, "_bucket"); ok && all[f+"_count"] {
			o.types[f] = "histogram"
		}
	}
	for n := range all {
		if n == "target_info" || o.types[n] == "histogram" || partOfHistogram(n, o.types) {
			continue
		}
		if strings.HasSuffix(n, "_total") {
			o.types[n] = "counter"
		} else {
			o.types[n] = "gauge"
		}
	}
	return o.types, nil
}

func partOfHistogram(name string, types map[string]string) bool {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if f, ok := strings.CutSuffix(name, suffix); ok && types[f] == "histogram" {
			return true
		}
	}
	return false
}

// backendHealth checks that Prometheus took every remote write: a rejected write (a sample out of order
// beyond outOfOrderWindow, or two values at one timestamp of a series) loses all its samples, in every
// variant, and the comparisons would run on partial data.
func (o *oracle) backendHealth() {
	samples, err := harness.Scrape(o.prom.URL()+"/metrics", func(name string) bool {
		return name == "prometheus_http_requests_total" || name == "prometheus_tsdb_out_of_order_samples_total" ||
			name == "prometheus_tsdb_head_samples_appended_total"
	})
	if err != nil {
		o.fail("Prometheus' own metrics", err)
		return
	}
	ok, rejected, appended, ooo := 0.0, 0.0, 0.0, 0.0
	for _, s := range samples {
		switch s.Labels["__name__"] {
		case "prometheus_http_requests_total":
			if s.Labels["handler"] != "/api/v1/write" {
				continue
			}
			if strings.HasPrefix(s.Labels["code"], "2") {
				ok += s.Value
			} else {
				rejected += s.Value
			}
		case "prometheus_tsdb_head_samples_appended_total":
			appended += s.Value
		case "prometheus_tsdb_out_of_order_samples_total":
			ooo += s.Value
		}
	}
	good := rejected == 0 && ok > 0
	o.row("backend: remote writes taken / rejected", "all", num(ok), num(rejected),
		fmt.Sprintf("%s samples appended", num(appended)), fmt.Sprintf("%s out of order rejected", num(ooo)), "0 rejected", verdict(good))
	if !good {
		reason := "no reason logged"
		for _, line := range strings.Split(o.prom.Logs(), "\n") {
			if strings.Contains(line, "from remote write") {
				reason = line
				break
			}
		}
		o.breach("backend: Prometheus rejected %v of %v remote writes (%v samples out of order beyond %s), each with every variant's samples in it, so every comparison ran on partial data; first: %s",
			rejected, ok+rejected, ooo, outOfOrderWindow, reason)
	}
}

// experimentFigures compares, for each complete experiment window, the experiment's own figures with
// PromQL's on the same outputs: per-variant fidelity (per metric and the lowest) within fidelityTolerance,
// series within seriesTolerance.
func (o *oracle) experimentFigures(windows []snapshot) {
	for _, w := range windows {
		label := fmt.Sprintf("window %s–%s", w.Start.Format(time.TimeOnly), w.End.Format(time.TimeOnly))
		start, end := o.align(label, w)
		o.compareSeries(label, w, start, end)
		o.compareFidelity(label, w, start, end)
	}
}

// align returns the span (start, end] of collection timestamps that holds the batches the experiment
// counted in window w. The experiment puts a batch in a window by when it passes, Prometheus has its
// points at their collection time, a moment earlier; so the batch nearest each end of the window may be
// on either side. Each end is put halfway between two collections (the instants' phase), just before or
// just after the window's own end, and of the four choices the one whose baseline points add up closest
// to the baseline's datapoints in the experiment's window wins.
func (o *oracle) align(label string, w snapshot) (time.Time, time.Time) {
	base, ok := w.Variant(baselineVariant)
	phase, err := o.midPhase(o.span[1])
	if !ok || err != nil {
		return w.Start, w.End
	}
	around := func(t time.Time) []time.Time {
		before := atPhase(t, phase)
		return []time.Time{before, before.Add(processInterval)}
	}
	bestStart, bestEnd, bestDiff, bestPoints := w.Start, w.End, math.Inf(1), 0.0
	for _, s := range around(w.Start) {
		for _, e := range around(w.End) {
			points, err := o.baselinePoints(s, e)
			if err != nil {
				o.fail(label+" alignment", err)
				return w.Start, w.End
			}
			if d := math.Abs(points - float64(base.Datapoints)); d < bestDiff {
				bestStart, bestEnd, bestDiff, bestPoints = s, e, d, points
			}
		}
	}
	o.row(label+" aligned to collections "+bestStart.Format("15:04:05.000")+"–"+bestEnd.Format("15:04:05.000"), baselineVariant,
		"PromQL points "+num(bestPoints), fmt.Sprintf("API datapoints %d", base.Datapoints),
		pct(relErr(bestPoints, float64(base.Datapoints))), "", "(informative)", "")
	return bestStart, bestEnd
}

// baselinePoints counts the baseline's points with a collection time in (start, end].
func (o *oracle) baselinePoints(start, end time.Time) (float64, error) {
	types, err := o.metadata()
	if err != nil {
		return 0, err
	}
	total := 0.0
	for f, typ := range types {
		sel := f
		if typ == "histogram" {
			sel = f + "_count"
		}
		v, _, err := o.prom.QueryValue(fmt.Sprintf(`sum(count_over_time(%s{phoenix_variant=%q}[%s]))`,
			sel, baselineVariant, promDuration(end.Sub(start))), end)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

// familyCounts returns, per metric family and variant, the number of series with a sample in the span
// before at: count(count_over_time(family[span])) one family at a time (count_over_time drops the metric
// name, so series of different families with the same labels would collide in one query). A histogram is
// one series for the experiment and _bucket/_sum/_count series in Prometheus: only its _count is counted.
func (o *oracle) familyCounts(span time.Duration, at time.Time) (map[string]map[string]float64, error) {
	types, err := o.metadata()
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]float64{}
	for f, typ := range types {
		sel := f
		if typ == "histogram" || typ == "summary" {
			sel = f + "_count"
		}
		samples, err := o.prom.Query(fmt.Sprintf(`count by (phoenix_variant) (count_over_time(%s{phoenix_variant!=""}[%s]))`,
			sel, promDuration(span)), at)
		if err != nil {
			return nil, err
		}
		if len(samples) > 0 {
			out[f] = byVariant(samples)
		}
	}
	return out, nil
}

// compareSeries compares the experiment's distinct series per variant with the series Prometheus has for
// the variant with a point in the same window (points carry their collection timestamps).
func (o *oracle) compareSeries(label string, w snapshot, start, at time.Time) {
	span := at.Sub(start)
	counts, err := o.familyCounts(span, at)
	if err != nil {
		o.fail(label+" series", err)
		return
	}
	got := map[string]float64{}
	for _, perVariant := range counts {
		for v, n := range perVariant {
			got[v] += n
		}
	}
	for _, v := range o.variants {
		st, ok := w.Variant(v)
		if !ok {
			o.breach("%s: variant %s missing from the experiment's API", label, v)
			continue
		}
		p := got[v]
		e := relErr(float64(st.Series), p)
		ok = e <= seriesTolerance
		o.row(label+" series: API vs Σ count(count_over_time(family["+promDuration(span)+"]))", v,
			fmt.Sprintf("PromQL %.0f", p), fmt.Sprintf("API %d", st.Series), pct(e), "", "≤ "+pct(seriesTolerance), verdict(ok))
		if !ok {
			o.breach("%s: %s series: the experiment reports %d, Prometheus has %.0f (%s apart, want ≤ %s)",
				label, v, st.Series, p, pct(e), pct(seriesTolerance))
		}
	}
}

// compareFidelity computes each variant's fidelity from PromQL as the experiment defines it — per metric
// family present in the baseline, 1 - |variant - baseline| / |baseline| of the window's total increase for
// counters (histograms: of _count and _sum) and of the window's mean total for gauges, clamped to [0,1];
// "no data" when both are 0 — and compares it with the experiment's: its per-metric figures (OTel names,
// mapped to Prometheus families by promFamily), and its lowest figure with the lowest over every family.
func (o *oracle) compareFidelity(label string, w snapshot, start, at time.Time) {
	types, err := o.metadata()
	if err != nil {
		return
	}
	counts, err := o.familyCounts(at.Sub(start), at)
	if err != nil {
		o.fail(label+" baseline families", err)
		return
	}
	families := map[string]bool{}
	for f, perVariant := range counts {
		if perVariant[baselineVariant] > 0 {
			families[f] = true
		}
	}
	// fid[variant][family] = PromQL fidelity, absent = no data
	fid := map[string]map[string]float64{}
	for _, v := range o.others() {
		fid[v] = map[string]float64{}
	}
	var names []string
	for f := range families {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		totals, err := o.familyTotals(types[f], f, start, at)
		if err != nil {
			o.fail(label+" fidelity "+f, err)
			continue
		}
		for _, got := range totals { // the lowest closeness of the family's measures
			for _, v := range o.others() {
				c, ok := closeness(got[v], got[baselineVariant])
				if !ok {
					continue
				}
				if prev, seen := fid[v][f]; !seen || c < prev {
					fid[v][f] = c
				}
			}
		}
	}
	for _, v := range o.others() {
		st, ok := w.Variant(v)
		if !ok {
			continue // reported by compareSeries
		}
		// The experiment's per-metric figures.
		metrics := make([]string, 0, len(st.MetricFidelity))
		for m := range st.MetricFidelity {
			metrics = append(metrics, m)
		}
		sort.Strings(metrics)
		for _, m := range metrics {
			f := promFamily(m, families)
			api := st.MetricFidelity[m]
			if f == "" {
				o.row(label+" fidelity["+m+"]", v, "PromQL: not in the baseline", fidelityString(api), "", "", "", verdict(api == nil))
				if api != nil {
					o.breach("%s: %s fidelity[%s] = %s, but the baseline has no such metric in Prometheus", label, v, m, fidelityString(api))
				}
				continue
			}
			if c, has := fid[v][f]; has != (api != nil) && o.edgeOnly(types[f], f, v, api, start, at) {
				var prom *float64
				if has {
					prom = &c
				}
				o.row(label+" fidelity["+m+" = "+f+"]", v, "PromQL "+fidelityString(prom)+", growth only at an edge",
					"API "+fidelityString(api), "", "", "one collection at either end", verdict(true))
				continue
			}
			o.compareOne(label+" fidelity["+m+" = "+f+"]", v, api, fid[v], f)
		}
		// The lowest, over every family of the baseline.
		lowest, lowestFamily := math.Inf(1), ""
		for _, f := range names {
			if c, ok := fid[v][f]; ok && c < lowest {
				lowest, lowestFamily = c, f
			}
		}
		var prom *float64
		if lowestFamily != "" {
			prom = &lowest
		}
		o.compareValues(label+" fidelity (lowest; PromQL's at "+orNone(lowestFamily)+")", v, st.Fidelity, prom)
	}
}

// edgeOnly says whether a counter family's "no data" on one side and a figure on the other come from the
// window's ends alone: the experiment puts a batch in a window by when it passes, Prometheus by when it was
// collected, and the alignment (see the README) is chosen on every family's points together, so a family
// that grows once in a while (system.disk.io_time on an idle disk) can have its one growth in the
// experiment's window and just outside the aligned one, or the reverse. Then PromQL over the window widened
// by one collection at each end gives the experiment's figure (it has growth), or over the window narrowed
// so (it has none): both are checked, so that a real loss still breaches.
func (o *oracle) edgeOnly(typ, family, v string, api *float64, start, at time.Time) bool {
	if typ != "counter" {
		return false
	}
	from, to := start.Add(-processInterval), at.Add(processInterval) // widened: the API has a figure
	if api == nil {
		from, to = start.Add(processInterval), at.Add(-processInterval) // narrowed: the API has none
	}
	got, err := o.windowGrowth(family, from, to)
	if err != nil {
		return false
	}
	c, ok := closeness(got[v], got[baselineVariant])
	if api == nil {
		return !ok
	}
	return ok && math.Abs(c-*api) <= fidelityTolerance
}

// familyTotals are what a family's fidelity compares, per variant, over (start, at]: for a counter the
// growth of the backend's samples (see sampleGrowth); for a histogram PromQL's increase of _count and of
// _sum; for a gauge (or unknown) its mean total.
func (o *oracle) familyTotals(typ, family string, start, at time.Time) ([]map[string]float64, error) {
	switch typ {
	case "counter":
		got, err := o.windowGrowth(family, start, at)
		return []map[string]float64{got}, err
	case "histogram":
		var out []map[string]float64
		for _, part := range []string{"_count", "_sum"} {
			samples, err := o.prom.Query(fmt.Sprintf(`sum by (phoenix_variant) (increase(%s%s{phoenix_variant!=""}[%s]))`,
				family, part, promDuration(at.Sub(start))), at)
			if err != nil {
				return nil, err
			}
			out = append(out, byVariant(samples))
		}
		return out, nil
	default:
		got, err := o.gaugeMean(family, start, at)
		return []map[string]float64{got}, err
	}
}

// gaugeMean is, per variant, the mean of sum(family) over the instants in (start, at], one per collection
// at the instants' phase (start and at are on it: align), where the lookback holds exactly one collection
// of every live series. Evenly spaced steps at whole seconds (a subquery's) would fall on collections
// whenever their phase is near a whole second: hostmetrics stamps each process when it reads it, a scrape
// spreads its points over tens of milliseconds, and a step inside that spread sees a rolled-up series, whose
// one point stands for many processes, either in full or not at all.
func (o *oracle) gaugeMean(family string, start, at time.Time) (map[string]float64, error) {
	first := start.Add(processInterval)
	series, err := o.prom.QueryRange(fmt.Sprintf(`sum by (phoenix_variant) (%s{phoenix_variant!=""})`, family), first, at, processInterval)
	if err != nil {
		return nil, err
	}
	n := float64(at.Sub(first)/processInterval + 1)
	out := map[string]float64{}
	for _, s := range series {
		for _, p := range s.Points {
			out[s.Labels["phoenix_variant"]] += p.V / n
		}
	}
	return out, nil
}

func (o *oracle) compareOne(label, v string, api *float64, fid map[string]float64, family string) {
	var prom *float64
	if c, ok := fid[family]; ok {
		prom = &c
	}
	o.compareValues(label, v, api, prom)
}

// compareValues compares an API fidelity with PromQL's; nil is "no data" on either side, and only matches
// nil.
func (o *oracle) compareValues(label, v string, api, prom *float64) {
	switch {
	case api == nil && prom == nil:
		o.row(label, v, "PromQL no data", "API no data", "", "", "", verdict(true))
	case api == nil || prom == nil || math.IsNaN(*api):
		o.row(label, v, "PromQL "+fidelityString(prom), "API "+fidelityString(api), "", "", "≤ 0.02", verdict(false))
		o.breach("%s: %s: the experiment reports %s, PromQL %s", label, v, fidelityString(api), fidelityString(prom))
	default:
		d := math.Abs(*api - *prom)
		ok := d <= fidelityTolerance
		o.row(label, v, "PromQL "+fidelityString(prom), "API "+fidelityString(api), fmt.Sprintf("Δ %.4f", d), "", fmt.Sprintf("≤ %.2f", fidelityTolerance), verdict(ok))
		if !ok {
			o.breach("%s: %s: the experiment reports %.4f, PromQL %.4f (Δ %.4f, want ≤ %.2f)", label, v, *api, *prom, d, fidelityTolerance)
		}
	}
}

// report prints every figure as a table and fails with every breach.
func (o *oracle) report() {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "check\tvariant\tbaseline\tvariant\trel. error (mean)\tworst\tlimit\tresult")
	for _, r := range o.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	o.t.Logf("%s: figures\n%s", o.caseName, b.String())
	if len(o.breaches) > 0 {
		o.t.Errorf("%s: %d breaches:\n  - %s", o.caseName, len(o.breaches), strings.Join(o.breaches, "\n  - "))
	}
}

// promFamily maps an OTel metric name to its Prometheus family among families, as the exporters name it
// (UnderscoreEscapingWithSuffixes, the default): characters outside [a-zA-Z0-9_:] become '_', then the unit's suffix (s → _seconds, By → _bytes, 1 → _ratio for gauges, {…} none) and _total for
// monotonic sums are appended. Rather than re-implement the unit table, it takes the shortest family that
// is the escaped name followed by nothing or by suffixes of lower-case words: process.cpu.time →
// process_cpu_time_seconds_total, process.memory.usage → process_memory_usage_bytes (and not
// process_memory_utilization_ratio). "" when none is present.
func promFamily(otel string, families map[string]bool) string {
	escaped := nonName.ReplaceAllString(otel, "_")
	best := ""
	for f := range families {
		if f != escaped && !(strings.HasPrefix(f, escaped+"_") && suffixes.MatchString(f[len(escaped):])) {
			continue
		}
		if best == "" || len(f) < len(best) {
			best = f
		}
	}
	return best
}

var (
	nonName  = regexp.MustCompile(`[^a-zA-Z0-9_:]`)
	suffixes = regexp.MustCompile(`^(_[a-z]+)+$`)
)

// closeness is 1 - |v - base| / |base| clamped to [0,1]; ok is false ("no data") when both are 0.
func closeness(v, base float64) (float64, bool) {
	if base == 0 {
		if v == 0 {
			return 0, false
		}
		return 0, true
	}
	return math.Max(0, 1-math.Abs(v-base)/math.Abs(base)), true
}

// relErr is |v - base| / |base|; 0 when both are 0 and +Inf when only base is.
func relErr(v, base float64) float64 {
	if base == 0 {
		if v == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Abs(v-base) / math.Abs(base)
}

func sameValue(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b)) || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

func withoutLabel(labels map[string]string, drop string) string {
	rest := make(map[string]string, len(labels))
	for k, v := range labels {
		if k != drop {
			rest[k] = v
		}
	}
	return harness.LabelsString(rest)
}

func examples(keys []string) string {
	if len(keys) > 3 {
		return strings.Join(keys[:3], "; ") + fmt.Sprintf("; … (%d more)", len(keys)-3)
	}
	return strings.Join(keys, "; ")
}

func promDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", int64(d/time.Second))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func num(v float64) string { return fmt.Sprintf("%.6g", v) }

func pct(v float64) string {
	if math.IsInf(v, 1) {
		return "∞"
	}
	return fmt.Sprintf("%.3f%%", 100*v)
}

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "BREACH"
}

func fidelityString(f *float64) string {
	if f == nil {
		return "no data"
	}
	return fmt.Sprintf("%.4f", *f)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// sampleGrowth compares, for every window, the growth the backend's own samples show: per series, between
// consecutive samples in [t-w, t] (both ends included, as Prometheus 2.x selects a range), a drop counted
// as a reset from zero, staleness markers left out — PromQL's increase() without its extrapolation, which
// only extrapolates series that start, end or are young inside the window, and so cannot be matched by a
// rolled-up series that does neither. These are the samples every query of the backend reads.
func (o *oracle) sampleGrowth(family string, start, stop time.Time) {
	maxW := time.Duration(windowIntervals[len(windowIntervals)-1]) * processInterval
	series, err := o.prom.QueryMatrix(fmt.Sprintf(`%s{phoenix_variant!=""}[%s]`, family, promDuration(stop.Sub(start)+maxW+processInterval)), stop)
	if err != nil {
		o.fail("samples of "+family, err)
		return
	}
	growth := sampleGrowthOf
	for _, n := range windowIntervals {
		w := time.Duration(n) * processInterval
		label := fmt.Sprintf("Σ sample growth(%s[%s])", family, promDuration(w))
		// per variant, per instant
		totals := map[string]map[time.Time]float64{}
		slack := map[time.Time]float64{}
		for at := start; !at.After(stop); at = at.Add(processInterval) {
			for _, s := range series {
				v := s.Labels["phoenix_variant"]
				if totals[v] == nil {
					totals[v] = map[time.Time]float64{}
				}
				totals[v][at] += growth(s.Points, at.Add(-w), at)
				if v == baselineVariant {
					slack[at] += gapGrowthInto(s.Points, processInterval, at.Add(-w), at)
				}
			}
		}
		base := totals[baselineVariant]
		for _, v := range o.others() {
			var sumBase, sumVar, sumErr, worst float64
			k := 0
			var allowed float64
			for at, b := range base {
				x := totals[v][at]
				e := relErr(x, b)
				if x > b {
					// growth across a baseline series' own gaps, counted where a rolled-up series can: only
					// what goes beyond it is an error
					e = relErr(math.Max(b, x-slack[at]-1e-9), b)
				}
				sumBase, sumVar, sumErr, k = sumBase+b, sumVar+x, sumErr+e, k+1
				worst = math.Max(worst, e)
				allowed = math.Max(allowed, slack[at])
			}
			mean := sumErr / math.Max(float64(k), 1)
			ok := mean <= totalsTolerance
			o.row(label, v, num(sumBase/math.Max(float64(k), 1)), num(sumVar/math.Max(float64(k), 1)), pct(mean),
				fmt.Sprintf("worst %s (gap growth ≤ %s)", pct(worst), num(allowed)), "≤ "+pct(totalsTolerance), verdict(ok))
			if !ok {
				o.breach("%s %s: mean relative error %s (worst %s), want ≤ %s; by executable, Σ over the instants: %s",
					v, label, pct(mean), pct(worst), pct(totalsTolerance), growthByExecutable(series, v, w, start, stop))
			}
		}
	}
}

// growthByExecutable says where a variant's growth differs from the baseline's: per executable (the
// process_executable_name label; "other" and groups keep it), the five largest differences of growth summed
// over the instants, baseline → variant.
func growthByExecutable(series []harness.Series, v string, w time.Duration, start, stop time.Time) string {
	type pair struct{ base, got float64 }
	by := map[string]*pair{}
	for _, s := range series {
		variant := s.Labels["phoenix_variant"]
		if variant != v && variant != baselineVariant {
			continue
		}
		exe := s.Labels["process_executable_name"]
		if by[exe] == nil {
			by[exe] = &pair{}
		}
		for at := start; !at.After(stop); at = at.Add(processInterval) {
			g := sampleGrowthOf(s.Points, at.Add(-w), at)
			if variant == baselineVariant {
				by[exe].base += g
			} else {
				by[exe].got += g
			}
		}
	}
	exes := make([]string, 0, len(by))
	for e := range by {
		exes = append(exes, e)
	}
	sort.Slice(exes, func(i, j int) bool {
		return math.Abs(by[exes[i]].got-by[exes[i]].base) > math.Abs(by[exes[j]].got-by[exes[j]].base)
	})
	var parts []string
	for _, e := range exes[:min(5, len(exes))] {
		parts = append(parts, fmt.Sprintf("%q %s → %s", e, num(by[e].base), num(by[e].got)))
	}
	return strings.Join(parts, ", ")
}

// gapGrowthInto is the growth a baseline series shows across its own gaps (consecutive samples more than
// 1.5 collection intervals apart) that end inside [from, to] but start before it. A backend counts that
// growth only in windows holding both samples; a rolled-up series (a group, other) has a sample every
// report, so it can only show it in its last interval, where a window that starts after the gap's first
// sample also holds it. No single series can do otherwise for every window length, so up to this much
// more than the baseline in a window agrees. On a real host this is common: a kernel worker renames
// itself with its work queue (kworker/1:0-events, -mm_percpu_wq, …), each name a series with gaps — and
// one it takes now and then is nothing but gaps, which is why the interval is the receiver's, not the
// series' own usual spacing.
func gapGrowthInto(pts []harness.Point, interval time.Duration, from, to time.Time) float64 {
	var g float64
	var prev *harness.Point
	for i := range pts {
		p := &pts[i]
		if math.IsNaN(p.V) {
			continue
		}
		if prev != nil && p.T.Sub(prev.T) > interval*3/2 && prev.T.Before(from) && !p.T.Before(from) && !p.T.After(to) {
			g += growthBetween(prev.V, p.V)
		}
		prev = p
	}
	return g
}

// windowGrowth is, per variant, the growth of a counter family's samples in [start, at] (see sampleGrowth).
func (o *oracle) windowGrowth(family string, start, at time.Time) (map[string]float64, error) {
	series, err := o.prom.QueryMatrix(fmt.Sprintf(`%s{phoenix_variant!=""}[%s]`, family, promDuration(at.Sub(start))), at)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, s := range series {
		out[s.Labels["phoenix_variant"]] += sampleGrowthOf(s.Points, start, at)
	}
	return out, nil
}

// sampleGrowthOf is a series' growth between consecutive samples in [from, to], a drop counted as a reset
// from zero (staleness markers come back as NaN and are left out, as range vectors leave them out).
func sampleGrowthOf(pts []harness.Point, from, to time.Time) float64 {
	var g float64
	var prev *harness.Point
	for i := range pts {
		p := &pts[i]
		if p.T.Before(from) || p.T.After(to) || math.IsNaN(p.V) {
			continue
		}
		if prev != nil {
			g += growthBetween(prev.V, p.V)
		}
		prev = p
	}
	return g
}

// growthBetween is a counter's growth from one sample to the next, as a backend counts it: a drop is a
// reset, counted from zero.
func growthBetween(prev, cur float64) float64 {
	if cur >= prev {
		return cur - prev
	}
	return cur
}
