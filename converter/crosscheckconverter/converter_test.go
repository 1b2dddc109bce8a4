// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/featuregate"
	"go.yaml.in/yaml/v3"
)

// base is a config every case starts from: the control example's shape, valid as it is.
const base = `
extensions:
  file_storage: {directory: /tmp}
  bearertokenauth: {token: s3cret}
  health_check: {}
  phoenix_control:
    storage: file_storage
receivers:
  simulated_process: {control: phoenix_control}
processors:
  batch: {}
  experiment/process:
    control: phoenix_control
    baseline: full
    active: full
    variants:
      full: {}
      top20: {processors: [{topk: {k: 20}}, {memory_limiter: {check_interval: 1s, limit_mib: 100}}]}
exporters:
  debug: {}
service:
  extensions: [file_storage, bearertokenauth, health_check, phoenix_control]
  pipelines:
    metrics:
      receivers: [simulated_process]
      processors: [experiment/process, batch]
      exporters: [debug]
`

func conf(t *testing.T, docs ...string) *confmap.Conf {
	c := confmap.New()
	for _, d := range append([]string{base}, docs...) {
		var m map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(d), &m))
		require.NoError(t, c.Merge(confmap.NewFromStringMap(m)))
	}
	return c
}

func convert(t *testing.T, docs ...string) error {
	c := conf(t, docs...)
	before := c.ToStringMap()
	err := NewFactory().Create(confmap.ConverterSettings{}).Convert(context.Background(), c)
	assert.Equal(t, before, c.ToStringMap(), "the converter never changes the config")
	return err
}

