// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package crosscheckconverter // import "github.com/phoenix-platform/otelcol-phoenix/converter/crosscheckconverter"

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/extension"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/processor"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	nooptrace "go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/zap"

	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixcontrolextension"
	"github.com/phoenix-platform/otelcol-phoenix/extension/phoenixfleetextension"
	"github.com/phoenix-platform/otelcol-phoenix/internal/components"
	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"
)

// NewFactory creates the converter's factory, for builder-config.yaml's `converters:`.
func NewFactory() confmap.ConverterFactory {
	return confmap.NewConverterFactory(func(confmap.ConverterSettings) confmap.Converter {
		return newConverter(processorFactories, extensionFactories)
	})
}

type converter struct {
	processors map[component.Type]processor.Factory
	extensions map[component.Type]extension.Factory
}

func newConverter(processors, extensions []any) *converter {
	return &converter{processors: components.FactoryMap[processor.Factory](processors), extensions: components.FactoryMap[extension.Factory](extensions)}
}

var (
	controlType    = phoenixcontrolextension.NewFactory().Type()
	fleetType      = phoenixfleetextension.NewFactory().Type()
	experimentType = experimentprocessor.NewFactory().Type()
	simulatorType  = simulatedprocessreceiver.NewFactory().Type()
)

type serviceConfig struct {
	Extensions []component.ID            `mapstructure:"extensions"`
	Pipelines  map[string]pipelineConfig `mapstructure:"pipelines"`
}

type pipelineConfig struct {
	Receivers  []component.ID `mapstructure:"receivers"`
	Processors []component.ID `mapstructure:"processors"`
	Exporters  []component.ID `mapstructure:"exporters"`
}

// Convert checks the configuration and leaves it as it is. It looks only at what a start would build: the
// extensions in service::extensions, the receivers and processors in a pipeline. When it finds a problem it
// lists every one, with our components' own Validate errors, since the collector validates nothing after a
// converter fails. A config it cannot read is left for the collector to report.
func (c *converter) Convert(ctx context.Context, conf *confmap.Conf) error {
	missing := missingComponents(conf)
	var svc serviceConfig
	sub, err := conf.Sub("service")
	if err != nil || sub.Unmarshal(&svc, confmap.WithIgnoreUnused()) != nil {
		return errors.Join(missing...)
	}
	k := &check{c: c, ctx: ctx, conf: conf, enabled: map[component.ID]bool{}, kinds: map[component.Type]kinds{}, problems: missing}
	k.configured = ids(conf, "extensions")
	for _, id := range svc.Extensions {
		k.enabled[id] = true
	}
	var receivers, processors, exporters []component.ID
	for _, p := range svc.Pipelines {
		receivers = append(receivers, p.Receivers...)
		processors = append(processors, p.Processors...)
		exporters = append(exporters, p.Exporters...)
	}
	k.endpoints(map[string][]component.ID{"receivers": sorted(receivers), "extensions": sorted(svc.Extensions), "exporters": sorted(exporters)})

	for _, id := range sorted(svc.Extensions) {
		if !k.configured[id] || c.extensions[id.Type()] == nil {
			continue
		}
		switch c.extensions[id.Type()].Type() {
		case controlType:
			k.controlExtension(id)
		case fleetType:
			k.fleetExtension(id)
		}
	}
	configured := ids(conf, "receivers")
	for _, id := range sorted(receivers) {
		if configured[id] && id.Type() == simulatorType {
			if cfg, ok := k.decode("receivers", id, simulatedprocessreceiver.NewFactory()).(*simulatedprocessreceiver.Config); ok {
				k.control("receivers", id, cfg.Control)
			}
		}
	}
	configured = ids(conf, "processors")
	for _, id := range sorted(processors) {
		if configured[id] && c.processors[id.Type()] != nil && c.processors[id.Type()].Type() == experimentType {
			k.experiment(id)
		}
	}
	if len(k.problems) == 0 {
		return nil
	}
	return errors.Join(append(k.problems, k.own...)...)
}

// check is one pass over a configuration.
type check struct {
	c          *converter
	ctx        context.Context
	conf       *confmap.Conf
	configured map[component.ID]bool // under extensions
	enabled    map[component.ID]bool // in service::extensions
	kinds      map[component.Type]kinds
	problems   []error // between components
	own        []error // our components' own Validate errors, reported with the problems
}

func (k *check) fail(kind string, id component.ID, err error) {
	k.problems = append(k.problems, fmt.Errorf("%s::%s: %w", kind, id, err))
}

// decode reads a component's config as the collector does and keeps its Validate errors; nil when it cannot
// be read.
func (k *check) decode(kind string, id component.ID, f component.Factory) component.Config {
	cfg := f.CreateDefaultConfig()
	sub, err := k.conf.Sub(kind + confmap.KeyDelimiter + id.String())
	if err == nil {
		err = sub.Unmarshal(cfg)
	}
	if err != nil {
		k.own = append(k.own, fmt.Errorf("%s::%s: %w", kind, id, err))
		return nil
	}
	for _, e := range flatten(confmap.Validate(cfg)) {
		k.own = append(k.own, fmt.Errorf("%s::%s: %w", kind, id, e))
	}
	return cfg
}

