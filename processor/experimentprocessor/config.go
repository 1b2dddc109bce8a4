// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"

	"github.com/phoenix-platform/otelcol-phoenix/internal/cost"
	"github.com/phoenix-platform/otelcol-phoenix/internal/rulefidelity"
)

// Config is the experiment processor's configuration.
type Config struct {
	// Control is the phoenix_control extension to register with (optional).
	Control component.ID `mapstructure:"control"`
	// Baseline is the variant the others are compared with.
	Baseline string `mapstructure:"baseline"`
	// Active is the variant whose output flows downstream at start (a switch persisted by the control
	// extension overrides it).
	Active string `mapstructure:"active"`
	// Mode: shadow (only the active variant's output flows) or tee (every variant's output flows, tagged).
	Mode string `mapstructure:"mode"`
	// VariantAttribute is the resource attribute tee mode tags each variant's output with.
	VariantAttribute string `mapstructure:"variant_attribute"`
	// Window is the accounting window.
	Window time.Duration `mapstructure:"window"`
	// SeriesCap is how many distinct series per variant and window are counted exactly (then HyperLogLog).
	SeriesCap int `mapstructure:"series_cap"`
	// Critical selects critical processes, whose visibility on their own is part of fidelity.
	Critical CriticalConfig `mapstructure:"critical"`
	// Fidelity names the metrics whose totals are compared with the baseline's.
	Fidelity FidelityConfig `mapstructure:"fidelity"`
	// Variants are the pipelines run side by side, by name.
	Variants map[string]VariantConfig `mapstructure:"variants"`
	// MaxVariants bounds the variants run side by side, the configured and the runtime ones (default 8):
	// each costs a copy of every batch.
	MaxVariants int `mapstructure:"max_variants"`
	// MaxChainLength bounds the processors of one variant (default 16).
	MaxChainLength int `mapstructure:"max_chain_length"`
	// Cost projects each variant's monthly bill under one billing model (optional).
	Cost *CostConfig `mapstructure:"cost"`
	// Rules are the user's own alerting and recording rules, dashboards and queries, evaluated with the
	// PromQL engine on every variant's output and compared with the baseline's (optional).
	Rules RulesConfig `mapstructure:"rules"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// CriticalConfig selects resources by regular expressions on one attribute.
type CriticalConfig struct {
	Attribute string   `mapstructure:"attribute"`
	Patterns  []string `mapstructure:"patterns"`
}

// FidelityConfig narrows fidelity to some metrics: sums are compared by their increase, gauges by the mean
// of their sum over the window. Both empty (the default): every number metric of the baseline.
type FidelityConfig struct {
	Counters []string `mapstructure:"counters"`
	Gauges   []string `mapstructure:"gauges"`
	// VolatileAttributes are resource attributes whose change is followed as the same series (a process
	// re-parented when its parent dies). A backend sees a new series there and counts no growth across the
	// change, so this is off by default: with it, figures no longer agree with the backend's.
	VolatileAttributes []string `mapstructure:"volatile_attributes"`
}

// VariantConfig is one variant: processors in order, each a one-key map {type[/name]: config}. No processors
// means pass-through.
type VariantConfig struct {
	Processors []map[string]map[string]any `mapstructure:"processors"`
}

// CostConfig picks a billing model and its prices (see the README's "Cost models").
type CostConfig struct {
	// Model: active_series | hourly_series | datapoints | bytes.
	Model string `mapstructure:"model"`
	// Price per unit per month: per 1,000 series (active_series, hourly_series), per million data points
	// (datapoints), per GB (bytes).
	Price    float64 `mapstructure:"price"`
	Currency string  `mapstructure:"currency"`
	// Horizon is how long a series counts as active after its last point (active_series; default 20m).
	Horizon time.Duration `mapstructure:"horizon"`
	// IncludedDPM are the data points per minute included per active series (active_series; 0: no
	// overage), and OveragePrice the price per 1,000 data points per minute beyond them, per month.
	IncludedDPM  float64 `mapstructure:"included_dpm"`
	OveragePrice float64 `mapstructure:"overage_price"`
}

// RulesConfig names the rules to evaluate on every variant; with no files, dashboards or inline queries
// (the default) nothing is stored or evaluated.
type RulesConfig struct {
	// Files are Prometheus rule files (groups of alerting and recording rules) or PrometheusRule objects;
	// globs allowed.
	Files []string `mapstructure:"files"`
	// Dashboards are Grafana dashboard JSON files: every panel target's expr is a query; globs allowed.
	Dashboards []string `mapstructure:"dashboards"`
	// DashboardVariables give dashboard variables a value; the others take the dashboard's own current value, else match anything (.*).
	DashboardVariables map[string]string `mapstructure:"dashboard_variables"`
	// Inline are queries by name.
	Inline map[string]string `mapstructure:"inline"`
	// Tolerance is the relative difference within which a value is the same (default 0.01).
	Tolerance float64 `mapstructure:"tolerance"`
	// MaxRange caps how far back samples are kept for the longest range the rules need (default 1h).
	MaxRange time.Duration `mapstructure:"max_range"`
	// MaxSeries caps the series held per variant (default 200,000); beyond it a variant's rules are not
	// evaluated (reported), as part of the data would be taken for the whole.
	MaxSeries int `mapstructure:"max_series"`
	// ResourceToTelemetryConversion turns resource attributes into labels, as the prometheus and
	// prometheus_remote_write exporters' option of that name does (default true: process metrics are
	// told apart by their resource).
	ResourceToTelemetryConversion bool `mapstructure:"resource_to_telemetry_conversion"`
}

// enabled says whether there is anything to evaluate.
func (r *RulesConfig) enabled() bool {
	return len(r.Files)+len(r.Dashboards)+len(r.Inline) > 0
}

func (r *RulesConfig) validate(window time.Duration) []error {
	if !r.enabled() {
		return nil
	}
	var errs []error
	if !(r.Tolerance >= 0 && r.Tolerance < 1) { // NaN fails too
		errs = append(errs, fmt.Errorf("rules.tolerance %v: want 0 ≤ tolerance < 1", r.Tolerance))
	}
	if r.MaxRange < window || r.MaxRange > 24*time.Hour {
		errs = append(errs, fmt.Errorf("rules.max_range %s: want the window (%s) .. 24h", r.MaxRange, window))
	}
	if r.MaxSeries < 1 {
		errs = append(errs, fmt.Errorf("rules.max_series %d: want at least 1", r.MaxSeries))
	}
	if _, err := rulefidelity.Load(r.loadOptions(window)); err != nil {
		errs = append(errs, fmt.Errorf("rules: %w", err))
	}
	return errs
}

// Unmarshal applies the defaults of a cost: block (horizon 20m, currency USD) under what it sets.
func (c *CostConfig) Unmarshal(conf *confmap.Conf) error {
	c.Horizon, c.Currency = cost.DefaultHorizon, "USD"
	return conf.Unmarshal(c)
}

func (c *CostConfig) validate(window time.Duration) []error {
	if c == nil {
		return nil
	}
	var errs []error
	if !slices.Contains(cost.Models, c.Model) {
		errs = append(errs, fmt.Errorf("cost.model %q: want one of %s", c.Model, strings.Join(cost.Models, ", ")))
	}
	for _, p := range []struct {
		name string
		v    float64
	}{{"price", c.Price}, {"included_dpm", c.IncludedDPM}, {"overage_price", c.OveragePrice}} {
		if !(p.v >= 0) || p.v > cost.MaxPrice { // NaN and +Inf fail too
			errs = append(errs, fmt.Errorf("cost.%s %v: want a number in 0..%g", p.name, p.v, cost.MaxPrice))
		}
	}
	if c.Currency == "" {
		errs = append(errs, errors.New("cost.currency: must not be empty (default USD)"))
	}
	if c.Model == cost.ActiveSeries && (c.Horizon < window || c.Horizon > 24*time.Hour) {
		errs = append(errs, fmt.Errorf("cost.horizon %s: want the window (%s) .. 24h", c.Horizon, window))
	}
	if c.OveragePrice > 0 && c.IncludedDPM == 0 {
		errs = append(errs, errors.New("cost.overage_price needs cost.included_dpm (the data points per minute included per series)"))
	}
	if c.Model != cost.ActiveSeries && (c.IncludedDPM != 0 || c.OveragePrice != 0) {
		errs = append(errs, fmt.Errorf("cost.included_dpm, cost.overage_price: only active_series bills data points per minute, not %q", c.Model))
	}
	return errs
}

// costOptions is the cost model the meters price with (nil without a cost: block).
func (cfg *Config) costOptions() *cost.Config {
	if cfg.Cost == nil {
		return nil
	}
	c := cfg.Cost
	return &cost.Config{Model: c.Model, Price: c.Price, Currency: c.Currency, Horizon: c.Horizon, IncludedDPM: c.IncludedDPM,
		OveragePrice: c.OveragePrice, Window: cfg.Window, SeriesCap: cfg.SeriesCap}
}

const (
	modeShadow = "shadow"
	modeTee    = "tee"
)

var variantName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]*$`)

