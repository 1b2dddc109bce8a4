{{/* Names and labels, as in the upstream opentelemetry-collector chart. */}}
{{- define "otelcol-phoenix.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "otelcol-phoenix.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "otelcol-phoenix.selectorLabels" -}}
app.kubernetes.io/name: {{ include "otelcol-phoenix.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "otelcol-phoenix.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "otelcol-phoenix.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: {{ if .Values.presets.fleet.enabled }}fleet-controller{{ else }}{{ ternary "agent-collector" "gateway-collector" (eq .Values.mode "daemonset") }}{{ end }}
{{- with .Values.additionalLabels }}
{{ tpl (toYaml .) $ }}
{{- end }}
{{- end }}

{{/* The namespace of every namespaced object: namespaceOverride, else the release's. */}}
{{- define "otelcol-phoenix.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{/* serviceEnabled: service.enabled when set, else true in deployment mode only (as upstream). */}}
{{- define "otelcol-phoenix.serviceEnabled" -}}
{{- if kindIs "bool" .Values.service.enabled }}{{ .Values.service.enabled }}{{ else }}{{ eq .Values.mode "deployment" }}{{ end }}
{{- end }}

{{- define "otelcol-phoenix.image" -}}
{{- $registry := (.Values.global).imageRegistry }}
{{- $repo := ternary .Values.image.repository (printf "%s/%s" $registry .Values.image.repository) (empty $registry) }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $repo .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
runAsRoot: the container runs as UID 0, for the presets that read root-owned node files: hostMetrics with
readAllProcesses (other users' /proc/<pid>/*, with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH) and logsCollection
with runAsRoot (container logs, root-owned 0640: no capability needed).
*/}}
{{- define "otelcol-phoenix.runAsRoot" -}}
{{- $p := .Values.presets }}
{{- if or (and $p.hostMetrics.enabled $p.hostMetrics.readAllProcesses) (and $p.logsCollection.enabled $p.logsCollection.runAsRoot) }}true{{ end }}
{{- end }}

{{/* clusterRoleEnabled: the ClusterRole and its binding are rendered (clusterRole.create or an RBAC preset). */}}
{{- define "otelcol-phoenix.clusterRoleEnabled" -}}
{{- if or .Values.clusterRole.create .Values.presets.kubernetesAttributes.enabled .Values.presets.kubeletMetrics.enabled }}true{{ end }}
{{- end }}

{{/* A probe on health_check: the values' probe with httpGet defaulting to path / on the health port. */}}
{{- define "otelcol-phoenix.probe" -}}
{{- $probe := deepCopy . }}
{{- $_ := set $probe "httpGet" (mustMergeOverwrite (dict "path" "/" "port" "health") (default dict $probe.httpGet)) }}
{{- toYaml $probe }}
{{- end }}

{{/* The secret holding the control token and its key, for the monitors' authorization. */}}
{{- define "otelcol-phoenix.controlAuthorization" -}}
authorization:
  type: Bearer
  credentials:
    name: {{ include "otelcol-phoenix.tokenSecretName" . }}
    key: {{ .Values.presets.control.token.key }}
{{- end }}

{{/*
The monitors' endpoint on the control API's /metrics. instance is the node's name on a DaemonSet (one agent
per node) and the pod's name on a Deployment, which is what the fleet dashboard and rules group by.
*/}}
{{- define "otelcol-phoenix.controlMetricsEndpoint" -}}
- port: control
  path: /metrics
  scheme: http
  {{- with .interval }}
  interval: {{ . }}
  {{- end }}
  {{- include "otelcol-phoenix.controlAuthorization" .root | nindent 2 }}
  relabelings:
    - sourceLabels: [{{ ternary "__meta_kubernetes_pod_node_name" "__meta_kubernetes_pod_name" (eq .root.Values.mode "daemonset") }}]
      targetLabel: instance
      action: replace
{{- end }}

{{- define "otelcol-phoenix.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelcol-phoenix.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* priorityClassCreate: priorityClass.create when set, else true for a DaemonSet only (the node agents). */}}
{{- define "otelcol-phoenix.priorityClassCreate" -}}
{{- if kindIs "bool" .Values.priorityClass.create }}{{ if .Values.priorityClass.create }}true{{ end }}
{{- else if eq .Values.mode "daemonset" }}true{{ end }}
{{- end }}

{{/* tolerations: the values' when set (also []), else every taint for a DaemonSet and none for a Deployment. */}}
{{- define "otelcol-phoenix.tolerations" -}}
{{- if hasKey .Values "tolerations" }}
{{- with .Values.tolerations }}{{ toYaml . }}{{ end }}
{{- else if eq .Values.mode "daemonset" }}
- operator: Exists
{{- end }}
{{- end }}

{{- define "otelcol-phoenix.priorityClassName" -}}
{{- if .Values.priorityClassName }}
{{- .Values.priorityClassName }}
{{- else if include "otelcol-phoenix.priorityClassCreate" . }}
{{- include "otelcol-phoenix.fullname" . }}
{{- end }}
{{- end }}

{{- define "otelcol-phoenix.tokenSecretName" -}}
{{- default (printf "%s-control-token" (include "otelcol-phoenix.fullname" .)) .Values.presets.control.token.existingSecret }}
{{- end }}

{{/*
The fleet token: the controller's (presets.fleet.token) in a fleet release, the agents' (presets.control.opamp.token)
otherwise. fleetTokenEnabled: a pod of this release carries it (PHOENIX_FLEET_TOKEN).
*/}}
{{- define "otelcol-phoenix.fleetTokenEnabled" -}}
{{- $p := .Values.presets }}
{{- if or $p.fleet.enabled (and $p.control.enabled $p.control.opamp.enabled) }}true{{ end }}
{{- end }}

{{- define "otelcol-phoenix.fleetToken" -}}
{{- $p := .Values.presets }}
{{- toYaml (ternary $p.fleet.token $p.control.opamp.token (eq (toString $p.fleet.enabled) "true")) }}
{{- end }}

{{- define "otelcol-phoenix.fleetTokenSecretName" -}}
{{- $t := include "otelcol-phoenix.fleetToken" . | fromYaml }}
{{- default (printf "%s-fleet-token" (include "otelcol-phoenix.fullname" .)) $t.existingSecret }}
{{- end }}

{{/*
opampEndpoint: the agents' presets.control.opamp.endpoint, else the Service a controller release named
<release>-fleet in this namespace gets (its fullname, as otelcol-phoenix.fullname makes it without
fullnameOverride) on port 4320.
*/}}
{{- define "otelcol-phoenix.opampEndpoint" -}}
{{- with .Values.presets.control.opamp.endpoint }}
{{- . }}
{{- else }}
{{- $release := printf "%s-fleet" .Release.Name }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- $service := ternary $release (printf "%s-%s" $release $name) (contains $name $release) | trunc 63 | trimSuffix "-" }}
{{- $tls := or .Values.presets.control.opamp.tls.caSecret .Values.presets.control.opamp.tls.clientCertificate }}
{{- printf "%s://%s.%s.svc:4320/v1/opamp" (ternary "wss" "ws" (not (empty $tls))) $service (include "otelcol-phoenix.namespace" .) }}
{{- end }}
{{- end }}

{{/* fleetClaimName: the PersistentVolumeClaim holding the fleet controller's rollouts. */}}
{{- define "otelcol-phoenix.fleetClaimName" -}}
{{- default (printf "%s-fleet" (include "otelcol-phoenix.fullname" .)) .Values.presets.fleet.persistence.existingClaim }}
{{- end }}

{{/*
GOMEMLIMIT: 80% of the memory limit, in MiB. Accepts Ki, Mi, Gi, Ti, the decimal k, M, G, T and plain bytes.
*/}}
{{- define "otelcol-phoenix.gomemlimit" -}}
{{- $limit := toString . }}
{{- $mib := 0.0 }}
{{- if hasSuffix "Ti" $limit }}{{ $mib = mulf (float64 (trimSuffix "Ti" $limit)) 1048576 }}
{{- else if hasSuffix "Gi" $limit }}{{ $mib = mulf (float64 (trimSuffix "Gi" $limit)) 1024 }}
{{- else if hasSuffix "Mi" $limit }}{{ $mib = float64 (trimSuffix "Mi" $limit) }}
{{- else if hasSuffix "Ki" $limit }}{{ $mib = divf (float64 (trimSuffix "Ki" $limit)) 1024 }}
{{- else if regexMatch "^[0-9.]+T$" $limit }}{{ $mib = divf (mulf (float64 (trimSuffix "T" $limit)) 1e12) 1048576 }}
{{- else if regexMatch "^[0-9.]+G$" $limit }}{{ $mib = divf (mulf (float64 (trimSuffix "G" $limit)) 1e9) 1048576 }}
{{- else if regexMatch "^[0-9.]+M$" $limit }}{{ $mib = divf (mulf (float64 (trimSuffix "M" $limit)) 1e6) 1048576 }}
{{- else if regexMatch "^[0-9.]+k$" $limit }}{{ $mib = divf (mulf (float64 (trimSuffix "k" $limit)) 1e3) 1048576 }}
{{- else if regexMatch "^[0-9]+$" $limit }}{{ $mib = divf (float64 $limit) 1048576 }}
{{- else }}{{ fail (printf "resources.limits.memory %q: use Ki, Mi, Gi, Ti, k, M, G, T or bytes for useGOMEMLIMIT (or set useGOMEMLIMIT: false)" $limit) }}
{{- end }}
{{- printf "%dMiB" (int (floor (mulf $mib 0.8))) }}
{{- end }}

{{/* validate fails the render, listing every invalid combination of values at once. */}}
{{- define "otelcol-phoenix.validate" -}}
{{- $p := .Values.presets }}
{{- $errs := list }}
{{- if not (has .Values.mode (list "daemonset" "deployment")) }}
{{- $errs = append $errs (printf "mode %q: not supported by this chart, which runs daemonset (a collector per node) or deployment (a gateway); upstream's statefulset has no counterpart here" .Values.mode) }}
{{- end }}
{{- if and $p.hostMetrics.enabled (ne .Values.mode "daemonset") }}
{{- $errs = append $errs "presets.hostMetrics needs mode: daemonset (it reads the node's own /proc)" }}
{{- end }}
{{- if and $p.hostMetrics.enabled $p.simulator.enabled }}
{{- $errs = append $errs "presets.hostMetrics and presets.simulator are both enabled: pick one process-metrics source" }}
{{- end }}
{{- if and $p.experiment.enabled (not (or $p.hostMetrics.enabled $p.simulator.enabled)) }}
{{- $errs = append $errs "presets.experiment needs process metrics: enable presets.hostMetrics or presets.simulator" }}
{{- end }}
{{- if and $p.experiment.enabled (not (has $p.experiment.active (list "full" (printf "top%d" (int $p.experiment.topK)) "by_executable"))) }}
{{- $errs = append $errs (printf "presets.experiment.active %q: want full, top%d or by_executable" $p.experiment.active (int $p.experiment.topK)) }}
{{- end }}
{{- with $p.experiment.cost }}
{{- if and .enabled (not $p.experiment.enabled) }}
{{- $errs = append $errs "presets.experiment.cost needs presets.experiment (it prices the experiment's variants)" }}
{{- end }}
{{- if and .enabled (ne .model "active_series") (or .includedDPM .overagePrice) }}
{{- $errs = append $errs (printf "presets.experiment.cost.includedDPM, overagePrice: only model active_series bills data points per minute, not %q" .model) }}
{{- end }}
{{- if and .enabled .overagePrice (not .includedDPM) }}
{{- $errs = append $errs "presets.experiment.cost.overagePrice needs includedDPM (the data points per minute included per series)" }}
{{- end }}
{{- end }}
{{- with $p.experiment.rules }}
{{- if and .enabled (not $p.experiment.enabled) }}
{{- $errs = append $errs "presets.experiment.rules needs presets.experiment (its rules are evaluated on the experiment's variants)" }}
{{- end }}
{{- if and .enabled (not (or .files .dashboards .existingConfigMaps .inline)) }}
{{- $errs = append $errs "presets.experiment.rules: give files, dashboards, existingConfigMaps or inline queries" }}
{{- end }}
{{- end }}
{{- if and $p.control.enabled (not (or $p.control.token.existingSecret $p.control.token.value)) }}
{{- $errs = append $errs "presets.control needs a bearer token: set presets.control.token.existingSecret (a Secret with the token under presets.control.token.key) or presets.control.token.value" }}
{{- end }}
{{- if and $p.control.token.existingSecret $p.control.token.value }}
{{- $errs = append $errs "presets.control.token: set existingSecret or value, not both" }}
{{- end }}
{{- with $p.control.opamp }}
{{- if .enabled }}
{{- if not $p.control.enabled }}
{{- $errs = append $errs "presets.control.opamp needs presets.control (it is phoenix_control's opamp: block)" }}
{{- end }}
{{- if ne $.Values.mode "daemonset" }}
{{- $errs = append $errs "presets.control.opamp is for the node agents (mode: daemonset): an agent's OpAMP instance UID comes from its node's name, which gateway replicas would share" }}
{{- end }}
{{- if not (or .token.existingSecret .token.value) }}
{{- $errs = append $errs "presets.control.opamp needs the controller's bearer token: set presets.control.opamp.token.existingSecret (the Secret the controller release reads, the token under token.key) or presets.control.opamp.token.value" }}
{{- end }}
{{- if and (or .tls.caSecret .tls.clientCertificate) (regexMatch "^(ws|http)://" .endpoint) }}
{{- $errs = append $errs (printf "presets.control.opamp.tls is set and the endpoint %s is plain: use wss:// or https:// (or leave the endpoint empty)" .endpoint) }}
{{- end }}
{{- end }}
{{- if and .token.existingSecret .token.value }}
{{- $errs = append $errs "presets.control.opamp.token: set existingSecret or value, not both" }}
{{- end }}
{{- end }}
{{- with $p.fleet }}
{{- if .enabled }}
{{- if ne $.Values.mode "deployment" }}
{{- $errs = append $errs "presets.fleet needs mode: deployment (the controller is one pod the agents connect to; install it as its own release)" }}
{{- else if gt (int $.Values.replicaCount) 1 }}
{{- $errs = append $errs (printf "presets.fleet runs one controller, not replicaCount %d: it keeps the agents' connections and the rollouts' state in its process (each replica would see some agents and run its own copy of the rollouts); set replicaCount: 1" (int $.Values.replicaCount)) }}
{{- end }}
{{- if not (or .token.existingSecret .token.value) }}
{{- $errs = append $errs "presets.fleet needs a bearer token for the agents and the API: set presets.fleet.token.existingSecret (a Secret with the token under presets.fleet.token.key) or presets.fleet.token.value" }}
{{- end }}
{{- if eq (include "otelcol-phoenix.serviceEnabled" $) "false" }}
{{- $errs = append $errs "presets.fleet needs the Service (service.enabled): the agents connect to its opamp port" }}
{{- end }}
{{- if $.Values.rollout.rollingUpdate }}
{{- $errs = append $errs "rollout.rollingUpdate with presets.fleet: the controller is replaced with Recreate (two at once would both resume the persisted rollouts, and a ReadWriteOnce volume cannot move to a new pod while the old one holds it); unset it" }}
{{- end }}
{{- if and .persistence.existingClaim (not .persistence.enabled) }}
{{- $errs = append $errs "presets.fleet.persistence.existingClaim needs presets.fleet.persistence.enabled (off, the rollouts are kept in an emptyDir)" }}
{{- end }}
{{- if eq .tls.nodeIdentity "certificate" }}
{{- if not .tls.secretName }}
{{- $errs = append $errs "presets.fleet.tls.nodeIdentity: certificate needs presets.fleet.tls.secretName (the controller's tls.crt and tls.key, and ca.crt, the CA of the nodes' client certificates)" }}
{{- end }}
{{- if not .apiPort }}
{{- $errs = append $errs "presets.fleet.tls.nodeIdentity: certificate needs presets.fleet.apiPort: the opamp port then asks every client for a node's certificate, so the operators' API, page and /metrics need a port of their own" }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .token.existingSecret .token.value }}
{{- $errs = append $errs "presets.fleet.token: set existingSecret or value, not both" }}
{{- end }}
{{- end }}
{{- if and $p.desiredState.enabled (not $p.control.enabled) }}
{{- $errs = append $errs "presets.desiredState needs presets.control (the control extension reads the file)" }}
{{- end }}
{{- if and $p.desiredState.enabled (not $p.experiment.enabled) (empty $p.desiredState.experiments) }}
{{- $errs = append $errs "presets.desiredState is enabled but names no experiment: set presets.desiredState.experiments or enable presets.experiment" }}
{{- end }}
{{- /* The desired state against the experiments the config defines (the preset's, and any in config):
every node would refuse the file whole for a variant it does not have, and a declared variant that
redefines a configured one. */}}
{{- if $p.desiredState.enabled }}
{{- $cfg := .Values.alternateConfig | default .Values.config }}
{{- range $name, $want := $p.desiredState.experiments }}
{{- $at := printf "presets.desiredState.experiments.%s" $name }}
{{- if and $want.active $want.rollout }}
{{- $errs = append $errs (printf "%s: set active or rollout, not both (a values file merged over another keeps the other's: set the one you do not want to null)" $at) }}
{{- else if not (or $want.active $want.rollout $want.variants) }}
{{- $errs = append $errs (printf "%s: set active, rollout or variants" $at) }}
{{- end }}
{{- $procs := default dict (get $cfg "processors") }}
{{- $inConfig := kindIs "map" (get $procs $name) }}
{{- $configured := list }}
{{- with get $procs $name }}{{ if and (kindIs "map" .) (kindIs "map" .variants) }}{{ $configured = keys .variants }}{{ end }}{{ end }}
{{- if and $p.experiment.enabled (eq $name (printf "experiment/%s" $p.experiment.name)) }}
{{- $configured = concat $configured (list "full" (printf "top%d" (int $p.experiment.topK)) "by_executable") }}
{{- $inConfig = true }}
{{- end }}
{{- if $inConfig }}
{{- $declared := keys (default dict $want.variants) }}
{{- range $v := sortAlpha $declared }}
{{- if has $v $configured }}
{{- $errs = append $errs (printf "%s.variants.%s: the collector config defines %s already: give the runtime variant another name" $at $v $v) }}
{{- end }}
{{- end }}
{{- $wanted := $want.active | default "" }}
{{- if $want.rollout }}{{ $wanted = $want.rollout.variant | default "" }}{{ end }}
{{- if and $wanted (not (has $wanted (concat $configured $declared))) }}
{{- $have := concat (sortAlpha (uniq $configured)) (sortAlpha $declared) | uniq | join ", " | default "none" }}
{{- $errs = append $errs (printf "%s: no variant %q (the experiment has %s): define it under variants" $at $wanted $have) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if and .Values.useGOMEMLIMIT (not (and .Values.resources.limits .Values.resources.limits.memory)) }}
{{- $errs = append $errs "useGOMEMLIMIT needs resources.limits.memory (or set useGOMEMLIMIT: false)" }}
{{- end }}
{{- $daemonset := eq .Values.mode "daemonset" }}
{{- if and $p.kubeletMetrics.enabled (not $daemonset) }}
{{- $errs = append $errs "presets.kubeletMetrics needs mode: daemonset (each agent reads its own node's kubelet at K8S_NODE_IP)" }}
{{- end }}
{{- if and $p.logsCollection.enabled (not $daemonset) }}
{{- $errs = append $errs "presets.logsCollection needs mode: daemonset (it reads the node's /var/log/pods)" }}
{{- end }}
{{- if and $p.logsCollection.enabled $p.logsCollection.storeCheckpoints (not $p.logsCollection.runAsRoot) }}
{{- $errs = append $errs "presets.logsCollection.storeCheckpoints needs presets.logsCollection.runAsRoot (the checkpoints are written to the node's root-owned /var/lib/otelcol)" }}
{{- end }}
{{- if and .Values.clusterRole.rules (not (include "otelcol-phoenix.clusterRoleEnabled" .)) }}
{{- $errs = append $errs "clusterRole.rules need clusterRole.create: true (or presets.kubernetesAttributes / presets.kubeletMetrics, which create the ClusterRole)" }}
{{- end }}
{{- $serviceEnabled := eq (include "otelcol-phoenix.serviceEnabled" .) "true" }}
{{- range $name, $port := .Values.ports }}
{{- if and $port.enabled $port.nodePort (not (has $.Values.service.type (list "NodePort" "LoadBalancer"))) }}
{{- $errs = append $errs (printf "ports.%s.nodePort needs service.type NodePort or LoadBalancer, not %s" $name $.Values.service.type) }}
{{- end }}
{{- end }}
{{- if include "otelcol-phoenix.runAsRoot" . }}
{{- $why := ternary "presets.hostMetrics.readAllProcesses" "presets.logsCollection.runAsRoot" (and $p.hostMetrics.enabled $p.hostMetrics.readAllProcesses) }}
{{- range $section := list "podSecurityContext" "securityContext" }}
{{- $sc := default dict (index $.Values $section) }}
{{- if eq (toString $sc.runAsNonRoot) "true" }}
{{- $errs = append $errs (printf "%s.runAsNonRoot: true conflicts with %s, which runs the container as UID 0 (set it to false, or the preset option to false)" $section $why) }}
{{- end }}
{{- if and (hasKey $sc "runAsUser") (ne (toString $sc.runAsUser) "0") }}
{{- $errs = append $errs (printf "%s.runAsUser %v conflicts with %s, which needs UID 0 (unset it, or set the preset option to false)" $section $sc.runAsUser $why) }}
{{- end }}
{{- end }}
{{- end }}
{{- /* The container's port names (IANA_SVC_NAME: at most 15 characters) and node ports, which Kubernetes
would refuse only at apply time or, for duplicates, not at all. */}}
{{- $portNames := list "health" }}
{{- if $p.control.enabled }}{{ $portNames = append $portNames "control" }}{{ end }}
{{- if $p.fleet.enabled }}{{ $portNames = append $portNames "opamp" }}{{ if $p.fleet.apiPort }}{{ $portNames = append $portNames "api" }}{{ end }}{{ end }}
{{- $hostPorts := dict }}
{{- /* The container's port numbers: two listeners on one number fail the collector's start ("address already
in use") and two Service ports on one number the apply. */}}
{{- $claims := list (list "13133/TCP" "the health port") }}
{{- if $p.control.enabled }}{{ $claims = append $claims (list (printf "%v/TCP" $p.control.port) "presets.control.port") }}{{ end }}
{{- if $p.fleet.enabled }}
{{- $claims = append $claims (list (printf "%v/TCP" $p.fleet.port) "presets.fleet.port") }}
{{- if $p.fleet.apiPort }}{{ $claims = append $claims (list (printf "%v/TCP" $p.fleet.apiPort) "presets.fleet.apiPort") }}{{ end }}
{{- end }}
{{- range $name, $port := .Values.ports }}
{{- if and $port.enabled $port.containerPort }}
{{- $claims = append $claims (list (printf "%v/%s" $port.containerPort ($port.protocol | default "TCP")) (printf "ports.%s.containerPort" $name)) }}
{{- end }}
{{- end }}
{{- $numbers := dict }}
{{- range $claims }}
{{- $n := index . 0 }}{{ $what := index . 1 }}
{{- if hasKey $numbers $n }}
{{- $errs = append $errs (printf "%s %s is %s too: two listeners on one port fail the collector's start; give it another" $what $n (get $numbers $n)) }}
{{- else }}
{{- $_ := set $numbers $n $what }}
{{- end }}
{{- end }}
{{- range $name, $port := .Values.ports }}
{{- if $port.enabled }}
{{- if gt (len $name) 15 }}
{{- $errs = append $errs (printf "ports.%s: a port name is at most 15 characters (%d)" $name (len $name)) }}
{{- end }}
{{- if has $name $portNames }}
{{- $errs = append $errs (printf "ports.%s: the chart's own %s port has that name" $name $name) }}
{{- end }}
{{- if and $port.hostPort $daemonset }}
{{- $pair := printf "%v/%s" $port.hostPort ($port.protocol | default "TCP") }}
{{- if hasKey $hostPorts $pair }}
{{- $errs = append $errs (printf "ports.%s and ports.%s: both hostPort %s" (get $hostPorts $pair) $name $pair) }}
{{- else }}
{{- $_ := set $hostPorts $pair $name }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- with .Values.podDisruptionBudget }}
{{- if and .enabled $daemonset }}
{{- $errs = append $errs "podDisruptionBudget is for mode: deployment (the gateway); node drains do not evict DaemonSet pods" }}
{{- end }}
{{- if and .enabled (hasKey . "minAvailable") (hasKey . "maxUnavailable") }}
{{- $errs = append $errs "podDisruptionBudget: set minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- end }}
{{- with .Values.rollout }}
{{- if and $daemonset (eq .strategy "Recreate") }}
{{- $errs = append $errs "rollout.strategy Recreate is for a Deployment; a DaemonSet takes RollingUpdate or OnDelete" }}
{{- end }}
{{- if and (not $daemonset) (eq .strategy "OnDelete") }}
{{- $errs = append $errs "rollout.strategy OnDelete is for a DaemonSet; a Deployment takes RollingUpdate or Recreate" }}
{{- end }}
{{- if and $daemonset (eq .strategy "RollingUpdate") (.rollingUpdate).maxSurge }}
{{- range $name, $port := $.Values.ports }}
{{- if and $port.enabled $port.hostPort }}
{{- $errs = append $errs (printf "rollout.rollingUpdate.maxSurge with ports.%s.hostPort: the surge pod cannot bind the node port the old pod holds (use maxUnavailable)" $name) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- $podMonitorControl := and .Values.podMonitor.enabled .Values.podMonitor.controlEndpoint.enabled }}
{{- if and .Values.serviceMonitor.enabled (not (or (and $serviceEnabled .Values.serviceMonitor.metricsEndpoints) (and $p.control.enabled .Values.serviceMonitor.controlEndpoint.enabled (not $podMonitorControl)))) }}
{{- $errs = append $errs "serviceMonitor has nothing to scrape: it needs the Service (service.enabled, with metricsEndpoints) or presets.control (not already scraped by podMonitor); for DaemonSet agents without a Service use podMonitor" }}
{{- end }}
{{- with .Values.prometheusRule }}
{{- if and .enabled (not (or .groups .defaultRules.enabled (and .fleetRules.enabled $p.control.enabled))) }}
{{- $errs = append $errs "prometheusRule has no rules: give groups or enable defaultRules, or fleetRules with presets.control (their series come from the control API)" }}
{{- end }}
{{- end }}
{{- if and .Values.podMonitor.enabled (not (or .Values.podMonitor.metricsEndpoints (and $p.control.enabled .Values.podMonitor.controlEndpoint.enabled))) }}
{{- $errs = append $errs "podMonitor has nothing to scrape: give metricsEndpoints or enable presets.control" }}
{{- end }}
{{- /* The upstream chart's keys accepted only when off (a values file from its `helm show values`). */}}
{{- $unsupported := dict
  "presets.clusterMetrics.enabled" (list ($p.clusterMetrics).enabled "its k8s_cluster receiver is not in this build; run an upstream otelcol-k8s Deployment for cluster-level data")
  "presets.kubernetesEvents.enabled" (list ($p.kubernetesEvents).enabled "its k8sobjects / k8s_events receiver is not in this build; run an upstream otelcol-k8s Deployment for cluster-level data")
  "presets.kubernetesObjects.enabled" (list ($p.kubernetesObjects).enabled "its k8sobjects receiver is not in this build; run an upstream otelcol-k8s Deployment for cluster-level data")
  "presets.annotationDiscovery.{logs,metrics}.enabled" (list (or (($p.annotationDiscovery).logs).enabled (($p.annotationDiscovery).metrics).enabled) "not written yet (it needs receiver_creator and k8s_observer)")
  "presets.resourceDetection.enabled" (list ($p.resourceDetection).enabled "not written yet; resource_detection is in the build: set it in config")
  "presets.profiling.enabled" (list ($p.profiling).enabled "no profiling receiver in this build")
  "autoscaling.enabled" (list (.Values.autoscaling).enabled "no HorizontalPodAutoscaler yet: set replicaCount")
  "ingress.enabled / ingress.additionalIngresses" (list (or (.Values.ingress).enabled (.Values.ingress).additionalIngresses) "no Ingress yet: expose the Service (service.type LoadBalancer or NodePort) or write one in extraManifests")
  "httproute.enabled" (list (.Values.httproute).enabled "no HTTPRoute yet: write one in extraManifests")
  "networkPolicy.enabled" (list (.Values.networkPolicy).enabled "no NetworkPolicy yet: write one in extraManifests")
  "internalTelemetryViaOTLP.{traces,metrics,logs}.enabled" (list (or ((.Values.internalTelemetryViaOTLP).traces).enabled ((.Values.internalTelemetryViaOTLP).metrics).enabled ((.Values.internalTelemetryViaOTLP).logs).enabled) "set config.service.telemetry instead")
  "configMap.create: false / configMap.existingName" (list (or (eq (toString (.Values.configMap).create) "false") (.Values.configMap).existingName) "the chart must render the config: the presets (experiment, control, rules) are merged into it")
}}
{{- range $key := keys $unsupported | sortAlpha }}
{{- $u := get $unsupported $key }}
{{- if first $u }}
{{- $errs = append $errs (printf "%s: not supported by this chart: %s" $key (last $u)) }}
{{- end }}
{{- end }}
{{- /* Component types the build does not have (upstream's default config carries jaeger and zipkin): every
pod would refuse the config at start. Checked on the config as rendered, once the values above hold. */}}
{{- if not $errs }}
{{- $known := .Files.Get "files/components.yaml" | fromYaml }}
{{- $cfg := include "otelcol-phoenix.config" . | fromYaml }}
{{- $svc := default dict (get $cfg "service") }}
{{- range $kind := list "receivers" "processors" "exporters" "extensions" "connectors" }}
{{- $section := get $cfg $kind }}
{{- if kindIs "map" $section }}
{{- range $name := keys $section | sortAlpha }}
{{- $type := first (splitList "/" $name) }}
{{- if not (has $type (get $known $kind)) }}
{{- $users := list }}
{{- if has $name (default list $svc.extensions) }}{{ $users = append $users "config.service.extensions" }}{{ end }}
{{- range $pname, $pipeline := default dict $svc.pipelines }}
{{- range $key := list "receivers" "processors" "exporters" }}
{{- if and (kindIs "map" $pipeline) (has $name (default list (get $pipeline $key))) }}{{ $users = append $users (printf "config.service.pipelines.%s.%s" $pname $key) }}{{ end }}
{{- end }}
{{- end }}
{{- $fix := printf "set config.%s.%s: null" $kind $name }}
{{- if $users }}{{ $fix = printf "%s and take it out of %s" $fix (join ", " $users) }}{{ end }}
{{- $errs = append $errs (printf "config.%s.%s: otelcol-phoenix has no %s %s (the top-level README's Known gaps say what to use instead); to drop it, %s" $kind $name $type (trimSuffix "s" $kind) $fix) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- if $errs }}
{{- fail (printf "\n\ninvalid values:\n  - %s\n" (join "\n  - " $errs)) }}
{{- end }}
{{- end }}
