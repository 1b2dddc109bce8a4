// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package benchmeasure holds what side-by-side benchmarks measure: process CPU time (all threads, GC
// included, so results are per CPU-second rather than per wall second) and heap allocations.
package benchmeasure // import "github.com/phoenix-platform/otelcol-phoenix/internal/benchmeasure"

import (
	"runtime"
	"syscall"
	"time"
)

// CPUTime is the process's user + system CPU time so far.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Mallocs is the number of heap allocations so far.
func Mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}

// Arm accumulates one arm of an A/B benchmark.
type Arm struct {
	CPU    time.Duration
	Allocs uint64
}

// Run collects garbage, then runs f and adds its CPU time and allocations to the arm.
func (a *Arm) Run(f func()) {
	runtime.GC()
	m0, start := Mallocs(), CPUTime()
	f()
	a.CPU += CPUTime() - start
	a.Allocs += Mallocs() - m0
}

// Round runs round i of an A/B comparison: a then b on even rounds, b then a on odd ones. The arm that runs
// first after a round's setup pays for what the setup leaves behind (fresh heap to fault in, cold caches);
// alternating the order shares that cost evenly.
func Round(i int, a *Arm, fa func(), b *Arm, fb func()) {
	if i%2 == 1 {
		a, fa, b, fb = b, fb, a, fa
	}
	a.Run(fa)
	b.Run(fb)
}
