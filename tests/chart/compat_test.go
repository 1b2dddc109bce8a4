// Copyright The otelcol-phoenix Authors
// SPDX-License-Identifier: Apache-2.0

package chart

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

// valuesFile writes a values file for one test.
func valuesFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// TestValuesAreTemplates: config (presets merged), podLabels, podAnnotations, annotations and
// additionalLabels are templates, as upstream renders them with tpl; the collector's ${env:X} is untouched.
func TestValuesAreTemplates(t *testing.T) {
	file := valuesFile(t, `
mode: deployment
global:
  test: templated-value
podLabels:
  testLabel: "{{ .Values.global.test }}"
podAnnotations:
  team: "{{ .Release.Name }}"
annotations:
  owner: "{{ .Release.Name }}"
additionalLabels:
  release: "{{ .Release.Name }}"
config:
  exporters:
    otlp_grpc:
      endpoint: "{{ .Release.Name }}-gateway.{{ .Release.Namespace }}.svc:4317"
      tls: {insecure: true}
      headers: {x-node: "${env:K8S_NODE_NAME}"}
  service:
    pipelines:
      traces:
        exporters: [otlp_grpc]
`)
	r := decode(t, render(t, "-f", file, "--set", "presets.kubernetesAttributes.enabled=true"))
	cfg := decodeRelay(t, r)
	assert.Equal(t, "phoenix-gateway.observability.svc:4317", cfg.Exporters["otlp_grpc"]["endpoint"])
	assert.Equal(t, map[string]any{"x-node": "${env:K8S_NODE_NAME}"}, cfg.Exporters["otlp_grpc"]["headers"], "${env:…} passes through")
	assert.Equal(t, "${env:MY_POD_IP}:13133", cfg.Extensions["health_check"]["endpoint"])
	assert.Contains(t, cfg.Processors, "k8s_attributes", "the presets are merged before tpl")
	tmpl, _ := r.pod(t)
	assert.Equal(t, "templated-value", tmpl.Labels["testLabel"])
	assert.Equal(t, "phoenix", tmpl.Annotations["team"])
	assert.Equal(t, "phoenix", r.deployment.Annotations["owner"])
	assert.Equal(t, "phoenix", r.deployment.Labels["release"])
	assert.Equal(t, "phoenix", r.configMaps["phoenix-otelcol-phoenix"].Labels["release"])
}

// TestKubernetesAttributesAsUpstream: the preset extracts upstream's attributes (owners, container, image,
// cluster, service.* with otel_annotations), every one a field the binary's k8s_attributes knows.
func TestKubernetesAttributesAsUpstream(t *testing.T) {
	for _, mode := range []string{"daemonset", "deployment"} {
		r := decode(t, render(t, "--set", "mode="+mode, "--set", "presets.kubernetesAttributes.enabled=true"))
		extract := decodeRelay(t, r).Processors["k8s_attributes"]["extract"].(map[string]any)
		assert.Equal(t, true, extract["otel_annotations"])
		assert.ElementsMatch(t, []any{
			"k8s.namespace.name", "k8s.pod.name", "k8s.pod.uid", "k8s.node.name", "k8s.pod.start_time",
			"k8s.deployment.name", "k8s.replicaset.name", "k8s.replicaset.uid", "k8s.daemonset.name", "k8s.daemonset.uid",
			"k8s.job.name", "k8s.job.uid", "k8s.container.name", "k8s.cronjob.name", "k8s.statefulset.name",
			"k8s.statefulset.uid", "container.image.tag", "container.image.name", "k8s.cluster.uid",
			"service.namespace", "service.name", "service.version", "service.instance.id",
		}, extract["metadata"], mode)
		assert.True(t, granted(r.clusterRoles, "namespaces", "get"), "k8s.cluster.uid reads the kube-system namespace")
		validateConfig(t, r, values{})
	}
}

