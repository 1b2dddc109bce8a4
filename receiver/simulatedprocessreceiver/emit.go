// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package simulatedprocessreceiver // import "github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver"

import (
	"strconv"

	"go.opentelemetry.io/collector/filter"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/receiver"

	"github.com/phoenix-platform/otelcol-phoenix/internal/procsim"
	"github.com/phoenix-platform/otelcol-phoenix/receiver/simulatedprocessreceiver/internal/metadata"
)

// emitter writes one ResourceMetrics per process straight into pdata. The generated MetricsBuilder allocates
// every data point twice and copies every resource; writing directly with exact capacities makes generation
// about 2× cheaper (see README). Nothing of the schema is written here by hand: names, descriptions, units,
// types, temporality, attribute keys and values are read once, at start, from a prototype built by the
// generated MetricsBuilder, so metadata.yaml stays the single source of truth.
type emitter struct {
	schemaURL, scopeName, scopeVersion string
	metrics                            []metricSpec // enabled metrics, in the builder's order
	resource                           []resourceAttr
	filtered                           bool // some resource attribute has metrics_include/metrics_exclude
}

type metricSpec struct {
	name, description, unit string
	sum, monotonic, double  bool
	temporality             pmetric.AggregationTemporality
	attrKey                 string
	attrValues              []string // per point, in the order points() fills them
	points                  pointsFunc
}

// values holds the points of one metric for one process.
type values struct {
	f [3]float64
	i [3]int64
}

type pointsFunc func(h *procsim.Host, p *procsim.Process, v *values) int

// metricPoints gives each metric's values, in the attribute order given by its attrValues.
var metricPoints = map[string]struct {
	attrValues []string
	points     pointsFunc
}{
	"process.context_switches": {[]string{"involuntary", "voluntary"}, func(h *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0], v.i[1] = p.ContextSwitches(h)
		return 2
	}},
	"process.cpu.time": {[]string{"user", "system", "wait"}, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.f = p.CPUTime()
		return 3
	}},
	"process.cpu.utilization": {[]string{"user", "system", "wait"}, func(h *procsim.Host, p *procsim.Process, v *values) int {
		u, ok := p.CPUUtilization(h)
		if !ok {
			return 0 // no utilization on a process's first scrape, as the real scraper
		}
		v.f = u
		return 3
	}},
	"process.disk.io": {[]string{"read", "write"}, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0], v.i[1] = p.DiskIO()
		return 2
	}},
	"process.disk.operations": {[]string{"read", "write"}, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0], v.i[1] = p.DiskOperations()
		return 2
	}},
	"process.memory.usage": {nil, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0] = p.MemoryRSS()
		return 1
	}},
	"process.memory.utilization": {nil, func(h *procsim.Host, p *procsim.Process, v *values) int {
		v.f[0] = p.MemoryUtilization(h)
		return 1
	}},
	"process.memory.virtual": {nil, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0] = p.MemoryVirtual()
		return 1
	}},
	"process.open_file_descriptors": {nil, func(h *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0] = p.OpenFileDescriptors(h)
		return 1
	}},
	"process.paging.faults": {[]string{"major", "minor"}, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0], v.i[1] = p.PagingFaults()
		return 2
	}},
	"process.signals_pending": {nil, func(_ *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0] = p.SignalsPending()
		return 1
	}},
	"process.threads": {nil, func(h *procsim.Host, p *procsim.Process, v *values) int {
		v.i[0] = p.Threads(h)
		return 1
	}},
	"process.uptime": {nil, func(h *procsim.Host, p *procsim.Process, v *values) int {
		v.f[0] = p.Uptime(h)
		return 1
	}},
	// process.handles is Windows-only: the Linux scraper never emits it, so it has no points here.
}

// resourceAttr is one resource attribute: its switch, filters and value.
type resourceAttr struct {
	key              string
	enabled          bool // only enabled attributes are kept
	include, exclude filter.Filter
	str              func(h *procsim.Host, p *procsim.Process, e *procsim.Executable) string
	num              func(p *procsim.Process) int64 // set for int attributes
}

func (a *resourceAttr) stringValue(h *procsim.Host, p *procsim.Process, e *procsim.Executable) string {
	if a.num != nil {
		return strconv.FormatInt(a.num(p), 10)
	}
	return a.str(h, p, e)
}

