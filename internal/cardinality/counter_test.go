// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package cardinality

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestExactIsExact compares with a map over many windows of random, overlapping series sets.
func TestExactIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := New(1 << 20)
	var prev map[uint64]bool
	for window := range 30 {
		cur := map[uint64]bool{}
		base := uint64(window * 700) // sliding ranges: part overlaps the previous window
		for range 20_000 {
			h := mixed(base + uint64(rng.IntN(3000)))
			c.Add(h)
			cur[h] = true
		}
		want := WindowStats{Distinct: uint64(len(cur)), Exact: true}
		for h := range cur {
			if !prev[h] {
				want.New++
			}
		}
		require.Equal(t, want, c.Current(), "window %d", window)
		require.Equal(t, want, c.Rotate(), "window %d", window)
		prev = cur
	}
}

func mixed(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

func TestHyperLogLogErrorAtOneMillion(t *testing.T) {
	c := New(100_000)
	for i := range uint64(1_000_000) {
		c.Add(mixed(i))
	}
	st := c.Rotate()
	assert.False(t, st.Exact)
	assert.InDelta(t, 1_000_000, float64(st.Distinct), 25_000, "error within 2.5%%: %d", st.Distinct)
	assert.InDelta(t, 1_000_000, float64(st.New), 25_000, "all new")

	// Next window: half the same series, half new.
	for i := uint64(500_000); i < 1_500_000; i++ {
		c.Add(mixed(i))
	}
	st = c.Rotate()
	assert.InDelta(t, 1_000_000, float64(st.Distinct), 25_000)
	assert.InDelta(t, 500_000, float64(st.New), 25_000, "churn estimated: %d", st.New)
}

func TestSwitchesToSketchAndBack(t *testing.T) {
	c := New(1000)
	for i := range uint64(800) {
		c.Add(mixed(i))
	}
	assert.True(t, c.Rotate().Exact)
	for i := range uint64(5000) { // past the cap mid-window: series seen so far carry over
		c.Add(mixed(i))
	}
	st := c.Rotate()
	assert.False(t, st.Exact)
	assert.InDelta(t, 5000, float64(st.Distinct), 5000*0.025)
	assert.InDelta(t, 4200, float64(st.New), 5000*0.03)

	for i := range uint64(300) { // well under the cap: next window exact again
		c.Add(mixed(i))
	}
	assert.InDelta(t, 300, float64(c.Rotate().Distinct), 10)
	for i := range uint64(300) { // counted exactly; churn still estimated against the previous sketch
		c.Add(mixed(i))
	}
	st = c.Rotate()
	assert.Equal(t, uint64(300), st.Distinct)
	assert.InDelta(t, 0, float64(st.New), 10)
	assert.False(t, st.Exact)
	for i := range uint64(300) {
		c.Add(mixed(i))
	}
	assert.Equal(t, WindowStats{Distinct: 300, New: 0, Exact: true}, c.Rotate())
}

func TestBytesPerTrackedSeries(t *testing.T) {
	for _, n := range []int{1000, 10_000, 100_000, 150_000} {
		c := New(1 << 20)
		for i := range uint64(n) {
			c.Add(mixed(i))
		}
		per := float64(c.Bytes()) / float64(c.Tracked())
		assert.LessOrEqual(t, per, 16.0, "%d series", n)
		c.Rotate()
		per = float64(c.Bytes()) / float64(c.Tracked())
		assert.LessOrEqual(t, per, 16.0, "%d series after rotation", n)
	}
}

// BenchmarkAdd is the counting cost per data point: every series seen once per batch, 10 batches per window.
func BenchmarkAdd(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(map[int]string{1_000: "series=1k", 10_000: "series=10k", 100_000: "series=100k"}[n], func(b *testing.B) {
			hashes := make([]uint64, n)
			for i := range hashes {
				hashes[i] = mixed(uint64(i))
			}
			c := New(1 << 20)
			var arm benchmeasure.Arm
			adds := 0
			for b.Loop() {
				arm.Run(func() {
					for batch := range 10 {
						_ = batch
						for _, h := range hashes {
							c.Add(h)
						}
					}
					c.Rotate()
				})
				adds += 10 * n
			}
			b.ReportMetric(float64(arm.CPU.Nanoseconds())/float64(adds), "cpu-ns/datapoint")
			b.ReportMetric(float64(c.Bytes())/math.Max(1, float64(c.Tracked())), "bytes/series")
		})
	}
}
