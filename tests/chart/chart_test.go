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
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
	out, err := helm(t, append([]string{"template", "phoenix", chartDir(t), "--namespace", namespace}, args...)...)
	require.NoError(t, err)
	return out
}

// rendered is one render decoded strictly into Kubernetes types.
type rendered struct {
	daemonSet    *appsv1.DaemonSet
	deployment   *appsv1.Deployment
	configMaps   map[string]*corev1.ConfigMap
	services     map[string]*corev1.Service
	secrets      map[string]*corev1.Secret
	clusterRoles int
	bindings     []*rbacv1.ClusterRoleBinding
	priority     *schedulingv1.PriorityClass
	accounts     []*corev1.ServiceAccount
}

// decode splits a render into documents and decodes each strictly: an unknown or mistyped field fails.
func decode(t *testing.T, out string) rendered {
	t.Helper()
	r := rendered{configMaps: map[string]*corev1.ConfigMap{}, services: map[string]*corev1.Service{}, secrets: map[string]*corev1.Secret{}}
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
		case "ServiceAccount":
			sa := &corev1.ServiceAccount{}
			strict(sa)
			r.accounts = append(r.accounts, sa)
		case "ClusterRole":
			strict(&rbacv1.ClusterRole{})
			r.clusterRoles++
		case "ClusterRoleBinding":
			b := &rbacv1.ClusterRoleBinding{}
			strict(b)
			r.bindings = append(r.bindings, b)
		case "PriorityClass":
			r.priority = &schedulingv1.PriorityClass{}
			strict(r.priority)
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

// TestCIValues renders every ci/*-values.yaml and checks it: lint, strict decoding, the pod's security,
// probes, resources and mounts, the collector config validated by the binary, and the committed render.
func TestCIValues(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(chartDir(t), "ci", "*-values.yaml"))
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 8)
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), "-values.yaml")
		t.Run(name, func(t *testing.T) {
			values := readValues(t, file)
			out, err := helm(t, "lint", "--strict", chartDir(t), "-f", file)
			require.NoError(t, err, out)

			out = render(t, "-f", file)
			golden(t, filepath.Join(chartDir(t), "examples", name, "rendered.yaml"), out)
			r := decode(t, out)
			checkPod(t, r, values)
			checkPresets(t, r, values)
			validateConfig(t, r, values)
		})
	}
}

type values struct {
	Mode    string `json:"mode"`
	Presets struct {
		HostMetrics struct {
			Enabled          bool  `json:"enabled"`
			ReadAllProcesses *bool `json:"readAllProcesses"`
		} `json:"hostMetrics"`
		KubernetesAttributes struct{ Enabled bool } `json:"kubernetesAttributes"`
		Simulator            struct{ Enabled bool } `json:"simulator"`
		Experiment           struct{ Enabled bool } `json:"experiment"`
		Control              struct {
			Enabled bool `json:"enabled"`
			Token   struct {
				ExistingSecret string `json:"existingSecret"`
			} `json:"token"`
		} `json:"control"`
		DesiredState struct{ Enabled bool } `json:"desiredState"`
	} `json:"presets"`
}

func readValues(t *testing.T, path string) values {
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	var v values
	require.NoError(t, yaml.Unmarshal(data, &v))
	if v.Mode == "" {
		v.Mode = "daemonset"
	}
	return v
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
	assert.Regexp(t, `^[0-9a-f]{64}$`, tmpl.Annotations["checksum/config"])

	spec := tmpl.Spec
	require.Len(t, spec.Containers, 1)
	c := spec.Containers[0]
	assert.Equal(t, []string{"--config=/conf/relay.yaml"}, c.Args)
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		require.NotNil(t, p)
		require.NotNil(t, p.HTTPGet)
		assert.Equal(t, "health", p.HTTPGet.Port.String())
	}
	assert.Contains(t, portNames(c), "health")
	assert.False(t, c.Resources.Requests.Cpu().IsZero())
	assert.False(t, c.Resources.Requests.Memory().IsZero())
	assert.False(t, c.Resources.Limits.Memory().IsZero())
	assert.Equal(t, fmt.Sprintf("%dMiB", c.Resources.Limits.Memory().Value()*8/10/(1<<20)), env(c, "GOMEMLIMIT"), "GOMEMLIMIT is 80%% of the limit")

	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.False(t, *sc.Privileged)
	require.NotNil(t, sc.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	readAll := v.Presets.HostMetrics.Enabled && (v.Presets.HostMetrics.ReadAllProcesses == nil || *v.Presets.HostMetrics.ReadAllProcesses)
	if readAll {
		assert.Equal(t, []corev1.Capability{"SYS_PTRACE", "DAC_READ_SEARCH"}, sc.Capabilities.Add, "exactly what reading other users' /proc needs")
		assert.Equal(t, int64(0), *spec.SecurityContext.RunAsUser)
	} else {
		assert.Empty(t, sc.Capabilities.Add)
		assert.True(t, *spec.SecurityContext.RunAsNonRoot)
		assert.Equal(t, int64(10001), *spec.SecurityContext.RunAsUser)
	}

	assert.NotEmpty(t, spec.Tolerations, "runs on tainted nodes too")
	assert.NotEmpty(t, spec.PriorityClassName)
	if r.priority != nil {
		assert.Equal(t, r.priority.Name, spec.PriorityClassName)
	}
	if len(r.accounts) > 0 {
		assert.Equal(t, r.accounts[0].Name, spec.ServiceAccountName)
	}
	for _, b := range r.bindings {
		assert.Equal(t, spec.ServiceAccountName, b.Subjects[0].Name)
	}

	// Every mount has its volume; the hostfs mount is read-only.
	vols := map[string]corev1.Volume{}
	for _, vol := range spec.Volumes {
		vols[vol.Name] = vol
	}
	for _, m := range c.VolumeMounts {
		require.Contains(t, vols, m.Name, "mount %s has a volume", m.Name)
		if vol := vols[m.Name]; vol.HostPath != nil && vol.HostPath.Path == "/" {
			assert.True(t, m.ReadOnly, "the node's / is mounted read-only")
			assert.Equal(t, "/hostfs", m.MountPath)
		}
		assert.Empty(t, m.SubPath, "no subPath: ConfigMap updates must reach the pod")
	}
	cmVol := vols["config"]
	require.NotNil(t, cmVol.ConfigMap)
	assert.Contains(t, r.configMaps, cmVol.ConfigMap.Name)
}

