// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"encoding/binary"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// tiny: two values both within it of zero are the same whatever their ratio.
const tiny = 1e-9

// maxRel is the relative difference reported for values that cannot be compared by ratio (a NaN or an
// infinity against a number); it is the largest a ratio gives (opposite signs), so no NaN or Inf reaches a
// figure.
const maxRel = 2.0

// relDiff is |a-b| / max(|a|, |b|) in [0, 2]: 0 when both are NaN, equal, or both tiny.
func relDiff(a, b float64) float64 {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an || bn:
		return maxRel
	case a == b:
		return 0
	case math.IsInf(a, 0) || math.IsInf(b, 0):
		return maxRel
	case math.Abs(a) < tiny && math.Abs(b) < tiny:
		return 0
	}
	return math.Abs(a-b) / math.Max(math.Abs(a), math.Abs(b))
}

func sampleValue(s promql.Sample) float64 {
	if s.H != nil {
		return s.H.Sum + s.H.Count // a native histogram compares by its sum and count
	}
	return s.F
}

type vectorDiff struct {
	missing, extra []labels.Labels // distinct label sets in one result only
	maxRel         float64
	worst          string // the label set with maxRel, and its values
}

// compareVectors matches samples by label set and timestamp.
func compareVectors(base, vari promql.Vector) vectorDiff {
	var d vectorDiff
	key := func(s promql.Sample, buf []byte) string {
		b := s.Metric.Bytes(buf)
		b = binary.LittleEndian.AppendUint64(b, uint64(s.T))
		return string(b)
	}
	var buf []byte
	vm := make(map[string]int, len(vari))
	for i, s := range vari {
		vm[key(s, buf)] = i
	}
	matched := make([]bool, len(vari))
	var missing []labels.Labels
	for _, bs := range base {
		i, ok := vm[key(bs, buf)]
		if !ok {
			missing = append(missing, bs.Metric)
			continue
		}
		matched[i] = true
		bv, vv := sampleValue(bs), sampleValue(vari[i])
		if r := relDiff(bv, vv); r > d.maxRel {
			d.maxRel = r
			d.worst = fmt.Sprintf("%s: %s on the baseline, %s on the variant", bs.Metric, fmtFloat(bv), fmtFloat(vv))
		}
	}
	var extra []labels.Labels
	for i, s := range vari {
		if !matched[i] {
			extra = append(extra, s.Metric)
		}
	}
	d.missing, d.extra = distinct(missing), distinct(extra)
	return d
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func distinct(ls []labels.Labels) []labels.Labels {
	if len(ls) < 2 {
		return ls
	}
	seen := map[uint64]bool{}
	out := ls[:0:0]
	for _, l := range ls {
		if h := l.Hash(); !seen[h] {
			seen[h] = true
			out = append(out, l)
		}
	}
	return out
}

// limitError is the rule manager's error for a group limit exceeded (alerting and recording rules).
var limitError = regexp.MustCompile(`^exceeded limit of (\d+) with \d+ (alerts|series)$`)

// failureKey is what two errors must share to be the same failure: the text, except that a group limit
// exceeded is the same failure whatever the count beyond it (a server shows the rule failing on both and
// exposes nothing of either).
func failureKey(msg string) string {
	if m := limitError.FindStringSubmatch(msg); m != nil {
		return "exceeded limit of " + m[1] + " " + m[2]
	}
	return msg
}

// compareRule gives one rule's verdict on the variant. diagnose names the selectors that lost their series;
// it is called only when the variant has no result where the baseline has one.
func (e *Evaluator) compareRule(r *Rule, b, v outcome, diagnose func() string) control.RuleResult {
	res := r.ruleResult()
	bs, vs := seriesOf(b.vec), seriesOf(v.vec)
	res.Series, res.BaselineSeries = len(vs), len(bs)
	res.Firing, res.Pending = v.firing, v.pending
	switch {
	case b.err != nil && v.err != nil:
		if be, ve := b.err.Error(), v.err.Error(); failureKey(be) == failureKey(ve) {
			res.Verdict, res.Reason = control.RuleSame, "fails on the baseline too: "+ve
			if be != ve {
				res.Reason += " (baseline: " + be + ")"
			}
		} else {
			res.Verdict, res.Reason = control.RuleBroken, fmt.Sprintf("error: %v (baseline: %v)", v.err, b.err)
		}
		return res
	case v.err != nil:
		res.Verdict, res.Reason = control.RuleBroken, "error: "+v.err.Error()
		return res
	case b.err != nil:
		res.Verdict, res.Reason = control.RuleBroken, "error on the baseline only: "+b.err.Error()
		return res
	}
	d := compareVectors(b.vec, v.vec)
	res.MaxRelDiff = d.maxRel
	var reasons []string
	broken := len(d.missing)+len(d.extra) > 0
	if broken {
		why := seriesReason(bs, vs, d)
		if len(vs) == 0 {
			if sel := diagnose(); sel != "" {
				why += ": " + sel
			}
		}
		reasons = append(reasons, why)
	}
	if r.Kind == KindAlert {
		for _, x := range []struct {
			state      string
			base, vari []string
		}{{"firing", b.firing, v.firing}, {"pending", b.pending, v.pending}} {
			onlyBase, onlyVari := setDiff(x.base, x.vari)
			if len(onlyBase) > 0 {
				reasons = append(reasons, fmt.Sprintf("%s on the baseline, not on the variant: %s", x.state, examples(onlyBase)))
			}
			if len(onlyVari) > 0 {
				reasons = append(reasons, fmt.Sprintf("%s on the variant, not on the baseline: %s", x.state, examples(onlyVari)))
			}
			broken = broken || len(onlyBase)+len(onlyVari) > 0
		}
	}
	switch {
	case broken:
		res.Verdict = control.RuleBroken
	case d.maxRel > e.opts.Tolerance:
		res.Verdict = control.RuleChanged
		reasons = append(reasons, fmt.Sprintf("values differ by up to %.3g%% (tolerance %.3g%%): %s",
			100*d.maxRel, 100*e.opts.Tolerance, d.worst))
	default:
		res.Verdict = control.RuleSame
		if len(bs) == 0 && r.Kind != KindAlert {
			// Same, but it proves nothing: say so, as a selector that matches nothing is usually a label
			// or metric name this pipeline does not have (an alert that does not fire is normal).
			reasons = append(reasons, "no result on the baseline either: its selectors match no series here")
		}
	}
	res.Reason = strings.Join(reasons, "; ")
	return res
}

// seriesReason says how the variant's result series differ from the baseline's: a label no longer there,
// label values no longer there, or examples.
func seriesReason(bs, vs []labels.Labels, d vectorDiff) string {
	var parts []string
	if len(d.missing) > 0 {
		var why string
		switch {
		case len(vs) == 0:
			why = fmt.Sprintf("no result where the baseline has %d series", len(bs))
		default:
			why = fmt.Sprintf("%d of %d baseline series missing", len(d.missing), len(bs))
			if names := lostLabelNames(bs, vs); len(names) > 0 {
				why += fmt.Sprintf(": label %s no longer exists", strings.Join(names, ", "))
				if len(d.extra) > 0 { // the same series without the label: no examples needed
					why += fmt.Sprintf(" (%d series without it)", len(d.extra))
				}
				return why
			} else if vals := lostLabelValues(d.missing, bs, vs); vals != "" {
				why += ": " + vals
			} else {
				why += ", e.g. " + examples(labelStrings(d.missing))
			}
		}
		parts = append(parts, why)
	}
	if len(d.extra) > 0 {
		parts = append(parts, fmt.Sprintf("%d series not on the baseline, e.g. %s", len(d.extra), examples(labelStrings(d.extra))))
	}
	return strings.Join(parts, "; ")
}

func labelStrings(ls []labels.Labels) []string {
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.String()
	}
	sort.Strings(out)
	return out
}

