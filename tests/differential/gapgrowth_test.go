package differential

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

// TestGapGrowthInto: only growth across a series' own gap, ending inside the window and starting before
// it, is allowed on top of the baseline; growth between regular samples never is.
func TestGapGrowthInto(t *testing.T) {
	at := func(s int) time.Time { return time.Unix(1000+int64(s), 0) }
	// samples every 2 s, then absent for 30 s (a kernel worker under another name), then back
	pts := []harness.Point{{T: at(0), V: 1}, {T: at(2), V: 1}, {T: at(4), V: 2}, {T: at(6), V: 2}, {T: at(36), V: 5}, {T: at(38), V: 6}}

	assert.Equal(t, 3.0, gapGrowthInto(pts, 2*time.Second, at(30), at(40)), "the gap 6→36 ends in the window and starts before it")
	assert.Equal(t, 3.0, gapGrowthInto(pts, 2*time.Second, at(34), at(36)), "the window's end is included")
	assert.Equal(t, 0.0, gapGrowthInto(pts, 2*time.Second, at(0), at(40)), "a window holding both ends counts it already")
	assert.Equal(t, 0.0, gapGrowthInto(pts, 2*time.Second, at(37), at(40)), "regular growth 36→38 is never slack")
	assert.Equal(t, 0.0, gapGrowthInto(pts, 2*time.Second, at(3), at(10)), "no gap ends here")

	reset := []harness.Point{{T: at(0), V: 9}, {T: at(2), V: 9}, {T: at(4), V: 9}, {T: at(30), V: 4}}
	assert.Equal(t, 4.0, gapGrowthInto(reset, 2*time.Second, at(10), at(30)), "a drop across the gap is a reset, counted from zero")

	sporadic := []harness.Point{{T: at(0), V: 1}, {T: at(30), V: 2}, {T: at(60), V: 3}}
	assert.Equal(t, 1.0, gapGrowthInto(sporadic, 2*time.Second, at(40), at(60)),
		"a name taken now and then is all gaps of a receiver collecting every 2 s")
	assert.Equal(t, 0.0, gapGrowthInto(sporadic, 30*time.Second, at(40), at(60)), "a receiver's interval is not a gap")
}
