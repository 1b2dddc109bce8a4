// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package procsim

import (
	"math/rand/v2"
	"time"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

// Process is one simulated process. It is kept small (96 bytes) so that 100k processes cost ~10 MB: strings
// live in the shared catalog, and counters that can be derived from the stored ones (disk operations, page
// faults, context switches) are derived when read, monotonic because their inputs are.
type Process struct {
	PID, PPID  uint32
	exe        uint32 // index into the catalog
	rss, vms   uint32 // KiB
	lifeLeft   uint16 // intervals left for a short-lived job; 0 = no limit
	variant    uint8  // command-line variant
	flags      uint8
	spikeLeft  uint8 // intervals of CPU spike left
	created    int64 // unix nanoseconds
	cpu        [3]float64
	lastCPU    [3]float32 // CPU seconds used in the last interval, per state
	readBytes  uint64
	writeBytes uint64
}

const (
	flagFresh   uint8 = 1 << iota // spawned this interval: no utilization yet (as the real scraper)
	flagLeaking                   // resident memory grows every interval
	flagDead                      // reaped at the next interval
)

// CPU states, in the order of Process.CPUTime.
const (
	StateUser = iota
	StateSystem
	StateWait
)

// Host is one simulated machine: its processes and their evolution, one interval per Step. Not safe for
// concurrent use (Simulator serialises access).
type Host struct {
	name    string
	opts    *Options
	rates   Rates
	cat     *catalog
	rng     *rand.Rand
	procs   []Process
	target  int
	nextPID uint32
	nextApp int
	tick    uint64
	now     int64 // simulated clock, unix nanoseconds
	dt      float64
	carry   [4]float64 // fractional events carried to the next interval: churn, spike, leak, kill
	respawn []spawnReq
	reaped  map[uint32]struct{}
}

type spawnReq struct {
	exe  uint32
	ppid uint32
}

func newHost(name string, index int, opts *Options, rates Rates, cat *catalog) *Host {
	h := &Host{
		name:   name,
		opts:   opts,
		rates:  rates,
		cat:    cat,
		rng:    rand.New(rand.NewPCG(opts.Seed, 0x9e3779b97f4a7c15^uint64(index))),
		target: opts.Processes,
		now:    opts.Start.UnixNano(),
		dt:     opts.Interval.Seconds(),
		reaped: map[uint32]struct{}{},
	}
	h.populate()
	return h
}

// Name is the host's name (host.name).
func (h *Host) Name() string { return h.name }

// Processes returns the live processes. The slice is valid until the next Step.
func (h *Host) Processes() []Process { return h.procs }

// Executable returns what p runs.
func (h *Host) Executable(p *Process) *Executable { return &h.cat.exes[p.exe] }

// Now is the simulated time of the last Step.
func (h *Host) Now() time.Time { return time.Unix(0, h.now) }

// Cores and MemoryBytes describe the simulated machine.
func (h *Host) Cores() int          { return h.opts.Cores }
func (h *Host) MemoryBytes() uint64 { return h.opts.MemoryBytes }

// populate starts the profile's processes: the node's daemons first, then pods and jobs.
func (h *Host) populate() {
	boot := h.now - int64(12*24*time.Hour) - h.rng.Int64N(int64(24*time.Hour))
	h.nextPID = 1 // init
	for i, idx := range h.cat.system {
		if len(h.procs) >= max(h.target, 1) {
			break
		}
		var ppid uint32 = 1
		if i == 0 {
			ppid = 0
		}
		h.spawn(idx, ppid, boot+int64(i)*int64(300*time.Millisecond))
		h.nextPID += uint32(h.rng.IntN(40))
	}
	h.fitTarget()
	for i := range h.procs {
		h.procs[i].flags &^= flagFresh
	}
}

// spawn starts a process of executable idx; created = 0 means now.
func (h *Host) spawn(idx, ppid uint32, created int64) *Process {
	e := &h.cat.exes[idx]
	if created == 0 {
		created = h.now - h.rng.Int64N(int64(h.opts.Interval)+1)
	}
	p := Process{
		PID: h.nextPID, PPID: ppid, exe: idx, created: created, flags: flagFresh,
		variant: uint8(h.rng.IntN(len(e.Cmdlines))),
		rss:     e.MemLo + uint32(h.rng.Int64N(int64(e.MemHi-e.MemLo)+1)),
	}
	p.vms = p.rss * e.VMSMul
	if e.Job {
		p.lifeLeft = uint16(1 + h.rng.IntN(2*int(e.Lifetime)))
	}
	h.nextPID++
	h.procs = append(h.procs, p)
	return &h.procs[len(h.procs)-1]
}

// Step advances the host by one interval.
func (h *Host) Step() {
	h.tick++
	h.now += int64(h.opts.Interval)
	for i := range h.procs {
		h.procs[i].flags &^= flagFresh
	}
	h.lifecycle()
	for i := range h.procs {
		h.advance(&h.procs[i])
	}
}

// lifecycle ends and starts processes: finished jobs, churn, chaos, out-of-memory kills, the target count.
func (h *Host) lifecycle() {
	for i := range h.procs {
		p := &h.procs[i]
		if p.lifeLeft > 0 {
			if p.lifeLeft--; p.lifeLeft == 0 {
				h.kill(p, true)
			}
		}
		if p.flags&flagLeaking != 0 && p.rss > h.oomLimit(&h.cat.exes[p.exe]) {
			h.kill(p, true) // the OOM killer ends a leak; the supervisor restarts the process
		}
	}
	n := len(h.procs)
	for range h.events(0, h.rates.Churn, n) {
		if p := h.pick(); p != nil && h.cat.exes[p.exe].Class != ClassCritical {
			h.kill(p, true)
		}
	}
	for range h.events(1, h.rates.Spike, n) {
		if p := h.pick(); p != nil {
			p.spikeLeft = uint8(3 + h.rng.IntN(8))
		}
	}
	for range h.events(2, h.rates.Leak, n) {
		if p := h.pick(); p != nil {
			p.flags |= flagLeaking
		}
	}
	for range h.events(3, h.rates.Kill, n) {
		if p := h.pick(); p != nil && p.PPID != 0 {
			h.kill(p, true)
		}
	}
	h.reap()
	for _, r := range h.respawn {
		h.spawn(r.exe, r.ppid, 0)
	}
	h.respawn = h.respawn[:0]
	h.fitTarget()
}

// events returns how many events of a kind happen this interval at rate per process, carrying fractions.
func (h *Host) events(kind int, rate float64, n int) int {
	h.carry[kind] += rate * float64(n)
	k := int(h.carry[kind])
	h.carry[kind] -= float64(k)
	return k
}

// pick returns a random live process, or nil.
func (h *Host) pick() *Process {
	if len(h.procs) == 0 {
		return nil
	}
	p := &h.procs[h.rng.IntN(len(h.procs))]
	if p.flags&flagDead != 0 {
		return nil
	}
	return p
}

// kill marks p dead; with restart its replacement (a new job, or the same executable under the same parent,
// as a supervisor would) starts at the next reap.
func (h *Host) kill(p *Process, restart bool) {
	if p.flags&flagDead != 0 || p.PPID == 0 {
		return
	}
	p.flags |= flagDead
	e := &h.cat.exes[p.exe]
	if !e.Job {
		h.reaped[p.PID] = struct{}{} // its children are re-parented to init
	}
	if !restart {
		return
	}
	exe := p.exe
	if e.Job {
		exe = h.cat.jobs[h.rng.IntN(len(h.cat.jobs))]
	}
	h.respawn = append(h.respawn, spawnReq{exe: exe, ppid: p.PPID})
}

// reap removes dead processes and re-parents their children to init, as Linux does.
func (h *Host) reap() {
	live := h.procs[:0]
	for _, p := range h.procs {
		if p.flags&flagDead == 0 {
			live = append(live, p)
		}
	}
	h.procs = live
	if len(h.reaped) == 0 {
		return
	}
	for i := range h.procs {
		if _, ok := h.reaped[h.procs[i].PPID]; ok {
			h.procs[i].PPID = 1
		}
	}
	for i := range h.respawn {
		if _, ok := h.reaped[h.respawn[i].ppid]; ok {
			h.respawn[i].ppid = 1
		}
	}
	clear(h.reaped)
}

// fitTarget spawns or kills processes until the host runs its target count: pods (shim, pause, app,
// sometimes a sidecar) and the profile's share of short-lived jobs; kills the lowest classes first.
func (h *Host) fitTarget() {
	for len(h.procs) < h.target {
		if h.rng.Float64() < h.opts.jobShare() {
			h.spawnJob()
			continue
		}
		shim := h.spawn(h.cat.shim, 1, h.podStart())
		shimPID, created := shim.PID, shim.created
		for _, idx := range h.podMembers() {
			if len(h.procs) >= h.target {
				break
			}
			h.spawn(idx, shimPID, created+int64(h.rng.IntN(int(2*time.Second))))
		}
	}
	excess := len(h.procs) - h.target
	if excess <= 0 {
		return
	}
	for class := ClassLow; excess > 0; class-- {
		for i := len(h.procs) - 1; i >= 0 && excess > 0; i-- {
			if p := &h.procs[i]; h.cat.exes[p.exe].Class == class && p.PPID != 0 && p.flags&flagDead == 0 {
				h.kill(p, false)
				excess--
			}
		}
		if class == ClassCritical {
			break
		}
	}
	h.reap()
}

func (h *Host) podMembers() []uint32 {
	app := h.cat.apps[h.rng.IntN(len(h.cat.apps))]
	if len(h.cat.apps) > len(appExecutables) { // generated executables: use each before repeating any
		app = h.cat.apps[h.nextApp%len(h.cat.apps)]
		h.nextApp++
	}
	m := []uint32{h.cat.pause, app}
	if h.rng.Float64() < 0.4 {
		m = append(m, h.cat.sidecar[h.rng.IntN(len(h.cat.sidecar))])
	}
	return m
}

// podStart is when a pod of the initial population started (within the last week); later pods start now.
func (h *Host) podStart() int64 {
	if h.tick == 0 {
		return h.now - h.rng.Int64N(int64(7*24*time.Hour))
	}
	return 0
}

func (h *Host) spawnJob() {
	var ppid uint32 = 1
	for range 4 { // a job runs under an app or daemon, never under another job
		if p := h.pick(); p != nil && !h.cat.exes[p.exe].Job {
			ppid = p.PID
			break
		}
	}
	h.spawn(h.cat.jobs[h.rng.IntN(len(h.cat.jobs))], ppid, 0)
}

func (h *Host) oomLimit(e *Executable) uint32 {
	return min(e.MemHi*4, uint32(min(h.opts.MemoryBytes/4/1024, 1<<31)))
}

// advance moves one process through one interval: CPU, memory, disk.
func (h *Host) advance(p *Process) {
	e := &h.cat.exes[p.exe]
	cores := float64(h.opts.Cores)
	frac := e.CPU * (0.4 + 1.2*h.rng.Float64())
	if p.spikeLeft > 0 {
		frac = cores * (0.7 + 0.3*h.rng.Float64())
		p.spikeLeft--
	}
	used := min(frac, cores) * h.dt
	wait := used * 0.03 * h.rng.Float64()
	sys := used * (0.1 + 0.2*h.rng.Float64())
	user := used - wait - sys
	p.cpu[StateUser] += user
	p.cpu[StateSystem] += sys
	p.cpu[StateWait] += wait
	p.lastCPU = [3]float32{float32(user), float32(sys), float32(wait)}

	if p.flags&flagLeaking != 0 {
		p.rss += max(e.MemHi/20, 1024)
	} else {
		span := int64(e.MemHi - e.MemLo)
		step := h.rng.Int64N(span/10+1) - span/20
		p.rss = uint32(min(max(int64(p.rss)+step, int64(e.MemLo)), int64(e.MemHi)))
	}
	p.vms = p.rss * e.VMSMul

	if e.IORate > 0 {
		b := e.IORate * h.dt * 2 * h.rng.Float64()
		r := b * 0.4
		p.readBytes += uint64(r)
		p.writeBytes += uint64(b - r)
	}
}

// matches reports whether p is selected by a chaos target.
func (h *Host) matches(p *Process, t control.ChaosTarget, class Class) bool {
	e := &h.cat.exes[p.exe]
	return (t.PID == 0 || int64(p.PID) == t.PID) &&
		(t.Class == "" || e.Class == class) &&
		(t.Executable == "" || e.Name == t.Executable)
}

// inject applies a chaos event to every matching process; it returns how many.
func (h *Host) inject(ev control.ChaosEvent, class Class) int {
	n := 0
	for i := range h.procs {
		p := &h.procs[i]
		if p.flags&flagDead != 0 || !h.matches(p, ev.Target, class) {
			continue
		}
		switch ev.Kind {
		case control.ChaosCPUSpike:
			p.spikeLeft = uint8(min(ev.Intervals, 255))
		case control.ChaosMemoryLeak:
			p.flags |= flagLeaking
		case control.ChaosKill:
			if p.PPID == 0 {
				continue // init cannot be killed
			}
			h.kill(p, true)
		}
		n++
	}
	return n
}

// reset keeps the node's daemons and replaces every other process with the new profile's (PIDs continue,
// never reused). System executables sit at the same catalog indexes in every profile.
func (h *Host) reset(rates Rates, cat *catalog) {
	nSystem := uint32(len(cat.system))
	for i := range h.procs {
		if h.procs[i].exe >= nSystem {
			h.kill(&h.procs[i], false)
		}
	}
	h.reap()
	h.rates, h.cat = rates, cat
	h.respawn = h.respawn[:0]
	h.fitTarget()
}
