// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package phoenixcontrolextension

import (
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/attributesprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/cumulativetodeltaprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/deltatocumulativeprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/filterprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbyattrsprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/intervalprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/metricstransformprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/redactionprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/transformprocessor"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/processor/memorylimiterprocessor"

	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
	"github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"
)

// testProcessors stand for the host's processors in the API's tests: ours, those the templates and the
// examples use, one with a secret in its configuration, and some a variant must not run. The distribution's whole set, as its host lists it, is
// checked on the built binary (tests/smoke TestProcessorCatalogue); these few keep the Kubernetes and
// cloud clients of the others out of this package's test build, which the fuzzer instruments.
func testProcessors() map[component.Type]processor.Factory {
	out := map[component.Type]processor.Factory{}
	for _, f := range []processor.Factory{
		topkprocessor.NewFactory(), experimentprocessor.NewFactory(), batchprocessor.NewFactory(),
		memorylimiterprocessor.NewFactory(), filterprocessor.NewFactory(), transformprocessor.NewFactory(),
		attributesprocessor.NewFactory(), resourceprocessor.NewFactory(), metricstransformprocessor.NewFactory(),
		groupbyattrsprocessor.NewFactory(), cumulativetodeltaprocessor.NewFactory(),
		deltatocumulativeprocessor.NewFactory(), intervalprocessor.NewFactory(), redactionprocessor.NewFactory(),
	} {
		out[f.Type()] = f
	}
	return out
}
