// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package procsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// Class is a process's priority class, derived from its executable.
type Class uint8

const (
	ClassCritical Class = iota // node agents the node cannot run without: systemd, kubelet, containerd
	ClassHigh                  // platform: shims, kube-proxy, CNI, DNS
	ClassNormal                // application workloads and sidecars
	ClassLow                   // pause containers, shells, cron jobs
)

var classNames = [...]string{"critical", "high", "normal", "low"}

func (c Class) String() string { return classNames[c] }

// ParseClass parses a class name.
func ParseClass(s string) (Class, error) {
	for i, n := range classNames {
		if n == s {
			return Class(i), nil
		}
	}
	return 0, fmt.Errorf("unknown priority class %q", s)
}

// Executable is one kind of process: what it is called, who runs it and how it behaves. Processes point at
// their Executable, so strings live once in the catalog, not in every process.
type Executable struct {
	Name     string   // process.executable.name
	Path     string   // process.executable.path
	Owner    string   // process.owner
	Cgroup   string   // process.cgroup
	Cmdlines []string // process.command_line variants; process.command is the first word
	Commands []string // argv[0] of each variant
	Class    Class
	CPU      float64 // mean cores used while running
	MemLo    uint32  // resident memory bounds (KiB) when not leaking
	MemHi    uint32
	VMSMul   uint32  // virtual size = resident × VMSMul
	IORate   float64 // mean disk bytes per second (read + write)
	Threads  uint16
	FDs      uint16
	Job      bool   // short-lived: cron jobs, shells, probes
	Lifetime uint16 // for jobs: mean life in intervals
	role     role
}

// role places an executable in the process tree.
type role uint8

const (
	roleInit role = iota
	roleDaemon
	roleShim
	rolePause
	roleApp
	roleSidecar
	roleJob
)

const kib = 1024 // KiB per MiB, for readable bounds below

func exe(name, path, owner string, class Class, r role, cpu float64, memLoMiB, memHiMiB uint32, io float64, threads uint16, fds uint16, cmdlines ...string) Executable {
	e := Executable{
		Name: name, Path: path, Owner: owner, Class: class, role: r, CPU: cpu,
		MemLo: memLoMiB * kib, MemHi: memHiMiB * kib, VMSMul: 4, IORate: io, Threads: threads, FDs: fds,
		Cgroup: "/system.slice/" + name + ".service",
	}
	if len(cmdlines) == 0 {
		cmdlines = []string{path}
	}
	e.setCmdlines(cmdlines)
	switch r {
	case roleShim, rolePause, roleApp, roleSidecar:
		e.Cgroup = "/kubepods.slice/kubepods-burstable.slice"
	case roleJob:
		e.Job, e.Lifetime, e.Cgroup = true, 3, "/system.slice/cron.service"
	}
	return e
}

func (e *Executable) setCmdlines(cmdlines []string) {
	e.Cmdlines = cmdlines
	e.Commands = make([]string, len(cmdlines))
	for i, c := range cmdlines {
		e.Commands[i], _, _ = strings.Cut(c, " ")
	}
}

// systemExecutables run once per node.
var systemExecutables = []Executable{
	exe("systemd", "/usr/lib/systemd/systemd", "root", ClassCritical, roleInit, 0.01, 8, 16, 2e3, 1, 120, "/sbin/init"),
	exe("systemd-journal", "/usr/lib/systemd/systemd-journald", "root", ClassHigh, roleDaemon, 0.02, 16, 64, 5e5, 1, 40, "/usr/lib/systemd/systemd-journald"),
	exe("kubelet", "/usr/bin/kubelet", "root", ClassCritical, roleDaemon, 0.15, 80, 160, 2e5, 40, 90,
		"/usr/bin/kubelet --bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf --config=/var/lib/kubelet/config.yaml --container-runtime-endpoint=unix:///run/containerd/containerd.sock"),
	exe("containerd", "/usr/bin/containerd", "root", ClassCritical, roleDaemon, 0.08, 60, 140, 4e5, 30, 200, "/usr/bin/containerd"),
	exe("kube-proxy", "/usr/local/bin/kube-proxy", "root", ClassHigh, roleApp, 0.02, 30, 60, 1e3, 12, 30,
		"/usr/local/bin/kube-proxy --config=/var/lib/kube-proxy/config.conf --hostname-override=node-1"),
	exe("sshd", "/usr/sbin/sshd", "root", ClassHigh, roleDaemon, 0.001, 6, 10, 0, 1, 8, "sshd: /usr/sbin/sshd -D [listener] 0 of 10-100 startups"),
	exe("chronyd", "/usr/sbin/chronyd", "_chrony", ClassHigh, roleDaemon, 0.001, 3, 5, 0, 1, 6, "/usr/sbin/chronyd -F 1"),
	exe("calico-node", "/usr/bin/calico-node", "root", ClassHigh, roleApp, 0.04, 90, 180, 1e4, 20, 60, "calico-node -felix"),
	exe("coredns", "/coredns", "root", ClassHigh, roleApp, 0.01, 20, 50, 0, 10, 20, "/coredns -conf /etc/coredns/Corefile"),
}

