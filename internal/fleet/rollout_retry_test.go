// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package fleet

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/runs"
)

// TestPauseResumeWhileAnalyzingKeepsTheVerdict: a rollout whose last wave passed waits in analyzing for the
// next step (for a restarted controller's whole grace). A pause and resume there is no retry: the passing
// verdict stands and promotes.
func TestPauseResumeWhileAnalyzingKeepsTheVerdict(t *testing.T) {
	f := newFleet(4)
	spec := goodSpec()
	spec.Waves = []Wave{{Count: 1}, {Percent: 100}}
	r := newRollout(t, f, spec)
	for range 500 {
		if r.Phase == runs.Analyzing {
			break
		}
		f.now = f.now.Add(reportEvery)
		f.tick(r)
		if r.Phase == runs.Analyzing {
			break
		}
	}
	// tick steps after agents report; stop as soon as Analyzing is entered
	if r.Phase != runs.Analyzing {
		t.Fatalf("phase %s", r.Phase)
	}
	t.Logf("analyzing: verdict pass=%v waves=%d", r.Verdict.Pass, len(r.Waves))
	r.Restarted(f.now) // controller restarted: grace, no steps
	if err := r.Pause(f.now, "by the API"); err != nil {
		t.Fatal(err)
	}
	if err := r.Resume(f.now, f.agents); err != nil {
		t.Fatal(err)
	}
	t.Logf("after pause+resume: verdict=%v waves=%d phase=%s", r.Verdict, len(r.Waves), r.Phase)
	r.Step(f.now.Add(time.Second), f.agents)
	t.Logf("after step: phase=%s promoted=%v assigned=%d reason=%q", r.Phase, r.Promoted, len(r.Assigned), r.Reason)
	if !r.Promoted {
		t.Errorf("a passing final wave was not promoted after a pause and resume in analyzing")
	}
}

// TestRetriesAreBounded: each retry after a breach is a record with every agent; the records of one wave
// are bounded (the rollout is persisted whole at every change).
func TestRetriesAreBounded(t *testing.T) {
	f := newFleet(200)
	spec := goodSpec()
	spec.Waves = []Wave{{Percent: 100}}
	r := newRollout(t, f, spec)
	order := f.order(r.Spec)
	f.tweak[order[0]] = func(v *Variant) { v.CriticalVisible = 0 }
	cycles := 0
	for range 100 {
		f.until(t, r, "paused", func() bool { return r.Paused })
		if err := r.Resume(f.now, f.agents); err != nil {
			t.Fatal(err)
		}
		cycles++
	}
	data, _ := json.Marshal(r)
	t.Logf("after %d breach/resume cycles: len(Waves)=%d, len(Events)=%d, persisted JSON %d bytes", cycles, len(r.Waves), len(r.Events), len(data))
	if len(r.Waves) > maxTries {
		t.Errorf("%d records", len(r.Waves))
	}
}

// TestSecondBreachWhilePausedKeepsTheFirst: an earlier wave's agent breaking while the rollout is paused
// on a first breach adds to the record's verdict, not over it.
func TestSecondBreachWhilePausedKeepsTheFirst(t *testing.T) {
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	f.until(t, r, "in wave 3", func() bool { return r.Wave == 2 && !r.Waves[len(r.Waves)-1].AppliedAt.IsZero() })
	f.tweak[order[3]] = func(v *Variant) { v.CriticalVisible = 0 } // a wave-3 agent
	f.until(t, r, "paused", func() bool { return r.Paused })
	first := *r.Waves[len(r.Waves)-1].Verdict
	t.Logf("first breach: record wave %d nodes %v", r.Waves[len(r.Waves)-1].Wave, first.Nodes)
	f.tweak[order[1]] = func(v *Variant) { v.Fidelity = ptr(0.1) } // a wave-2 agent, kept on the candidate
	f.until(t, r, "second breach", func() bool { return len(r.Verdict.Nodes) > 1 })
	last := r.Waves[len(r.Waves)-1]
	t.Logf("second breach: record wave %d nodes %v reasons %v; len(Waves)=%d", last.Wave, last.Verdict.Nodes, last.Verdict.Reasons, len(r.Waves))
	if last.Verdict.Nodes[0] != first.Nodes[0] {
		t.Errorf("wave %d's record no longer says %s broke it", last.Wave+1, first.Nodes[0])
	}
	if len(last.Verdict.Nodes) != 2 {
		t.Errorf("both breaches in the record: %v", last.Verdict.Nodes)
	}
}

// TestRestartKeepsABreachedRecord: a controller restart while paused on a breach leaves the ended record's
// history alone.
func TestRestartKeepsABreachedRecord(t *testing.T) {
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	f.tweak[order[1]] = func(v *Variant) { v.CriticalVisible = 0 }
	f.until(t, r, "paused", func() bool { return r.Paused })
	w := r.Waves[len(r.Waves)-1]
	t.Logf("before restart: ended record applied_at=%v ended_at=%v", w.AppliedAt, w.EndedAt)
	r.Restarted(f.now)
	w = r.Waves[len(r.Waves)-1]
	t.Logf("after restart: ended record applied_at=%v ended_at=%v", w.AppliedAt, w.EndedAt)
	if w.AppliedAt.IsZero() {
		t.Errorf("Restarted erased the breached record's applied_at")
	}
}

// TestCandidatePendingForeverPauses: an agent that reports fresh windows but its candidate pending (never a
// whole window to judge) would hold the soak for ever: the wave pauses on it.
func TestCandidatePendingForeverPauses(t *testing.T) {
	f := newFleet(20)
	r := newRollout(t, f, goodSpec())
	order := f.order(r.Spec)
	f.until(t, r, "in wave 2", func() bool { return inWave2(r) })
	f.tweak[order[1]] = func(v *Variant) { v.Pending = true }
	start := f.now
	for range 2000 { // 2000 ticks of 30 s: ~16.7 h
		f.tick(r)
	}
	t.Logf("after %s: phase=%s wave=%d paused=%v reason=%q", f.now.Sub(start), r.Phase, r.Wave+1, r.Paused, r.PauseReason)
	if r.Wave == 1 && !r.Paused && !r.Phase.Terminal() {
		t.Errorf("one agent reporting its candidate pending held the wave, unpaused")
	}
	if !strings.Contains(r.PauseReason, "still pending") {
		t.Errorf("pause reason %q", r.PauseReason)
	}
}
