// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package components lists the processors this build has, as builder-config.yaml does (a test keeps the
// two equal), for what cannot reach the factories the collector is given: the crosscheck converter, which
// checks a config for `validate` before any host exists. Components that run ask the host instead.
package components // import "github.com/phoenix-platform/otelcol-phoenix/internal/components"

import (
	"reflect"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/cumulativetodeltaprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatorateprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbyattrsprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbytraceprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/intervalprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/k8sattributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/metricsgenerationprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/metricstransformprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/probabilisticsamplerprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourcedetectionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/tailsamplingprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"

	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"
)

// Processors are the NewFactory functions of the build's processors, kept as the functions themselves (some
// return an x-factory) so the test can name their package.
var Processors = []any{
	batchprocessor.NewFactory,
	memorylimiterprocessor.NewFactory,
	filterprocessor.NewFactory,
	transformprocessor.NewFactory,
	attributesprocessor.NewFactory,
	resourceprocessor.NewFactory,
	resourcedetectionprocessor.NewFactory,
	k8sattributesprocessor.NewFactory,
	metricstransformprocessor.NewFactory,
	groupbyattrsprocessor.NewFactory,
	cumulativetodeltaprocessor.NewFactory,
	deltatorateprocessor.NewFactory,
	probabilisticsamplerprocessor.NewFactory,
	deltatocumulativeprocessor.NewFactory,
	intervalprocessor.NewFactory,
	metricsgenerationprocessor.NewFactory,
	redactionprocessor.NewFactory,
	tailsamplingprocessor.NewFactory,
	groupbytraceprocessor.NewFactory,
	topkprocessor.NewFactory,
	experimentprocessor.NewFactory,
}

// ProcessorFactories are the build's processor factories by type (and deprecated alias).
func ProcessorFactories() map[component.Type]processor.Factory {
	return FactoryMap[processor.Factory](Processors)
}

// aliased is a factory that also answers to a deprecated type name (otelcol.MakeFactoryMap registers both).
type aliased interface{ DeprecatedAlias() component.Type }

// FactoryMap calls each NewFactory and indexes the factories by type and deprecated alias, as the collector
// does.
func FactoryMap[F component.Factory](news []any) map[component.Type]F {
	m := make(map[component.Type]F, len(news))
	for _, newFactory := range news {
		f := reflect.ValueOf(newFactory).Call(nil)[0].Interface().(F)
		m[f.Type()] = f
		if a, ok := any(f).(aliased); ok && a.DeprecatedAlias().String() != "" {
			m[a.DeprecatedAlias()] = f
		}
	}
	return m
}