// TestTolerationsAndPriorityForAgentsOnly: the DaemonSet tolerates every taint and gets the chart's
// PriorityClass; a Deployment gets neither by default (as upstream), and either can be chosen.
func TestTolerationsAndPriorityForAgentsOnly(t *testing.T) {
	r := decode(t, render(t))
	assert.Equal(t, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, r.daemonSet.Spec.Template.Spec.Tolerations)
	require.NotNil(t, r.priority)
	assert.Equal(t, r.priority.Name, r.daemonSet.Spec.Template.Spec.PriorityClassName)

	r = decode(t, render(t, "--set", "mode=deployment"))
	assert.Empty(t, r.deployment.Spec.Template.Spec.Tolerations, "a gateway does not land on tainted nodes")
	assert.Empty(t, r.deployment.Spec.Template.Spec.PriorityClassName)
	assert.Nil(t, r.priority, "no node-agent PriorityClass for a gateway")

	r = decode(t, render(t, "--set", "mode=deployment", "--set", "priorityClass.create=true", "--set", "tolerations[0].key=gateway", "--set", "tolerations[0].operator=Exists"))
	require.NotNil(t, r.priority)
	assert.Equal(t, r.priority.Name, r.deployment.Spec.Template.Spec.PriorityClassName)
	assert.Equal(t, []corev1.Toleration{{Key: "gateway", Operator: corev1.TolerationOpExists}}, r.deployment.Spec.Template.Spec.Tolerations)

	r = decode(t, render(t, "--set-json", "tolerations=[]", "--set", "priorityClass.create=false"))
	assert.Empty(t, r.daemonSet.Spec.Template.Spec.Tolerations, "tolerations: [] means none")
	assert.Empty(t, r.daemonSet.Spec.Template.Spec.PriorityClassName)
	assert.Nil(t, r.priority)
}

// TestUpstreamDefaultValuesInstall: a values file started from upstream's `helm show values` renders once
// mode and image are set and upstream's default jaeger and zipkin receivers, which this build lacks, are
// dropped as the render's error says (without that, every pod would refuse the config at start); turning
// on any of the features this chart does not have fails with every one named and why.
func TestUpstreamDefaultValuesInstall(t *testing.T) {
	upstream := []string{"-f", filepath.Join("testdata", "upstream-chart-default-values.yaml"), "--set", "mode=daemonset", "--set", "image.repository=otelcol-phoenix"}
	out, err := helm(t, append([]string{"template", "phoenix", chartDir(t)}, upstream...)...)
	require.Error(t, err)
	for _, name := range []string{"jaeger", "zipkin"} {
		assert.Contains(t, out, "config.receivers."+name+": otelcol-phoenix has no "+name+" receiver (the top-level README's Known gaps say what to use instead); "+
			"to drop it, set config.receivers."+name+": null and take it out of config.service.pipelines.traces.receivers")
	}
	r := decode(t, render(t, append(upstream, "--set", "config.receivers.jaeger=null", "--set", "config.receivers.zipkin=null",
		"--set-json", `config.service.pipelines.traces.receivers=["otlp"]`)...))
	require.NotNil(t, r.daemonSet)
	validateConfig(t, r, values{})
	render(t, "--set", "configMap.create=true", "--set", "autoscaling.enabled=false", "--set", "ingress.enabled=false",
		"--set", "networkPolicy.enabled=false", "--set", "presets.clusterMetrics.enabled=false", "--set", "presets.profiling.enabled=false")

	args := []string{"template", "phoenix", chartDir(t)}
	for _, s := range []string{"autoscaling.enabled=true", "ingress.enabled=true", "httproute.enabled=true", "networkPolicy.enabled=true",
		"configMap.create=false", "internalTelemetryViaOTLP.traces.enabled=true",
		"presets.clusterMetrics.enabled=true", "presets.kubernetesEvents.enabled=true", "presets.kubernetesObjects.enabled=true",
		"presets.annotationDiscovery.metrics.enabled=true", "presets.resourceDetection.enabled=true", "presets.profiling.enabled=true"} {
		args = append(args, "--set", s)
	}
	out, err = helm(t, args...)
	require.Error(t, err)
	for _, want := range []string{
		"autoscaling.enabled: not supported by this chart: no HorizontalPodAutoscaler yet",
		"ingress.enabled / ingress.additionalIngresses: not supported by this chart",
		"httproute.enabled: not supported by this chart",
		"networkPolicy.enabled: not supported by this chart",
		"configMap.create: false / configMap.existingName: not supported by this chart: the chart must render the config",
		"internalTelemetryViaOTLP.{traces,metrics,logs}.enabled: not supported by this chart: set config.service.telemetry",
		"presets.clusterMetrics.enabled: not supported by this chart: its k8s_cluster receiver is not in this build",
		"presets.kubernetesEvents.enabled: not supported by this chart",
		"presets.kubernetesObjects.enabled: not supported by this chart",
		"presets.annotationDiscovery.{logs,metrics}.enabled: not supported by this chart",
		"presets.resourceDetection.enabled: not supported by this chart: not written yet; resource_detection is in the build",
		"presets.profiling.enabled: not supported by this chart",
	} {
		assert.Contains(t, out, want)
	}
	out, err = helm(t, "template", "phoenix", chartDir(t), "--set", "apiVersion=apps/v1beta2")
	require.Error(t, err)
	assert.Contains(t, out, "apiVersion")
	out, err = helm(t, "template", "phoenix", chartDir(t), "--set", "configMap.creat=true")
	require.Error(t, err, "typos in configMap are still refused")
	assert.Contains(t, out, "additional properties")
}

