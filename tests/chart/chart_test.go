// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

// Package chart checks the Helm chart offline: lint, render every ci/*-values.yaml, decode every object
// strictly into its k8s.io/api type, assert what the pods get, validate the rendered collector config with
// the built binary, and diff the renders against the committed examples. Its own module keeps the Kubernetes
// libraries out of the distribution's go.mod.
package chart

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/phoenix-platform/otelcol-phoenix/tests/harness"
)

const namespace = "observability"

var updateGolden = os.Getenv("UPDATE_GOLDEN") != ""

func chartDir(t *testing.T) string {
	return filepath.Join(harness.RepoRoot(t), "charts", "otelcol-phoenix")
}

// helmBin is the helm built from tools/go.mod (make sets HELM).
func helmBin(t *testing.T) string { return harness.PathFromEnv(t, "HELM", "make chart-test") }

func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(helmBin(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), fmt.Errorf("helm %v: %w\n%s", args, err, stderr.String())
	}
	return stdout.String(), nil
}

func render(t *testing.T, args ...string) string {
	t.Helper()
	return renderAs(t, "phoenix", args...)
}

// renderAs renders the chart as the release named release (another release beside "phoenix": the fleet
// controller's).
func renderAs(t *testing.T, release string, args ...string) string {
	t.Helper()
	out, err := helm(t, append([]string{"template", release, chartDir(t), "--namespace", namespace}, args...)...)
	require.NoError(t, err)
	return out
}

// rendered is one render decoded strictly into Kubernetes types.
type rendered struct {
	daemonSet       *appsv1.DaemonSet
	deployment      *appsv1.Deployment
	configMaps      map[string]*corev1.ConfigMap
	services        map[string]*corev1.Service
	secrets         map[string]*corev1.Secret
	claims          map[string]*corev1.PersistentVolumeClaim
	clusterRoles    []*rbacv1.ClusterRole
	bindings        []*rbacv1.ClusterRoleBinding
	priority        *schedulingv1.PriorityClass
	accounts        []*corev1.ServiceAccount
	pdbs            []*policyv1.PodDisruptionBudget
	podMonitors     []*monitoringv1.PodMonitor
	serviceMonitors []*monitoringv1.ServiceMonitor
	prometheusRules []*monitoringv1.PrometheusRule
}

