// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver // import "github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"

import (
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/scraper/scraperhelper"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

// Config is the simulated_process receiver's configuration. `metrics:` and `resource_attributes:` switch
// metrics and resource attributes on and off exactly as in the host_metrics process scraper.
type Config struct {
	scraperhelper.ControllerConfig `mapstructure:",squash"`
	metadata.MetricsBuilderConfig  `mapstructure:",squash"`

	// Control is the phoenix_control extension to register with (optional): it can then change the profile and
	// process count and inject chaos at runtime.
	Control component.ID `mapstructure:"control"`
	// Profile is the kind of load: realistic, high_cardinality, high_churn or chaos.
	Profile string `mapstructure:"profile"`
	// Processes is the number of processes per host.
	Processes int `mapstructure:"processes"`
	// Hosts emulates this many hosts, told apart by host.name (always emitted when Hosts > 1).
	Hosts int `mapstructure:"hosts"`
	// HostNamePrefix makes host.name = prefix + index.
	HostNamePrefix string `mapstructure:"host_name_prefix"`
	// Seed makes the simulation reproducible: the same seed and config give the same output.
	Seed uint64 `mapstructure:"seed"`
	// Cores and MemoryMiB describe each simulated host.
	Cores     int `mapstructure:"cores"`
	MemoryMiB int `mapstructure:"memory_mib"`

	// Rates per process per interval; unset means the profile's default.
	ChurnRate *float64 `mapstructure:"churn_rate"`
	SpikeRate *float64 `mapstructure:"spike_rate"`
	LeakRate  *float64 `mapstructure:"leak_rate"`
	KillRate  *float64 `mapstructure:"kill_rate"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

// Validate lists every problem in the configuration.
func (cfg *Config) Validate() error {
	opts := cfg.options(time.Time{})
	// The scraper controller's own Validate reports a collection_interval that is not positive.
	opts.Interval = max(opts.Interval, 1)
	return opts.Validate()
}

func (cfg *Config) options(start time.Time) procsim.Options {
	return procsim.Options{
		Profile:     procsim.Profile(cfg.Profile),
		Processes:   cfg.Processes,
		Hosts:       cfg.Hosts,
		HostPrefix:  cfg.HostNamePrefix,
		Seed:        cfg.Seed,
		Cores:       cfg.Cores,
		MemoryBytes: uint64(max(cfg.MemoryMiB, 0)) << 20,
		Interval:    cfg.CollectionInterval,
		Start:       start,
		Rates:       procsim.RateOverrides{Churn: cfg.ChurnRate, Spike: cfg.SpikeRate, Leak: cfg.LeakRate, Kill: cfg.KillRate},
	}
}
