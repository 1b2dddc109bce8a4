// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package validate checks that `otelcol-phoenix validate` gives the answer a start gives: every config in
// testdata/bad fails both, naming each problem its "# want:" lines list, all in one run; every config in
// testdata/good validates.
package validate

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

func files(t *testing.T, dir string) []string {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	return files
}

// wants are a config's "# want: <text>" lines.
func wants(t *testing.T, file string) []string {
	b, err := os.ReadFile(file)
	require.NoError(t, err)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if w, ok := strings.CutPrefix(line, "# want: "); ok {
			out = append(out, w)
		}
	}
	require.NotEmpty(t, out, "%s has no # want: line", file)
	return out
}

func TestBadConfigsFailValidateAsAtStart(t *testing.T) {
	bin := harness.Binary(t)
	for _, f := range files(t, "bad") {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			t.Parallel()
			want := wants(t, f)
			out, err := harness.Validate(t, bin, f)
			require.Error(t, err, "validate passed:\n%s", out)
			for _, w := range want {
				assert.Contains(t, out, w, "validate names the problem")
			}

			// A start fails the same way, before anything is started.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			started, err := exec.CommandContext(ctx, bin, "--config", f).CombinedOutput()
			require.Error(t, err, "start did not fail:\n%s", started)
			require.NoError(t, ctx.Err(), "start kept running:\n%s", started)
			for _, w := range want {
				assert.Contains(t, string(started), w, "start reports what validate reports")
			}
		})
	}
}

func TestGoodConfigsValidate(t *testing.T) {
	bin := harness.Binary(t)
	for _, f := range files(t, "good") {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			t.Parallel()
			out, err := harness.Validate(t, bin, f)
			require.NoError(t, err, "validate %s:\n%s", f, out)
		})
	}
}
