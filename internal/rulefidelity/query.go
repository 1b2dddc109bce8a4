// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity // import "github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"

import (
	"context"
	"errors"
	"math"
	"slices"

	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

var (
	_ storage.Queryable  = (*Store)(nil)
	_ storage.Appendable = (*Store)(nil)
)

// Querier returns a querier over [mint, maxt] (ms). A Select matches labels outside the store's lock and
// copies what it reads under it, a batch of series at a time (closed chunks are shared, the open one is
// copied), so evaluation never blocks Append for longer than one batch's copies.
func (s *Store) Querier(mint, maxt int64) (storage.Querier, error) {
	return &querier{s: s, mint: mint, maxt: maxt}, nil
}

type querier struct {
	s          *Store
	mint, maxt int64
}

func (q *querier) Close() error { return nil }

// lockBatch is how many matched series a query reads per hold of the store's read lock: Append waits for
// one batch at most, however many series a selector matches.
const lockBatch = 1024

// Select returns the series matching every matcher that have samples in the querier's range.
func (q *querier) Select(_ context.Context, sortSeries bool, _ *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	s := q.s
	cands := s.matching(ms)
	out := make([]storage.Series, 0, len(cands))
	inBatches(cands, func(batch []*memSeries) {
		from := len(out)
		s.mu.RLock()
		minValid := s.minValid
		mint := max(q.mint, minValid)
		for _, ser := range batch {
			if live(ser, mint, q.maxt) {
				out = append(out, snapshot(ser, mint, q.maxt))
			}
		}
		s.mu.RUnlock()
		// The engine reads no sample before the querier's mint, so only a query reaching further back than
		// the store holds needs what fell out of MaxRange cut off (re-encoding, unlocked: closed chunks are
		// immutable and open ones copied). Trimming every query cost each one a copy of every series' oldest
		// chunk once the store held its full range.
		if q.mint < minValid {
			for _, x := range out[from:] {
				x.(*snapSeries).trim(minValid)
			}
		}
	})
	if sortSeries {
		slices.SortFunc(out, func(a, b storage.Series) int { return labels.Compare(a.Labels(), b.Labels()) })
	}
	return &seriesSet{series: out, i: -1}
}

// matching returns the series whose labels match every matcher, live or not. Only the per-name lists are
// taken under the read lock (their headers: a list is only appended to, or replaced by a new slice when
// trimmed, so the elements of a header taken stay as they were); names and labels, which never change, are
// matched outside it.
func (s *Store) matching(ms []*labels.Matcher) []*memSeries {
	var (
		names []string
		lists [][]*memSeries
	)
	s.mu.RLock()
	if name, ok := equalName(ms); ok {
		if l := s.byName[name]; len(l) > 0 {
			names, lists = []string{name}, [][]*memSeries{l}
		}
	} else {
		names, lists = make([]string, 0, len(s.byName)), make([][]*memSeries, 0, len(s.byName))
		for n, l := range s.byName {
			names, lists = append(names, n), append(lists, l)
		}
	}
	s.mu.RUnlock()
	if s.matchHook != nil {
		s.matchHook()
	}
	// Every series of a list has its name: metric name matchers are matched once per list.
	var others []*labels.Matcher
	for _, m := range ms {
		if m.Name != labels.MetricName {
			others = append(others, m)
		}
	}
	var out []*memSeries
lists:
	for i, list := range lists {
		for _, m := range ms {
			if m.Name == labels.MetricName && !m.Matches(names[i]) {
				continue lists
			}
		}
	series:
		for _, ser := range list {
			for _, m := range others {
				if !m.Matches(ser.lset.Get(m.Name)) {
					continue series
				}
			}
			out = append(out, ser)
		}
	}
	return out
}

// equalName is the metric name an equality matcher requires, if any.
func equalName(ms []*labels.Matcher) (string, bool) {
	for _, m := range ms {
		if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
			return m.Value, true
		}
	}
	return "", false
}

// inBatches calls f with the matched series lockBatch at a time: f holds the read lock for one batch.
func inBatches(cands []*memSeries, f func(batch []*memSeries)) {
	for len(cands) > 0 {
		n := min(len(cands), lockBatch)
		f(cands[:n])
		cands = cands[n:]
	}
}

// live tells whether ser is held and has samples in [mint, maxt]. Caller holds s.mu.
func live(ser *memSeries, mint, maxt int64) bool {
	return !ser.dead && ser.head != nil && ser.lastT >= mint && firstT(ser) <= maxt
}

func firstT(ser *memSeries) int64 {
	if len(ser.chunks) > 0 {
		return ser.chunks[0].mint
	}
	return ser.headMint
}

func (q *querier) LabelValues(_ context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	q.eachLive(ms, func(ser *memSeries) {
		if v := ser.lset.Get(name); v != "" {
			seen[v] = struct{}{}
		}
	})
	return sortedLimit(seen, hints), nil, nil
}

func (q *querier) LabelNames(_ context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	seen := map[string]struct{}{}
	q.eachLive(ms, func(ser *memSeries) {
		ser.lset.Range(func(l labels.Label) { seen[l.Name] = struct{}{} })
	})
	return sortedLimit(seen, hints), nil, nil
}

