// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package configfuzz is the body of our components' config fuzz targets: whatever YAML a user writes, the
// collector's decoding, validation and creation of the component return an error or a component — never a
// panic, and never a component from a config that Validate refused.
package configfuzz // import "github.com/phoenix-platform/otelcol-phoenix/internal/configfuzz"

import (
	"context"
	"os"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processortest"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
	"gopkg.in/yaml.v3"
)

// Seeds adds every top-level entry of a testdata config file (one component config each) to f.
func Seeds(f *testing.F, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	var entries map[string]any
	if err := yaml.Unmarshal(data, &entries); err != nil {
		f.Fatal(err)
	}
	for _, v := range entries {
		b, err := yaml.Marshal(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
}

// Check decodes doc into factory's default config as the collector does, validates it, and when it is
// valid creates the component with create.
func Check(t *testing.T, factory component.Factory, doc string, create func(component.Config) error) {
	retrieved, err := confmap.NewRetrievedFromYAML([]byte(doc))
	if err != nil {
		return
	}
	conf, err := retrieved.AsConf()
	if err != nil {
		return
	}
	cfg := factory.CreateDefaultConfig()
	if err := conf.Unmarshal(cfg); err != nil {
		return
	}
	if err := confmap.Validate(cfg); err != nil {
		if err.Error() == "" {
			t.Fatal("a refused config with an empty error")
		}
		return
	}
	_ = create(cfg) // may fail (e.g. a port in use); must not panic
}

// Processor creates a metrics processor from cfg and shuts it down.
func Processor(f processor.Factory) func(component.Config) error {
	return func(cfg component.Config) error {
		p, err := f.CreateMetrics(context.Background(), processortest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		if err == nil {
			err = p.Shutdown(context.Background())
		}
		return err
	}
}

// Receiver creates a metrics receiver from cfg and shuts it down.
func Receiver(f receiver.Factory) func(component.Config) error {
	return func(cfg component.Config) error {
		r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, consumertest.NewNop())
		if err == nil {
			err = r.Shutdown(context.Background())
		}
		return err
	}
}
