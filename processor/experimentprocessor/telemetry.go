// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"context"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// childAttribute names a variant's child processor on every measurement of its own telemetry, with the
// value processorhelper uses for its metrics (topk/process.top20.0).
const childAttribute = "processor"

// childTelemetry gives a variant's child processor telemetry of its own. Collector 0.159 does not tell
// components apart in their own metrics (scope attributes only under a feature gate, which its Prometheus
// reader then reports as duplicates), so two topk variants would add to one series; every synchronous
// measurement of the child carries processor=<child ID> instead. A measurement's own attributes win.
func childTelemetry(ts component.TelemetrySettings, id component.ID) component.TelemetrySettings {
	ts.MeterProvider = childMeterProvider{MeterProvider: ts.MeterProvider,
		attr: metric.WithAttributes(attribute.String(childAttribute, id.String()))}
	return ts
}

type childMeterProvider struct {
	metric.MeterProvider
	attr metric.MeasurementOption
}

func (p childMeterProvider) Meter(name string, opts ...metric.MeterOption) metric.Meter {
	return childMeter{Meter: p.MeterProvider.Meter(name, opts...), attr: p.attr}
}

// childMeter wraps the synchronous instruments; observable ones report through their callbacks' own
// attributes (none of our components use them).
type childMeter struct {
	metric.Meter
	attr metric.MeasurementOption
}

func (m childMeter) Int64Counter(name string, o ...metric.Int64CounterOption) (metric.Int64Counter, error) {
	i, err := m.Meter.Int64Counter(name, o...)
	return int64Counter{i, m.attr}, err
}

func (m childMeter) Int64UpDownCounter(name string, o ...metric.Int64UpDownCounterOption) (metric.Int64UpDownCounter, error) {
	i, err := m.Meter.Int64UpDownCounter(name, o...)
	return int64UpDownCounter{i, m.attr}, err
}

func (m childMeter) Int64Histogram(name string, o ...metric.Int64HistogramOption) (metric.Int64Histogram, error) {
	i, err := m.Meter.Int64Histogram(name, o...)
	return int64Histogram{i, m.attr}, err
}

func (m childMeter) Int64Gauge(name string, o ...metric.Int64GaugeOption) (metric.Int64Gauge, error) {
	i, err := m.Meter.Int64Gauge(name, o...)
	return int64Gauge{i, m.attr}, err
}

func (m childMeter) Float64Counter(name string, o ...metric.Float64CounterOption) (metric.Float64Counter, error) {
	i, err := m.Meter.Float64Counter(name, o...)
	return float64Counter{i, m.attr}, err
}

func (m childMeter) Float64UpDownCounter(name string, o ...metric.Float64UpDownCounterOption) (metric.Float64UpDownCounter, error) {
	i, err := m.Meter.Float64UpDownCounter(name, o...)
	return float64UpDownCounter{i, m.attr}, err
}

func (m childMeter) Float64Histogram(name string, o ...metric.Float64HistogramOption) (metric.Float64Histogram, error) {
	i, err := m.Meter.Float64Histogram(name, o...)
	return float64Histogram{i, m.attr}, err
}

func (m childMeter) Float64Gauge(name string, o ...metric.Float64GaugeOption) (metric.Float64Gauge, error) {
	i, err := m.Meter.Float64Gauge(name, o...)
	return float64Gauge{i, m.attr}, err
}

type int64Counter struct {
	metric.Int64Counter
	attr metric.MeasurementOption
}

func (i int64Counter) Add(ctx context.Context, v int64, o ...metric.AddOption) {
	i.Int64Counter.Add(ctx, v, prepend[metric.AddOption](i.attr, o)...)
}

type int64UpDownCounter struct {
	metric.Int64UpDownCounter
	attr metric.MeasurementOption
}

func (i int64UpDownCounter) Add(ctx context.Context, v int64, o ...metric.AddOption) {
	i.Int64UpDownCounter.Add(ctx, v, prepend[metric.AddOption](i.attr, o)...)
}

type int64Histogram struct {
	metric.Int64Histogram
	attr metric.MeasurementOption
}

func (i int64Histogram) Record(ctx context.Context, v int64, o ...metric.RecordOption) {
	i.Int64Histogram.Record(ctx, v, prepend[metric.RecordOption](i.attr, o)...)
}

type int64Gauge struct {
	metric.Int64Gauge
	attr metric.MeasurementOption
}

func (i int64Gauge) Record(ctx context.Context, v int64, o ...metric.RecordOption) {
	i.Int64Gauge.Record(ctx, v, prepend[metric.RecordOption](i.attr, o)...)
}

type float64Counter struct {
	metric.Float64Counter
	attr metric.MeasurementOption
}

func (i float64Counter) Add(ctx context.Context, v float64, o ...metric.AddOption) {
	i.Float64Counter.Add(ctx, v, prepend[metric.AddOption](i.attr, o)...)
}

type float64UpDownCounter struct {
	metric.Float64UpDownCounter
	attr metric.MeasurementOption
}

func (i float64UpDownCounter) Add(ctx context.Context, v float64, o ...metric.AddOption) {
	i.Float64UpDownCounter.Add(ctx, v, prepend[metric.AddOption](i.attr, o)...)
}

type float64Histogram struct {
	metric.Float64Histogram
	attr metric.MeasurementOption
}

func (i float64Histogram) Record(ctx context.Context, v float64, o ...metric.RecordOption) {
	i.Float64Histogram.Record(ctx, v, prepend[metric.RecordOption](i.attr, o)...)
}

type float64Gauge struct {
	metric.Float64Gauge
	attr metric.MeasurementOption
}

func (i float64Gauge) Record(ctx context.Context, v float64, o ...metric.RecordOption) {
	i.Float64Gauge.Record(ctx, v, prepend[metric.RecordOption](i.attr, o)...)
}

// prepend puts the child's attribute first, so that a measurement's own attributes override it.
func prepend[O any](first metric.MeasurementOption, rest []O) []O {
	out := make([]O, 0, len(rest)+1)
	out = append(out, any(first).(O))
	return append(out, rest...)
}