// eachLive calls f, outside the lock, for every matching series with samples in the querier's range.
func (q *querier) eachLive(ms []*labels.Matcher, f func(*memSeries)) {
	s := q.s
	var keep []*memSeries
	inBatches(s.matching(ms), func(batch []*memSeries) {
		keep = keep[:0]
		s.mu.RLock()
		mint := max(q.mint, s.minValid)
		for _, ser := range batch {
			if live(ser, mint, q.maxt) {
				keep = append(keep, ser)
			}
		}
		s.mu.RUnlock()
		for _, ser := range keep {
			f(ser) // labels never change
		}
	})
}

func sortedLimit(set map[string]struct{}, hints *storage.LabelHints) []string {
	out := make([]string, 0, len(set))
	for v := range set {
		out = append(out, v)
	}
	slices.Sort(out)
	if hints != nil && hints.Limit > 0 && len(out) > hints.Limit {
		out = out[:hints.Limit]
	}
	return out
}

// snapshot is an immutable view of ser's chunks overlapping [mint, maxt]: closed chunks shared, the open
// one copied. Caller holds s.mu; trim then cuts off, without the lock, what fell out of MaxRange.
func snapshot(ser *memSeries, mint, maxt int64) *snapSeries {
	n := 0
	for n < len(ser.chunks) && ser.chunks[n].maxt < mint {
		n++
	}
	m := len(ser.chunks)
	for m > n && ser.chunks[m-1].mint > maxt {
		m--
	}
	cs := make([]chunkRef, m-n, m-n+1)
	copy(cs, ser.chunks[n:m])
	if ser.head != nil && ser.headMint <= maxt && ser.lastT >= mint {
		c, _ := chunkenc.FromData(chunkenc.EncXOR, slices.Clone(ser.head.Bytes()))
		cs = append(cs, chunkRef{c: c, mint: ser.headMint, maxt: ser.lastT})
	}
	return &snapSeries{lset: ser.lset, chunks: cs}
}

// trim drops the samples older than minValid (the first chunk is re-encoded when it straddles it).
func (s *snapSeries) trim(minValid int64) {
	if len(s.chunks) > 0 && s.chunks[0].mint < minValid {
		s.chunks[0] = trimChunk(s.chunks[0], minValid)
	}
}

type snapSeries struct {
	lset   labels.Labels
	chunks []chunkRef
}

func (s *snapSeries) Labels() labels.Labels { return s.lset }

// Iterator chains the chunks' own XOR iterators (Prometheus' chain iterator when there are several).
func (s *snapSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if len(s.chunks) == 1 {
		return s.chunks[0].c.Iterator(it)
	}
	its := make([]chunkenc.Iterator, len(s.chunks))
	for i, c := range s.chunks {
		its[i] = c.c.Iterator(nil)
	}
	return storage.ChainSampleIteratorFromIterators(it, its)
}

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                      { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series              { return s.series[s.i] }
func (*seriesSet) Err() error                        { return nil }
func (*seriesSet) Warnings() annotations.Annotations { return nil }

// trimChunk re-encodes c without its samples before mint: what fell out of MaxRange is gone, exactly.
func trimChunk(c chunkRef, mint int64) chunkRef {
	out := chunkenc.NewXORChunk()
	app, _ := out.Appender()
	it := c.c.Iterator(nil)
	first := int64(math.MinInt64)
	for it.Next() != chunkenc.ValNone {
		t, v := it.At()
		if t < mint {
			continue
		}
		if first == math.MinInt64 {
			first = t
		}
		app.Append(0, t, v)
	}
	return chunkRef{c: out, mint: first, maxt: c.maxt}
}

// Appender takes rule results (recording rules, ALERTS) into the store, as Prometheus' rule groups write
// them to the TSDB. Samples are applied at once; Commit and Rollback do nothing.
func (s *Store) Appender(context.Context) storage.Appender { return ruleAppender{s: s} }

type ruleAppender struct{ s *Store }

var errNoHistograms = errors.New("rule fidelity store: native histograms are not held")

func (a ruleAppender) Append(_ storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	s := a.s
	s.mu.Lock()
	defer s.mu.Unlock()
	ser := s.getOrCreateLabels(l)
	if ser == nil {
		s.refused(t)
		return 0, ErrStoreFull
	}
	switch err := s.appendSample(ser, t, v); err {
	case errOutOfOrder:
		return 0, storage.ErrOutOfOrderSample
	case errDuplicate:
		return 0, storage.ErrDuplicateSampleForTimestamp
	case errTooOld:
		return 0, storage.ErrOutOfBounds
	}
	return storage.SeriesRef(ser.hash), nil
}

func (ruleAppender) SetOptions(*storage.AppendOptions) {}
func (ruleAppender) Commit() error                     { return nil }
func (ruleAppender) Rollback() error                   { return nil }
func (ruleAppender) AppendExemplar(ref storage.SeriesRef, _ labels.Labels, _ exemplar.Exemplar) (storage.SeriesRef, error) {
	return ref, nil
}

func (ruleAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, errNoHistograms
}

func (ruleAppender) AppendHistogramSTZeroSample(storage.SeriesRef, labels.Labels, int64, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, errNoHistograms
}

func (ruleAppender) UpdateMetadata(ref storage.SeriesRef, _ labels.Labels, _ metadata.Metadata) (storage.SeriesRef, error) {
	return ref, nil
}

func (ruleAppender) AppendSTZeroSample(ref storage.SeriesRef, _ labels.Labels, _, _ int64) (storage.SeriesRef, error) {
	return ref, nil
}
