// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package procsim

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/phoenix-platform/otelcol-phoenix/internal/control"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func opts(p Profile, n int) Options {
	return Options{
		Profile: p, Processes: n, Hosts: 1, HostPrefix: "node-", Seed: 42, Cores: 4,
		MemoryBytes: 16 << 30, Interval: 10 * time.Second, Start: time.Unix(1_700_000_000, 0),
	}
}

func newSim(t testing.TB, o Options) *Simulator {
	s, err := New(o)
	require.NoError(t, err)
	return s
}

type seen struct {
	cpu       [3]float64
	read      int64
	write     int64
	created   int64
	rss       int64
	leaking   bool
	exe       string
	execIndex uint32
}

// TestProperties runs every profile for many intervals and checks, each interval, what a real host
// guarantees about its processes.
func TestProperties(t *testing.T) {
	for _, p := range Profiles {
		t.Run(string(p), func(t *testing.T) {
			o := opts(p, 300)
			if p == ProfileChaos {
				leak, kill := 0.02, 0.01 // more chaos than the default, to see every event many times
				o.Rates.Leak, o.Rates.Kill = &leak, &kill
			}
			s := newSim(t, o)
			h := s.hosts[0]
			dt := o.Interval.Seconds()
			prev := map[uint32]seen{}
			everDead := map[uint32]bool{}
			var leaksKilled, deaths int
			for interval := range 400 {
				s.Tick(func(*Host) {})
				live := map[uint32]bool{}
				for i := range h.procs {
					live[h.procs[i].PID] = true
				}
				require.Len(t, live, len(h.procs), "interval %d: duplicate PIDs", interval)
				require.Equal(t, o.Processes, len(h.procs), "interval %d: process count", interval)

				for i := range h.procs {
					pr := &h.procs[i]
					e := h.Executable(pr)
					require.False(t, everDead[pr.PID], "interval %d: PID %d reused", interval, pr.PID)
					if pr.PPID != 0 {
						require.True(t, live[pr.PPID], "interval %d: pid %d (%s) has no parent %d", interval, pr.PID, e.Name, pr.PPID)
					} else {
						require.Equal(t, uint32(1), pr.PID, "only init has no parent")
					}
					u, ok := pr.CPUUtilization(h)
					if ok {
						for _, v := range u {
							require.True(t, v >= 0 && v <= 1, "cpu utilization %v out of [0,1]", v)
						}
						require.LessOrEqual(t, u[0]+u[1]+u[2], 1.0+1e-6)
					}
					mu := pr.MemoryUtilization(h)
					require.True(t, mu >= 0 && mu <= 1, "memory utilization %v", mu)
					rss := pr.MemoryRSS()
					if !pr.Leaking() {
						require.GreaterOrEqual(t, rss, int64(e.MemLo)*1024, "%s rss below its bounds", e.Name)
						require.LessOrEqual(t, rss, int64(e.MemHi)*1024, "%s rss above its bounds", e.Name)
					}
					cpu := pr.CPUTime()
					r, w := pr.DiskIO()
					before, existed := prev[pr.PID]
					if !existed {
						continue
					}
					require.Equal(t, before.created, pr.Created(), "start time of a live process changed")
					var grown float64
					for k := range cpu {
						require.GreaterOrEqual(t, cpu[k], before.cpu[k], "cpu time decreased")
						grown += cpu[k] - before.cpu[k]
					}
					require.LessOrEqual(t, grown, float64(o.Cores)*dt+1e-9, "cpu time grew by more than cores × interval")
					require.GreaterOrEqual(t, r, before.read, "disk read decreased")
					require.GreaterOrEqual(t, w, before.write, "disk write decreased")
					if before.leaking {
						require.True(t, pr.Leaking(), "a leak stops only when the process is killed")
						require.Greater(t, rss, before.rss, "a leaking process's memory must grow")
					}
				}
				for pid, b := range prev {
					if !live[pid] {
						everDead[pid] = true
						deaths++
						if b.leaking {
							leaksKilled++
						}
					}
				}
				prev = map[uint32]seen{}
				for i := range h.procs {
					pr := &h.procs[i]
					r, w := pr.DiskIO()
					prev[pr.PID] = seen{cpu: pr.CPUTime(), read: r, write: w, created: pr.Created(), rss: pr.MemoryRSS(), leaking: pr.Leaking()}
				}
			}
			assert.Positive(t, deaths, "processes must come and go in every profile")
			if p == ProfileChaos {
				assert.Positive(t, leaksKilled, "leaks must end in kills")
			}
		})
	}
}

func TestHighChurnNewPIDsEveryInterval(t *testing.T) {
	s := newSim(t, opts(ProfileHighChurn, 1000))
	h := s.hosts[0]
	before := pids(h)
	for range 5 {
		s.Tick(func(*Host) {})
		now := pids(h)
		fresh := 0
		for pid := range now {
			if !before[pid] {
				fresh++
			}
		}
		assert.Greater(t, fresh, 100, "high_churn must start many new PIDs every interval")
		before = now
	}
}

