// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rules

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// Where the 2.42 server's engine is known to compute otherwise than Prometheus 3 on the same samples (see
// oracle.affected), the oracle asks Prometheus 3's engine instead, reading the server's own samples —
// as stored by its TSDB, staleness markers included — through its remote-read API, as a Prometheus 3
// server with a remote_read of this one would. Everywhere else the two must agree, and do (the oracle
// checks it on every query it answers from the server).

// remoteRead is a storage.Queryable over a Prometheus server's /api/v1/read (SAMPLES responses).
type remoteRead struct {
	url    string
	client *http.Client
}

func (r *remoteRead) Querier(mint, maxt int64) (storage.Querier, error) {
	return &remoteQuerier{r: r, mint: mint, maxt: maxt}, nil
}

type remoteQuerier struct {
	r          *remoteRead
	mint, maxt int64
}

func (q *remoteQuerier) Select(ctx context.Context, _ bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	mint, maxt := q.mint, q.maxt
	if hints != nil {
		mint, maxt = hints.Start, hints.End
	}
	pq := &prompb.Query{StartTimestampMs: mint, EndTimestampMs: maxt}
	for _, m := range ms {
		pm := &prompb.LabelMatcher{Name: m.Name, Value: m.Value}
		switch m.Type {
		case labels.MatchEqual:
			pm.Type = prompb.LabelMatcher_EQ
		case labels.MatchNotEqual:
			pm.Type = prompb.LabelMatcher_NEQ
		case labels.MatchRegexp:
			pm.Type = prompb.LabelMatcher_RE
		case labels.MatchNotRegexp:
			pm.Type = prompb.LabelMatcher_NRE
		}
		pq.Matchers = append(pq.Matchers, pm)
	}
	series, err := q.r.read(ctx, pq)
	if err != nil {
		return storage.ErrSeriesSet(err)
	}
	sort.Slice(series, func(i, j int) bool { return labels.Compare(series[i].lset, series[j].lset) < 0 })
	return &seriesSet{series: series, i: -1}
}

func (q *remoteQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q *remoteQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (q *remoteQuerier) Close() error { return nil }

// read sends one remote-read query (protobuf, snappy) and returns its series.
func (r *remoteRead) read(ctx context.Context, q *prompb.Query) ([]*rrSeries, error) {
	req := &prompb.ReadRequest{Queries: []*prompb.Query{q},
		AcceptedResponseTypes: []prompb.ReadRequest_ResponseType{prompb.ReadRequest_SAMPLES}}
	data, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url, bytes.NewReader(snappy.Encode(nil, data)))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Encoding", "snappy")
	hreq.Header.Set("Content-Type", "application/x-protobuf")
	hreq.Header.Set("X-Prometheus-Remote-Read-Version", "0.1.0")
	resp, err := r.client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("remote read: status %d: %s", resp.StatusCode, body)
	}
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		return nil, fmt.Errorf("remote read: %w", err)
	}
	var rr prompb.ReadResponse
	if err := rr.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("remote read: %w", err)
	}
	if len(rr.Results) != 1 {
		return nil, fmt.Errorf("remote read: %d results for one query", len(rr.Results))
	}
	var out []*rrSeries
	for _, ts := range rr.Results[0].Timeseries {
		b := labels.NewScratchBuilder(len(ts.Labels))
		for _, l := range ts.Labels {
			b.Add(l.Name, l.Value)
		}
		b.Sort()
		s := &rrSeries{lset: b.Labels(), chunk: chunkenc.NewXORChunk()}
		app, err := s.chunk.Appender()
		if err != nil {
			return nil, err
		}
		if len(ts.Samples) > 65535 {
			return nil, fmt.Errorf("remote read: %s: %d samples, more than a chunk holds", s.lset, len(ts.Samples))
		}
		for _, p := range ts.Samples {
			app.Append(0, p.Timestamp, p.Value)
		}
		if len(ts.Histograms) > 0 {
			return nil, fmt.Errorf("remote read: %s: native histograms are not followed here", s.lset)
		}
		out = append(out, s)
	}
	return out, nil
}

type seriesSet struct {
	series []*rrSeries
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// rrSeries is one series' float samples, as read, in an XOR chunk (whose iterator the engine seeks).
type rrSeries struct {
	lset  labels.Labels
	chunk *chunkenc.XORChunk
}

func (s *rrSeries) Labels() labels.Labels { return s.lset }

func (s *rrSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator { return s.chunk.Iterator(it) }

// newEngine3 is Prometheus 3's engine at a server's defaults (5m lookback, @ and negative offsets, no
// experimental functions), bounded.
func newEngine3() *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		Logger:               slog.New(slog.DiscardHandler),
		MaxSamples:           50_000_000,
		Timeout:              time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
		Parser:               promParser,
	})
}

// query3 evaluates an instant query with Prometheus 3's engine on the server's samples.
func query3(ctx context.Context, eng *promql.Engine, q storage.Queryable, expr string, at time.Time) ([]map[string]string, []float64, error) {
	qry, err := eng.NewInstantQuery(ctx, q, nil, expr, at)
	if err != nil {
		return nil, nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, nil, res.Err
	}
	var ls []map[string]string
	var vs []float64
	switch v := res.Value.(type) {
	case promql.Vector:
		for _, s := range v {
			if s.H != nil {
				return nil, nil, fmt.Errorf("%s: native histogram result", expr)
			}
			ls, vs = append(ls, s.Metric.Map()), append(vs, s.F)
		}
	case promql.Scalar:
		ls, vs = append(ls, map[string]string{}), append(vs, v.V)
	default:
		return nil, nil, fmt.Errorf("%s: result type %s, want a vector or a scalar", expr, res.Value.Type())
	}
	return ls, vs, nil
}
