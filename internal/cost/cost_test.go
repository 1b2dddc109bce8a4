// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cost

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/cardinality"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)

// ids is a window counted exactly: its distinct series.
type ids []uint64

func (w ids) EachCurrent(f func(uint64)) {
	for _, id := range w {
		f(id)
	}
}
func (ids) CurrentSketch() *hyperloglog.Sketch { return nil }
func (w ids) Current() cardinality.WindowStats {
	return cardinality.WindowStats{Distinct: uint64(len(w)), Exact: true}
}

// sketched is a window that came as a sketch (the meter's counter past its cap).
type sketched struct{ sk *hyperloglog.Sketch }

func (sketched) EachCurrent(func(uint64))             {}
func (w sketched) CurrentSketch() *hyperloglog.Sketch { return w.sk }
func (w sketched) Current() cardinality.WindowStats {
	return cardinality.WindowStats{Distinct: w.sk.Estimate()}
}

func sketchOf(series []uint64) sketched {
	sk := hyperloglog.NewNoSparse()
	for _, s := range series {
		sk.InsertHash(s)
	}
	return sketched{sk}
}

// hash spreads series numbers over 64 bits, as the meter's hashes are (splitmix64).
func hash(n int) uint64 {
	z := uint64(n) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

func hashes(series []int) ids {
	out := make(ids, len(series))
	for i, s := range series {
		out[i] = hash(s)
	}
	return out
}

// oracle is the distinct series over a horizon, by a plain map of the end of the window each series was
// last seen in.
type oracle struct {
	horizon  time.Duration
	lastSeen map[int]time.Time
}

func (o *oracle) window(end time.Time, series []int) int {
	for _, s := range series {
		o.lastSeen[s] = end
	}
	n := 0
	for _, seen := range o.lastSeen {
		if seen.After(end.Add(-o.horizon)) {
			n++
		}
	}
	return n
}

// churn is a node's processes window after window: live ones, each replaced (a new series) with
// probability restart per window; and flappers, series seen only one window in period.
type churn struct {
	rng     *rand.Rand
	live    []int
	next    int
	restart float64
	flap    []int // series numbers of flappers
	period  int
}

func newChurn(live, flappers, period int, restart float64) *churn {
	c := &churn{rng: rand.New(rand.NewPCG(1, 2)), restart: restart, period: period}
	for range live {
		c.live = append(c.live, c.next)
		c.next++
	}
	for range flappers {
		c.flap = append(c.flap, c.next)
		c.next++
	}
	return c
}

func (c *churn) window(i int) []int {
	for j := range c.live {
		if c.rng.Float64() < c.restart {
			c.live[j] = c.next
			c.next++
		}
	}
	out := append([]int(nil), c.live...)
	for j, f := range c.flap {
		if (i+j)%c.period == 0 {
			out = append(out, f)
		}
	}
	return out
}

func activeConfig(horizon, window time.Duration, seriesCap int) *Config {
	return &Config{Model: ActiveSeries, Price: 8, Currency: "USD", Horizon: horizon, Window: window, SeriesCap: seriesCap}
}

// TestActiveSeriesOverTheHorizonUnderChurn: 1,000 processes of which 2% restart every window, and 300
// flapping series seen one window in seven; the active series over 20 minutes are those of a plain map of
// last-seen times, window after window, far more than any one window holds.
func TestActiveSeriesOverTheHorizonUnderChurn(t *testing.T) {
	const window = time.Minute
	tr := activeConfig(20*time.Minute, window, 200_000).NewTracker()
	o := &oracle{horizon: 20 * time.Minute, lastSeen: map[int]time.Time{}}
	c := newChurn(1000, 300, 7, 0.02)
	var lastWindow int
	for i := range 90 {
		series := c.window(i)
		end := t0.Add(time.Duration(i+1) * window)
		want := o.window(end, series)
		tr.Rotate(end.Add(-window), end, hashes(series))
		n, exact := tr.Series()
		require.True(t, exact)
		require.Equal(t, float64(want), n, "window %d", i)
		lastWindow = len(series)
	}
	n, _ := tr.Series()
	// 1,000 live + ~20 restarts a window over 20 windows + every flapper: ~1,700, against ~1,043 in a window.
	assert.Greater(t, n, float64(lastWindow)*1.5, "the horizon holds what churned and flapped, not just the window")
	assert.InDelta(t, 1000+20*20+300, n, 60)
}

// TestActiveSeriesWithIrregularWindows: windows of uneven lengths (no data for a while: the window closes
// late) expire by time, not by count.
func TestActiveSeriesWithIrregularWindows(t *testing.T) {
	tr := activeConfig(20*time.Minute, time.Minute, 200_000).NewTracker()
	o := &oracle{horizon: 20 * time.Minute, lastSeen: map[int]time.Time{}}
	rng := rand.New(rand.NewPCG(3, 4))
	end := t0
	for i := range 200 {
		d := time.Minute + time.Duration(rng.IntN(5))*time.Minute/2 // 1m..3m
		if i%50 == 49 {
			d = 25 * time.Minute // a silence longer than the horizon
		}
		end = end.Add(d)
		series := make([]int, 0, 100)
		for range 100 {
			series = append(series, rng.IntN(400)) // from a pool of 400 series
		}
		want := o.window(end, series)
		tr.Rotate(end.Add(-d), end, hashes(dedup(series)))
		n, exact := tr.Series()
		require.True(t, exact)
		require.Equal(t, float64(want), n, "window %d", i)
	}
}

func dedup(s []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// TestActiveSeriesBeyondTheCap: with series_cap 2,000 and ~6,000 series over the horizon, the figure is
// estimated (Exact false) within 3% (HyperLogLog of precision 14: 0.81% standard error; this is 3.7σ),
// every window, through the switch; and when the churn stops and the horizon passes, the count is exact
// again and equals the oracle's.
func TestActiveSeriesBeyondTheCap(t *testing.T) {
	const window = time.Minute
	tr := activeConfig(20*time.Minute, window, 2_000).NewTracker()
	o := &oracle{horizon: 20 * time.Minute, lastSeen: map[int]time.Time{}}
	c := newChurn(1000, 500, 5, 0.25)
	end := t0
	estimated := 0
	for i := range 60 {
		series := c.window(i)
		end = end.Add(window)
		want := o.window(end, series)
		tr.Rotate(end.Add(-window), end, hashes(series))
		n, exact := tr.Series()
		if want > 2_000 {
			require.False(t, exact, "window %d: %d series over the horizon, past the cap", i, want)
		}
		if exact {
			require.Equal(t, float64(want), n, "window %d", i)
		} else {
			estimated++
			require.InEpsilon(t, float64(want), n, 0.03, "window %d", i)
		}
	}
	require.Greater(t, estimated, 40)
	assert.LessOrEqual(t, tr.Bytes(), (maxSlots+3)*sketchBytes, "bounded past the cap: sketches, no table")

	// The churn stops: 800 steady series. Within a horizon or so the exact table takes over again.
	steady := c.live[:800]
	var exactAgain int
	for i := range 60 {
		end = end.Add(window)
		want := o.window(end, steady)
		tr.Rotate(end.Add(-window), end, hashes(steady))
		n, exact := tr.Series()
		if exact {
			require.Equal(t, float64(want), n, "window %d after the churn", i)
			if exactAgain == 0 {
				exactAgain = i
			}
		} else {
			require.InEpsilon(t, float64(want), n, 0.03)
		}
	}
	require.NotZero(t, exactAgain, "exact again")
	assert.LessOrEqual(t, exactAgain, 45, "within about two horizons of the churn's end")
}

// TestActiveSeriesFromTheMetersCounter: fed by the real cardinality.Counter (as the meter feeds it), also
// when the counter's windows are past its own cap and come as sketches.
func TestActiveSeriesFromTheMetersCounter(t *testing.T) {
	for _, seriesCap := range []int{100_000, 1_000} {
		tr := activeConfig(10*time.Minute, time.Minute, seriesCap).NewTracker()
		o := &oracle{horizon: 10 * time.Minute, lastSeen: map[int]time.Time{}}
		counter := cardinality.New(seriesCap)
		c := newChurn(1200, 0, 1, 0.1)
		end := t0
		for i := range 40 {
			series := c.window(i)
			for _, s := range series {
				counter.Add(hash(s))
				counter.Add(hash(s)) // repeated: counted once
			}
			end = end.Add(time.Minute)
			want := o.window(end, series)
			tr.Rotate(end.Add(-time.Minute), end, counter)
			counter.Rotate()
			n, exact := tr.Series()
			if seriesCap == 100_000 {
				require.True(t, exact)
				require.Equal(t, float64(want), n, "window %d", i)
			} else {
				require.False(t, exact, "over the cap from the first window")
				require.InEpsilon(t, float64(want), n, 0.03, "window %d", i)
			}
		}
	}
}

// TestWindowsAsSketches: a window that came as a sketch moves the tracker to sketches at once.
func TestWindowsAsSketches(t *testing.T) {
	tr := activeConfig(5*time.Minute, time.Minute, 10_000).NewTracker()
	o := &oracle{horizon: 5 * time.Minute, lastSeen: map[int]time.Time{}}
	end := t0
	for i := range 12 {
		series := make([]int, 3000)
		for j := range series {
			series[j] = i*1000 + j // 1,000 new a window, 2,000 carried over
		}
		end = end.Add(time.Minute)
		want := o.window(end, series)
		var w Window = hashes(series)
		if i == 4 {
			h := make([]uint64, len(series))
			for j, s := range series {
				h[j] = hash(s)
			}
			w = sketchOf(h)
		}
		tr.Rotate(end.Add(-time.Minute), end, w)
		n, exact := tr.Series()
		assert.Equal(t, i < 4, exact, "window %d", i)
		if exact {
			assert.Equal(t, float64(want), n)
		} else {
			assert.InEpsilon(t, float64(want), n, 0.03, "window %d", i)
		}
	}
}

// TestLongHorizonsGroupWindows: a 2h horizon of 1m windows holds 30 slots of 4 windows; a series counts
// from when it is last seen until the horizon ends, rounded up by at most the 3 other windows of its slot.
func TestLongHorizonsGroupWindows(t *testing.T) {
	tr := activeConfig(2*time.Hour, time.Minute, 200_000).NewTracker()
	require.Equal(t, 4, tr.active.group)
	exactly := &oracle{horizon: 2 * time.Hour, lastSeen: map[int]time.Time{}}
	roundedUp := &oracle{horizon: 2*time.Hour + 3*time.Minute, lastSeen: map[int]time.Time{}}
	c := newChurn(200, 50, 13, 0.05)
	end := t0
	for i := range 400 {
		series := c.window(i)
		end = end.Add(time.Minute)
		lo, hi := exactly.window(end, series), roundedUp.window(end, series)
		tr.Rotate(end.Add(-time.Minute), end, hashes(series))
		n, exact := tr.Series()
		require.True(t, exact)
		require.GreaterOrEqual(t, n, float64(lo), "window %d", i)
		require.LessOrEqual(t, n, float64(hi), "window %d", i)
		require.LessOrEqual(t, len(tr.active.slots), maxSlots+1)
	}
}

// TestLastSeenExpireKeepsEveryEntryReachable: random puts and expiries against a map.
func TestLastSeenExpireKeepsEveryEntryReachable(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	tab := newLastSeen()
	want := map[uint64]uint32{}
	for seq := uint32(1); seq < 300; seq++ {
		for range rng.IntN(400) {
			h := hash(rng.IntN(3000))
			tab.put(h, seq)
			want[h] = seq
		}
		if seq%3 == 0 {
			oldest := seq - uint32(rng.IntN(10))
			tab.expire(oldest)
			for h, s := range want {
				if s < oldest {
					delete(want, h)
				}
			}
		}
		require.Equal(t, len(want), tab.len())
		got := map[uint64]uint32{}
		tab.each(func(h uint64, s uint32) { got[h] = s })
		require.Equal(t, want, got)
		for h, s := range want { // reachable from its home: a put finds it, not a second copy
			tab.put(h, s)
		}
		require.Equal(t, len(want), tab.len(), "seq %d: an entry was unreachable", seq)
	}
}

// TestHourlySeries: hand-computed hours of 10-minute windows. The tracker starts at 10:20 (a partial first
// hour) on 100 steady series, 10 new ones every window.
func TestHourlySeries(t *testing.T) {
	cfg := &Config{Model: HourlySeries, Price: 50, Currency: "EUR", Window: 10 * time.Minute, SeriesCap: 200_000}
	tr := cfg.NewTracker()
	start := t0.Add(20 * time.Minute)
	next := 100
	steady := make([]int, 100)
	for i := range steady {
		steady[i] = i
	}
	win := func(k int) {
		series := append([]int(nil), steady...)
		for range 10 {
			series = append(series, next)
			next++
		}
		b := start.Add(time.Duration(k) * 10 * time.Minute)
		tr.Rotate(b, b.Add(10*time.Minute), hashes(series))
	}
	// 10:30: one window, 110 distinct: no rate yet, the figure is the hour so far.
	win(0)
	n, exact := tr.Series()
	assert.Equal(t, 110.0, n)
	assert.True(t, exact)
	// 10:40: 120 distinct over 20 observed minutes; the first window (600 s) had 110; 10 new in the next
	// 600 s: 110 + 10 × (3600 - 600) / (1200 - 600) = 160.
	win(1)
	n, _ = tr.Series()
	assert.InDelta(t, 160, n, 1e-9)
	// 10:50, 11:00: 130, 140 distinct over 30, 40 minutes: 110 + 30 × 3000/1800 = 160 (same rate).
	win(2)
	win(3)
	n, _ = tr.Series()
	assert.InDelta(t, 160, n, 1e-9, "the partial first hour is projected to a full hour")
	// 11:10 starts the 11:00 hour, which closes the 10:00 one at its projection, 160: that is the figure
	// now, the mean of the complete hours.
	win(4)
	n, _ = tr.Series()
	assert.InDelta(t, 160, n, 1e-9)
	// The 11:00 hour: six windows of 110 (100 steady + 10 new each): 160 distinct, a complete hour.
	for k := 5; k <= 9; k++ {
		win(k)
	}
	win(10) // 12:10: closes 11:00 (observed from 11:00, its last window ended 12:00)
	n, exact = tr.Series()
	assert.InDelta(t, (160+160)/2.0, n, 1e-9)
	assert.True(t, exact)
	// Two silent hours (no window ends in 13:00 or 14:00), then a window at 15:10: the 12:00 hour (one
	// window, 110 series) and two hours of 0 join the mean.
	b := start.Add(10*10*time.Minute + 3*time.Hour) // the window 15:00-15:10
	tr.Rotate(b, b.Add(10*time.Minute), hashes(steady))
	n, _ = tr.Series()
	assert.InDelta(t, (160+160+110+0+0)/5.0, n, 1e-9)

	st := cfg.Monthly(Usage{Series: n, SeriesExact: true})
	assert.InDelta(t, 50*n/1000, st.Monthly, 1e-12)
	assert.Equal(t, "EUR", st.Currency)
}

// TestHourlySeriesBeyondTheCap: past the cap the hour goes on in a sketch; the figure is estimated.
func TestHourlySeriesBeyondTheCap(t *testing.T) {
	tr := (&Config{Model: HourlySeries, SeriesCap: 1000}).NewTracker()
	next := 0
	for k := range 12 { // two hours of 10-minute windows of 600 new series each: 3,600 an hour
		series := make([]int, 600)
		for i := range series {
			series[i] = next
			next++
		}
		b := t0.Add(time.Duration(k) * 10 * time.Minute)
		tr.Rotate(b, b.Add(10*time.Minute), hashes(series))
	}
	b := t0.Add(2 * time.Hour)
	tr.Rotate(b, b.Add(10*time.Minute), hashes([]int{1}))
	n, exact := tr.Series()
	assert.False(t, exact)
	assert.InEpsilon(t, 3600, n, 0.03)
}

// TestMonthlyArithmetic: each model's monthly cost from hand-computed numbers. A window of 60 s with 6,000
// data points (100/s) and 3,000,000 bytes (50,000 B/s).
func TestMonthlyArithmetic(t *testing.T) {
	u := Usage{Series: 2500, SeriesExact: true, Datapoints: 6000, Bytes: 3_000_000, Seconds: 60}
	for _, c := range []struct {
		name     string
		cfg      Config
		units    float64
		overage  float64
		monthly  float64
		currency string
	}{
		// 2,500 series × 8 / 1,000 = 20
		{"active_series", Config{Model: ActiveSeries, Price: 8, Currency: "USD"}, 2500, 0, 20, "USD"},
		// 6,000 DPM; 2,500 × 2 = 5,000 included: 1,000 DPM over, at 0.5 per 1,000: 20 + 0.5
		{"active_series overage", Config{Model: ActiveSeries, Price: 8, IncludedDPM: 2, OveragePrice: 0.5}, 2500, 1000, 20.5, ""},
		// 6,000 DPM against 2,500 × 4 included: no overage
		{"active_series within included", Config{Model: ActiveSeries, Price: 8, IncludedDPM: 4, OveragePrice: 0.5}, 2500, 0, 20, ""},
		// the mean hourly series: 2,500 × 50 / 1,000
		{"hourly_series", Config{Model: HourlySeries, Price: 50}, 2500, 0, 125, ""},
		// 100/s × 2,628,000 s = 262,800,000 data points a month, at 0.1 per million: 26.28
		{"datapoints", Config{Model: Datapoints, Price: 0.1}, 262_800_000, 0, 26.28, ""},
		// 50,000 B/s × 2,628,000 s = 131.4 GB a month, at 0.3 per GB: 39.42
		{"bytes", Config{Model: Bytes, Price: 0.3, Currency: "GBP"}, 131.4, 0, 39.42, "GBP"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := c.cfg.Monthly(u)
			assert.Equal(t, c.cfg.Model, st.Model)
			assert.Equal(t, c.currency, st.Currency)
			assert.InDelta(t, c.units, st.Units, 1e-6)
			assert.InDelta(t, c.overage, st.OverageDPM, 1e-9)
			assert.InDelta(t, c.monthly, st.Monthly, 1e-9)
			assert.True(t, st.Exact)
		})
	}
	st := (&Config{Model: ActiveSeries, Price: 8}).Monthly(Usage{Series: 10, SeriesExact: false})
	assert.False(t, st.Exact, "estimated series: an estimated cost")
	st = (&Config{Model: Datapoints, Price: 1}).Monthly(Usage{Datapoints: 5})
	assert.Zero(t, st.Monthly, "no time measured: no rate")
}

func TestCompare(t *testing.T) {
	base := control.CostStats{Monthly: 200}
	v := control.CostStats{Monthly: 50}
	Compare(&v, base)
	assert.Equal(t, 150.0, v.MonthlySaving)
	assert.Equal(t, 0.75, v.SavingRatio)
	more := control.CostStats{Monthly: 300}
	Compare(&more, base)
	assert.Equal(t, -100.0, more.MonthlySaving)
	assert.Equal(t, -0.5, more.SavingRatio, "costs more: negative")
	free := control.CostStats{Monthly: 0}
	Compare(&v, free)
	assert.Equal(t, 0.0, v.SavingRatio, "a baseline that costs nothing: no ratio")
	assert.False(t, math.IsNaN(v.SavingRatio))
}

func TestVolumeModelsNeedNoTracker(t *testing.T) {
	assert.Nil(t, (&Config{Model: Datapoints}).NewTracker())
	assert.Nil(t, (&Config{Model: Bytes}).NewTracker())
}

// BenchmarkHorizon: an active_series tracker over a 20m horizon of 1m windows on 50,000 live series of
// which 2% restart every window (~70,000 active over the horizon), 60 windows: the heap it holds (measured,
// not its own Bytes), per active series when exact and whole in the sketch regime (series_cap 20,000), and
// the work per series of a window at rotation.
func BenchmarkHorizon(b *testing.B) {
	for _, c := range []struct {
		name      string
		seriesCap int
	}{{"exact", 200_000}, {"sketches", 20_000}} {
		b.Run(c.name, func(b *testing.B) {
			var heap, active float64
			var rotated int
			var elapsed time.Duration
			for b.Loop() {
				b.StopTimer()
				ch := newChurn(50_000, 0, 1, 0.02)
				windows := make([]ids, 60)
				for i := range windows {
					windows[i] = hashes(ch.window(i))
				}
				runtime.GC()
				var m0, m1 runtime.MemStats
				runtime.ReadMemStats(&m0)
				b.StartTimer()
				start := time.Now()
				tr := activeConfig(20*time.Minute, time.Minute, c.seriesCap).NewTracker()
				for i, w := range windows {
					end := t0.Add(time.Duration(i+1) * time.Minute)
					tr.Rotate(end.Add(-time.Minute), end, w)
					rotated += len(w)
				}
				elapsed += time.Since(start)
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&m1)
				heap = float64(int64(m1.HeapAlloc) - int64(m0.HeapAlloc))
				active, _ = tr.Series()
				runtime.KeepAlive(tr)
				runtime.KeepAlive(windows)
				b.StartTimer()
			}
			if c.seriesCap > 100_000 {
				b.ReportMetric(heap/active, "heap-bytes/active-series")
			} else {
				b.ReportMetric(heap/1024, "heap-KiB")
			}
			b.ReportMetric(active, "active-series")
			b.ReportMetric(float64(elapsed.Nanoseconds())/float64(rotated), "ns/series-rotated")
		})
	}
}