// decode splits a render into documents and decodes each strictly: an unknown or mistyped field fails.
func decode(t *testing.T, out string) rendered {
	t.Helper()
	r := rendered{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{},
		claims: map[string]*corev1.PersistentVolumeClaim{}}
	for _, doc := range strings.Split(out, "\n---\n") {
		doc = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---"))
		if doc == "" || strings.Trim(doc, "# \n") == "" || !strings.Contains(doc, "kind:") {
			continue
		}
		var meta struct {
			Kind string `json:"kind"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &meta))
		strict := func(v any) {
			require.NoError(t, yaml.UnmarshalStrict([]byte(doc), v), "%s:\n%s", meta.Kind, doc)
		}
		switch meta.Kind {
		case "DaemonSet":
			r.daemonSet = &appsv1.DaemonSet{}
			strict(r.daemonSet)
		case "Deployment":
			r.deployment = &appsv1.Deployment{}
			strict(r.deployment)
		case "ConfigMap":
			cm := &corev1.ConfigMap{}
			strict(cm)
			r.configMaps[cm.Name] = cm
		case "Service":
			s := &corev1.Service{}
			strict(s)
			r.services[s.Name] = s
		case "Secret":
			s := &corev1.Secret{}
			strict(s)
			r.secrets[s.Name] = s
		case "PersistentVolumeClaim":
			c := &corev1.PersistentVolumeClaim{}
			strict(c)
			r.claims[c.Name] = c
		case "ServiceAccount":
			sa := &corev1.ServiceAccount{}
			strict(sa)
			r.accounts = append(r.accounts, sa)
		case "ClusterRole":
			cr := &rbacv1.ClusterRole{}
			strict(cr)
			r.clusterRoles = append(r.clusterRoles, cr)
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			strict(b)
			r.bindings = append(r.bindings, b)
		case "PriorityClass":
			r.priority = &schedulingv1.PriorityClass{}
			strict(r.priority)
		case "PodDisruptionBudget":
			pdb := &policyv1.PodDisruptionBudget{}
			strict(pdb)
			r.pdbs = append(r.pdbs, pdb)
		case "PodMonitor":
			m := &monitoringv1.PodMonitor{}
			strict(m)
			r.podMonitors = append(r.podMonitors, m)
		case "ServiceMonitor":
			m := &monitoringv1.ServiceMonitor{}
			strict(m)
			r.serviceMonitors = append(r.serviceMonitors, m)
		case "PrometheusRule":
			m := &monitoringv1.PrometheusRule{}
			strict(m)
			r.prometheusRules = append(r.prometheusRules, m)
		default:
			t.Fatalf("unexpected kind %q:\n%s", meta.Kind, doc)
		}
	}
	return r
}

func (r rendered) pod(t *testing.T) (corev1.PodTemplateSpec, map[string]string) {
	t.Helper()
	switch {
	case r.daemonSet != nil:
		return r.daemonSet.Spec.Template, r.daemonSet.Spec.Selector.MatchLabels
	case r.deployment != nil:
		return r.deployment.Spec.Template, r.deployment.Spec.Selector.MatchLabels
	}
	t.Fatal("no DaemonSet or Deployment rendered")
	return corev1.PodTemplateSpec{}, nil
}

// fullname is the release's fullname, as the workload carries it (the fleet renders as its own release).
func (r rendered) fullname() string {
	if r.daemonSet != nil {
		return r.daemonSet.Name
	}
	if r.deployment != nil {
		return r.deployment.Name
	}
	return ""
}

// collector is the otelcol-phoenix container of the pod (sidecars may run beside it).
func collector(t *testing.T, spec corev1.PodSpec) corev1.Container {
	t.Helper()
	for _, c := range spec.Containers {
		if c.Name == "otelcol-phoenix" {
			return c
		}
	}
	t.Fatal("no otelcol-phoenix container")
	return corev1.Container{}
}

// TestCIValues renders every ci/*-values.yaml and checks it: lint, strict decoding, the pod's security,
// probes, resources and mounts, the presets' components and RBAC, the Prometheus Operator objects, the
// collector config validated by the binary (with the container's flags), and the committed render.
func TestCIValues(t *testing.T) {
	if updateGolden {
		syncChartFiles(t) // the renders carry files/: bring them up to date first
	}
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 18)
	examples, err := filepath.Glob(filepath.Join(chartDir(t), "examples", "*", "rendered.yaml"))
	require.NoError(t, err)
	for _, e := range examples {
		name := filepath.Base(filepath.Dir(e))
		assert.FileExists(t, filepath.Join(chartDir(t), "ci", name+"-values.yaml"), "examples/%s has no ci case: a stale render", name)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), "-values.yaml")
		t.Run(name, func(t *testing.T) {
			values := readValues(t, file)
			out, err := helm(t, "lint", "--strict", chartDir(t), "-f", file)
			require.NoError(t, err, out)

			release := "phoenix"
			if values.Presets.Fleet.Enabled {
				release = fleetRelease // its own release, where the agents' default endpoint looks
			}
			out = renderAs(t, release, "-f", file)
			golden(t, filepath.Join(chartDir(t), "examples", name, "rendered.yaml"), out)
			r := decode(t, out)
			checkPod(t, r, values)
			checkPresets(t, r, values)
			checkMonitoring(t, r, values)
			validateConfig(t, r, values)
		})
	}
}

// values are the effective values of a render: the chart's values.yaml with a values file merged over it,
// as Helm merges them.
type values struct {
	Mode    string `json:"mode"`
	Presets struct {
		HostMetrics struct {
			Enabled          bool `json:"enabled"`
			ReadAllProcesses bool `json:"readAllProcesses"`
		} `json:"hostMetrics"`
		KubernetesAttributes struct{ Enabled bool } `json:"kubernetesAttributes"`
		KubeletMetrics       struct{ Enabled bool } `json:"kubeletMetrics"`
		LogsCollection       struct {
			Enabled              bool `json:"enabled"`
			IncludeCollectorLogs bool `json:"includeCollectorLogs"`
			StoreCheckpoints     bool `json:"storeCheckpoints"`
			RunAsRoot            bool `json:"runAsRoot"`
		} `json:"logsCollection"`
		Simulator  struct{ Enabled bool } `json:"simulator"`
		Experiment struct{ Enabled bool } `json:"experiment"`
		Control    struct {
			Enabled bool        `json:"enabled"`
			Token   tokenValues `json:"token"`
			OpAMP   struct {
				Enabled        bool        `json:"enabled"`
				Endpoint       string      `json:"endpoint"`
				Token          tokenValues `json:"token"`
				ReportInterval string      `json:"reportInterval"`
				TLS            struct {
					CASecret          string         `json:"caSecret"`
					CAKey             string         `json:"caKey"`
					ClientCertificate map[string]any `json:"clientCertificate"`
				} `json:"tls"`
			} `json:"opamp"`
		} `json:"control"`
		Fleet struct {
			Enabled        bool        `json:"enabled"`
			Port           int32       `json:"port"`
			Token          tokenValues `json:"token"`
			ReportInterval string      `json:"reportInterval"`
			MaxAgents      int         `json:"maxAgents"`
			TLS            struct {
				SecretName   string `json:"secretName"`
				NodeIdentity string `json:"nodeIdentity"`
			} `json:"tls"`
			APIPort     int32 `json:"apiPort"`
			Persistence struct {
				Enabled       bool   `json:"enabled"`
				Size          string `json:"size"`
				StorageClass  string `json:"storageClass"`
				ExistingClaim string `json:"existingClaim"`
			} `json:"persistence"`
		} `json:"fleet"`
		DesiredState struct{ Enabled bool } `json:"desiredState"`
	} `json:"presets"`
	Command struct {
		Name      string   `json:"name"`
		ExtraArgs []string `json:"extraArgs"`
	} `json:"command"`
	ClusterRole struct {
		Create bool                `json:"create"`
		Rules  []rbacv1.PolicyRule `json:"rules"`
	} `json:"clusterRole"`
	Service struct {
		Enabled *bool `json:"enabled"`
	} `json:"service"`
	Ports map[string]struct {
		Enabled  bool `json:"enabled"`
		HostPort int  `json:"hostPort"`
	} `json:"ports"`
	PodDisruptionBudget struct{ Enabled bool } `json:"podDisruptionBudget"`
	PodMonitor          struct {
		Enabled         bool                   `json:"enabled"`
		ControlEndpoint struct{ Enabled bool } `json:"controlEndpoint"`
	} `json:"podMonitor"`
	ServiceMonitor struct {
		Enabled         bool                   `json:"enabled"`
		ControlEndpoint struct{ Enabled bool } `json:"controlEndpoint"`
	} `json:"serviceMonitor"`
	PrometheusRule struct {
		Enabled      bool                   `json:"enabled"`
		DefaultRules struct{ Enabled bool } `json:"defaultRules"`
		FleetRules   struct{ Enabled bool } `json:"fleetRules"`
	} `json:"prometheusRule"`
	GrafanaDashboard struct {
		Enabled bool              `json:"enabled"`
		Labels  map[string]string `json:"labels"`
	} `json:"grafanaDashboard"`
}

// tokenValues is a preset's bearer token: a Secret of the user's, or a value the chart makes one of.
type tokenValues struct {
	ExistingSecret string `json:"existingSecret"`
	Key            string `json:"key"`
	Value          string `json:"value"`
}

func (v values) serviceEnabled() bool {
	if v.Service.Enabled != nil {
		return *v.Service.Enabled
	}
	return v.Mode == "deployment"
}

func (v values) runAsRoot() bool {
	p := v.Presets
	return (p.HostMetrics.Enabled && p.HostMetrics.ReadAllProcesses) || (p.LogsCollection.Enabled && p.LogsCollection.RunAsRoot)
}

func readValues(t *testing.T, path string) values {
	t.Helper()
	merged := readYAMLMap(t, filepath.Join(chartDir(t), "values.yaml"))
	mergeValues(merged, readYAMLMap(t, path))
	data, err := yaml.Marshal(merged)
	require.NoError(t, err)
	var v values
	require.NoError(t, yaml.Unmarshal(data, &v))
	return v
}

func readYAMLMap(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	m := map[string]any{}
	require.NoError(t, yaml.Unmarshal(data, &m))
	return m
}

// mergeValues merges src over dst as Helm does: maps deeply, anything else replaced, null deletes.
func mergeValues(dst, src map[string]any) {
	for k, sv := range src {
		if sv == nil {
			delete(dst, k)
			continue
		}
		if sm, ok := sv.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeValues(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
}

func checkPod(t *testing.T, r rendered, v values) {
	tmpl, selector := r.pod(t)
	if v.Mode == "daemonset" {
		require.NotNil(t, r.daemonSet, "a DaemonSet by default")
		assert.Nil(t, r.deployment)
	} else {
		require.NotNil(t, r.deployment)
		assert.Nil(t, r.daemonSet)
	}
	require.NotEmpty(t, selector)
	assert.True(t, labels.SelectorFromSet(selector).Matches(labels.Set(tmpl.Labels)), "the selector matches the pod labels")
	for _, s := range r.services {
		assert.True(t, labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(tmpl.Labels)), "service %s selects the pods", s.Name)
	}
	for _, pdb := range r.pdbs {
		assert.True(t, labels.SelectorFromSet(pdb.Spec.Selector.MatchLabels).Matches(labels.Set(tmpl.Labels)), "the PodDisruptionBudget selects the pods")
	}
	assert.Equal(t, v.PodDisruptionBudget.Enabled, len(r.pdbs) == 1, "a PodDisruptionBudget iff enabled (gateway only)")
	assert.Regexp(t, `^[0-9a-f]{64}$`, tmpl.Annotations["checksum/config"])

	spec := tmpl.Spec
	c := collector(t, spec)
	assert.Equal(t, append([]string{"--config=/conf/relay.yaml"}, v.Command.ExtraArgs...), c.Args, "command.extraArgs after --config")
	if v.Command.Name != "" {
		assert.Equal(t, []string{"/" + v.Command.Name}, c.Command)
	} else {
		assert.Empty(t, c.Command, "the image's entrypoint")
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
		if p == c.StartupProbe && p == nil {
			continue
		}
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		assert.Contains(t, []string{"health", "13133"}, p.HTTPGet.Port.String(), "probes on health_check")
	}
	assert.Contains(t, portNames(c), "health")
	for _, p := range c.Ports {
		if v.Mode == "daemonset" {
			if port, ok := v.Ports[p.Name]; ok {
				assert.Equal(t, port.HostPort, int(p.HostPort), "port %s: hostPort on a DaemonSet", p.Name)
			}
		} else {
			assert.Zero(t, p.HostPort, "no hostPort on a Deployment (replicas share nodes)")
		}
	}
	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Requests.Memory().IsZero())
	assert.False(t, c.Resources.Limits.Memory().IsZero())
	assert.Equal(t, fmt.Sprintf("%dMiB", c.Resources.Limits.Memory().Value()*8/10/(1<<20)), env(c, "GOMEMLIMIT"), "GOMEMLIMIT is 80%% of the limit")
	for _, name := range []string{"MY_POD_IP", "K8S_NODE_NAME", "K8S_NODE_IP", "OTEL_K8S_NODE_NAME", "OTEL_K8S_NODE_IP", "OTEL_K8S_NAMESPACE", "OTEL_K8S_POD_NAME", "OTEL_K8S_POD_IP"} {
		assert.NotNil(t, fieldRef(c, name), "env %s from the downward API", name)
	}

	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.Privileged)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	if v.Presets.HostMetrics.Enabled && v.Presets.HostMetrics.ReadAllProcesses {
		assert.Equal(t, []corev1.Capability{"SYS_PTRACE", "DAC_READ_SEARCH"}, sc.Capabilities.Add, "exactly what reading other users' /proc needs")
	} else {
		assert.Empty(t, sc.Capabilities.Add, "no capability: reading root-owned 0640 logs as their owner needs none")
	}
	if v.runAsRoot() {
		assert.Equal(t, int64(0), *spec.SecurityContext.RunAsUser)
	} else {
		assert.True(t, *spec.SecurityContext.RunAsNonRoot)
		assert.Equal(t, int64(10001), *spec.SecurityContext.RunAsUser)
	}

	if v.Mode == "daemonset" {
		assert.NotEmpty(t, spec.Tolerations, "runs on tainted nodes too")
		assert.NotEmpty(t, spec.PriorityClassName)
	}
	if r.priority != nil {
		assert.Equal(t, r.priority.Name, spec.PriorityClassName)
	}
	if len(r.accounts) > 0 {
		assert.Equal(t, r.accounts[0].Name, spec.ServiceAccountName)
	}
	for _, b := range r.bindings {
		assert.Equal(t, spec.ServiceAccountName, b.Subjects[0].Name)
		require.Len(t, r.clusterRoles, 1)
		assert.Equal(t, r.clusterRoles[0].Name, b.RoleRef.Name, "the binding grants the chart's ClusterRole")
	}

	// Every mount, of every container, has its volume; node paths are mounted read-only (but the checkpoints').
	vols := map[string]corev1.Volume{}
	for _, vol := range spec.Volumes {
		vols[vol.Name] = vol
	}
	for _, ct := range append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...) {
		for _, m := range ct.VolumeMounts {
			require.Contains(t, vols, m.Name, "container %s: mount %s has a volume", ct.Name, m.Name)
			if vol := vols[m.Name]; vol.HostPath != nil {
				switch vol.HostPath.Path {
				case "/":
					assert.True(t, m.ReadOnly, "the node's / is mounted read-only")
					assert.Equal(t, "/hostfs", m.MountPath)
				case "/var/log/pods", "/var/lib/docker/containers":
					assert.True(t, m.ReadOnly, "the node's logs are mounted read-only")
					assert.Equal(t, vol.HostPath.Path, m.MountPath, "where the container parser expects them")
				}
			}
			assert.Empty(t, m.SubPath, "no subPath: ConfigMap updates must reach the pod")
		}
	}
	cmVol := vols["config"]
	require.NotNil(t, cmVol.ConfigMap)
	assert.Contains(t, r.configMaps, cmVol.ConfigMap.Name)
}

// relay is the rendered collector config, decoded.
type relay struct {
	Receivers  map[string]map[string]any `json:"receivers"`
	Processors map[string]map[string]any `json:"processors"`
	Exporters  map[string]map[string]any `json:"exporters"`
	Extensions map[string]map[string]any `json:"extensions"`
	Service    struct {
		Extensions []string `json:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `json:"receivers"`
			Processors []string `json:"processors"`
			Exporters  []string `json:"exporters"`
		} `json:"pipelines"`
	} `json:"service"`
}

