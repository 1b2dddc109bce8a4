// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// FuzzDesiredState reads random desired-state files: never a panic; a rejected file changes nothing and
// says why; an accepted one leaves the experiment on one of its variants.
func FuzzDesiredState(f *testing.F) {
	for _, seed := range []string{
		"experiments:\n  experiment/process: {active: top20}\n",
		"experiments:\n  experiment/process: {rollout: {variant: top20, percent: 50}}\n",
		"experiments:\n  experiment/process: {rollout: {variant: top20, percent: .nan}}\n",
		"experiments:\n  experiment/process: {Active: top20}\n",
		"experiments: {experiment/process: {active: nope}}\n",
		"experiments: [1, 2]\n", "{", "", "experiments:\n  a: &x {active: top20}\n  b: *x\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "desired.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		reg := newRegistry(zap.NewNop())
		exp := newFakeExperiment()
		reg.RegisterExperiment(exp)
		before := exp.Snapshot().Active
		d := newDesiredState(path, "node-a", reg, zap.NewNop())
		d.poll(time.Now())
		after := exp.Snapshot().Active
		if d.status.LastError != "" && after != before {
			t.Fatalf("a rejected file (%s) switched %s to %s", d.status.LastError, before, after)
		}
		if _, ok := exp.Snapshot().Variant(after); !ok {
			t.Fatalf("active variant %q is not a variant", after)
		}
	})
}
