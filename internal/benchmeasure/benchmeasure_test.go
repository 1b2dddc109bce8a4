// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package benchmeasure

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

var sink []byte

func TestArmCountsWork(t *testing.T) {
	var a Arm
	a.Run(func() {
		for i := 0; i < 1000; i++ {
			sink = make([]byte, 64)
		}
		x := 0
		for i := 0; i < 50_000_000; i++ {
			x += i
		}
		sink = append(sink, byte(x))
	})
	assert.GreaterOrEqual(t, a.Allocs, uint64(1000))
	assert.Positive(t, a.CPU)
}

func TestRoundAlternatesOrder(t *testing.T) {
	var a, b Arm
	var order []string
	for i := range 4 {
		Round(i, &a, func() { order = append(order, "a") }, &b, func() { order = append(order, "b") })
	}
	assert.Equal(t, []string{"a", "b", "b", "a", "a", "b", "b", "a"}, order)
}
