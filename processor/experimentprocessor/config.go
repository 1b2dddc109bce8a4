// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package experimentprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/experimentprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"time"

	"go.opentelemetry.io/collector/component"
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

const (
	modeShadow = "shadow"
	modeTee    = "tee"
)

var variantName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]*$`)

// asyncProcessors hand data on later, from another goroutine: a variant needs every step's output within the
// call to measure and route it.
var asyncProcessors = map[string]bool{"batch": true}

// Validate reports every problem at once. Child processor types and configs need the processors compiled
// into the collector: CheckVariants checks them, from the crosscheck converter for `validate` and a start
// alike, and Start builds them the same way.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.Variants) == 0 {
		errs = append(errs, errors.New("variants: at least one is required"))
	}
	for _, name := range cfg.variantNames() {
		if !variantName.MatchString(name) {
			errs = append(errs, fmt.Errorf("variant name %q: must start with a letter and use only letters, digits, '_', '.', '-'", name))
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
