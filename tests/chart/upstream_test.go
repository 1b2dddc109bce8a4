// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

func ciFile(t *testing.T, name string) string {
	return filepath.Join(chartDir(t), "ci", name+"-values.yaml")
}

// TestUpstreamValuesInstallUnchanged: ci/upstream-values.yaml, written for the upstream
// opentelemetry-collector chart, renders (and TestCIValues validates it with the binary); here, that each of
// its keys does what it does upstream.
func TestUpstreamValuesInstallUnchanged(t *testing.T) {
	r := decode(t, render(t, "-f", ciFile(t, "upstream")))
	cfg := decodeRelay(t, r)
	tmpl, _ := r.pod(t)
	c := collector(t, tmpl.Spec)

	// command.extraArgs reach the binary after the config.
	assert.Equal(t, []string{"--config=/conf/relay.yaml", "--feature-gates=receiver.hostmetricsreceiver.UseLinuxMemAvailable"}, c.Args)

	// config: the old names tune the presets' components (one receiver each, not two).
	assert.Equal(t, "60s", cfg.Receivers["host_metrics"]["collection_interval"], "config.receivers.hostmetrics tunes the hostMetrics preset")
	assert.Contains(t, cfg.Receivers["host_metrics"]["scrapers"], "process", "the preset's scrapers stay")
	ks := cfg.Receivers["kubelet_stats"]
	assert.Equal(t, true, ks["insecure_skip_verify"], "config.receivers.kubeletstats tunes the kubeletMetrics preset")
	assert.Equal(t, "${env:K8S_NODE_IP}:10250", ks["endpoint"])
	assert.Equal(t, []any{"node", "pod", "container"}, ks["metric_groups"])
	assert.Contains(t, cfg.Receivers["file_log"]["exclude"], "/var/log/pods/kube-system_*/*/*.log", "config.receivers.filelog tunes logsCollection")
	assert.Equal(t, map[string]any{"metadata": []any{"k8s.namespace.name", "k8s.pod.name", "k8s.node.name"}, "otel_annotations": true,
		"labels": []any{map[string]any{"tag_name": "$$1", "key_regex": "(.*)", "from": "pod"}}},
		cfg.Processors["k8s_attributes"]["extract"], "config.processors.k8sattributes tunes kubernetesAttributes; extractAllPodLabels adds the labels rule")
	for name, p := range cfg.Service.Pipelines {
		assert.NotContains(t, p.Processors, "k8sattributes", name)
		assert.Equal(t, 1, countOf(p.Processors, "k8s_attributes"), "pipeline %s: k8s_attributes once", name)
	}
	assert.Equal(t, []string{"host_metrics", "otlp", "kubelet_stats"}, cfg.Service.Pipelines["metrics"].Receivers)
	assert.Equal(t, []string{"otlp", "file_log"}, cfg.Service.Pipelines["logs"].Receivers)
	// `jaeger: null` and co. remove upstream's default receivers; here there are none, and no null remains.
	for _, name := range []string{"jaeger", "zipkin", "prometheus"} {
		assert.NotContains(t, cfg.Receivers, name)
	}
	assert.NotContains(t, collectorConfig(t, r), "null")

	// ports: upstream's jaeger/zipkin ports switched off need nothing else; OTLP on the node's IP.
	assert.ElementsMatch(t, []string{"metrics", "otlp", "otlp-http", "health"}, portNames(c))
	assert.Equal(t, int32(4317), containerPort(c, "otlp").HostPort)

	// resources (a decimal limit), extraEnvs, tolerations, probes in upstream's shape.
	assert.Equal(t, "1G", c.Resources.Limits.Memory().String())
	assert.Equal(t, "762MiB", env(c, "GOMEMLIMIT"))
	assert.Equal(t, "prod-eu-1", env(c, "CLUSTER_NAME"))
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}, tmpl.Spec.Tolerations)
	assert.Equal(t, intstr.FromInt32(13133), c.LivenessProbe.HTTPGet.Port)

	// clusterRole.rules join the presets' rules.
	require.Len(t, r.clusterRoles, 1)
	rules := r.clusterRoles[0].Rules
	assert.Contains(t, rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"nodes/proxy"}, Verbs: []string{"get"}})
	assert.True(t, granted(r.clusterRoles, "nodes/stats", "get"), "kubeletMetrics")
	assert.True(t, granted(r.clusterRoles, "pods", "list"), "kubernetesAttributes")

	// service: on a DaemonSet, traffic stays on the node; appProtocol on the OTLP port.
	svc := r.services["phoenix-otelcol-phoenix"]
	require.NotNil(t, svc)
	assert.Equal(t, corev1.ServiceInternalTrafficPolicyLocal, *svc.Spec.InternalTrafficPolicy)
	assert.Equal(t, "grpc", *servicePort(svc, "otlp").AppProtocol)

	// logs and host metrics read root-owned files: UID 0, only hostMetrics' two capabilities.
	assert.Equal(t, int64(0), *tmpl.Spec.SecurityContext.RunAsUser)
	assert.Equal(t, []corev1.Capability{"SYS_PTRACE", "DAC_READ_SEARCH"}, c.SecurityContext.Capabilities.Add)
}