func (k *check) controlExtension(id component.ID) {
	cfg, ok := k.decode("extensions", id, phoenixcontrolextension.NewFactory()).(*phoenixcontrolextension.Config)
	if !ok {
		return
	}
	k.storageAndAuth(id, cfg.Storage, "auth", cfg.ServerConfig)
}

func (k *check) fleetExtension(id component.ID) {
	cfg, ok := k.decode("extensions", id, phoenixfleetextension.NewFactory()).(*phoenixfleetextension.Config)
	if !ok {
		return
	}
	k.storageAndAuth(id, cfg.Storage, "auth", cfg.ServerConfig)
	if api := cfg.API.Get(); api != nil {
		k.storageAndAuth(id, component.ID{}, "api::auth", *api)
	}
}

// storageAndAuth checks an extension's storage reference and its server's authenticator (at where).
func (k *check) storageAndAuth(id, storage component.ID, where string, srv confighttp.ServerConfig) {
	if storage != (component.ID{}) {
		k.reference("extensions", id, "storage", storage, "a storage extension", func(e kinds) bool { return e.storage })
	}
	if srv.Auth.HasValue() {
		ref := srv.Auth.Get().Config.AuthenticatorID
		if ref == (component.ID{}) {
			k.fail("extensions", id, fmt.Errorf("%s::authenticator: name a server authenticator extension (e.g. bearertokenauth)", where))
		} else {
			k.reference("extensions", id, where+"::authenticator", ref, "a server authenticator", func(e kinds) bool { return e.serverAuth })
		}
	}
}

func (k *check) control(kind string, id, ref component.ID) {
	if ref != (component.ID{}) {
		k.reference(kind, id, "control", ref, "a phoenix_control extension", func(e kinds) bool { return e.control })
	}
}

func (k *check) experiment(id component.ID) {
	f := k.c.processors[id.Type()]
	cfg, ok := k.decode("processors", id, f).(*experimentprocessor.Config)
	if !ok {
		return
	}
	k.control("processors", id, cfg.Control)
	set := processor.Settings{ID: id, TelemetrySettings: nopTelemetry(), BuildInfo: component.NewDefaultBuildInfo()}
	lookup := func(t component.Type) processor.Factory { return k.c.processors[t] }
	for _, err := range flatten(experimentprocessor.CheckVariants(k.ctx, set, cfg, lookup)) {
		k.fail("processors", id, err)
	}
}

// reference checks that a component's field names an extension a start would give it, of the right kind.
func (k *check) reference(kind string, id component.ID, field string, ref component.ID, what string, is func(kinds) bool) {
	switch {
	case !k.configured[ref]:
		k.fail(kind, id, fmt.Errorf("%s: extension %q is not configured (add it under extensions and to service::extensions)", field, ref))
	case !k.enabled[ref]:
		k.fail(kind, id, fmt.Errorf("%s: extension %q is not in service::extensions", field, ref))
	default:
		if e, known := k.kindsOf(ref.Type()); known && !is(e) {
			k.fail(kind, id, fmt.Errorf("%s: extension %q is not %s", field, ref, what))
		}
	}
}

// kinds is what an extension type can be used as.
type kinds struct{ storage, serverAuth, control bool }

// kindsOf creates an extension of the type from its default config (never started: no file, no network) and
// looks at the interfaces it implements, as Start does with the configured one; false for a type this build
// lacks (the collector reports it).
func (k *check) kindsOf(t component.Type) (kinds, bool) {
	if e, ok := k.kinds[t]; ok {
		return e, true
	}
	f, ok := k.c.extensions[t]
	if !ok {
		return kinds{}, false
	}
	ext, err := f.Create(k.ctx, extension.Settings{ID: component.NewID(t), TelemetrySettings: nopTelemetry(), BuildInfo: component.NewDefaultBuildInfo()}, f.CreateDefaultConfig())
	if err != nil {
		return kinds{}, false
	}
	defer func() { _ = ext.Shutdown(k.ctx) }()
	_, isStorage := ext.(storage.Extension)
	_, isServer := ext.(extensionauth.Server)
	_, isControl := ext.(control.Registry)
	e := kinds{storage: isStorage, serverAuth: isServer, control: isControl}
	k.kinds[t] = e
	return e, true
}

func nopTelemetry() component.TelemetrySettings {
	return component.TelemetrySettings{Logger: zap.NewNop(), TracerProvider: nooptrace.NewTracerProvider(),
		MeterProvider: noopmetric.NewMeterProvider(), Resource: pcommon.NewResource()}
}

// ids are the component IDs configured under a top-level key.
func ids(conf *confmap.Conf, kind string) map[component.ID]bool {
	out := map[component.ID]bool{}
	sub, err := conf.Sub(kind)
	if err != nil {
		return out
	}
	for key := range sub.ToStringMap() {
		var id component.ID
		if id.UnmarshalText([]byte(key)) == nil {
			out[id] = true
		}
	}
	return out
}

func sorted(list []component.ID) []component.ID {
	out := slices.Clone(list)
	slices.SortFunc(out, func(a, b component.ID) int {
		if a.String() < b.String() {
			return -1
		}
		if a.String() > b.String() {
			return 1
		}
		return 0
	})
	return slices.Compact(out)
}

// flatten splits a joined error into its errors.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}
