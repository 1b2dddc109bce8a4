// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/hostmetricsreceiver"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// allMetrics and sharedResourceAttributes are the process scraper's schema (our own resource attributes,
// host.name and phoenix.process.priority_class, are off in these comparisons, as by default).
var (
	allMetrics = []string{"process.context_switches", "process.cpu.time", "process.cpu.utilization", "process.disk.io",
		"process.disk.operations", "process.handles", "process.memory.usage", "process.memory.utilization",
		"process.memory.virtual", "process.open_file_descriptors", "process.paging.faults", "process.signals_pending",
		"process.threads", "process.uptime"}
	sharedResourceAttributes = []string{"process.cgroup", "process.command", "process.command_line",
		"process.executable.name", "process.executable.path", "process.owner", "process.parent_pid", "process.pid"}
)

// TestSchemaParity runs the real host_metrics process scraper on this machine and the simulated receiver
// with the same metric and resource-attribute switches, and compares the shape of what they emit.
func TestSchemaParity(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the simulated receiver mirrors the Linux process scraper")
	}
	enableAll := func(names []string) map[string]any {
		m := map[string]any{}
		for _, n := range names {
			m[n] = map[string]any{"enabled": true}
		}
		return m
	}
	cases := map[string]map[string]any{
		"defaults": {},
		"everything enabled": {
			"metrics":             enableAll(allMetrics),
			"resource_attributes": enableAll(sharedResourceAttributes),
		},
	}
	for name, switches := range cases {
		t.Run(name, func(t *testing.T) {
			// not parallel: host_metrics receivers share global state (gopsutil boot-time cache)
			realCfg := map[string]any{"scrapers": map[string]any{"process": merge(map[string]any{"mute_process_all_errors": true}, switches)}}
			real := schemaOf(scrapeTwice(t, hostmetricsreceiver.NewFactory(), realCfg))
			sim := schemaOf(scrapeTwice(t, NewFactory(), merge(map[string]any{"processes": 300}, switches)))
			require.NotEmpty(t, real.metrics, "the real scraper emitted nothing")
			assert.Equal(t, real.metrics, sim.metrics, "metrics: name, unit, type, value type, temporality, monotonicity, attributes")
			assert.Equal(t, real.resourceAttrs, sim.resourceAttrs, "resource attribute keys and types")
			assert.Equal(t, real.schemaURL, sim.schemaURL)
			assert.True(t, real.onePerResource && sim.onePerResource, "one ResourceMetrics per process")
		})
	}
}

func merge(a, b map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// scrapeTwice runs a receiver at a 100ms interval until it has emitted twice, and returns the second batch
// (utilization metrics appear from the second scrape of a process on).
func scrapeTwice(t *testing.T, f receiver.Factory, conf map[string]any) pmetric.Metrics {
	cfg := f.CreateDefaultConfig()
	require.NoError(t, confmap.NewFromStringMap(merge(map[string]any{"collection_interval": "100ms"}, conf)).Unmarshal(cfg))
	sink := new(consumertest.MetricsSink)
	r, err := f.CreateMetrics(context.Background(), receivertest.NewNopSettings(f.Type()), cfg, sink)
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background(), componenttest.NewNopHost()))
	defer func() { require.NoError(t, r.Shutdown(context.Background())) }()
	require.Eventually(t, func() bool { return len(sink.AllMetrics()) >= 2 }, 30*time.Second, 20*time.Millisecond)
	return sink.AllMetrics()[1]
}

type metricShape struct {
	Unit, Type, ValueType, Temporality string
	Monotonic                          bool
	Attributes                         string // key=sorted values;…
}

type schema struct {
	metrics        map[string]metricShape
	resourceAttrs  map[string]string // key -> value type
	schemaURL      string
	onePerResource bool
}

func schemaOf(md pmetric.Metrics) schema {
	s := schema{metrics: map[string]metricShape{}, resourceAttrs: map[string]string{}, onePerResource: true}
	attrValues := map[string]map[string]map[string]bool{} // metric -> key -> values
	pids := map[int64]bool{}
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		rm := md.ResourceMetrics().At(i)
		s.schemaURL = rm.SchemaUrl()
		rm.Resource().Attributes().Range(func(k string, v pcommon.Value) bool {
			s.resourceAttrs[k] = v.Type().String()
			return true
		})
		if pid, ok := rm.Resource().Attributes().Get("process.pid"); ok {
			s.onePerResource = s.onePerResource && !pids[pid.Int()] && rm.ScopeMetrics().Len() == 1
			pids[pid.Int()] = true
		}
		ms := rm.ScopeMetrics().At(0).Metrics()
		for j := 0; j < ms.Len(); j++ {
			m := ms.At(j)
			shape := metricShape{Unit: m.Unit(), Type: m.Type().String()}
			var dps pmetric.NumberDataPointSlice
			if m.Type() == pmetric.MetricTypeSum {
				shape.Temporality, shape.Monotonic = m.Sum().AggregationTemporality().String(), m.Sum().IsMonotonic()
				dps = m.Sum().DataPoints()
			} else {
				dps = m.Gauge().DataPoints()
			}
			if attrValues[m.Name()] == nil {
				attrValues[m.Name()] = map[string]map[string]bool{}
			}
			for k := 0; k < dps.Len(); k++ {
				shape.ValueType = dps.At(k).ValueType().String()
				dps.At(k).Attributes().Range(func(key string, v pcommon.Value) bool {
					if attrValues[m.Name()][key] == nil {
						attrValues[m.Name()][key] = map[string]bool{}
					}
					attrValues[m.Name()][key][v.AsString()] = true
					return true
				})
			}
			s.metrics[m.Name()] = shape
		}
	}
	for name, keys := range attrValues {
		var parts []string
		for k, vals := range keys {
			vs := make([]string, 0, len(vals))
			for v := range vals {
				vs = append(vs, v)
			}
			sort.Strings(vs)
			parts = append(parts, fmt.Sprintf("%s=%s", k, strings.Join(vs, ",")))
		}
		slices.Sort(parts)
		shape := s.metrics[name]
		shape.Attributes = strings.Join(parts, ";")
		s.metrics[name] = shape
	}
	return s
}
