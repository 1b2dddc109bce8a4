// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package control

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestChaosEventValidate(t *testing.T) {
	tests := []struct {
		name string
		ev   ChaosEvent
		errs []string
	}{
		{"spike by executable", ChaosEvent{Kind: ChaosCPUSpike, Target: ChaosTarget{Executable: "java"}, Intervals: 3}, nil},
		{"leak by class", ChaosEvent{Kind: ChaosMemoryLeak, Target: ChaosTarget{Class: "low"}}, nil},
		{"kill by pid", ChaosEvent{Kind: ChaosKill, Target: ChaosTarget{PID: 42}}, nil},
		{"everything wrong", ChaosEvent{Kind: "melt", Intervals: -1},
			[]string{`chaos kind "melt"`, "set at least one of pid, class, executable", "chaos intervals -1"}},
		{"bad class", ChaosEvent{Kind: ChaosKill, Target: ChaosTarget{Class: "urgent"}}, []string{`class "urgent"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.ev.Validate()
			if len(tt.errs) == 0 {
				assert.NoError(t, err)
				return
			}
			for _, e := range tt.errs {
				assert.ErrorContains(t, err, e)
			}
		})
	}
}