// podExecutables: each pod is a shim, a pause container, one app and sometimes a sidecar.
var (
	shimExecutable  = exe("containerd-shim", "/usr/bin/containerd-shim-runc-v2", "root", ClassHigh, roleShim, 0.002, 8, 14, 0, 11, 12, "/usr/bin/containerd-shim-runc-v2 -namespace k8s.io -id 7c5a6e3f -address /run/containerd/containerd.sock")
	pauseExecutable = exe("pause", "/pause", "65535", ClassLow, rolePause, 0.0001, 1, 1, 0, 1, 3, "/pause")
	appExecutables  = []Executable{
		exe("java", "/opt/java/openjdk/bin/java", "1000", ClassNormal, roleApp, 0.25, 400, 1500, 2e5, 60, 180,
			"java -XX:+UseG1GC -Xmx1g -jar /app/orders-service.jar --spring.profiles.active=prod",
			"java -XX:MaxRAMPercentage=75 -cp /app/lib/* com.example.billing.Main"),
		exe("node", "/usr/local/bin/node", "1000", ClassNormal, roleApp, 0.1, 80, 300, 5e4, 11, 40,
			"node /srv/app/server.js", "node --max-old-space-size=512 dist/main.js"),
		exe("python3", "/usr/local/bin/python3.12", "1000", ClassNormal, roleApp, 0.08, 60, 250, 3e4, 4, 25,
			"python3 -m gunicorn app.wsgi:application --workers 4 --bind 0.0.0.0:8000", "python3 /app/worker.py --queue default"),
		exe("nginx", "/usr/sbin/nginx", "101", ClassNormal, roleApp, 0.02, 10, 40, 1e5, 1, 60, "nginx: master process nginx -g daemon off;", "nginx: worker process"),
		exe("postgres", "/usr/lib/postgresql/16/bin/postgres", "999", ClassHigh, roleApp, 0.05, 100, 600, 2e6, 1, 80, "postgres -c config_file=/etc/postgresql/postgresql.conf"),
		exe("redis-server", "/usr/local/bin/redis-server", "999", ClassNormal, roleApp, 0.03, 20, 400, 1e5, 5, 30, "redis-server *:6379"),
		exe("dotnet", "/usr/share/dotnet/dotnet", "1000", ClassNormal, roleApp, 0.12, 120, 500, 6e4, 25, 90, "dotnet /app/Catalog.Api.dll"),
		exe("ruby", "/usr/local/bin/ruby", "1000", ClassNormal, roleApp, 0.06, 100, 350, 2e4, 8, 30, "puma 6.4.0 (tcp://0.0.0.0:3000) [app]"),
		exe("app", "/app/app", "65532", ClassNormal, roleApp, 0.05, 20, 120, 2e4, 12, 25, "/app/app --config /etc/app/config.yaml"),
	}
	sidecarExecutables = []Executable{
		exe("envoy", "/usr/local/bin/envoy", "1337", ClassNormal, roleSidecar, 0.04, 40, 120, 0, 18, 70, "/usr/local/bin/envoy -c /etc/istio/proxy/envoy-rev.json --drain-time-s 45"),
		exe("pilot-agent", "/usr/local/bin/pilot-agent", "1337", ClassNormal, roleSidecar, 0.005, 30, 60, 0, 14, 20, "/usr/local/bin/pilot-agent proxy sidecar --domain default.svc.cluster.local"),
		exe("fluent-bit", "/fluent-bit/bin/fluent-bit", "root", ClassNormal, roleSidecar, 0.02, 15, 60, 3e5, 6, 50, "/fluent-bit/bin/fluent-bit -c /fluent-bit/etc/fluent-bit.conf"),
		exe("otelcol-contrib", "/otelcol-contrib", "10001", ClassNormal, roleSidecar, 0.03, 60, 200, 1e4, 14, 40, "/otelcol-contrib --config=/conf/relay.yaml"),
	}
	jobExecutables = []Executable{
		exe("bash", "/usr/bin/bash", "root", ClassLow, roleJob, 0.002, 3, 5, 1e3, 1, 4, "bash", "/bin/bash -c /scripts/healthcheck.sh"),
		exe("sh", "/usr/bin/dash", "1000", ClassLow, roleJob, 0.001, 1, 2, 1e3, 1, 4, "sh -c sleep 5", "/bin/sh /entrypoint.sh"),
		exe("logrotate", "/usr/sbin/logrotate", "root", ClassLow, roleJob, 0.05, 4, 8, 2e6, 1, 8, "/usr/sbin/logrotate /etc/logrotate.conf"),
		exe("backup.sh", "/opt/jobs/backup.sh", "root", ClassLow, roleJob, 0.2, 10, 40, 2e7, 1, 10, "/bin/bash /opt/jobs/backup.sh --target s3://backups/node"),
		exe("curl", "/usr/bin/curl", "1000", ClassLow, roleJob, 0.01, 4, 8, 1e4, 2, 6, "curl -fsS http://localhost:8080/healthz"),
	}
)

