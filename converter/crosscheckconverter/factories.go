// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"

import (
	"reflect"

	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/bearertokenauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/healthcheckextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/oidcauthextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/pprofextension"
	"github.com/open-telemetry/opentelemetry-collector-contrib/extension/storage/filestorage"
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
	"go.opentelemetry.io/collector/extension/zpagesextension"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"
)

// The NewFactory functions of the build's processors and extensions, as builder-config.yaml lists them (a
// test keeps the two equal): the processors an experiment's variant can use, and the extensions whose kind
// (storage, authenticator, control) a reference needs. A converter cannot reach the factories the collector
// is given. Kept as the functions themselves (some return an x-factory) so the test can name their package.
var (
	processorFactories = []any{
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
	extensionFactories = []any{
		healthcheckextension.NewFactory,
		pprofextension.NewFactory,
		zpagesextension.NewFactory,
		filestorage.NewFactory,
		bearertokenauthextension.NewFactory,
		oidcauthextension.NewFactory,
		phoenixcontrolextension.NewFactory,
	}
)

// aliased is a factory that also answers to a deprecated type name (otelcol.MakeFactoryMap registers both).
type aliased interface{ DeprecatedAlias() component.Type }

// factoryMap calls each NewFactory and indexes the factories by type and deprecated alias, as the collector
// does.
func factoryMap[F component.Factory](news []any) map[component.Type]F {
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