func TestConvert(t *testing.T) {
	for _, tc := range []struct {
		name string
		doc  string
		want []string // nil: passes
	}{
		{name: "base is valid"},
		{name: "storage not configured", doc: `{extensions: {phoenix_control: {storage: file_storage/missing}}}`,
			want: []string{`extensions::phoenix_control: storage: extension "file_storage/missing" is not configured`}},
		{name: "storage not in service", doc: `{service: {extensions: [phoenix_control]}}`,
			want: []string{`extensions::phoenix_control: storage: extension "file_storage" is not in service::extensions`}},
		{name: "storage not a storage extension", doc: `{extensions: {phoenix_control: {storage: health_check}}}`,
			want: []string{`extensions::phoenix_control: storage: extension "health_check" is not a storage extension`}},
		{name: "authenticator missing", doc: `{extensions: {phoenix_control: {auth: {authenticator: oidc}}}}`,
			want: []string{`extensions::phoenix_control: auth::authenticator: extension "oidc" is not configured`}},
		{name: "authenticator not an authenticator", doc: `{extensions: {phoenix_control: {auth: {authenticator: file_storage}}}}`,
			want: []string{`auth::authenticator: extension "file_storage" is not a server authenticator`}},
		{name: "authenticator empty", doc: `{extensions: {phoenix_control: {auth: {}}}}`,
			want: []string{`extensions::phoenix_control: auth::authenticator: name a server authenticator extension`}},
		{name: "authenticator good", doc: `{extensions: {phoenix_control: {endpoint: "0.0.0.0:8999", auth: {authenticator: bearertokenauth}}}}`},
		{name: "fleet references, every one", doc: `{extensions: {phoenix_fleet: {endpoint: "127.0.0.1:4320", storage: file_storage/gone,
			auth: {authenticator: health_check}, api: {endpoint: "127.0.0.1:4321", auth: {authenticator: oidc}}}},
			service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}}`,
			want: []string{`extensions::phoenix_fleet: storage: extension "file_storage/gone" is not configured`,
				`extensions::phoenix_fleet: auth::authenticator: extension "health_check" is not a server authenticator`,
				`extensions::phoenix_fleet: api::auth::authenticator: extension "oidc" is not configured`}},
		{name: "fleet good", doc: `{extensions: {phoenix_fleet: {endpoint: "127.0.0.1:4320", storage: file_storage,
			api: {endpoint: "127.0.0.1:4321", auth: {authenticator: bearertokenauth}}}},
			service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}}`},
		{name: "experiment control missing", doc: `{processors: {experiment/process: {control: phoenix_control/other}}}`,
			want: []string{`processors::experiment/process: control: extension "phoenix_control/other" is not configured`}},
		{name: "experiment control not a control extension", doc: `{processors: {experiment/process: {control: health_check}}}`,
			want: []string{`processors::experiment/process: control: extension "health_check" is not a phoenix_control extension`}},
		{name: "control extension not in service", doc: `{service: {extensions: [file_storage, bearertokenauth, health_check]}}`,
			want: []string{`receivers::simulated_process: control: extension "phoenix_control" is not in service::extensions`,
				`processors::experiment/process: control: extension "phoenix_control" is not in service::extensions`}},
		{name: "child type missing", doc: `{processors: {experiment/process: {variants: {top20: {processors: [{topkk: {k: 20}}]}}}}}`,
			want: []string{`processors::experiment/process: variant "top20" processor 1 (topkk): no processor of type "topkk" in this build`}},
		{name: "child configs invalid, every one", doc: `{processors: {experiment/process: {variants: {
			top20: {processors: [{topk: {k: -1}}, {memory_limiter: {limit_mib: 0}}]},
			kay: {processors: [{filter: {nope: 1}}]}}}}}`,
			want: []string{`processors::experiment/process: variant "top20" processor 1 (topk): k -1`,
				`processors::experiment/process: variant "top20" processor 2 (memory_limiter): `,
				`processors::experiment/process: variant "kay" processor 1 (filter): decoding failed`, "nope"}},
		{name: "legacy type names of children", doc: `{processors: {experiment/process: {variants: {top20: {processors: [{metricstransform: {transforms: []}}]}}}}}`},
		{name: "every problem at once, own errors too", doc: `
extensions: {phoenix_control: {storage: nope, auth: {authenticator: nope2}, events_interval: 1ms}}
processors: {experiment/process: {control: nope3, window: 1ms, variants: {top20: {processors: [{topk: {k: -1}}]}}}}
receivers: {simulated_process: {control: nope4}}`,
			want: []string{`storage: extension "nope"`, `auth::authenticator: extension "nope2"`, `control: extension "nope3"`,
				`receivers::simulated_process: control: extension "nope4"`, `variant "top20" processor 1 (topk): k -1`,
				"extensions::phoenix_control: events_interval 1ms", "processors::experiment/process: window 1ms"}},
		{name: "own errors alone are left to the collector", doc: `{processors: {experiment/process: {window: 1ms}}}`},
		{name: "unused components are not built at start, nor checked", doc: `
processors: {experiment/unused: {control: nope, baseline: a, active: a, variants: {a: {processors: [{nosuch: {}}]}}}}
extensions: {phoenix_control/unused: {storage: nope}}`},
		{name: "unreadable service is left to the collector", doc: `{service: {extensions: {not: a list}}}`},
		{name: "ports out of range, anywhere", doc: `
extensions: {health_check: {endpoint: "localhost:70000"}}
exporters: {prometheus: {endpoint: "127.0.0.1:99999"}}
service: {pipelines: {metrics: {exporters: [debug, prometheus]}}}`,
			want: []string{`extensions::health_check: endpoint "localhost:70000": port 70000 is not in 0..65535`,
				`exporters::prometheus: endpoint "127.0.0.1:99999": port 99999 is not in 0..65535`}},
		{name: "two servers on one address", doc: `
extensions: {phoenix_control: {endpoint: "localhost:8889"}}
exporters: {prometheus: {endpoint: "127.0.0.1:8889"}}
service: {pipelines: {metrics: {exporters: [debug, prometheus]}}}`,
			want: []string{`listens there too`, `address already in use`}},
		{name: "a wildcard and a loopback listener on one port", doc: `
extensions: {health_check: {endpoint: "0.0.0.0:13133"}, pprof: {endpoint: "localhost:13133"}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, pprof]}`,
			want: []string{`listens there too`}},
		{name: "control and fleet on one port", doc: `
extensions: {phoenix_control: {endpoint: "localhost:4320"}, phoenix_fleet: {endpoint: "127.0.0.1:4320"}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}`,
			want: []string{`extensions::phoenix_fleet: endpoint "127.0.0.1:4320": extensions::phoenix_control listens there too (endpoint)`}},
		{name: "fleet on the control extension's default address", doc: `
extensions: {phoenix_fleet: {endpoint: "127.0.0.1:8999"}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}`,
			want: []string{`extensions::phoenix_fleet: endpoint "127.0.0.1:8999": extensions::phoenix_control listens there too (endpoint)`}},
		{name: "fleet api on the fleet's own endpoint", doc: `
extensions: {phoenix_fleet: {endpoint: "0.0.0.0:4321", api: {endpoint: "localhost:4321"}}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}`,
			want: []string{`extensions::phoenix_fleet: api::endpoint "localhost:4321": extensions::phoenix_fleet listens there too (endpoint)`}},
		{name: "fleet api on the fleet's default endpoint", doc: `
extensions: {phoenix_fleet: {api: {endpoint: "localhost:4320"}}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet]}`,
			want: []string{`extensions::phoenix_fleet: endpoint "localhost:4320": extensions::phoenix_fleet listens there too (api::endpoint)`}},
		{name: "fluentforward and otlp on one port", doc: `
receivers: {fluentforward: {endpoint: "0.0.0.0:4317"}, otlp: {protocols: {grpc: {endpoint: "localhost:4317"}}}}
service: {pipelines: {logs: {receivers: [fluentforward, otlp], exporters: [debug]}}}`,
			want: []string{`receivers::otlp: protocols::grpc::endpoint "localhost:4317": receivers::fluentforward listens there too (endpoint)`}},
		{name: "the prometheus receiver's api server on the exporter's address", doc: `
receivers: {prometheus: {config: {scrape_configs: []}, api_server: {enabled: true, server_config: {endpoint: "localhost:9090"}}}}
exporters: {prometheus: {endpoint: "0.0.0.0:9090"}}
service: {pipelines: {metrics: {receivers: [simulated_process, prometheus], exporters: [debug, prometheus]}}}`,
			want: []string{`receivers::prometheus: api_server::server_config::endpoint "localhost:9090": exporters::prometheus listens there too (endpoint)`}},
		{name: "telemetry reader port out of range", doc: `
service: {telemetry: {metrics: {readers: [{periodic: {exporter: {otlp: {endpoint: "gateway:4317"}}}},
	{pull: {exporter: {prometheus: {host: localhost, port: 99999}}}}]}}}`,
			want: []string{`service::telemetry::metrics::readers::1: pull::exporter::prometheus "localhost:99999": port 99999 is not in 0..65535`}},
		{name: "telemetry reader on a component's address", doc: `
service: {telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: "[::1]", port: 8999}}}}]}}}
extensions: {phoenix_control: {endpoint: "[::1]:8999"}}`,
			want: []string{`service::telemetry::metrics::readers::0: pull::exporter::prometheus "[::1]:8999": extensions::phoenix_control listens there too (endpoint)`}},
		{name: "the default telemetry reader on a component's address", doc: `
exporters: {prometheus: {endpoint: "0.0.0.0:8888"}}
service: {telemetry: {metrics: {level: detailed}}, pipelines: {metrics: {exporters: [debug, prometheus]}}}`,
			want: []string{`service::telemetry::metrics: readers (the default) "localhost:8888": exporters::prometheus listens there too (endpoint)`}},
		{name: "no telemetry reader at level none, any free port for a reader", doc: `
exporters: {prometheus: {endpoint: "0.0.0.0:8888"}}
extensions: {phoenix_control: {endpoint: "localhost:0"}}
service: {telemetry: {metrics: {level: none, readers: [{pull: {exporter: {prometheus: {host: localhost, port: 8888}}}}]}},
	pipelines: {metrics: {exporters: [debug, prometheus]}}}`},
		{name: "readers of their own, on free ports", doc: `
exporters: {prometheus: {endpoint: "0.0.0.0:8888"}}
service: {telemetry: {metrics: {readers: [{pull: {exporter: {prometheus: {host: localhost, port: 0}}}}]}},
	pipelines: {metrics: {exporters: [debug, prometheus]}}}`},
		{name: "an empty port is a free one, as at start (an unset ${env:PORT})", doc: `
extensions: {phoenix_fleet: {endpoint: "127.0.0.1:"}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet],
	pipelines: {metrics: {exporters: [debug]}}}`},
		{name: "distinct ports and client endpoints are fine", doc: `
receivers: {otlp: {protocols: {grpc: {endpoint: "0.0.0.0:4317"}, http: {endpoint: "0.0.0.0:4318"}}},
	fluentforward: {endpoint: "unix:///var/run/fluent.sock"},
	prometheus: {config: {scrape_configs: []}, api_server: {server_config: {endpoint: "localhost:8889"}}},
	kubeletstats: {endpoint: "localhost:4318"}}
exporters: {prometheus: {endpoint: "127.0.0.1:8889"}, otlp: {endpoint: "gateway:4317"}}
extensions: {phoenix_fleet: {endpoint: "localhost:4320", api: {endpoint: "localhost:4321"}}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, phoenix_fleet],
	pipelines: {metrics: {receivers: [simulated_process, otlp, prometheus, kubeletstats], exporters: [debug, prometheus, otlp]},
	logs: {receivers: [fluentforward], exporters: [debug]}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := convert(t, tc.doc)
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tc.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

// TestEachProblemOnce: a port out of range on a component that checks its own is said once, in its words,
// with the converter's other problems; a service name is a port as at start.
func TestEachProblemOnce(t *testing.T) {
	t.Parallel()
	err := convert(t, `
extensions: {phoenix_control: {endpoint: "127.0.0.1:99999"}, pprof: {endpoint: "localhost:http"}}
exporters: {prometheus: {endpoint: "127.0.0.1:99999"}}
service: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, pprof],
	pipelines: {metrics: {exporters: [debug, prometheus]}}}`)
	require.Error(t, err)
	msg := err.Error()
	assert.Equal(t, 1, strings.Count(msg, "phoenix_control: endpoint"), msg)
	assert.Contains(t, msg, `extensions::phoenix_control: endpoint "127.0.0.1:99999": port 99999: want 0..65535`)
	assert.Contains(t, msg, `exporters::prometheus: endpoint "127.0.0.1:99999": port 99999 is not in 0..65535`)
	assert.NotContains(t, msg, "pprof")
}

// TestHealthCheckListeners: health_check listens where its implementation does — the legacy endpoint
// without the v2 gate; with it, http and grpc when either is set (upstream's own v2 example keeps http on
// the legacy default port), the legacy endpoint otherwise. Not parallel: it sets a global feature gate.
func TestHealthCheckListeners(t *testing.T) {
	const svc = "\nservice: {extensions: [file_storage, bearertokenauth, health_check, phoenix_control, pprof]}"
	v2 := `extensions: {health_check: {http: {endpoint: "localhost:13133"}, grpc: {endpoint: "localhost:13132"}}, pprof: {endpoint: "localhost:13132"}}`
	legacy := `extensions: {health_check: {}, pprof: {endpoint: "localhost:13133"}}`
	for _, tc := range []struct {
		name, doc string
		gate      bool
		want      string
	}{
		{name: "v1: the legacy endpoint", doc: legacy, want: `extensions::pprof: endpoint "localhost:13133": extensions::health_check listens there too (endpoint)`},
		{name: "v1: http and grpc are not served", doc: v2},
		{name: "v2: http and grpc, not the legacy endpoint", gate: true, doc: v2, want: `extensions::pprof: endpoint "localhost:13132": extensions::health_check listens there too (grpc::endpoint)`},
		{name: "v2: the legacy endpoint when neither is set", gate: true, doc: legacy, want: `extensions::health_check listens there too (endpoint)`},
		{name: "v2: upstream's example", gate: true, doc: `extensions: {health_check: {http: {endpoint: "localhost:13133"}, grpc: {endpoint: "localhost:13132"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, featuregate.GlobalRegistry().Set("extension.healthcheck.useComponentStatus", tc.gate))
			t.Cleanup(func() { _ = featuregate.GlobalRegistry().Set("extension.healthcheck.useComponentStatus", false) })
			err := convert(t, tc.doc+svc)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

// TestFactoriesMatchBuilderConfig: the converter knows exactly the processors and extensions the build has.
func TestFactoriesMatchBuilderConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "builder-config.yaml"))
	require.NoError(t, err)
	type module struct {
		GoMod  string `yaml:"gomod"`
		Import string `yaml:"import"`
	}
	var manifest struct {
		Processors []module `yaml:"processors"`
		Extensions []module `yaml:"extensions"`
	}
	require.NoError(t, yaml.Unmarshal(b, &manifest))
	packages := func(modules []module) []string {
		var out []string
		for _, m := range modules {
			pkg := m.Import
			if pkg == "" {
				pkg, _, _ = strings.Cut(m.GoMod, " ")
			}
			out = append(out, pkg)
		}
		slices.Sort(out)
		return out
	}
	ours := func(news []any) []string {
		var out []string
		for _, f := range news {
			name := runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name()
			out = append(out, strings.TrimSuffix(name, ".NewFactory"))
		}
		slices.Sort(out)
		return out
	}
	assert.Equal(t, packages(manifest.Processors), ours(processorFactories))
	assert.Equal(t, packages(manifest.Extensions), ours(extensionFactories))
	c := newConverter(processorFactories, extensionFactories) // every entry makes a factory of its kind
	alias := c.processors[component.MustNewType("metricstransform")]
	require.NotNil(t, alias, "deprecated aliases are known, as in the collector")
	assert.Equal(t, "metrics_transform", alias.Type().String())
	assert.Equal(t, "phoenix_control", c.extensions[component.MustNewType("phoenix_control")].Type().String())
}

// TestComponentsNotInTheBuildAreNamedWithAdvice: a contrib config learns at once every component it must
// change, and with what; components of the build are not listed.
func TestComponentsNotInTheBuildAreNamedWithAdvice(t *testing.T) {
	conf := confmap.NewFromStringMap(map[string]any{
		"receivers":  map[string]any{"jaeger": map[string]any{}, "zipkin/legacy": map[string]any{}, "otlp": map[string]any{}},
		"connectors": map[string]any{"routing": map[string]any{}},
		"extensions": map[string]any{"basicauth/server": map[string]any{}},
		"service":    map[string]any{"pipelines": map[string]any{}},
	})
	err := newConverter(nil, nil).Convert(context.Background(), conf)
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"receivers::jaeger: jaeger is in otelcol-contrib but not in otelcol-phoenix",
		"receivers::zipkin/legacy: zipkin is in otelcol-contrib",
		"connectors::routing: routing is in otelcol-contrib",
		"extensions::basicauth/server: basicauth is in otelcol-contrib",
		"use instead: send OTLP",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "otlp:")
}