func newEmitter(mbc metadata.MetricsBuilderConfig, set receiver.Settings) *emitter {
	e := &emitter{scopeName: metadata.ScopeName, scopeVersion: set.BuildInfo.Version}
	proto := prototype(set)
	rm := proto.ResourceMetrics().At(0)
	e.schemaURL = rm.SchemaUrl()
	enabled := enabledMetrics(mbc.Metrics)
	ms := rm.ScopeMetrics().At(0).Metrics()
	for i := 0; i < ms.Len(); i++ {
		m := ms.At(i)
		mp, ok := metricPoints[m.Name()]
		if !ok || !enabled[m.Name()] {
			continue
		}
		spec := metricSpec{name: m.Name(), description: m.Description(), unit: m.Unit(), attrValues: mp.attrValues, points: mp.points}
		var dps pmetric.NumberDataPointSlice
		if m.Type() == pmetric.MetricTypeSum {
			spec.sum, spec.monotonic, spec.temporality = true, m.Sum().IsMonotonic(), m.Sum().AggregationTemporality()
			dps = m.Sum().DataPoints()
		} else {
			dps = m.Gauge().DataPoints()
		}
		spec.double = dps.At(0).ValueType() == pmetric.NumberDataPointValueTypeDouble
		dps.At(0).Attributes().Range(func(k string, _ pcommon.Value) bool {
			spec.attrKey = k
			return false
		})
		e.metrics = append(e.metrics, spec)
	}
	e.resource = resourceAttrs(mbc.ResourceAttributes)
	for _, a := range e.resource {
		e.filtered = e.filtered || a.include != nil || a.exclude != nil
	}
	return e
}

// prototype is one process emitted by the generated builder with every metric enabled: the schema source.
func prototype(set receiver.Settings) pmetric.Metrics {
	mbc := metadata.DefaultMetricsBuilderConfig()
	m := &mbc.Metrics
	for _, c := range []*bool{&m.ProcessContextSwitches.Enabled, &m.ProcessCPUTime.Enabled, &m.ProcessCPUUtilization.Enabled,
		&m.ProcessDiskIo.Enabled, &m.ProcessDiskOperations.Enabled, &m.ProcessHandles.Enabled, &m.ProcessMemoryUsage.Enabled,
		&m.ProcessMemoryUtilization.Enabled, &m.ProcessMemoryVirtual.Enabled, &m.ProcessOpenFileDescriptors.Enabled,
		&m.ProcessPagingFaults.Enabled, &m.ProcessSignalsPending.Enabled, &m.ProcessThreads.Enabled, &m.ProcessUptime.Enabled} {
		*c = true
	}
	mb := metadata.NewMetricsBuilder(mbc, set)
	var ts pcommon.Timestamp
	mb.RecordProcessContextSwitchesDataPoint(ts, 0, metadata.AttributeContextSwitchTypeInvoluntary)
	mb.RecordProcessCPUTimeDataPoint(ts, 0, metadata.AttributeStateUser)
	mb.RecordProcessCPUUtilizationDataPoint(ts, 0, metadata.AttributeStateUser)
	mb.RecordProcessDiskIoDataPoint(ts, 0, metadata.AttributeDirectionRead)
	mb.RecordProcessDiskOperationsDataPoint(ts, 0, metadata.AttributeDirectionRead)
	mb.RecordProcessHandlesDataPoint(ts, 0)
	mb.RecordProcessMemoryUsageDataPoint(ts, 0)
	mb.RecordProcessMemoryUtilizationDataPoint(ts, 0)
	mb.RecordProcessMemoryVirtualDataPoint(ts, 0)
	mb.RecordProcessOpenFileDescriptorsDataPoint(ts, 0)
	mb.RecordProcessPagingFaultsDataPoint(ts, 0, metadata.AttributePagingFaultTypeMajor)
	mb.RecordProcessSignalsPendingDataPoint(ts, 0)
	mb.RecordProcessThreadsDataPoint(ts, 0)
	mb.RecordProcessUptimeDataPoint(ts, 0)
	return mb.Emit()
}

func enabledMetrics(m metadata.MetricsConfig) map[string]bool {
	return map[string]bool{
		"process.context_switches":      m.ProcessContextSwitches.Enabled,
		"process.cpu.time":              m.ProcessCPUTime.Enabled,
		"process.cpu.utilization":       m.ProcessCPUUtilization.Enabled,
		"process.disk.io":               m.ProcessDiskIo.Enabled,
		"process.disk.operations":       m.ProcessDiskOperations.Enabled,
		"process.handles":               m.ProcessHandles.Enabled,
		"process.memory.usage":          m.ProcessMemoryUsage.Enabled,
		"process.memory.utilization":    m.ProcessMemoryUtilization.Enabled,
		"process.memory.virtual":        m.ProcessMemoryVirtual.Enabled,
		"process.open_file_descriptors": m.ProcessOpenFileDescriptors.Enabled,
		"process.paging.faults":         m.ProcessPagingFaults.Enabled,
		"process.signals_pending":       m.ProcessSignalsPending.Enabled,
		"process.threads":               m.ProcessThreads.Enabled,
		"process.uptime":                m.ProcessUptime.Enabled,
	}
}