// TestDeprecatedNamesRenamed: old component names in config are renamed and merged into the presets'
// components (the new name's settings win), pipelines follow; rewriteDeprecatedComponentNames: false keeps
// them as written.
func TestDeprecatedNamesRenamed(t *testing.T) {
	sets := []string{
		"presets.hostMetrics.enabled=true", "presets.kubernetesAttributes.enabled=true",
		"config.receivers.hostmetrics.collection_interval=1m", "config.receivers.host_metrics.collection_interval=2m",
		"config.receivers.hostmetrics.scrapers.paging.foo=null",
		"config.processors.k8sattributes.passthrough=true",
		"config.service.pipelines.traces.processors={memory_limiter,k8sattributes,batch}",
	}
	args := []string{}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	cfg := decodeRelay(t, decode(t, render(t, args...)))
	assert.NotContains(t, cfg.Receivers, "hostmetrics")
	assert.Equal(t, "2m", cfg.Receivers["host_metrics"]["collection_interval"], "the new name wins")
	assert.Contains(t, cfg.Receivers["host_metrics"]["scrapers"], "paging", "the old entry's settings are merged")
	assert.Equal(t, true, cfg.Processors["k8s_attributes"]["passthrough"])
	assert.Equal(t, []string{"memory_limiter", "k8s_attributes", "batch"}, cfg.Service.Pipelines["traces"].Processors)

	kept := decodeRelay(t, decode(t, render(t, append(args, "--set", "rewriteDeprecatedComponentNames=false")...)))
	assert.Contains(t, kept.Receivers, "hostmetrics")
	assert.Contains(t, kept.Processors, "k8sattributes")
}

func TestNullsRemoveUnusedComponents(t *testing.T) {
	cfg := decodeRelay(t, decode(t, render(t, "--set", "config.receivers.jaeger=null", "--set", "config.exporters.nop=null",
		"--set", "config.service.pipelines.traces.exporters={nop}", "--set", "config.service.pipelines.logs=null")))
	assert.NotContains(t, cfg.Receivers, "jaeger", "a null nobody uses is upstream's `remove it`")
	assert.Contains(t, cfg.Exporters, "nop", "a null a pipeline uses is the collector's `defaults`")
	assert.NotContains(t, cfg.Service.Pipelines, "logs")
}

// TestAlternateConfig: alternateConfig replaces config (nothing of the default config remains), and the
// presets are still merged onto it.
func TestAlternateConfig(t *testing.T) {
	r := decode(t, render(t, "--set", "presets.hostMetrics.enabled=true", "--set-json", `alternateConfig={
		"extensions": {"health_check": {"endpoint": "${env:MY_POD_IP}:13133"}},
		"exporters": {"nop": {}},
		"service": {"extensions": ["health_check"], "pipelines": {"metrics": {"receivers": [], "exporters": ["nop"]}}}}`))
	cfg := decodeRelay(t, r)
	assert.Equal(t, []string{"host_metrics"}, cfg.Service.Pipelines["metrics"].Receivers)
	assert.NotContains(t, cfg.Exporters, "debug")
	assert.NotContains(t, cfg.Receivers, "otlp")
	assert.Len(t, cfg.Service.Pipelines, 1)
	validateConfig(t, r, readValues(t, ciFile(t, "hostmetrics")))
}