func decodeRelay(t *testing.T, r rendered) relay {
	t.Helper()
	var cfg relay
	require.NoError(t, yaml.Unmarshal([]byte(collectorConfig(t, r)), &cfg))
	return cfg
}

// granted reports whether a ClusterRole rule grants verb on resource of the core API group.
func granted(roles []*rbacv1.ClusterRole, resource, verb string) bool {
	for _, role := range roles {
		for _, rule := range role.Rules {
			if slices.Contains(rule.APIGroups, "") && slices.Contains(rule.Resources, resource) && slices.Contains(rule.Verbs, verb) {
				return true
			}
		}
	}
	return false
}

func checkPresets(t *testing.T, r rendered, v values) {
	tmpl, _ := r.pod(t)
	c := collector(t, tmpl.Spec)
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	config := collectorConfig(t, r)
	cfg := decodeRelay(t, r)
	p := v.Presets

	assert.Equal(t, p.HostMetrics.Enabled, mounts["/hostfs"] != "", "hostfs mounted iff hostMetrics")
	assert.Equal(t, p.HostMetrics.Enabled, strings.Contains(config, "root_path: /hostfs"))
	assert.Equal(t, p.Simulator.Enabled, strings.Contains(config, "simulated_process:"))
	rbac := p.KubernetesAttributes.Enabled || p.KubeletMetrics.Enabled || v.ClusterRole.Create
	assert.Equal(t, rbac, len(r.clusterRoles) == 1 && len(r.bindings) == 1, "a ClusterRole iff a preset needs it or clusterRole.create")
	assert.Equal(t, p.KubernetesAttributes.Enabled, strings.Contains(config, "- k8s_attributes"))
	assert.Equal(t, p.KubernetesAttributes.Enabled, granted(r.clusterRoles, "pods", "watch"), "k8s_attributes watches pods")
	assert.Equal(t, p.Experiment.Enabled, strings.Contains(config, "- experiment/process"))
	for _, rule := range v.ClusterRole.Rules {
		assert.Contains(t, r.clusterRoles[0].Rules, rule, "clusterRole.rules are in the ClusterRole")
	}

	// kubeletMetrics: kubelet_stats on this node's kubelet, with nodes/stats.
	assert.Equal(t, p.KubeletMetrics.Enabled, slices.Contains(cfg.Service.Pipelines["metrics"].Receivers, "kubelet_stats"))
	assert.Equal(t, p.KubeletMetrics.Enabled, granted(r.clusterRoles, "nodes/stats", "get"), "kubelet_stats reads nodes/stats")
	if p.KubeletMetrics.Enabled {
		ks := cfg.Receivers["kubelet_stats"]
		assert.Equal(t, "${env:K8S_NODE_IP}:10250", ks["endpoint"])
		assert.Equal(t, "serviceAccount", ks["auth_type"])
		assert.Equal(t, "status.hostIP", fieldRef(c, "K8S_NODE_IP").FieldPath)
	}

	// logsCollection: file_log on the node's pod logs, the collector's own excluded.
	l := p.LogsCollection
	assert.Equal(t, l.Enabled, slices.Contains(cfg.Service.Pipelines["logs"].Receivers, "file_log"))
	assert.Equal(t, l.Enabled, mounts["/var/log/pods"] != "", "/var/log/pods mounted iff logsCollection")
	if l.Enabled {
		fl := cfg.Receivers["file_log"]
		assert.Equal(t, []any{"/var/log/pods/*/*/*.log"}, fl["include"])
		own := fmt.Sprintf("/var/log/pods/%s_phoenix-otelcol-phoenix-abcde_0f2c/otelcol-phoenix/0.log", namespace)
		other := fmt.Sprintf("/var/log/pods/%s_phoenix-otelcol-phoenix-abcde_0f2c/app/0.log", namespace)
		assert.Equal(t, !l.IncludeCollectorLogs, globsMatch(t, fl["exclude"], own), "the collector's own logs excluded (also with your own exclude list)")
		assert.False(t, globsMatch(t, fl["exclude"], other), "its pod's other containers are read")
		require.NotEmpty(t, fl["operators"])
		assert.Equal(t, "container", fl["operators"].([]any)[0].(map[string]any)["type"])
		assert.Equal(t, l.StoreCheckpoints, fl["storage"] == "file_storage", "checkpoints in file_storage")
		assert.Equal(t, l.StoreCheckpoints, slices.Contains(cfg.Service.Extensions, "file_storage"))
		assert.Equal(t, l.StoreCheckpoints, mounts["/var/lib/otelcol"] != "")
	}
	for _, name := range []string{"hostmetrics", "kubeletstats", "filelog"} {
		assert.NotContains(t, cfg.Receivers, name, "old names are renamed")
	}
	assert.NotContains(t, cfg.Processors, "k8sattributes", "old names are renamed")

	control := r.services["phoenix-otelcol-phoenix-control"]
	assert.Equal(t, p.Control.Enabled, control != nil, "control Service")
	if p.Control.Enabled {
		assert.Equal(t, corev1.ClusterIPNone, control.Spec.ClusterIP, "headless: one address per node's pod")
		assert.Contains(t, portNames(c), "control")
		ref := envFrom(c, "PHOENIX_CONTROL_TOKEN")
		require.NotNil(t, ref, "the token comes from a Secret")
		if p.Control.Token.ExistingSecret != "" {
			assert.Equal(t, p.Control.Token.ExistingSecret, ref.Name)
		} else {
			assert.Contains(t, r.secrets, ref.Name)
		}
		assert.Contains(t, config, "authenticator: bearertokenauth/phoenix")
		assert.Contains(t, mounts, "/var/lib/otelcol-phoenix", "switches persist in a volume")
	}
	if p.DesiredState.Enabled {
		cm := r.configMaps["phoenix-otelcol-phoenix-desired-state"]
		require.NotNil(t, cm)
		assert.Contains(t, cm.Data["desired-state.yaml"], "experiments:")
		assert.Equal(t, "desired-state", mounts["/etc/otelcol-phoenix/desired-state"])
		assert.Contains(t, config, "path: /etc/otelcol-phoenix/desired-state/desired-state.yaml")
	}

	checkFleet(t, r, v, cfg)

	svc := r.services[r.fullname()]
	assert.Equal(t, v.serviceEnabled(), svc != nil, "the collector Service: on for a gateway, off for agents unless enabled")
	if svc != nil {
		want := corev1.ServiceInternalTrafficPolicyCluster
		if v.Mode == "daemonset" {
			want = corev1.ServiceInternalTrafficPolicyLocal
		}
		require.NotNil(t, svc.Spec.InternalTrafficPolicy)
		assert.Equal(t, want, *svc.Spec.InternalTrafficPolicy, "a DaemonSet's Service keeps traffic on the node")
		for _, sp := range svc.Spec.Ports {
			assert.Contains(t, portNames(c), sp.TargetPort.String(), "service port %s targets a container port", sp.Name)
		}
	}
}

