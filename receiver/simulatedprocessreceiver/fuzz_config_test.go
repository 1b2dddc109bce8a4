// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"context"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/configfuzz"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

// FuzzConfig: any YAML decodes, validates and creates the component or fails with an error, never a panic.
// make fuzz explores it for a bounded time; the corpus is in testdata/fuzz/FuzzConfig.
func FuzzConfig(f *testing.F) {
	configfuzz.Seeds(f, filepath.Join("testdata", "config.yaml"))
	factory := NewFactory()
	f.Fuzz(func(t *testing.T, doc string) {
		configfuzz.Check(t, factory, doc, func(cfg component.Config) error {
			r, err := factory.CreateMetrics(context.Background(), receivertest.NewNopSettings(metadata.Type), cfg, consumertest.NewNop())
			if err == nil {
				err = r.Shutdown(context.Background())
			}
			return err
		})
	})
}