// lostLabelNames are the label names some baseline series carry and no variant series does.
func lostLabelNames(bs, vs []labels.Labels) []string {
	have := map[string]bool{}
	for _, l := range vs {
		l.Range(func(x labels.Label) { have[x.Name] = true })
	}
	lost := map[string]bool{}
	for _, l := range bs {
		l.Range(func(x labels.Label) {
			if !have[x.Name] {
				lost[x.Name] = true
			}
		})
	}
	out := make([]string, 0, len(lost))
	for n := range lost {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// lostLabelValues names the label whose values among the missing series are on no variant series, taking
// the label with the fewest such values, then the coarsest (fewest distinct values on the baseline): an
// executable name explains a missing process better than its pid.
func lostLabelValues(missing, bs, vs []labels.Labels) string {
	onVariant := map[string]map[string]bool{}
	for _, l := range vs {
		l.Range(func(x labels.Label) {
			if onVariant[x.Name] == nil {
				onVariant[x.Name] = map[string]bool{}
			}
			onVariant[x.Name][x.Value] = true
		})
	}
	lost := map[string]map[string]bool{}
	for _, l := range missing {
		l.Range(func(x labels.Label) {
			if !onVariant[x.Name][x.Value] {
				if lost[x.Name] == nil {
					lost[x.Name] = map[string]bool{}
				}
				lost[x.Name][x.Value] = true
			}
		})
	}
	distinctOnBase := map[string]map[string]bool{}
	for _, l := range bs {
		l.Range(func(x labels.Label) {
			if distinctOnBase[x.Name] == nil {
				distinctOnBase[x.Name] = map[string]bool{}
			}
			distinctOnBase[x.Name][x.Value] = true
		})
	}
	best := ""
	for n := range lost {
		switch {
		case best == "",
			len(lost[n]) < len(lost[best]),
			len(lost[n]) == len(lost[best]) && len(distinctOnBase[n]) < len(distinctOnBase[best]),
			len(lost[n]) == len(lost[best]) && len(distinctOnBase[n]) == len(distinctOnBase[best]) && n < best:
			best = n
		}
	}
	if best == "" {
		return ""
	}
	vals := make([]string, 0, len(lost[best]))
	for v := range lost[best] {
		vals = append(vals, strconv.Quote(v))
	}
	sort.Strings(vals)
	if len(vals) == 1 {
		return fmt.Sprintf("%s=%s no longer exists", best, vals[0])
	}
	return fmt.Sprintf("%s=%s no longer exist", best, examples(vals))
}

func setDiff(a, b []string) (onlyA, onlyB []string) {
	inB := make(map[string]bool, len(b))
	for _, x := range b {
		inB[x] = true
	}
	inA := make(map[string]bool, len(a))
	for _, x := range a {
		inA[x] = true
		if !inB[x] {
			onlyA = append(onlyA, x)
		}
	}
	for _, x := range b {
		if !inA[x] {
			onlyB = append(onlyB, x)
		}
	}
	return onlyA, onlyB
}

// examples lists up to three items and how many more there are.
func examples(items []string) string {
	const n = 3
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:n], ", "), len(items)-n)
}
