// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/golden"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/pdatatest/pmetrictest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver/receivertest"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

var simStart = time.Unix(1_700_000_000, 0)

// newTestScraper builds a scraper on a fixed clock that advances one interval per scrape.
func newTestScraper(t testing.TB, cfg *Config) *simScraper {
	s := newSimScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	now := simStart
	s.now = func() time.Time { now = now.Add(cfg.CollectionInterval); return now }
	require.NoError(t, s.init(simStart))
	return s
}

func scrapeN(t testing.TB, s *simScraper, n int) pmetric.Metrics {
	var md pmetric.Metrics
	for range n {
		var err error
		md, err = s.scrape(context.Background())
		require.NoError(t, err)
	}
	return md
}

// emitWithBuilder emits the simulation through the generated MetricsBuilder, as a scraper written the
// ordinary way would: the reference for the direct emitter, and the baseline of its benchmark.
func emitWithBuilder(mb *metadata.MetricsBuilder, cfg *Config, h *procsim.Host, now pcommon.Timestamp) {
	states := [3]metadata.AttributeState{metadata.AttributeStateUser, metadata.AttributeStateSystem, metadata.AttributeStateWait}
	procs := h.Processes()
	for i := range procs {
		p := &procs[i]
		cpu := p.CPUTime()
		for k, st := range states {
			mb.RecordProcessCPUTimeDataPoint(now, cpu[k], st)
		}
		if u, ok := p.CPUUtilization(h); ok {
			for k, st := range states {
				mb.RecordProcessCPUUtilizationDataPoint(now, u[k], st)
			}
		}
		mb.RecordProcessMemoryUsageDataPoint(now, p.MemoryRSS())
		mb.RecordProcessMemoryVirtualDataPoint(now, p.MemoryVirtual())
		mb.RecordProcessMemoryUtilizationDataPoint(now, p.MemoryUtilization(h))
		r, w := p.DiskIO()
		mb.RecordProcessDiskIoDataPoint(now, r, metadata.AttributeDirectionRead)
		mb.RecordProcessDiskIoDataPoint(now, w, metadata.AttributeDirectionWrite)
		r, w = p.DiskOperations()
		mb.RecordProcessDiskOperationsDataPoint(now, r, metadata.AttributeDirectionRead)
		mb.RecordProcessDiskOperationsDataPoint(now, w, metadata.AttributeDirectionWrite)
		major, minor := p.PagingFaults()
		mb.RecordProcessPagingFaultsDataPoint(now, major, metadata.AttributePagingFaultTypeMajor)
		mb.RecordProcessPagingFaultsDataPoint(now, minor, metadata.AttributePagingFaultTypeMinor)
		mb.RecordProcessThreadsDataPoint(now, p.Threads(h))
		inv, vol := p.ContextSwitches(h)
		mb.RecordProcessContextSwitchesDataPoint(now, inv, metadata.AttributeContextSwitchTypeInvoluntary)
		mb.RecordProcessContextSwitchesDataPoint(now, vol, metadata.AttributeContextSwitchTypeVoluntary)
		mb.RecordProcessOpenFileDescriptorsDataPoint(now, p.OpenFileDescriptors(h))
		mb.RecordProcessSignalsPendingDataPoint(now, p.SignalsPending())
		mb.RecordProcessUptimeDataPoint(now, p.Uptime(h))

		e := h.Executable(p)
		rb := mb.NewResourceBuilder()
		rb.SetProcessPid(int64(p.PID))
		rb.SetProcessParentPid(int64(p.PPID))
		rb.SetProcessExecutableName(e.Name)
		rb.SetProcessExecutablePath(e.Path)
		rb.SetProcessCgroup(e.Cgroup)
		rb.SetProcessCommand(p.Command(h))
		rb.SetProcessCommandLine(p.CommandLine(h))
		rb.SetProcessOwner(e.Owner)
		if cfg.Hosts > 1 || cfg.ResourceAttributes.HostName.Enabled {
			rb.SetHostName(h.Name())
		}
		switch e.Class {
		case procsim.ClassCritical:
			rb.SetPhoenixProcessPriorityClassCritical()
		case procsim.ClassHigh:
			rb.SetPhoenixProcessPriorityClassHigh()
		case procsim.ClassNormal:
			rb.SetPhoenixProcessPriorityClassNormal()
		default:
			rb.SetPhoenixProcessPriorityClassLow()
		}
		mb.EmitForResource(metadata.WithResource(rb.Emit()), metadata.WithStartTimeOverride(pcommon.Timestamp(p.Created())))
	}
}