func checkPresets(t *testing.T, r rendered, v values) {
	tmpl, _ := r.pod(t)
	c := tmpl.Spec.Containers[0]
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	config := collectorConfig(t, r)
	p := v.Presets

	assert.Equal(t, p.HostMetrics.Enabled, mounts["/hostfs"] != "", "hostfs mounted iff hostMetrics")
	assert.Equal(t, p.HostMetrics.Enabled, strings.Contains(config, "root_path: /hostfs"))
	assert.Equal(t, p.Simulator.Enabled, strings.Contains(config, "simulated_process:"))
	assert.Equal(t, p.KubernetesAttributes.Enabled, r.clusterRoles == 1 && len(r.bindings) == 1, "k8s_attributes RBAC")
	assert.Equal(t, p.KubernetesAttributes.Enabled, strings.Contains(config, "- k8s_attributes"))
	assert.Equal(t, p.Experiment.Enabled, strings.Contains(config, "- experiment/process"))
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
}

func collectorConfig(t *testing.T, r rendered) string {
	cm := r.configMaps["phoenix-otelcol-phoenix"]
	require.NotNil(t, cm)
	require.NotEmpty(t, cm.Data["relay"])
	return cm.Data["relay"]
}

// validateConfig runs `otelcol-phoenix validate` on the rendered config with the pod's environment. The
// host_metrics root_path is pointed at this machine's / (in the pod, /hostfs is the node's /, asserted above).
func validateConfig(t *testing.T, r rendered, v values) {
	bin := harness.Binary(t)
	path := filepath.Join(t.TempDir(), "relay.yaml")
	require.NoError(t, os.WriteFile(path, []byte(mountRules(t, r, collectorConfig(t, r))), 0o600))
	args := []string{"validate", "--config", path}
	if v.Presets.HostMetrics.Enabled {
		args = append(args, "--set=receivers::host_metrics::root_path=/")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "MY_POD_IP=127.0.0.1", "K8S_NODE_NAME=node-1", "PHOENIX_CONTROL_TOKEN=token")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "otelcol-phoenix validate:\n%s", out)
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
	for _, set := range []string{"nope=1", "presets.hostMetrics.enable=true", "presets.control.token.secret=x", "image.registry=x"} {
		out, err := helm(t, "template", "phoenix", chartDir(t), "--set", set)
		require.Error(t, err, set)
		assert.Contains(t, out, "additional properties", set)
	}
	out, err := helm(t, "template", "phoenix", chartDir(t), "--set", "mode=statefulset")
	require.Error(t, err)
	assert.Contains(t, out, "mode")
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
		{[]string{"presets.hostMetrics.enabled=true", "presets.simulator.enabled=true"}, []string{"pick one process-metrics source"}},
		{[]string{"presets.experiment.enabled=true"}, []string{"presets.experiment needs process metrics"}},
		{[]string{"presets.simulator.enabled=true", "presets.experiment.enabled=true", "presets.experiment.active=top5"}, []string{`presets.experiment.active "top5": want full, top20 or by_executable`}},
		{[]string{"presets.control.enabled=true"}, []string{"presets.control needs a bearer token"}},
		{[]string{"presets.control.enabled=true", "presets.control.token.value=a", "presets.control.token.existingSecret=b"}, []string{"set existingSecret or value, not both"}},
		{[]string{"resources.limits.memory=1G"}, []string{`resources.limits.memory "1G": use Ki, Mi, Gi, Ti or bytes`}},
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
	assert.NotEqual(t, first, checksum("--set", "presets.experiment.window=2m"))
}

func TestGOMEMLIMIT(t *testing.T) {
	for limit, want := range map[string]string{"1Gi": "819MiB", "512Mi": "409MiB", "2097152Ki": "1638MiB", "1073741824": "819MiB"} {
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
