// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"context"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensiontest"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension/internal/metadata"
	"github.com/phoenix-platform/otelcol-phoenix/internal/configfuzz"
)

// FuzzConfig: any YAML decodes, validates and creates the component or fails with an error, never a panic.
// make fuzz explores it for a bounded time; the corpus is in testdata/fuzz/FuzzConfig.
func FuzzConfig(f *testing.F) {

	for _, seed := range []string{"endpoint: localhost:8999\n", "endpoint: 0.0.0.0:8999\nauth: {authenticator: bearertokenauth}\n",
		"storage: file_storage\nmax_connections: 10\ndesired_state: {path: /x, poll_interval: 1s}\n", "events_interval: 1ms\nread_timeout: -1s\n"} {
		f.Add(seed)
	}
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