// TestUpstreamSelfScrape: a pipeline naming `prometheus` (upstream's default self-scrape receiver) without
// defining it gets that receiver; one you define is yours.
func TestUpstreamSelfScrape(t *testing.T) {
	r := decode(t, render(t, "--set", "config.service.pipelines.metrics.receivers={otlp,prometheus}"))
	cfg := decodeRelay(t, r)
	require.Contains(t, cfg.Receivers, "prometheus")
	assert.Contains(t, collectorConfig(t, r), "- ${env:MY_POD_IP}:8888", "it scrapes the collector's own telemetry")
	validateConfig(t, r, readValues(t, ciFile(t, "default")))

	assert.Contains(t, collectorConfig(t, decode(t, render(t, "--set", "config.receivers.prometheus.config.scrape_configs[0].job_name=mine",
		"--set", "config.service.pipelines.metrics.receivers={otlp,prometheus}"))), "job_name: mine")
	assert.NotContains(t, decodeRelay(t, decode(t, render(t))).Receivers, "prometheus", "not unless a pipeline names it")
}

// TestHostMetricsMountPointsAnchored: the filesystem scraper's excluded mount points are the directories and
// what is below them, not every path that starts with their name.
func TestHostMetricsMountPointsAnchored(t *testing.T) {
	cfg := decodeRelay(t, decode(t, render(t, "-f", ciFile(t, "hostmetrics"))))
	fs := cfg.Receivers["host_metrics"]["scrapers"].(map[string]any)["filesystem"].(map[string]any)
	excl := fs["exclude_mount_points"].(map[string]any)
	require.Equal(t, "regexp", excl["match_type"])
	excluded := func(mount string) bool {
		for _, p := range excl["mount_points"].([]any) {
			if regexp.MustCompile(p.(string)).MatchString(mount) {
				return true
			}
		}
		return false
	}
	for _, m := range []string{"/dev", "/dev/shm", "/proc", "/sys/fs/cgroup", "/var/lib/kubelet/pods/x/volumes/y", "/var/lib/docker/overlay2/z", "/snap/core/1", "/run/k3s/containerd/io"} {
		assert.True(t, excluded(m), m)
	}
	for _, m := range []string{"/", "/devops", "/boot", "/data/dev", "/var/lib/kubelet-data", "/sysroot", "/home/snap", "/var/lib/dockershim"} {
		assert.False(t, excluded(m), m)
	}
	process := cfg.Receivers["host_metrics"]["scrapers"].(map[string]any)["process"].(map[string]any)
	for _, flag := range []string{"mute_process_name_error", "mute_process_exe_error", "mute_process_io_error", "mute_process_user_error", "mute_process_cgroup_error"} {
		assert.Equal(t, true, process[flag], "%s: a real node's kernel threads and exiting processes fail these reads every scrape", flag)
	}
}