// maxVariantName keeps a name usable as a label value, a storage key and a component ID part.
const maxVariantName = 63

// asyncProcessors hand data on later, from another goroutine: a variant needs every step's output within the
// call to measure and route it.
var asyncProcessors = map[string]bool{"batch": true, "interval": true}

// runtimeProcessors are the processors a variant added at runtime (API, dashboard, desired-state file) may
// use: those that only transform the data they are given. The others reach out of the collector — the
// Kubernetes API (k8s_attributes), cloud metadata, Consul or Docker (resource_detection) — and whoever may
// add a variant must not be able to make the collector call anything. Variants in the config, written by
// whoever deploys it, may use any synchronous processor.
var runtimeProcessors = map[string]bool{
	"attributes": true, "cumulative_to_delta": true, "delta_to_cumulative": true, "delta_to_rate": true,
	"filter": true, "groupbyattrs": true, "memory_limiter": true, "metrics_transform": true,
	"metricsgeneration": true, "redaction": true, "resource": true, "topk": true, "transform": true,
}

// Validate reports every problem at once. Child processor types and configs need the processors compiled
// into the collector: CheckVariants checks them, from the crosscheck converter for `validate` and a start
// alike, and Start builds them the same way.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Variants) == 0 {
		errs = append(errs, errors.New("variants: at least one is required"))
	}
	if cfg.MaxVariants < 1 || cfg.MaxVariants > 64 {
		errs = append(errs, fmt.Errorf("max_variants %d: want 1..64", cfg.MaxVariants))
	} else if len(cfg.Variants) > cfg.MaxVariants {
		errs = append(errs, fmt.Errorf("variants: %d configured, more than max_variants (%d)", len(cfg.Variants), cfg.MaxVariants))
	}
	if cfg.MaxChainLength < 1 || cfg.MaxChainLength > 256 {
		errs = append(errs, fmt.Errorf("max_chain_length %d: want 1..256", cfg.MaxChainLength))
	}
	for _, name := range cfg.variantNames() {
		if !ValidVariantName(name) {
			errs = append(errs, fmt.Errorf("variant name %q: must start with a letter and use only letters, digits, '_', '.', '-'", name))
		}
		if n := len(cfg.Variants[name].Processors); cfg.MaxChainLength > 0 && n > cfg.MaxChainLength {
			errs = append(errs, fmt.Errorf("variant %q: %d processors, more than max_chain_length (%d)", name, n, cfg.MaxChainLength))
		}
		for i, step := range cfg.Variants[name].Processors {
			if len(step) != 1 {
				errs = append(errs, fmt.Errorf("variant %q processor %d: want one {type: config} entry, got %d", name, i+1, len(step)))
				continue
			}
			for id := range step {
				var cid component.ID
				if err := cid.UnmarshalText([]byte(id)); err != nil {
					errs = append(errs, fmt.Errorf("variant %q processor %d: %w", name, i+1, err))
				} else if asyncProcessors[cid.Type().String()] {
					errs = append(errs, fmt.Errorf("variant %q processor %d: %s is asynchronous; put it after the experiment processor", name, i+1, id))
				}
			}
		}
	}
	for field, v := range map[string]string{"baseline": cfg.Baseline, "active": cfg.Active} {
		switch _, ok := cfg.Variants[v]; {
		case v == "":
			errs = append(errs, fmt.Errorf("%s: name one of the variants %v", field, cfg.variantNames()))
		case !ok:
			errs = append(errs, fmt.Errorf("%s %q: not a variant (variants: %v)", field, v, cfg.variantNames()))
		}
	}
	if cfg.Mode != modeShadow && cfg.Mode != modeTee {
		errs = append(errs, fmt.Errorf("mode %q: want shadow or tee", cfg.Mode))
	}
	if cfg.Mode == modeTee && cfg.VariantAttribute == "" {
		errs = append(errs, errors.New("variant_attribute is required in tee mode"))
	}
	if cfg.Window < time.Second || cfg.Window > 24*time.Hour {
		errs = append(errs, fmt.Errorf("window %s: want 1s..24h", cfg.Window))
	}
	if cfg.SeriesCap < 1000 {
		errs = append(errs, fmt.Errorf("series_cap %d: want at least 1000", cfg.SeriesCap))
	}
	if _, err := cfg.criticalPatterns(); err != nil {
		errs = append(errs, err)
	}
	if len(cfg.Critical.Patterns) > 0 && cfg.Critical.Attribute == "" {
		errs = append(errs, errors.New("critical.patterns need critical.attribute"))
	}
	errs = append(errs, cfg.Rules.validate(cfg.Window)...)
	errs = append(errs, cfg.Cost.validate(cfg.Window)...)
	return errors.Join(errs...)
}

func (cfg *Config) variantNames() []string {
	names := make([]string, 0, len(cfg.Variants))
	for n := range cfg.Variants {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func (cfg *Config) criticalPatterns() ([]*regexp.Regexp, error) {
	var res []*regexp.Regexp
	var errs []error
	for _, p := range cfg.Critical.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("critical.patterns: %w", err))
			continue
		}
		res = append(res, re)
	}
	return res, errors.Join(errs...)
}
