// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package rulefidelity

import (
	"context"
	"errors"
	"math"
	"sort"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
)

// hangGuard only keeps a broken build from hanging the test binary: every wait below ends at once when the
// code is right, and a deadlock (Append waiting for a Select's read lock) never ends at all. It is not a
// timing assertion.
const hangGuard = time.Minute

// Append runs on the pipeline's goroutine. A selector without a metric name ({__name__=~".+"}, or a label
// regex alone) must not walk every series and run its matchers under the store's read lock, or the
// pipeline's Append waits for the whole walk. The Select is held in its matching phase by the store's test
// hook: the lock must be free there (TryLock succeeds) and an Append must complete while it is held; the
// Select then returns exactly what a Select run afterwards returns.
func TestBreakitSelectWithoutNameDoesNotStallAppend(t *testing.T) {
	for _, tc := range []struct {
		name string
		ms   []*labels.Matcher
	}{
		{"every name", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")}},
		{"label regex only", []*labels.Matcher{labels.MustNewMatcher(labels.MatchRegexp, "process_executable_name", "nginx|bash|other")}},
		{"name regex and label", []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, "process_.*"),
			labels.MustNewMatcher(labels.MatchNotEqual, "process_executable_name", "postgres"),
		}},
		{"name", []*labels.Matcher{
			labels.MustNewMatcher(labels.MatchEqual, labels.MetricName, "process_memory_usage_bytes"),
			labels.MustNewMatcher(labels.MatchRegexp, "process_executable_name", "nginx|kubelet"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewStore(StoreOptions{ResourceToTelemetry: true})
			fill(s, baselineAt, 0, time.Minute)

			entered, release := make(chan bool, 1), make(chan struct{})
			first := true
			s.matchHook = func() {
				if !first { // only the Select under test is held
					return
				}
				first = false
				free := s.mu.TryLock()
				if free {
					s.mu.Unlock()
				}
				entered <- free
				<-release
			}
			type result struct {
				got map[string][]sample
				err error
			}
			done := make(chan result, 1)
			go func() {
				got, err := selectAll(s, false, tc.ms...)
				done <- result{got, err}
			}()
			select {
			case free := <-entered:
				if !free {
					close(release)
					<-done
					t.Fatal("the store's lock is held while the Select matches")
				}
			case <-time.After(hangGuard):
				t.Fatal("the Select never reached its matching phase")
			}

			// The pipeline appends a batch (new samples of the same series) while the Select matches.
			appended := make(chan struct{})
			go func() {
				defer close(appended)
				s.Append(processMetrics(t0.Add(70*time.Second), baselineAt(70*time.Second)...))
			}()
			select {
			case <-appended:
			case <-time.After(hangGuard):
				close(release)
				<-appended
				<-done
				t.Fatal("Append waited for a Select in its matching phase")
			}
			close(release)
			r := <-done
			require.NoError(t, r.err)
			s.matchHook = nil

			want, err := selectAll(s, true, tc.ms...)
			require.NoError(t, err)
			require.NotEmpty(t, want)
			assert.Equal(t, want, r.got, "a Select across an Append returns what one after it returns")
			// And the same as a brute-force match over every series.
			assert.Equal(t, bruteForce(t, s, tc.ms), want)
		})
	}
}

// Large stores: the label-only and name-regex selectors return what a match over every series returns,
// sorted or not, across several lock batches.
func TestSelectWithoutNameMatchesEverySeries(t *testing.T) {
	if testing.Short() {
		t.Skip("large store")
	}
	t.Parallel()
	s := NewStore(StoreOptions{ResourceToTelemetry: true})
	sim := newSim(t, 300, procsim.ProfileRealistic)
	for i := 0; i < 3; i++ {
		s.Append(sim.next())
	}
	require.Greater(t, s.Stats().Series, 3*lockBatch)
	for _, ms := range [][]*labels.Matcher{
		{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, ".+")},
		{labels.MustNewMatcher(labels.MatchRegexp, "process_executable_name", "(?i)s.*")},
		{labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, "process_(cpu|memory)_.*"),
			labels.MustNewMatcher(labels.MatchNotRegexp, "state", "user")},
		{labels.MustNewMatcher(labels.MatchEqual, "process_executable_name", "")},
	} {
		want := bruteForce(t, s, ms)
		for _, sorted := range []bool{false, true} {
			got, err := selectAll(s, sorted, ms...)
			require.NoError(t, err)
			assert.Equal(t, want, got, "%v sorted=%v", ms, sorted)
		}
		q, err := s.Querier(math.MinInt64, math.MaxInt64)
		require.NoError(t, err)
		vals, _, err := q.LabelValues(context.Background(), "process_executable_name", nil, ms...)
		require.NoError(t, err)
		assert.Equal(t, bruteValues(s, "process_executable_name", ms), vals, "%v", ms)
	}
}

// selectAll runs one Select and reads every series' samples, by label string.
func selectAll(s *Store, sorted bool, ms ...*labels.Matcher) (map[string][]sample, error) {
	q, err := s.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		return nil, err
	}
	ss := q.Select(context.Background(), sorted, nil, ms...)
	out := map[string][]sample{}
	var prev labels.Labels
	for ss.Next() {
		ser := ss.At()
		if sorted && prev.Len() > 0 && labels.Compare(prev, ser.Labels()) >= 0 {
			return nil, errNotSorted
		}
		prev = ser.Labels()
		out[ser.Labels().String()] = samplesOf(ser)
	}
	return out, ss.Err()
}

var errNotSorted = errors.New("series not sorted")

func samplesOf(ser storage.Series) []sample {
	var got []sample
	it := ser.Iterator(nil)
	for it.Next() != chunkenc.ValNone {
		ts, v := it.At()
		got = append(got, sample{ts, v})
	}
	return got
}

// bruteForce matches ms against every series the store holds, reading the store's index itself.
func bruteForce(t *testing.T, s *Store, ms []*labels.Matcher) map[string][]sample {
	t.Helper()
	want := map[string][]sample{}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, list := range s.byName {
	next:
		for _, ser := range list {
			if !live(ser, s.minValid, math.MaxInt64) {
				continue
			}
			for _, m := range ms {
				if !m.Matches(ser.lset.Get(m.Name)) {
					continue next
				}
			}
			snap := snapshot(ser, s.minValid, math.MaxInt64)
			snap.trim(s.minValid)
			want[ser.lset.String()] = samplesOf(snap)
		}
	}
	return want
}

// bruteValues are the values of name among the series the store holds that match ms.
func bruteValues(s *Store, name string, ms []*labels.Matcher) []string {
	seen := map[string]bool{}
	s.mu.RLock()
	for _, list := range s.byName {
	next:
		for _, ser := range list {
			if !live(ser, s.minValid, math.MaxInt64) {
				continue
			}
			for _, m := range ms {
				if !m.Matches(ser.lset.Get(m.Name)) {
					continue next
				}
			}
			if v := ser.lset.Get(name); v != "" {
				seen[v] = true
			}
		}
	}
	s.mu.RUnlock()
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}