// TestEmitterMatchesGeneratedBuilder proves the direct emitter writes exactly what the generated
// MetricsBuilder writes, for several metric and resource-attribute switches, filters included.
func TestEmitterMatchesGeneratedBuilder(t *testing.T) {
	t.Parallel()
	everything := func(c *Config) {
		m := &c.Metrics
		for _, e := range []*bool{&m.ProcessContextSwitches.Enabled, &m.ProcessCPUUtilization.Enabled, &m.ProcessDiskOperations.Enabled,
			&m.ProcessHandles.Enabled, &m.ProcessMemoryUtilization.Enabled, &m.ProcessOpenFileDescriptors.Enabled,
			&m.ProcessPagingFaults.Enabled, &m.ProcessSignalsPending.Enabled, &m.ProcessThreads.Enabled, &m.ProcessUptime.Enabled} {
			*e = true
		}
		r := &c.ResourceAttributes
		r.ProcessCgroup.Enabled, r.PhoenixProcessPriorityClass.Enabled = true, true
	}
	cases := map[string]func(c *Config){
		"defaults":   func(*Config) {},
		"everything": everything,
		"hosts and fewer attributes": func(c *Config) {
			c.Hosts = 3
			c.ResourceAttributes.ProcessCommandLine.Enabled = false
			c.Metrics.ProcessDiskIo.Enabled = false
		},
		"resource filters": func(c *Config) {
			c.ResourceAttributes.ProcessExecutableName.MetricsExclude = []filter.Config{{Strict: "pause"}}
			c.ResourceAttributes.ProcessOwner.MetricsInclude = []filter.Config{{Regex: "^(root|1000)$"}}
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Profile = "chaos"
			cfg.Processes = 150
			mutate(cfg)
			fast := newTestScraper(t, cfg)
			ref := newTestScraper(t, cfg)
			mbc := cfg.MetricsBuilderConfig
			if cfg.Hosts > 1 {
				mbc.ResourceAttributes.HostName.Enabled = true
			}
			mb := metadata.NewMetricsBuilder(mbc, receivertest.NewNopSettings(metadata.Type))
			for i := range 4 {
				got, err := fast.scrape(context.Background())
				require.NoError(t, err)
				now := pcommon.NewTimestampFromTime(simStart.Add(time.Duration(i+1) * cfg.CollectionInterval))
				ref.sim.Tick(func(h *procsim.Host) { emitWithBuilder(mb, cfg, h, now) })
				want := mb.Emit()
				require.Positive(t, want.DataPointCount())
				require.NoError(t, pmetrictest.CompareMetrics(want, got, pmetrictest.IgnoreResourceMetricsOrder()), "scrape %d", i)
			}
		})
	}
}

// TestGolden: the same seed and config give the same output (timestamps aside), for every profile.
// UPDATE_GOLDEN=1 rewrites the files.
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, profile := range procsim.Profiles {
		t.Run(string(profile), func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Profile = string(profile)
			cfg.Processes = 25
			cfg.Metrics.ProcessCPUUtilization.Enabled = true
			if profile == procsim.ProfileChaos {
				rate := 0.05 // enough events in a few intervals of a small host to show in the file
				cfg.SpikeRate, cfg.LeakRate, cfg.KillRate = &rate, &rate, &rate
			}
			got := scrapeN(t, newTestScraper(t, cfg), 3)
			path := filepath.Join("testdata", "golden", string(profile)+".yaml")
			if os.Getenv("UPDATE_GOLDEN") != "" {
				require.NoError(t, golden.WriteMetrics(t, path, got))
			}
			want, err := golden.ReadMetrics(path)
			require.NoError(t, err)
			require.NoError(t, pmetrictest.CompareMetrics(want, got, pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp(),
				pmetrictest.IgnoreResourceMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()))

			again := scrapeN(t, newTestScraper(t, cfg), 3)
			// (golden.WriteMetrics sorts what it writes in place, hence the order options)
			require.NoError(t, pmetrictest.CompareMetrics(got, again, pmetrictest.IgnoreTimestamp(), pmetrictest.IgnoreStartTimestamp(),
				pmetrictest.IgnoreResourceMetricsOrder(), pmetrictest.IgnoreMetricDataPointsOrder()), "a second run with the same seed differs")
		})
	}
}

func resourceValues(md pmetric.Metrics, key string) map[string]int {
	out := map[string]int{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		if v, ok := md.ResourceMetrics().At(i).Resource().Attributes().Get(key); ok {
			out[v.AsString()]++
		}
	}
	return out
}

func TestHosts(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	cfg.Processes = 50
	one := scrapeN(t, newTestScraper(t, cfg), 1)
	assert.Empty(t, resourceValues(one, "host.name"), "one host: no host.name, as host_metrics")

	cfg.Hosts = 4
	md := scrapeN(t, newTestScraper(t, cfg), 1)
	assert.Equal(t, map[string]int{"sim-node-0": 50, "sim-node-1": 50, "sim-node-2": 50, "sim-node-3": 50}, resourceValues(md, "host.name"))
}

