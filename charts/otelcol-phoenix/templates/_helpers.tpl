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
app.kubernetes.io/component: {{ ternary "agent-collector" "gateway-collector" (eq .Values.mode "daemonset") }}
{{- end }}

{{- define "otelcol-phoenix.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "otelcol-phoenix.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "otelcol-phoenix.priorityClassName" -}}
{{- if .Values.priorityClassName }}
{{- .Values.priorityClassName }}
{{- else if .Values.priorityClass.create }}
{{- include "otelcol-phoenix.fullname" . }}
{{- end }}
{{- end }}

{{- define "otelcol-phoenix.tokenSecretName" -}}
{{- default (printf "%s-control-token" (include "otelcol-phoenix.fullname" .)) .Values.presets.control.token.existingSecret }}
{{- end }}

{{/*
GOMEMLIMIT: 80% of the memory limit, in MiB. Accepts Ki, Mi, Gi, Ti and plain bytes.
*/}}
{{- define "otelcol-phoenix.gomemlimit" -}}
{{- $limit := toString . }}
{{- $mib := 0.0 }}
{{- if hasSuffix "Ti" $limit }}{{ $mib = mulf (float64 (trimSuffix "Ti" $limit)) 1048576 }}
{{- else if hasSuffix "Gi" $limit }}{{ $mib = mulf (float64 (trimSuffix "Gi" $limit)) 1024 }}
{{- else if hasSuffix "Mi" $limit }}{{ $mib = float64 (trimSuffix "Mi" $limit) }}
{{- else if hasSuffix "Ki" $limit }}{{ $mib = divf (float64 (trimSuffix "Ki" $limit)) 1024 }}
{{- else if regexMatch "^[0-9]+$" $limit }}{{ $mib = divf (float64 $limit) 1048576 }}
{{- else }}{{ fail (printf "resources.limits.memory %q: use Ki, Mi, Gi, Ti or bytes for useGOMEMLIMIT (or set useGOMEMLIMIT: false)" $limit) }}
{{- end }}
{{- printf "%dMiB" (int (floor (mulf $mib 0.8))) }}
{{- end }}

{{/* validate fails the render, listing every invalid combination of values at once. */}}
{{- define "otelcol-phoenix.validate" -}}
{{- $p := .Values.presets }}
{{- $errs := list }}
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
{{- if and $p.desiredState.enabled (not $p.control.enabled) }}
{{- $errs = append $errs "presets.desiredState needs presets.control (the control extension reads the file)" }}
{{- end }}
{{- if and $p.desiredState.enabled (not $p.experiment.enabled) (empty $p.desiredState.experiments) }}
{{- $errs = append $errs "presets.desiredState is enabled but names no experiment: set presets.desiredState.experiments or enable presets.experiment" }}
{{- end }}
{{- if and .Values.useGOMEMLIMIT (not (and .Values.resources.limits .Values.resources.limits.memory)) }}
{{- $errs = append $errs "useGOMEMLIMIT needs resources.limits.memory (or set useGOMEMLIMIT: false)" }}
{{- end }}
{{- if $errs }}
{{- fail (printf "\n\ninvalid values:\n  - %s\n" (join "\n  - " $errs)) }}
{{- end }}
{{- end }}