// catalog is the set of executables a host's processes are drawn from.
type catalog struct {
	exes    []Executable
	system  []uint32 // indexes, in start order
	shim    uint32
	pause   uint32
	apps    []uint32
	sidecar []uint32
	jobs    []uint32
}

func (c *catalog) add(e Executable) uint32 {
	c.exes = append(c.exes, e)
	return uint32(len(c.exes) - 1)
}

// maxGeneratedExecutables bounds the catalog of the high_cardinality profile (its strings are shared by all
// processes; the per-process state stays small).
const maxGeneratedExecutables = 10000

func newCatalog(p Profile, processes int, rng *rand.Rand) *catalog {
	c := &catalog{}
	for _, e := range systemExecutables {
		c.system = append(c.system, c.add(e))
	}
	c.shim = c.add(shimExecutable)
	c.pause = c.add(pauseExecutable)
	for _, e := range appExecutables {
		c.apps = append(c.apps, c.add(e))
	}
	for _, e := range sidecarExecutables {
		c.sidecar = append(c.sidecar, c.add(e))
	}
	for _, e := range jobExecutables {
		c.jobs = append(c.jobs, c.add(e))
	}
	if p == ProfileHighCardinality {
		n := min(max(processes/2, 16), maxGeneratedExecutables)
		c.apps = c.apps[:0]
		for i := range n {
			c.apps = append(c.apps, c.add(generatedExecutable(i, rng)))
		}
	}
	return c
}

var (
	words    = []string{"orders", "billing", "search", "catalog", "ledger", "payments", "fraud", "notify", "auth", "inventory", "pricing", "shipping", "reco", "profile", "media", "gateway", "reports", "audit", "stream", "quota"}
	suffix   = []string{"api", "worker", "consumer", "indexer", "scheduler", "sync", "exporter", "proxy"}
	runtimes = []string{"java", "python3", "node", "dotnet", "native"}
)

// generatedExecutable makes a distinct executable with a long, realistic command line.
func generatedExecutable(i int, rng *rand.Rand) Executable {
	name := fmt.Sprintf("%s-%s-%d", words[rng.IntN(len(words))], suffix[rng.IntN(len(suffix))], i)
	rt := runtimes[rng.IntN(len(runtimes))]
	var cmd string
	switch rt {
	case "java":
		cmd = fmt.Sprintf("java -XX:+UseG1GC -XX:MaxRAMPercentage=%d -Dservice.name=%s -Dotel.resource.attributes=service.namespace=prod,team=%s -Djava.security.egd=file:/dev/./urandom -cp /opt/%s/lib/* com.example.%s.Application --server.port=%d --spring.profiles.active=prod,k8s --management.endpoints.web.exposure.include=health,prometheus",
			50+rng.IntN(30), name, words[rng.IntN(len(words))], name, strings.ReplaceAll(name, "-", ""), 8000+rng.IntN(1000))
	case "python3":
		cmd = fmt.Sprintf("python3 -m celery --app=%s.tasks worker --loglevel=INFO --concurrency=%d --queues=%s,default --hostname=%s@%%h --max-tasks-per-child=1000 --without-gossip --without-mingle",
			strings.ReplaceAll(name, "-", "_"), 2+rng.IntN(14), words[rng.IntN(len(words))], name)
	case "node":
		cmd = fmt.Sprintf("node --max-old-space-size=%d --enable-source-maps /srv/%s/dist/main.js --port %d --log-format json --metrics-port %d",
			256*(1+rng.IntN(8)), name, 3000+rng.IntN(1000), 9000+rng.IntN(1000))
	case "dotnet":
		cmd = fmt.Sprintf("dotnet /app/%s.dll --urls http://+:%d --environment Production --Logging:LogLevel:Default=Information", name, 5000+rng.IntN(1000))
	default:
		cmd = fmt.Sprintf("/app/%s --config=/etc/%s/config.yaml --listen=:%d --log-level=info --shard=%d/%d", name, name, 8000+rng.IntN(1000), rng.IntN(16), 16)
	}
	// Deployment tooling appends the same long tail of flags to every service.
	cmd += fmt.Sprintf(" --otel-exporter-otlp-endpoint=http://otel-collector.observability.svc.cluster.local:4317 --pod-name=%s-%x --feature-flags=canary-routing,async-audit,new-pricing-%d --log-sampling=%d",
		name, rng.Uint32(), rng.IntN(9), 1+rng.IntN(100))
	// Each service ships its own launcher, so executables are distinct while the runtime shows in the command line.
	path := "/opt/" + name + "/bin/" + name
	e := exe(name, path, fmt.Sprint(1000+rng.IntN(100)), Class(ClassNormal+Class(rng.IntN(2))), roleApp,
		0.005+rng.Float64()*0.1, uint32(20+rng.IntN(200)), uint32(250+rng.IntN(800)), rng.Float64()*1e5,
		uint16(1+rng.IntN(64)), uint16(8+rng.IntN(120)), cmd)
	return e
}