func TestImageAndCommand(t *testing.T) {
	tmpl, _ := decode(t, render(t, "--set", "command.name=otelcol-k8s", "--set", "image.repository=otel/opentelemetry-collector-k8s",
		"--set", "image.digest=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"--set", "global.imageRegistry=mirror.example.com")).pod(t)
	c := collector(t, tmpl.Spec)
	assert.Equal(t, []string{"/otelcol-k8s"}, c.Command)
	assert.Equal(t, "mirror.example.com/otel/opentelemetry-collector-k8s@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", c.Image)
}

func TestServiceDefaults(t *testing.T) {
	svcOf := func(args ...string) *corev1.Service {
		return decode(t, render(t, args...)).services["phoenix-otelcol-phoenix"]
	}
	assert.Nil(t, svcOf(), "agents: no Service unless enabled")
	gw := svcOf("--set", "mode=deployment")
	require.NotNil(t, gw, "a gateway gets its Service by default, as upstream")
	assert.Equal(t, corev1.ServiceInternalTrafficPolicyCluster, *gw.Spec.InternalTrafficPolicy)
	agent := svcOf("--set", "service.enabled=true", "--set", "service.internalTrafficPolicy=Cluster")
	assert.Equal(t, corev1.ServiceInternalTrafficPolicyCluster, *agent.Spec.InternalTrafficPolicy, "an explicit policy wins")
	lb := svcOf("--set", "mode=deployment", "--set", "service.type=LoadBalancer", "--set", "service.externalTrafficPolicy=Local",
		"--set", "service.loadBalancerSourceRanges={10.0.0.0/8}", "--set", "ports.otlp.nodePort=30317")
	assert.Equal(t, corev1.ServiceExternalTrafficPolicyLocal, lb.Spec.ExternalTrafficPolicy)
	assert.Equal(t, []string{"10.0.0.0/8"}, lb.Spec.LoadBalancerSourceRanges)
	assert.Equal(t, int32(30317), servicePort(lb, "otlp").NodePort)

	r := decode(t, render(t, "-f", ciFile(t, "gateway")))
	np := r.services["phoenix-otelcol-phoenix"]
	assert.Equal(t, corev1.ServiceTypeNodePort, np.Spec.Type)
	assert.Equal(t, int32(30317), servicePort(np, "otlp").NodePort)
	assert.Equal(t, "http", *servicePort(np, "otlp-http").AppProtocol)
}

// TestGateway: ci/gateway-values.yaml's Deployment: PodDisruptionBudget, spread, startup probe, preStop hook,
// surge rollout.
func TestGateway(t *testing.T) {
	r := decode(t, render(t, "-f", ciFile(t, "gateway")))
	require.NotNil(t, r.deployment)
	require.Len(t, r.pdbs, 1)
	assert.Equal(t, intstr.FromInt32(1), *r.pdbs[0].Spec.MaxUnavailable)
	assert.Nil(t, r.pdbs[0].Spec.MinAvailable)
	spec := r.deployment.Spec.Template.Spec
	require.Len(t, spec.TopologySpreadConstraints, 1)
	assert.Equal(t, "topology.kubernetes.io/zone", spec.TopologySpreadConstraints[0].TopologyKey)
	c := collector(t, spec)
	require.NotNil(t, c.StartupProbe)
	assert.Equal(t, int32(30), c.StartupProbe.FailureThreshold)
	assert.Equal(t, "health", c.StartupProbe.HTTPGet.Port.String())
	require.NotNil(t, c.Lifecycle)
	assert.Equal(t, int64(5), c.Lifecycle.PreStop.Sleep.Seconds)
	assert.Equal(t, intstr.FromInt32(1), *r.deployment.Spec.Strategy.RollingUpdate.MaxSurge)

	pdb := func(args ...string) int {
		return len(decode(t, render(t, append([]string{"--set", "mode=deployment"}, args...)...)).pdbs)
	}
	assert.Zero(t, pdb(), "off by default, as upstream")
	r = decode(t, render(t, "--set", "mode=deployment", "--set", "podDisruptionBudget.enabled=true", "--set", "podDisruptionBudget.minAvailable=50%"))
	assert.Equal(t, intstr.FromString("50%"), *r.pdbs[0].Spec.MinAvailable)
	r = decode(t, render(t, "--set", "mode=deployment", "--set", "podDisruptionBudget.enabled=true"))
	assert.Equal(t, intstr.FromInt32(1), *r.pdbs[0].Spec.MaxUnavailable, "maxUnavailable 1 unless told")
}

// TestPodExtras: ci/pod-extras-values.yaml's init container, templated sidecar, hook, envFrom, labels and
// extra manifest.
func TestPodExtras(t *testing.T) {
	r := decode(t, render(t, "-f", ciFile(t, "pod-extras")))
	spec := r.daemonSet.Spec.Template.Spec
	require.Len(t, spec.InitContainers, 1)
	assert.Equal(t, "copy-sleep", spec.InitContainers[0].Name)
	require.Len(t, spec.Containers, 2)
	sidecar := spec.Containers[1]
	assert.Equal(t, "config-reloader", sidecar.Name)
	assert.Equal(t, []string{"--watch=/conf", "--release=phoenix"}, sidecar.Args, "extraContainers are templates")
	c := collector(t, spec)
	assert.Equal(t, []string{"/hooks/sleep", "5"}, c.Lifecycle.PreStop.Exec.Command)
	require.Len(t, c.EnvFrom, 1)
	assert.Equal(t, "collector-env", c.EnvFrom[0].ConfigMapRef.Name)
	assert.Contains(t, mountPaths(c), "/hooks", "extraVolumeMounts")
	extra := r.configMaps["phoenix-extra"]
	require.NotNil(t, extra, "extraManifests are installed, templated")
	assert.Equal(t, "rendered with the release", extra.Data["note"])
	assert.Equal(t, "observability", r.daemonSet.Labels["team"], "additionalLabels on the objects")
	assert.Equal(t, "observability", r.configMaps["phoenix-otelcol-phoenix"].Labels["team"])
}

// TestControlScrapedOnce: with both monitors on, only the PodMonitor scrapes the control API; the
// ServiceMonitor takes it over when the PodMonitor is off.
func TestControlScrapedOnce(t *testing.T) {
	controlEndpoints := func(args ...string) (pod, svc int) {
		r := decode(t, render(t, append([]string{"-f", ciFile(t, "monitoring")}, args...)...))
		for _, m := range r.podMonitors {
			for _, e := range m.Spec.PodMetricsEndpoints {
				if *e.Port == "control" {
					pod++
				}
			}
		}
		for _, m := range r.serviceMonitors {
			for _, e := range m.Spec.Endpoints {
				if e.Port == "control" {
					svc++
				}
			}
		}
		return pod, svc
	}
	pod, svc := controlEndpoints("--set", "serviceMonitor.enabled=true", "--set", "service.enabled=true")
	assert.Equal(t, [2]int{1, 0}, [2]int{pod, svc})
	pod, svc = controlEndpoints("--set", "serviceMonitor.enabled=true", "--set", "podMonitor.enabled=false")
	assert.Equal(t, [2]int{0, 1}, [2]int{pod, svc}, "the ServiceMonitor alone: the headless control Service")
	r := decode(t, render(t, "-f", ciFile(t, "monitoring-gateway")))
	require.Len(t, r.serviceMonitors, 1)
	e := r.serviceMonitors[0].Spec.Endpoints
	require.Len(t, e, 2)
	assert.Equal(t, monitoringv1.Duration("30s"), e[1].Interval)
}

// TestFleetRules: the PrometheusRule carries examples/grafana/rules.yaml's groups unchanged and the collector
// alerts, and promtool accepts every group.
func TestFleetRules(t *testing.T) {
	r := decode(t, render(t, "-f", ciFile(t, "monitoring")))
	require.Len(t, r.prometheusRules, 1)
	pr := r.prometheusRules[0]
	assert.Equal(t, "kube-prometheus-stack", pr.Labels["release"])

	var example struct {
		Groups []map[string]any `json:"groups"`
	}
	data, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "grafana", "rules.yaml"))
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(data, &example))
	var rendered struct {
		Spec struct {
			Groups []map[string]any `json:"groups"`
		} `json:"spec"`
	}
	raw, err := yaml.Marshal(pr)
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &rendered))
	for _, g := range example.Groups {
		assert.Contains(t, rendered.Spec.Groups, g, "fleet group %v as in examples/grafana/rules.yaml", g["name"])
	}
	for _, g := range pr.Spec.Groups {
		if g.Name != "otelcol-phoenix.collector" {
			continue
		}
		for _, rule := range g.Rules {
			assert.Equal(t, "observability", rule.Labels["team"], "additionalRuleLabels on %s", rule.Alert)
			assert.NotEmpty(t, rule.Annotations["summary"])
		}
	}

	promtool := harness.NeedTool(t, "promtool", "prometheus")
	file := filepath.Join(t.TempDir(), "rules.yaml")
	groups, err := yaml.Marshal(map[string]any{"groups": rendered.Spec.Groups})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(file, groups, 0o600))
	out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput()
	require.NoError(t, err, "promtool check rules:\n%s", out)
}