func TestHighCardinalityManyExecutables(t *testing.T) {
	s := newSim(t, opts(ProfileHighCardinality, 2000))
	h := s.hosts[0]
	names, cmdlen := executables(h)
	assert.Greater(t, names, 500, "distinct executables")

	realistic, realisticCmdlen := executables(newSim(t, opts(ProfileRealistic, 2000)).hosts[0])
	assert.Less(t, realistic, 40, "a realistic node runs a few dozen distinct executables")
	assert.Greater(t, cmdlen, 2*realisticCmdlen, "high_cardinality command lines are long")
}

// executables returns the number of distinct executables and the mean command-line length.
func executables(h *Host) (int, int) {
	names := map[string]bool{}
	var cmdlen int
	for i := range h.procs {
		names[h.Executable(&h.procs[i]).Name] = true
		cmdlen += len(h.procs[i].CommandLine(h))
	}
	return len(names), cmdlen / len(h.procs)
}

func TestRealisticNode(t *testing.T) {
	h := newSim(t, opts(ProfileRealistic, 200)).hosts[0]
	count := map[string]int{}
	for i := range h.procs {
		count[h.Executable(&h.procs[i]).Name]++
	}
	for _, name := range []string{"systemd", "kubelet", "containerd", "containerd-shim", "pause"} {
		assert.Positive(t, count[name], name)
	}
	assert.Equal(t, 1, count["kubelet"])
	assert.InDelta(t, count["containerd-shim"], count["pause"], 1, "one pause container per pod (the last may be cut short)")
}

func TestDeterministic(t *testing.T) {
	run := func(seed uint64) []string {
		o := opts(ProfileChaos, 300)
		o.Seed = seed
		o.Hosts = 2
		s := newSim(t, o)
		var out []string
		for range 50 {
			s.Tick(func(h *Host) {
				for i := range h.procs {
					p := &h.procs[i]
					r, w := p.DiskIO()
					out = append(out, fmt.Sprint(h.Name(), p.PID, p.PPID, p.CommandLine(h), p.CPUTime(), p.MemoryRSS(), r, w, p.Created()))
				}
			})
		}
		return out
	}
	a, b := run(7), run(7)
	require.Equal(t, a, b, "same seed and options must give the same processes")
	assert.NotEqual(t, a, run(8), "another seed gives another run")
}

func TestHostsAreDistinct(t *testing.T) {
	o := opts(ProfileRealistic, 100)
	o.Hosts = 3
	s := newSim(t, o)
	names := map[string]bool{}
	s.Tick(func(h *Host) { names[h.Name()] = true })
	assert.Equal(t, map[string]bool{"node-0": true, "node-1": true, "node-2": true}, names)
	assert.NotEqual(t, s.hosts[0].procs[20].PID, s.hosts[1].procs[20].PID+1<<30, "hosts are separate")
	st := s.Status()
	assert.Equal(t, 300, st.Live)
	assert.Equal(t, 3, st.Hosts)
}

func TestValidateListsEveryProblem(t *testing.T) {
	bad := -0.5
	o := Options{Profile: "nope", Processes: 0, Hosts: 0, Cores: 0, MemoryBytes: 1, Interval: 0, Rates: RateOverrides{Churn: &bad}}
	err := o.Validate()
	require.Error(t, err)
	for _, want := range []string{`unknown profile "nope"`, "processes 0", "hosts 0", "cores 0", "memory 1 bytes", "interval 0s", "churn_rate -0.5"} {
		assert.ErrorContains(t, err, want)
	}
}

