// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixfleetextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/configfuzz"
)

// FuzzConfig: any YAML decodes, validates and creates the controller or fails with an error, never a panic
// (created, not started: no listener per input). The corpus is in testdata/fuzz/FuzzConfig; make fuzz
// explores it for a bounded time.
func FuzzConfig(f *testing.F) {
	factory := NewFactory()
	f.Fuzz(func(t *testing.T, doc string) {
		configfuzz.Check(t, factory, doc, func(cfg component.Config) error {
			e, err := factory.Create(context.Background(), extensiontest.NewNopSettings(metadata.Type), cfg)
			if err == nil {
				err = e.Shutdown(context.Background())
			}
			return err
		})
	})
}