func resourceAttrs(rac metadata.ResourceAttributesConfig) []resourceAttr {
	str := func(key string, c metadata.ResourceAttributeConfig, f func(h *procsim.Host, p *procsim.Process, e *procsim.Executable) string) resourceAttr {
		a := resourceAttr{key: key, enabled: c.Enabled, str: f}
		if c.MetricsInclude != nil {
			a.include = filter.CreateFilter(c.MetricsInclude)
		}
		if c.MetricsExclude != nil {
			a.exclude = filter.CreateFilter(c.MetricsExclude)
		}
		return a
	}
	num := func(key string, c metadata.ResourceAttributeConfig, f func(p *procsim.Process) int64) resourceAttr {
		a := str(key, c, nil)
		a.num = f
		return a
	}
	attrs := []resourceAttr{
		num("process.pid", rac.ProcessPid, func(p *procsim.Process) int64 { return int64(p.PID) }),
		num("process.parent_pid", rac.ProcessParentPid, func(p *procsim.Process) int64 { return int64(p.PPID) }),
		str("process.executable.name", rac.ProcessExecutableName, func(_ *procsim.Host, _ *procsim.Process, e *procsim.Executable) string { return e.Name }),
		str("process.executable.path", rac.ProcessExecutablePath, func(_ *procsim.Host, _ *procsim.Process, e *procsim.Executable) string { return e.Path }),
		str("process.cgroup", rac.ProcessCgroup, func(_ *procsim.Host, _ *procsim.Process, e *procsim.Executable) string { return e.Cgroup }),
		str("process.command", rac.ProcessCommand, func(h *procsim.Host, p *procsim.Process, _ *procsim.Executable) string { return p.Command(h) }),
		str("process.command_line", rac.ProcessCommandLine, func(h *procsim.Host, p *procsim.Process, _ *procsim.Executable) string { return p.CommandLine(h) }),
		str("process.owner", rac.ProcessOwner, func(_ *procsim.Host, _ *procsim.Process, e *procsim.Executable) string { return e.Owner }),
		str("host.name", rac.HostName, func(h *procsim.Host, _ *procsim.Process, _ *procsim.Executable) string { return h.Name() }),
		str("phoenix.process.priority_class", rac.PhoenixProcessPriorityClass, func(_ *procsim.Host, _ *procsim.Process, e *procsim.Executable) string { return e.Class.String() }),
	}
	enabled := attrs[:0] // a filter on a disabled attribute never applies, as in the builder
	for _, a := range attrs {
		if a.enabled {
			enabled = append(enabled, a)
		}
	}
	return enabled
}

// keep applies metrics_include / metrics_exclude of enabled resource attributes, as the builder does.
func (e *emitter) keep(h *procsim.Host, p *procsim.Process, x *procsim.Executable) bool {
	for i := range e.resource {
		a := &e.resource[i]
		if a.include != nil && !a.include.Matches(a.stringValue(h, p, x)) {
			return false
		}
		if a.exclude != nil && a.exclude.Matches(a.stringValue(h, p, x)) {
			return false
		}
	}
	return true
}

// emitHost appends one ResourceMetrics per process of h.
func (e *emitter) emitHost(rms pmetric.ResourceMetricsSlice, h *procsim.Host, now pcommon.Timestamp) {
	procs := h.Processes()
	rms.EnsureCapacity(rms.Len() + len(procs))
	var v values
	for i := range procs {
		p := &procs[i]
		x := h.Executable(p)
		if e.filtered && !e.keep(h, p, x) {
			continue
		}
		rm := rms.AppendEmpty()
		rm.SetSchemaUrl(e.schemaURL)
		attrs := rm.Resource().Attributes()
		attrs.EnsureCapacity(len(e.resource))
		for j := range e.resource {
			a := &e.resource[j]
			if a.num != nil {
				attrs.PutInt(a.key, a.num(p))
			} else {
				attrs.PutStr(a.key, a.str(h, p, x))
			}
		}
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(e.scopeName)
		sm.Scope().SetVersion(e.scopeVersion)
		ms := sm.Metrics()
		ms.EnsureCapacity(len(e.metrics))
		start := pcommon.Timestamp(p.Created())
		for k := range e.metrics {
			spec := &e.metrics[k]
			n := spec.points(h, p, &v)
			if n == 0 {
				continue
			}
			m := ms.AppendEmpty()
			m.SetName(spec.name)
			m.SetDescription(spec.description)
			m.SetUnit(spec.unit)
			var dps pmetric.NumberDataPointSlice
			if spec.sum {
				s := m.SetEmptySum()
				s.SetAggregationTemporality(spec.temporality)
				s.SetIsMonotonic(spec.monotonic)
				dps = s.DataPoints()
			} else {
				dps = m.SetEmptyGauge().DataPoints()
			}
			dps.EnsureCapacity(n)
			for j := range n {
				dp := dps.AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				if spec.double {
					dp.SetDoubleValue(v.f[j])
				} else {
					dp.SetIntValue(v.i[j])
				}
				if spec.attrKey != "" {
					dp.Attributes().PutStr(spec.attrKey, spec.attrValues[j])
				}
			}
		}
	}
}