// TestControl drives the control contract directly: profile, process count and each chaos kind.
func TestControl(t *testing.T) {
	s := newSim(t, opts(ProfileRealistic, 200))
	var sim control.Simulator = s
	h := s.hosts[0]

	require.NoError(t, sim.SetProcessCount(350))
	assert.Len(t, h.procs, 350)
	require.NoError(t, sim.SetProcessCount(120))
	assert.Len(t, h.procs, 120)
	assert.Positive(t, count(h, "kubelet"), "shrinking kills low classes first, never the node agents")
	require.ErrorContains(t, sim.SetProcessCount(0), "processes 0")
	assert.Len(t, h.procs, 120, "a rejected change changes nothing")

	// cpu_spike on one executable: its processes burn close to every core for the given intervals.
	n, err := sim.InjectChaos(control.ChaosEvent{Kind: control.ChaosCPUSpike, Target: control.ChaosTarget{Executable: "kubelet"}, Intervals: 2})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s.Tick(func(*Host) {})
	k := find(h, "kubelet")
	u, ok := k.CPUUtilization(h)
	require.True(t, ok)
	assert.Greater(t, u[0]+u[1]+u[2], 0.6, "spiking kubelet uses most of the cores")

	// memory_leak on a class: memory grows every interval.
	n, err = sim.InjectChaos(control.ChaosEvent{Kind: control.ChaosMemoryLeak, Target: control.ChaosTarget{Class: "critical"}})
	require.NoError(t, err)
	assert.Equal(t, count(h, "systemd")+count(h, "kubelet")+count(h, "containerd"), n)
	before := find(h, "containerd").MemoryRSS()
	s.Tick(func(*Host) {})
	assert.Greater(t, find(h, "containerd").MemoryRSS(), before)

	// kill by PID: the process goes, a new one with a new PID runs the same executable.
	victim := find(h, "kube-proxy")
	pid := victim.PID
	n, err = sim.InjectChaos(control.ChaosEvent{Kind: control.ChaosKill, Target: control.ChaosTarget{PID: int64(pid)}})
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	s.Tick(func(*Host) {})
	assert.False(t, pids(h)[pid], "killed")
	assert.Equal(t, 1, count(h, "kube-proxy"), "restarted")
	assert.NotEqual(t, pid, find(h, "kube-proxy").PID)

	_, err = sim.InjectChaos(control.ChaosEvent{Kind: control.ChaosKill, Target: control.ChaosTarget{Executable: "no-such"}})
	assert.ErrorContains(t, err, "no live process matches")
	_, err = sim.InjectChaos(control.ChaosEvent{Kind: "melt", Target: control.ChaosTarget{}})
	assert.ErrorContains(t, err, `chaos kind "melt"`)
	assert.ErrorIs(t, err, control.ErrNoTarget)

	// profile switch: the node's daemons stay, everything else is replaced, PIDs are not reused.
	old := pids(h)
	require.NoError(t, sim.SetProfile("high_cardinality"))
	assert.Equal(t, "high_cardinality", sim.Status().Profile)
	assert.Len(t, h.procs, 120)
	assert.Equal(t, 1, count(h, "kubelet"))
	for i := range h.procs {
		p := &h.procs[i]
		if h.Executable(p).role != roleInit && h.Executable(p).role != roleDaemon && !isSystem(h, p) {
			assert.False(t, old[p.PID], "PID %d reused after a profile switch", p.PID)
		}
	}
	require.ErrorContains(t, sim.SetProfile("bogus"), "unknown profile")
}

func isSystem(h *Host, p *Process) bool { return p.exe < uint32(len(h.cat.system)) }

func pids(h *Host) map[uint32]bool {
	m := map[uint32]bool{}
	for i := range h.procs {
		m[h.procs[i].PID] = true
	}
	return m
}

func count(h *Host, name string) int {
	n := 0
	for i := range h.procs {
		if h.Executable(&h.procs[i]).Name == name {
			n++
		}
	}
	return n
}

func find(h *Host, name string) *Process {
	for i := range h.procs {
		if h.Executable(&h.procs[i]).Name == name {
			return &h.procs[i]
		}
	}
	return nil
}

func TestProcessIsSmall(t *testing.T) {
	assert.LessOrEqual(t, unsafe.Sizeof(Process{}), uintptr(128), "state per process")
}

// BenchmarkStateBytesPerProcess measures the heap a host's processes take, per process, with the shared
// catalog counted separately.
func BenchmarkStateBytesPerProcess(b *testing.B) {
	for _, p := range Profiles {
		b.Run(string(p), func(b *testing.B) {
			const n = 100_000
			var perProc, catalogBytes float64
			for b.Loop() {
				runtime.GC()
				var m0, m1, m2 runtime.MemStats
				runtime.ReadMemStats(&m0)
				cat := (&Simulator{opts: opts(p, n)}).catalog()
				runtime.GC()
				runtime.ReadMemStats(&m1)
				s := newSim(b, opts(p, n))
				runtime.GC()
				runtime.ReadMemStats(&m2)
				catalogBytes = float64(m1.HeapAlloc - m0.HeapAlloc)
				perProc = (float64(m2.HeapAlloc-m1.HeapAlloc) - catalogBytes) / n
				runtime.KeepAlive(s)
				runtime.KeepAlive(cat)
			}
			b.ReportMetric(perProc, "bytes/process")
			b.ReportMetric(catalogBytes, "catalog-bytes")
		})
	}
}

// BenchmarkStep is the model's own cost per process and interval (no pdata).
func BenchmarkStep(b *testing.B) {
	for _, p := range Profiles {
		b.Run(string(p), func(b *testing.B) {
			s := newSim(b, opts(p, 10_000))
			b.ResetTimer()
			for b.Loop() {
				s.Tick(func(*Host) {})
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/10_000, "ns/process")
		})
	}
}
