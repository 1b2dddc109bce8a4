// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// componentIDKey is the instrumentation scope attribute the collector names each component's telemetry by.
const componentIDKey = "otelcol.component.id"

// childTelemetry gives a variant's child processor telemetry of its own: the collector scopes the
// experiment's meters with the experiment's ID, and two topk variants would otherwise add to the same
// series. Later scope attributes override earlier ones, so the child's ID wins.
func childTelemetry(ts component.TelemetrySettings, id component.ID) component.TelemetrySettings {
	ts.MeterProvider = scopedMeterProvider{MeterProvider: ts.MeterProvider, attrs: []attribute.KeyValue{attribute.String(componentIDKey, id.String())}}
	return ts
}

type scopedMeterProvider struct {
	metric.MeterProvider
	attrs []attribute.KeyValue
}

func (p scopedMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	scope := metric.NewMeterConfig(opts...).InstrumentationAttributes()
	attrs := append(scope.ToSlice(), p.attrs...)
	return p.MeterProvider.Meter(name, append(opts, metric.WithInstrumentationAttributes(attrs...))...)
}
