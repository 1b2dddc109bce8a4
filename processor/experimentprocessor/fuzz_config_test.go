// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor

import (
	"path/filepath"
	"testing"

	"github.com/phoenix-platform/otelcol-phoenix/internal/configfuzz"
)

// FuzzConfig: any YAML decodes, validates and creates the component or fails with an error, never a panic.
// make fuzz explores it for a bounded time; the corpus is in testdata/fuzz/FuzzConfig.
func FuzzConfig(f *testing.F) {
	configfuzz.Seeds(f, filepath.Join("testdata", "config.yaml"))
	factory := NewFactory()
	f.Fuzz(func(t *testing.T, doc string) {
		configfuzz.Check(t, factory, doc, configfuzz.Processor(factory))
	})
}