// globsMatch reports whether path matches one of the file_log globs (doublestar's * stays within a path
// segment, as filepath.Match's does).
func globsMatch(t *testing.T, globs any, path string) bool {
	t.Helper()
	list, _ := globs.([]any)
	for _, g := range list {
		ok, err := filepath.Match(g.(string), path)
		require.NoError(t, err)
		if ok {
			return true
		}
	}
	return false
}

// checkMonitoring: the Prometheus Operator objects select the chart's pods and Services, scrape ports that
// exist, and reach the control API with the token's Secret; the dashboard ConfigMap carries the sidecar label.
func checkMonitoring(t *testing.T, r rendered, v values) {
	tmpl, _ := r.pod(t)
	c := collector(t, tmpl.Spec)
	control := v.Presets.Control.Enabled
	tokenSecret := v.Presets.Control.Token.ExistingSecret
	if tokenSecret == "" {
		tokenSecret = "phoenix-otelcol-phoenix-control-token"
	}
	checkControlEndpoint := func(port, path string, auth *monitoringv1.SafeAuthorization, relabelings []monitoringv1.RelabelConfig) {
		assert.Equal(t, "/metrics", path)
		require.NotNil(t, auth, "the control API needs the bearer token")
		assert.Equal(t, "Bearer", auth.Type)
		require.NotNil(t, auth.Credentials)
		assert.Equal(t, tokenSecret, auth.Credentials.Name, "the token's Secret")
		assert.Equal(t, v.Presets.Control.Token.Key, auth.Credentials.Key)
		source := "__meta_kubernetes_pod_node_name"
		if v.Mode != "daemonset" {
			source = "__meta_kubernetes_pod_name"
		}
		require.Len(t, relabelings, 1)
		assert.Equal(t, []monitoringv1.LabelName{monitoringv1.LabelName(source)}, relabelings[0].SourceLabels)
		assert.Equal(t, "instance", relabelings[0].TargetLabel, "the fleet view groups by instance")
	}

	assert.Equal(t, v.PodMonitor.Enabled, len(r.podMonitors) == 1)
	for _, pm := range r.podMonitors {
		assert.True(t, labels.SelectorFromSet(pm.Spec.Selector.MatchLabels).Matches(labels.Set(tmpl.Labels)), "the PodMonitor selects the pods")
		var ports []string
		for _, e := range pm.Spec.PodMetricsEndpoints {
			require.NotNil(t, e.Port)
			ports = append(ports, *e.Port)
			assert.Contains(t, portNames(c), *e.Port, "PodMonitor port %s is a container port", *e.Port)
			if *e.Port == "control" {
				checkControlEndpoint(*e.Port, e.Path, e.Authorization, e.RelabelConfigs)
			}
		}
		assert.Equal(t, control && v.PodMonitor.ControlEndpoint.Enabled, slices.Contains(ports, "control"))
	}

	assert.Equal(t, v.ServiceMonitor.Enabled, len(r.serviceMonitors) == 1)
	for _, sm := range r.serviceMonitors {
		var ports []string
		for _, e := range sm.Spec.Endpoints {
			ports = append(ports, e.Port)
			selected := false
			for _, s := range r.services {
				if labels.SelectorFromSet(sm.Spec.Selector.MatchLabels).Matches(labels.Set(s.Labels)) && slices.Contains(servicePortNames(s), e.Port) {
					selected = true
				}
			}
			assert.True(t, selected, "ServiceMonitor port %s is a port of a Service it selects", e.Port)
			if e.Port == "control" {
				checkControlEndpoint(e.Port, e.Path, e.Authorization, e.RelabelConfigs)
			}
		}
		podMonitorControl := v.PodMonitor.Enabled && v.PodMonitor.ControlEndpoint.Enabled
		assert.Equal(t, control && v.ServiceMonitor.ControlEndpoint.Enabled && !podMonitorControl, slices.Contains(ports, "control"),
			"the control API scraped once (a second job would double the fleet's sums)")
		assert.Equal(t, v.serviceEnabled(), slices.Contains(ports, "metrics"), "the collector's own metrics through its Service")
	}

	assert.Equal(t, v.PrometheusRule.Enabled, len(r.prometheusRules) == 1)
	for _, pr := range r.prometheusRules {
		var groups []string
		for _, g := range pr.Spec.Groups {
			groups = append(groups, g.Name)
		}
		assert.Equal(t, v.PrometheusRule.FleetRules.Enabled, slices.Contains(groups, "otelcol-phoenix.alerts"), "the fleet rules")
		assert.Equal(t, v.PrometheusRule.DefaultRules.Enabled, slices.Contains(groups, "otelcol-phoenix.collector"), "the collector alerts")
	}

	dashboard := r.configMaps["phoenix-otelcol-phoenix-grafana-dashboard"]
	assert.Equal(t, v.GrafanaDashboard.Enabled, dashboard != nil)
	if dashboard != nil {
		for k, val := range v.GrafanaDashboard.Labels {
			assert.Equal(t, val, dashboard.Labels[k], "the Grafana sidecar's label")
		}
		want, err := os.ReadFile(filepath.Join(harness.RepoRoot(t), "examples", "grafana", "otelcol-phoenix-fleet.json"))
		require.NoError(t, err)
		assert.JSONEq(t, string(want), dashboard.Data["otelcol-phoenix-fleet.json"], "the fleet dashboard, as in examples/grafana")
	}
}

