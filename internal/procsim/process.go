// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package procsim

// Accessors in the units of the host_metrics process scraper. Derived counters are functions of stored
// monotonic quantities (CPU time, bytes, age), so they never decrease either.

// Created is the process start time, unix nanoseconds.
func (p *Process) Created() int64 { return p.created }

// CPUTime is cumulative CPU seconds per state (StateUser, StateSystem, StateWait).
func (p *Process) CPUTime() [3]float64 { return p.cpu }

// CPUUtilization is the share of all cores used per state over the last interval; ok is false in the
// process's first interval (the real scraper emits no utilization on its first scrape of a process).
func (p *Process) CPUUtilization(h *Host) (u [3]float64, ok bool) {
	if p.flags&flagFresh != 0 {
		return u, false
	}
	capacity := h.dt * float64(h.opts.Cores)
	for i, v := range p.lastCPU {
		u[i] = min(float64(v)/capacity, 1)
	}
	return u, true
}

// Leaking reports whether the process's memory grows every interval.
func (p *Process) Leaking() bool { return p.flags&flagLeaking != 0 }

// Spiking reports whether the process is in a CPU spike.
func (p *Process) Spiking() bool { return p.spikeLeft > 0 }

// MemoryRSS and MemoryVirtual are in bytes.
func (p *Process) MemoryRSS() int64     { return int64(p.rss) * 1024 }
func (p *Process) MemoryVirtual() int64 { return int64(p.vms) * 1024 }

// MemoryUtilization is resident memory over the host's memory, in [0,1].
func (p *Process) MemoryUtilization(h *Host) float64 {
	return min(float64(p.MemoryRSS())/float64(h.opts.MemoryBytes), 1)
}

// DiskIO is cumulative bytes read and written.
func (p *Process) DiskIO() (read, write int64) { return int64(p.readBytes), int64(p.writeBytes) }

// DiskOperations is cumulative read and write operations.
func (p *Process) DiskOperations() (read, write int64) {
	return int64(p.readBytes / 16384), int64(p.writeBytes / 32768)
}

func (p *Process) cpuTotal() float64 { return p.cpu[0] + p.cpu[1] + p.cpu[2] }

// PagingFaults is cumulative major and minor page faults.
func (p *Process) PagingFaults() (major, minor int64) {
	return int64(p.readBytes >> 22), int64(p.cpuTotal()*3000) + int64(p.readBytes>>16)
}

// ContextSwitches is cumulative involuntary and voluntary context switches.
func (p *Process) ContextSwitches(h *Host) (involuntary, voluntary int64) {
	return int64(p.cpuTotal() * 60), int64(p.cpuTotal()*800 + p.Uptime(h)*1.5)
}

// Threads is the current thread count.
func (p *Process) Threads(h *Host) int64 { return int64(h.cat.exes[p.exe].Threads) }

// OpenFileDescriptors is the current number of open file descriptors.
func (p *Process) OpenFileDescriptors(h *Host) int64 {
	return int64(h.cat.exes[p.exe].FDs) + int64(p.PID%7)
}

// SignalsPending is the number of pending signals (a healthy process has none).
func (p *Process) SignalsPending() int64 { return 0 }

// Uptime is seconds since the process started, on the simulated clock.
func (p *Process) Uptime(h *Host) float64 { return float64(h.now-p.created) / 1e9 }

// Command and CommandLine are process.command and process.command_line.
func (p *Process) Command(h *Host) string { return h.cat.exes[p.exe].Commands[p.variant] }
func (p *Process) CommandLine(h *Host) string {
	return h.cat.exes[p.exe].Cmdlines[p.variant]
}