// TestRootPresetsConflicts: a non-root user given explicitly while a preset needs UID 0 fails the render,
// naming both, instead of being overridden (pod level) or winning silently (container level).
func TestRootPresetsConflicts(t *testing.T) {
	for _, tt := range []struct {
		sets []string
		want string
	}{
		{[]string{"presets.logsCollection.enabled=true", "securityContext.runAsUser=1000"},
			"securityContext.runAsUser 1000 conflicts with presets.logsCollection.runAsRoot, which needs UID 0"},
		{[]string{"presets.logsCollection.enabled=true", "securityContext.runAsNonRoot=true"},
			"securityContext.runAsNonRoot: true conflicts with presets.logsCollection.runAsRoot"},
		{[]string{"presets.hostMetrics.enabled=true", "podSecurityContext.runAsNonRoot=true"},
			"podSecurityContext.runAsNonRoot: true conflicts with presets.hostMetrics.readAllProcesses, which runs the container as UID 0"},
		{[]string{"presets.hostMetrics.enabled=true", "podSecurityContext.runAsUser=10001"},
			"podSecurityContext.runAsUser 10001 conflicts with presets.hostMetrics.readAllProcesses"},
	} {
		args := []string{"template", "phoenix", chartDir(t)}
		for _, s := range tt.sets {
			args = append(args, "--set", s)
		}
		out, err := helm(t, args...)
		require.Error(t, err, tt.sets)
		assert.Contains(t, out, tt.want)
	}
	// Unset, the chart chooses: 10001 non-root, or 0 for the presets; a root preset turned off keeps the user's.
	sc := decode(t, render(t, "--set", "presets.logsCollection.enabled=true", "--set", "podSecurityContext.runAsUser=0")).daemonSet.Spec.Template.Spec.SecurityContext
	assert.Equal(t, int64(0), *sc.RunAsUser)
	assert.False(t, *sc.RunAsNonRoot)
	sc = decode(t, render(t, "--set", "presets.logsCollection.enabled=true", "--set", "presets.logsCollection.runAsRoot=false",
		"--set", "podSecurityContext.runAsUser=2000")).daemonSet.Spec.Template.Spec.SecurityContext
	assert.Equal(t, int64(2000), *sc.RunAsUser)
	assert.True(t, *sc.RunAsNonRoot)
	assert.Equal(t, int64(10001), *sc.RunAsGroup)
}

// TestServiceCommentAndFleetRules: the DaemonSet remark is not on a Deployment's Service; the fleet rules
// (whose series the control API serves) come only with presets.control.
func TestServiceCommentAndFleetRules(t *testing.T) {
	const remark = "A DaemonSet's Service"
	assert.NotContains(t, render(t, "--set", "mode=deployment", "--show-only", "templates/service.yaml"), remark)
	assert.Contains(t, render(t, "--set", "service.enabled=true", "--show-only", "templates/service.yaml"), remark)

	groups := func(args ...string) []string {
		r := decode(t, render(t, append([]string{"--set", "prometheusRule.enabled=true", "--set", "prometheusRule.defaultRules.enabled=true"}, args...)...))
		require.Len(t, r.prometheusRules, 1)
		var names []string
		for _, g := range r.prometheusRules[0].Spec.Groups {
			names = append(names, g.Name)
		}
		return names
	}
	assert.Equal(t, []string{"otelcol-phoenix.collector"}, groups(), "no fleet rules without presets.control")
	assert.Greater(t, len(groups("--set", "presets.control.enabled=true", "--set", "presets.control.token.value=x")), 1)
	out, err := helm(t, "template", "phoenix", chartDir(t), "--set", "prometheusRule.enabled=true")
	require.Error(t, err)
	assert.Contains(t, out, "fleetRules with presets.control")
}