func servicePortNames(s *corev1.Service) []string {
	var names []string
	for _, p := range s.Spec.Ports {
		names = append(names, p.Name)
	}
	return names
}

// collectorConfig is the relay.yaml of the ConfigMap the pod mounts as its config (whatever the release).
func collectorConfig(t *testing.T, r rendered) string {
	t.Helper()
	tmpl, _ := r.pod(t)
	var cm *corev1.ConfigMap
	for _, v := range tmpl.Spec.Volumes {
		if v.Name == "config" && v.ConfigMap != nil {
			cm = r.configMaps[v.ConfigMap.Name]
		}
	}
	require.NotNil(t, cm, "the pod's config ConfigMap")
	require.NotEmpty(t, cm.Data["relay"])
	return cm.Data["relay"]
}

// validateConfig runs `otelcol-phoenix validate` on the rendered config with the pod's environment and the
// container's extra flags (a feature gate the binary does not have fails). What only a pod has is pointed
// at this machine: host_metrics' root_path at / (in the pod, /hostfs is the node's /, asserted above), and
// kubelet_stats' auth at none (the pod's service-account CA and token are not here).
func validateConfig(t *testing.T, r rendered, v values) {
	bin := harness.Binary(t)
	path := filepath.Join(t.TempDir(), "relay.yaml")
	require.NoError(t, os.WriteFile(path, []byte(mountRules(t, r, collectorConfig(t, r))), 0o600))
	tmpl, _ := r.pod(t)
	args := append([]string{"validate", "--config", path}, collector(t, tmpl.Spec).Args[1:]...)
	cfg := decodeRelay(t, r)
	if _, ok := cfg.Receivers["host_metrics"]; ok {
		args = append(args, "--set=receivers::host_metrics::root_path=/")
	}
	if _, ok := cfg.Receivers["kubelet_stats"]; ok {
		args = append(args, "--set=receivers::kubelet_stats::auth_type=none")
	}
	if _, ok := cfg.Extensions["file_storage"]; ok { // the pod's is a hostPath, created by kubelet
		args = append(args, "--set=extensions::file_storage::directory="+t.TempDir())
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-1", "K8S_NODE_IP=127.0.0.1",
		"OTEL_K8S_NODE_NAME=node-1", "OTEL_K8S_NODE_IP=127.0.0.1", "OTEL_K8S_NAMESPACE="+namespace,
		"OTEL_K8S_POD_NAME=phoenix-otelcol-phoenix-abcde", "OTEL_K8S_POD_IP=127.0.0.1", "PHOENIX_CONTROL_TOKEN=token",
		"PHOENIX_FLEET_TOKEN=token")
	for _, e := range collector(t, tmpl.Spec).Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "otelcol-phoenix %v:\n%s", args, out)
}