func TestPriorityClassAttribute(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	md := scrapeN(t, newTestScraper(t, cfg), 1)
	assert.Empty(t, resourceValues(md, "phoenix.process.priority_class"), "off by default")

	cfg.ResourceAttributes.PhoenixProcessPriorityClass.Enabled = true
	md = scrapeN(t, newTestScraper(t, cfg), 1)
	classes := resourceValues(md, "phoenix.process.priority_class")
	for _, c := range []string{"critical", "high", "normal", "low"} {
		assert.Positive(t, classes[c], c)
	}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		attrs := md.ResourceMetrics().At(i).Resource().Attributes()
		if name, _ := attrs.Get("process.executable.name"); name.Str() == "kubelet" {
			class, _ := attrs.Get("phoenix.process.priority_class")
			assert.Equal(t, "critical", class.Str())
		}
	}
}

// TestStartTimeIsCreationTime: every point of a process starts at the process's creation, and uptime agrees.
func TestStartTimeIsCreationTime(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	cfg.Metrics.ProcessUptime.Enabled = true
	md := scrapeN(t, newTestScraper(t, cfg), 2)
	require.Positive(t, md.ResourceMetrics().Len())
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		ms := md.ResourceMetrics().At(i).ScopeMetrics().At(0).Metrics()
		var start pcommon.Timestamp
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeSum {
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			for k := 0; k < dps.Len(); k++ {
				dp := dps.At(k)
				if start == 0 {
					start = dp.StartTimestamp()
				}
				require.Equal(t, start, dp.StartTimestamp(), "one start time per process")
				require.Less(t, dp.StartTimestamp(), dp.Timestamp())
				if m.Name() == "process.uptime" {
					assert.InDelta(t, (dp.Timestamp() - dp.StartTimestamp()).AsTime().Sub(time.Unix(0, 0)).Seconds(), dp.DoubleValue(), 1e-3)
				}
			}
		}
	}
}

// TestSimulatorControl: the receiver exposes its simulation through the control contract once started,
// and changes show in the next scrape.
func TestSimulatorControl(t *testing.T) {
	t.Parallel()
	cfg := createDefaultConfig().(*Config)
	s := newSimScraper(cfg, receivertest.NewNopSettings(metadata.Type))
	assert.Nil(t, s.simulator(), "nothing to control before start")
	require.NoError(t, s.start(context.Background(), componenttest.NewNopHost()))
	var sim control.Simulator = s.simulator()
	require.NotNil(t, sim)
	require.NoError(t, sim.SetProcessCount(80))
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 80, md.ResourceMetrics().Len())
	require.NoError(t, sim.SetProfile("high_cardinality"))
	assert.Equal(t, "high_cardinality", sim.Status().Profile)
}

type fakeRegistry struct {
	component.StartFunc
	component.ShutdownFunc
	simulators map[string]control.Simulator
}

func (r *fakeRegistry) RegisterExperiment(control.Experiment) func() { return func() {} }
func (r *fakeRegistry) RegisterSimulator(name string, s control.Simulator) func() {
	r.simulators[name] = s
	return func() { delete(r.simulators, name) }
}

type hostWith struct {
	component.Host
	exts map[component.ID]component.Component
}

func (h hostWith) GetExtensions() map[component.ID]component.Component { return h.exts }

// TestRegistersWithControl: with control set, the running simulation is registered under the receiver's ID
// and unregistered at shutdown; a missing extension fails start with a clear error.
func TestRegistersWithControl(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Control = component.MustNewID("phoenix_control")
	set := receivertest.NewNopSettings(metadata.Type)
	set.ID = component.MustNewIDWithName("simulated_process", "node")

	s := newSimScraper(cfg, set)
	require.ErrorContains(t, s.start(context.Background(), hostWith{componenttest.NewNopHost(), nil}), "extension phoenix_control is not configured")

	reg := &fakeRegistry{simulators: map[string]control.Simulator{}}
	s = newSimScraper(cfg, set)
	require.NoError(t, s.start(context.Background(), hostWith{componenttest.NewNopHost(), map[component.ID]component.Component{cfg.Control: reg}}))
	sim := reg.simulators["simulated_process/node"]
	require.NotNil(t, sim)
	require.NoError(t, sim.SetProcessCount(42))
	md, err := s.scrape(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 42, md.ResourceMetrics().Len())
	require.NoError(t, s.shutdown(context.Background()))
	assert.Empty(t, reg.simulators)
}