// TestCollectorRulesUseTheBinarysNames: the metric names the collector alerts select are the ones the built
// binary serves (0.159 serves its counters without _total): one OTLP request into a collector whose exporter
// cannot connect makes the receiver, exporter and queue series appear.
func TestCollectorRulesUseTheBinarysNames(t *testing.T) {
	r := decode(t, render(t, "-f", ciFile(t, "monitoring")))
	var exprs []string
	for _, g := range r.prometheusRules[0].Spec.Groups {
		if g.Name == "otelcol-phoenix.collector" {
			for _, rule := range g.Rules {
				exprs = append(exprs, rule.Expr.String())
			}
		}
	}
	require.Len(t, exprs, 4)

	grpc, httpPort, telemetry := harness.FreePort(t), harness.FreePort(t), harness.FreePort(t)
	config := filepath.Join(t.TempDir(), "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(strings.NewReplacer("GRPC", strconv.Itoa(grpc), "HTTP", strconv.Itoa(httpPort), "TELEMETRY", strconv.Itoa(telemetry)).Replace(`
receivers:
  otlp:
    protocols: {grpc: {endpoint: 127.0.0.1:GRPC}, http: {endpoint: 127.0.0.1:HTTP}}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:1
    tls: {insecure: true}
    retry_on_failure: {enabled: false}
service:
  telemetry:
    metrics:
      readers: [{pull: {exporter: {prometheus: {host: 127.0.0.1, port: TELEMETRY}}}}]
  pipelines:
    metrics: {receivers: [otlp], exporters: [otlp_grpc]}
`)), 0o600))
	col := harness.Start(t, harness.Binary(t), config)
	_, err := col.WaitHTTP("http://127.0.0.1:"+strconv.Itoa(telemetry)+"/metrics", 200, 30*time.Second)
	require.NoError(t, err)
	payload := `{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asDouble":1,"timeUnixNano":"1700000000000000000"}]}}]}]}]}`
	names := map[string]bool{}
	require.NoError(t, col.WaitFor(30*time.Second, func() error {
		if resp, err := http.Post("http://127.0.0.1:"+strconv.Itoa(httpPort)+"/v1/metrics", "application/json", strings.NewReader(payload)); err == nil {
			resp.Body.Close()
		}
		samples, err := harness.Scrape("http://127.0.0.1:"+strconv.Itoa(telemetry)+"/metrics", func(string) bool { return true })
		if err != nil {
			return err
		}
		for _, s := range samples {
			names[s.Labels["__name__"]] = true
		}
		for _, want := range []string{"otelcol_receiver_refused_metric_points", "otelcol_exporter_send_failed_metric_points",
			"otelcol_exporter_queue_size", "otelcol_exporter_queue_capacity"} {
			if !names[want] {
				return fmt.Errorf("%s not served yet", want)
			}
		}
		return nil
	}))
	// Every family a rule selects, by regex or by name, is one the binary serves (enqueue_failed shares the
	// send_failed naming; it appears only when a queue overflows).
	for _, expr := range exprs {
		for _, m := range regexp.MustCompile(`otelcol_[a-z_]+(\([a-z_|]+\))?`).FindAllString(expr, -1) {
			family := strings.Split(m, "(")[0]
			served := false
			for name := range names {
				if strings.HasPrefix(name, family) {
					served = true
				}
			}
			if strings.Contains(family, "enqueue_failed") {
				served = names["otelcol_exporter_send_failed_metric_points"]
			}
			assert.True(t, served, "%s (in %s) is not a family the binary serves: %v", family, expr, names)
		}
	}
	require.NoError(t, col.Stop(30*time.Second))
}

// TestNotes: NOTES.txt tells agents' applications where to send, and lists renamed component names.
func TestNotes(t *testing.T) {
	out := notes(t, "phoenix", "-f", ciFile(t, "upstream"))
	assert.Contains(t, out, "otlp 4317, otlp-http 4318")
	assert.Contains(t, out, `OTEL_EXPORTER_OTLP_ENDPOINT, value: "http://$(HOST_IP):4317"`)
	assert.Contains(t, out, "processors.k8sattributes → k8s_attributes, receivers.filelog → file_log, receivers.hostmetrics → host_metrics, receivers.kubeletstats → kubelet_stats")
}

// notes renders NOTES.txt for a release. helm template does not render it: a copy of the chart has it as an
// ordinary template.
func notes(t *testing.T, release string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "otelcol-phoenix")
	require.NoError(t, os.CopyFS(dir, os.DirFS(chartDir(t))))
	text, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "_zz-notes.tpl"), []byte(`{{- define "zz.notes" -}}`+string(text)+`{{- end }}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "templates", "zz-notes.yaml"), []byte(`notes: {{ include "zz.notes" . | toJson }}`), 0o600))
	out, err := helm(t, append([]string{"template", release, dir, "--namespace", namespace, "--show-only", "templates/zz-notes.yaml"}, args...)...)
	require.NoError(t, err, out)
	var doc struct{ Notes string }
	require.NoError(t, yaml.Unmarshal([]byte(out), &doc))
	return doc.Notes
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func containerPort(c corev1.Container, name string) corev1.ContainerPort {
	for _, p := range c.Ports {
		if p.Name == name {
			return p
		}
	}
	return corev1.ContainerPort{}
}

func servicePort(s *corev1.Service, name string) corev1.ServicePort {
	for _, p := range s.Spec.Ports {
		if p.Name == name {
			return p
		}
	}
	return corev1.ServicePort{}
}

func mountPaths(c corev1.Container) []string {
	var paths []string
	for _, m := range c.VolumeMounts {
		paths = append(paths, m.MountPath)
	}
	return slices.Sorted(slices.Values(paths))
}