// rulesDir is where the experiment's rule files are mounted (presets.experiment.rules).
const rulesDir = "/etc/otelcol-phoenix/rules"

// mountRules does what kubelet does for the rules preset: every ConfigMap volume mounted under rulesDir is
// written out (the chart's own from the render; a user's ConfigMap is mounted empty), and the config's
// paths point there, so validate reads the very files the pod would.
func mountRules(t *testing.T, r rendered, cfg string) string {
	if !strings.Contains(cfg, rulesDir) {
		return cfg
	}
	pod, _ := r.pod(t)
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	root := t.TempDir()
	for _, m := range pod.Spec.Containers[0].VolumeMounts {
		rel, ok := strings.CutPrefix(m.MountPath, rulesDir+"/")
		if !ok {
			continue
		}
		v := volumes[m.Name]
		require.NotNil(t, v.ConfigMap, "volume %s at %s is a ConfigMap", m.Name, m.MountPath)
		dir := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(dir, 0o755))
		if cm := r.configMaps[v.ConfigMap.Name]; cm != nil {
			for name, data := range cm.Data {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
			}
		}
	}
	return strings.ReplaceAll(cfg, rulesDir, root)
}

// TestSchemaRejectsUnknownKeys: values.schema.json refuses typos anywhere.
func TestSchemaRejectsUnknownKeys(t *testing.T) {
	for _, set := range []string{"nope=1", "presets.hostMetrics.enable=true", "presets.control.token.secret=x", "image.registry=x",
		// near-misses of the upstream chart's keys
		"presets.logsCollection.includeCollectorLog=true", "presets.kubeletMetrics.enable=true", "ports.otlp.hostport=4317",
		"command.extraArg=x", "clusterRole.rule=x", "podMonitor.enable=true", "serviceMonitor.metricEndpoints=x",
		"service.internalTraficPolicy=Local", "prometheusRule.defaultRules.enable=true", "grafanaDashboard.label=x",
		"podDisruptionBudget.minAvailble=1", "rollout.rollingUpdate.maxSurg=1", "startupProbe.httpget.port=1", "livenessProbe.initialDelay=1",
		// a desired-state variant: a typo, and a name no experiment takes
		"presets.desiredState.experiments.experiment/process.variants.top30.processor[0].topk.k=30",
		"presets.desiredState.experiments.experiment/process.variants.9lives.processors[0].topk.k=30",
		// the fleet's
		"presets.fleet.persistance.enabled=true", "presets.fleet.token.secret=x", "presets.control.opamp.endpont=x",
		"presets.control.opamp.reportinterval=1s"} {
		out, err := helm(t, "template", "phoenix", chartDir(t), "--set", set)
		require.Error(t, err, set)
		assert.Contains(t, out, "additional properties", set)
	}
	for _, set := range []string{"mode=statefulset", "service.internalTrafficPolicy=Nearby", "rollout.strategy=Blue", "ports.otlp.enabled=maybe",
		"presets.control.opamp.endpoint=tcp://fleet:4320", "presets.fleet.persistence.size=lots", "presets.fleet.reportInterval=30"} {
		out, err := helm(t, "template", "phoenix", chartDir(t), "--set", set)
		require.Error(t, err, set)
		assert.Contains(t, out, strings.Split(strings.Split(set, "=")[0], ".")[0], set)
	}
	// A port that is on needs its containerPort; one that is off needs nothing else (upstream's way to drop
	// its jaeger and zipkin ports).
	out, err := helm(t, "template", "phoenix", chartDir(t), "--set", "ports.extra.enabled=true")
	require.Error(t, err)
	assert.Contains(t, out, "containerPort")
	render(t, "--set", "ports.jaeger-compact.enabled=false")
	// A variant's step is one {type[/name]: config}.
	for set, want := range map[string]string{
		"presets.desiredState.experiments.experiment/process.variants.top30.processors[0].topk=30":          "got number, want null or object",
		"presets.desiredState.experiments.experiment/process.variants.top30.processors[0].batch.timeout=1s": "maxProperties: got 2, want 1",
	} {
		out, err := helm(t, "template", "phoenix", chartDir(t), "-f", filepath.Join(chartDir(t), "ci", "desired-state-variants-values.yaml"), "--set", set)
		require.Error(t, err, set)
		assert.Contains(t, out, want, set)
	}
}

