// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package topkprocessor // import "github.com/phoenix-platform/otelcol-phoenix/processor/topkprocessor"

import (
	"errors"
	"fmt"
	"regexp"
	"slices"

	"go.opentelemetry.io/collector/component"

	"github.com/phoenix-platform/otelcol-phoenix/internal/topk"
)

// Config is the topk processor's configuration.
type Config struct {
	// K is how many resources (processes, or groups with group_by) each host keeps by rank. 0 is allowed only
	// with group_by, to group without ranking.
	K int `mapstructure:"k"`
	// RankBy is the metric resources are ranked by.
	RankBy RankByConfig `mapstructure:"rank_by"`
	// Keep lists resources always kept and never counted against K (critical processes).
	Keep KeepConfig `mapstructure:"keep"`
	// GroupBy merges resources equal on these resource attributes into one (points summed, other resource
	// attributes dropped) before ranking, e.g. [process.executable.name].
	GroupBy []string `mapstructure:"group_by"`
	// Other says what happens to the resources that are not kept.
	Other OtherConfig `mapstructure:"other"`
	// Retention is how many intervals a resource stays after leaving the top K, so series don't flap.
	Retention int `mapstructure:"retention"`
	// Identity are the resource attributes every process carries (e.g. process.pid): a resource without all
	// of them is not a process (system metrics, application metrics) and passes through unchanged.
	Identity []string `mapstructure:"identity"`
	// NotProcess are resource attributes of applications' own resources: a resource carrying any of them
	// is not a process even with the identity attributes (SDK process detectors add process.pid).
	NotProcess []string `mapstructure:"not_process_attributes"`
	// ForgetAfter is how many intervals a process, and a host, are remembered after their last report.
	ForgetAfter int `mapstructure:"forget_after"`
	// HostAttributes identify a host: ranking, and the other resource, are per host.
	HostAttributes []string `mapstructure:"host_attributes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// RankByConfig names the ranking metric and how it becomes a score.
type RankByConfig struct {
	Metric string `mapstructure:"metric"`
	// Mode: rate (per-second increase of a cumulative sum such as process.cpu.time), value (a gauge or
	// non-monotonic sum such as process.memory.usage), or empty to decide from the metric's type.
	Mode string `mapstructure:"mode"`
}

// KeepConfig selects critical resources by regular expressions on one resource attribute.
type KeepConfig struct {
	Attribute string   `mapstructure:"attribute"`
	Patterns  []string `mapstructure:"patterns"`
}

// OtherConfig configures the rest.
type OtherConfig struct {
	// Mode: rollup (one "other" resource per host, totals preserved) or drop.
	Mode string `mapstructure:"mode"`
	// Attributes mark the other resource, e.g. {process.executable.name: other}.
	Attributes map[string]string `mapstructure:"attributes"`
}

var _ component.Config = (*Config)(nil)

const maxRetention = 1000

// Validate reports every problem at once.
func (cfg *Config) Validate() error {
	_, err := cfg.options()
	return err
}

// options compiles the config, collecting every problem.
func (cfg *Config) options() (topk.Options, error) {
	var errs []error
	o := topk.Options{
		K: cfg.K, RankMetric: cfg.RankBy.Metric, KeepAttr: cfg.Keep.Attribute, GroupBy: cfg.GroupBy,
		Drop: cfg.Other.Mode == "drop", OtherAttrs: cfg.Other.Attributes, Retention: cfg.Retention,
		Identity: cfg.Identity, HostAttrs: cfg.HostAttributes, ForgetAfter: cfg.ForgetAfter,
		NotProcess: cfg.NotProcess,
	}
	switch {
	case cfg.K < 0:
		errs = append(errs, fmt.Errorf("k %d: must be >= 0", cfg.K))
	case cfg.K == 0 && len(cfg.GroupBy) == 0:
		errs = append(errs, errors.New("k must be > 0 (k: 0 is only for group_by without ranking)"))
	}
	if cfg.K > 0 && cfg.RankBy.Metric == "" {
		errs = append(errs, errors.New("rank_by.metric is required when k > 0"))
	}
	switch cfg.RankBy.Mode {
	case "", "auto":
		o.RankMode = topk.RankAuto
	case "rate":
		o.RankMode = topk.RankRate
	case "value":
		o.RankMode = topk.RankValue
	default:
		errs = append(errs, fmt.Errorf("rank_by.mode %q: want rate, value or empty (from the metric's type)", cfg.RankBy.Mode))
	}
	if len(cfg.Keep.Patterns) > 0 && cfg.Keep.Attribute == "" {
		errs = append(errs, errors.New("keep.patterns need keep.attribute"))
	}
	for _, p := range cfg.Keep.Patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("keep.patterns: %w", err))
			continue
		}
		o.Keep = append(o.Keep, re)
	}
	switch cfg.Other.Mode {
	case "rollup":
		if len(cfg.Other.Attributes) == 0 {
			errs = append(errs, errors.New("other.attributes must mark the rolled-up resource (e.g. process.executable.name: other)"))
		}
	case "drop":
	default:
		errs = append(errs, fmt.Errorf("other.mode %q: want rollup or drop", cfg.Other.Mode))
	}
	if cfg.Retention < 0 || cfg.Retention > maxRetention {
		errs = append(errs, fmt.Errorf("retention %d: want 0..%d intervals", cfg.Retention, maxRetention))
	}
	if cfg.ForgetAfter < 1 || cfg.ForgetAfter > maxRetention {
		errs = append(errs, fmt.Errorf("forget_after %d: want 1..%d intervals", cfg.ForgetAfter, maxRetention))
	}
	if len(cfg.Identity) == 0 {
		errs = append(errs, errors.New("identity must name at least one resource attribute (e.g. process.pid)"))
	}
	for name, keys := range map[string][]string{"group_by": cfg.GroupBy, "identity": cfg.Identity, "host_attributes": cfg.HostAttributes} {
		if dup := firstDuplicate(keys); dup != "" {
			errs = append(errs, fmt.Errorf("%s: %q listed twice", name, dup))
		}
	}
	return o, errors.Join(errs...)
}

func firstDuplicate(keys []string) string {
	sorted := slices.Clone(keys)
	slices.Sort(sorted)
	for i := 1; i < len(sorted); i++ {
		if sorted[i] == sorted[i-1] {
			return sorted[i]
		}
	}
	return ""
}