// TestInvalidCombinationsFailWithEveryReason: bad combinations stop the render and list every problem.
func TestInvalidCombinationsFailWithEveryReason(t *testing.T) {
	tests := []struct {
		sets []string
		want []string
	}{
		{[]string{"mode=deployment", "presets.hostMetrics.enabled=true", "presets.desiredState.enabled=true"}, []string{
			"presets.hostMetrics needs mode: daemonset",
			"presets.desiredState needs presets.control",
		}},
		{[]string{"mode=statefulset"}, []string{`mode "statefulset": not supported by this chart, which runs daemonset (a collector per node) or deployment (a gateway)`}},
		{[]string{"presets.hostMetrics.enabled=true", "presets.simulator.enabled=true"}, []string{"pick one process-metrics source"}},
		{[]string{"presets.experiment.enabled=true"}, []string{"presets.experiment needs process metrics"}},
		{[]string{"presets.simulator.enabled=true", "presets.experiment.enabled=true", "presets.experiment.active=top5"}, []string{`presets.experiment.active "top5": want full, top20 or by_executable`}},
		{[]string{"presets.control.enabled=true"}, []string{"presets.control needs a bearer token"}},
		{[]string{"presets.simulator.enabled=true", "presets.experiment.enabled=true", "presets.control.enabled=true", "presets.control.token.value=x",
			"presets.desiredState.enabled=true", "presets.desiredState.experiments.experiment/process.active=top30",
			"presets.desiredState.experiments.experiment/process.variants.top20.processors[0].topk.k=5",
			"presets.desiredState.experiments.experiment/other.active=a", "presets.desiredState.experiments.experiment/other.rollout.variant=a",
			"presets.desiredState.experiments.experiment/other.rollout.percent=5"}, []string{
			`presets.desiredState.experiments.experiment/process: no variant "top30" (the experiment has by_executable, full, top20)`,
			"presets.desiredState.experiments.experiment/process.variants.top20: the collector config defines top20 already",
			"presets.desiredState.experiments.experiment/other: set active or rollout, not both",
		}},
		{[]string{"presets.control.enabled=true", "presets.control.token.value=a", "presets.control.token.existingSecret=b"}, []string{"set existingSecret or value, not both"}},
		{[]string{"resources.limits.memory=1GB"}, []string{`resources.limits.memory "1GB": use Ki, Mi, Gi, Ti, k, M, G, T or bytes`}},
		{[]string{"mode=deployment", "presets.kubeletMetrics.enabled=true", "presets.logsCollection.enabled=true", "podDisruptionBudget.enabled=true", "podDisruptionBudget.minAvailable=1", "podDisruptionBudget.maxUnavailable=1"}, []string{
			"presets.kubeletMetrics needs mode: daemonset",
			"presets.logsCollection needs mode: daemonset",
			"podDisruptionBudget: set minAvailable or maxUnavailable, not both",
		}},
		{[]string{"podDisruptionBudget.enabled=true"}, []string{"podDisruptionBudget is for mode: deployment"}},
		{[]string{"presets.logsCollection.enabled=true", "presets.logsCollection.storeCheckpoints=true", "presets.logsCollection.runAsRoot=false"}, []string{"storeCheckpoints needs presets.logsCollection.runAsRoot"}},
		{[]string{"clusterRole.rules[0].verbs[0]=get", "clusterRole.rules[0].resources[0]=pods"}, []string{"clusterRole.rules need clusterRole.create: true"}},
		{[]string{"ports.otlp.nodePort=30317"}, []string{"ports.otlp.nodePort needs service.type NodePort or LoadBalancer, not ClusterIP"}},
		{[]string{"rollout.strategy=Recreate"}, []string{"rollout.strategy Recreate is for a Deployment"}},
		{[]string{"mode=deployment", "rollout.strategy=OnDelete"}, []string{"rollout.strategy OnDelete is for a DaemonSet"}},
		{[]string{"rollout.rollingUpdate.maxSurge=1"}, []string{"rollout.rollingUpdate.maxSurge with ports.otlp.hostPort", "ports.otlp-http.hostPort"}},
		{[]string{"serviceMonitor.enabled=true"}, []string{"serviceMonitor has nothing to scrape"}},
		{[]string{"podMonitor.enabled=true", "podMonitor.metricsEndpoints=null"}, []string{"podMonitor has nothing to scrape"}},
		{[]string{"prometheusRule.enabled=true", "prometheusRule.fleetRules.enabled=false"}, []string{"prometheusRule has no rules"}},
		{[]string{"presets.logsCollection.enabled=true", "config.service.pipelines.logs=null"}, []string{"config.service.pipelines.logs is missing"}},
		{[]string{"presets.fleet.enabled=true", "presets.fleet.token.value=x"}, []string{"presets.fleet needs mode: deployment"}},
		{[]string{"mode=deployment", "replicaCount=3", "presets.fleet.enabled=true"}, []string{
			"presets.fleet runs one controller, not replicaCount 3: it keeps the agents' connections and the rollouts' state in its process",
			"presets.fleet needs a bearer token",
		}},
		{[]string{"mode=deployment", "presets.fleet.enabled=true", "presets.fleet.token.value=x", "presets.fleet.token.existingSecret=y",
			"service.enabled=false", "rollout.rollingUpdate.maxSurge=1", "presets.fleet.persistence.enabled=false",
			"presets.fleet.persistence.existingClaim=c", "ports.opamp.enabled=true", "ports.opamp.containerPort=4320"}, []string{
			"presets.fleet.token: set existingSecret or value, not both",
			"presets.fleet needs the Service (service.enabled)",
			"rollout.rollingUpdate with presets.fleet: the controller is replaced with Recreate",
			"presets.fleet.persistence.existingClaim needs presets.fleet.persistence.enabled",
			"ports.opamp: the chart's own opamp port has that name",
		}},
		{[]string{"mode=deployment", "presets.fleet.enabled=true", "presets.fleet.token.value=x", "presets.fleet.tls.nodeIdentity=certificate"}, []string{
			"presets.fleet.tls.nodeIdentity: certificate needs presets.fleet.tls.secretName",
			"presets.fleet.tls.nodeIdentity: certificate needs presets.fleet.apiPort",
		}},
		{[]string{"mode=deployment", "presets.fleet.enabled=true", "presets.fleet.token.value=x", "presets.fleet.apiPort=4320"}, []string{
			"presets.fleet.apiPort 4320/TCP is presets.fleet.port too",
		}},
		{[]string{"mode=deployment", "presets.fleet.enabled=true", "presets.fleet.token.value=x", "presets.fleet.apiPort=4317",
			"presets.fleet.port=13133", "presets.control.enabled=true", "presets.control.token.value=x", "presets.control.port=4318"}, []string{
			"ports.otlp-http.containerPort 4318/TCP is presets.control.port too",
			"presets.fleet.port 13133/TCP is the health port too",
			"ports.otlp.containerPort 4317/TCP is presets.fleet.apiPort too",
		}},
		{[]string{"presets.control.enabled=true", "presets.control.token.value=x", "presets.control.opamp.enabled=true", "presets.control.opamp.token.value=a",
			"presets.control.opamp.endpoint=ws://fleet:4320/v1/opamp", "presets.control.opamp.tls.caSecret=ca"}, []string{
			"presets.control.opamp.tls is set and the endpoint ws://fleet:4320/v1/opamp is plain: use wss:// or https://",
		}},
		{[]string{"presets.control.opamp.enabled=true"}, []string{
			"presets.control.opamp needs presets.control",
			"presets.control.opamp needs the controller's bearer token",
		}},
		{[]string{"mode=deployment", "presets.control.enabled=true", "presets.control.token.value=x", "presets.control.opamp.enabled=true",
			"presets.control.opamp.token.value=a", "presets.control.opamp.token.existingSecret=b"}, []string{
			"presets.control.opamp is for the node agents (mode: daemonset)",
			"presets.control.opamp.token: set existingSecret or value, not both",
		}},
		{[]string{"ports.otlp-http-secondary.enabled=true", "ports.otlp-http-secondary.containerPort=4319",
			"presets.control.enabled=true", "presets.control.token.value=x", "ports.control.enabled=true", "ports.control.containerPort=9000",
			"ports.health.enabled=true", "ports.health.containerPort=9001",
			"ports.otlp2.enabled=true", "ports.otlp2.containerPort=4327", "ports.otlp2.hostPort=4317",
			"ports.otlpudp.enabled=true", "ports.otlpudp.containerPort=4328", "ports.otlpudp.hostPort=4317", "ports.otlpudp.protocol=UDP"}, []string{
			"ports.otlp-http-secondary: a port name is at most 15 characters (19)",
			"ports.control: the chart's own control port has that name",
			"ports.health: the chart's own health port has that name",
			"ports.otlp and ports.otlp2: both hostPort 4317/TCP",
		}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.sets, ","), func(t *testing.T) {
			args := []string{"template", "phoenix", chartDir(t)}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			out, err := helm(t, args...)
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

// TestChecksumRollsOnConfigChangeOnly: a config change changes checksum/config (pods roll); a desired-state
// change does not (collectors switch live).
func TestChecksumRollsOnConfigChangeOnly(t *testing.T) {
	base := []string{"-f", filepath.Join(chartDir(t), "ci", "desired-state-values.yaml")}
	checksum := func(extra ...string) string {
		tmpl, _ := decode(t, render(t, append(base, extra...)...)).pod(t)
		return tmpl.Annotations["checksum/config"]
	}
	first := checksum()
	assert.Equal(t, first, checksum("--set", "presets.desiredState.experiments.experiment/process.rollout.percent=100"))
	assert.Equal(t, first, checksum("--set", "presets.desiredState.experiments.experiment/process.variants.top30.processors[0].topk.k=30"),
		"a variant declared for the fleet is built live")
	assert.NotEqual(t, first, checksum("--set", "presets.experiment.window=2m"))
}

func TestGOMEMLIMIT(t *testing.T) {
	for limit, want := range map[string]string{"1Gi": "819MiB", "512Mi": "409MiB", "2097152Ki": "1638MiB", "1073741824": "819MiB",
		// the decimal suffixes upstream values use (200M in its ci files)
		"1G": "762MiB", "200M": "152MiB", "500000k": "381MiB", "1.5G": "1144MiB"} {
		tmpl, _ := decode(t, render(t, "--set", "resources.limits.memory="+limit)).pod(t)
		assert.Equal(t, want, env(tmpl.Spec.Containers[0], "GOMEMLIMIT"), limit)
	}
	tmpl, _ := decode(t, render(t, "--set", "useGOMEMLIMIT=false")).pod(t)
	assert.Empty(t, env(tmpl.Spec.Containers[0], "GOMEMLIMIT"))
}

func portNames(c corev1.Container) []string {
	var names []string
	for _, p := range c.Ports {
		names = append(names, p.Name)
	}
	return names
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func fieldRef(c corev1.Container, name string) *corev1.ObjectFieldSelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef
		}
	}
	return nil
}

func envFrom(c corev1.Container, name string) *corev1.SecretKeySelector {
	for _, e := range c.Env {
		if e.Name == name && e.ValueFrom != nil {
			return e.ValueFrom.SecretKeyRef
		}
	}
	return nil
}

// golden compares a render with its committed example (UPDATE_GOLDEN=1 rewrites it).
func golden(t *testing.T, path, got string) {
	t.Helper()
	if updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "missing example render: run `make chart-examples`")
	assert.Equal(t, string(want), got, "%s differs from the render: run `make chart-examples` and review the diff", path)
}
