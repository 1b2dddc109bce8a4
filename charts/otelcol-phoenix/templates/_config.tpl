{{/*
The collector config: .Values.config with every enabled preset merged under it (the user's config wins, as
mustMergeOverwrite does in the upstream chart) and the preset's components added to the pipelines.
*/}}
{{- define "otelcol-phoenix.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $p := .Values.presets }}
{{- $metricsSource := "" }}
{{- if $p.hostMetrics.enabled }}{{ $metricsSource = "host_metrics" }}{{ end }}
{{- if $p.simulator.enabled }}{{ $metricsSource = "simulated_process" }}{{ end }}
{{- if or $metricsSource $p.kubernetesAttributes.enabled }}
{{- if not (and $config.service $config.service.pipelines $config.service.pipelines.metrics) }}
{{- fail "config.service.pipelines.metrics is missing: the presets add their components to it" }}
{{- end }}
{{- end }}
{{- if $p.hostMetrics.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.hostMetrics" . | fromYaml) $config }}
{{- end }}
{{- if $p.simulator.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.simulator" . | fromYaml) $config }}
{{- end }}
{{- if $metricsSource }}
{{- $m := $config.service.pipelines.metrics }}
{{- $_ := set $m "receivers" (prepend (without $m.receivers $metricsSource) $metricsSource) }}
{{- end }}
{{- if $p.kubernetesAttributes.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.kubernetesAttributes" . | fromYaml) $config }}
{{- range $name, $pipeline := $config.service.pipelines }}
{{- $_ := set $pipeline "processors" (include "otelcol-phoenix.insertBeforeBatch" (dict "list" (default list $pipeline.processors) "item" "k8s_attributes") | fromYamlArray) }}
{{- end }}
{{- end }}
{{- if $p.experiment.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.experiment" . | fromYaml) $config }}
{{- $m := $config.service.pipelines.metrics }}
{{- $_ := set $m "processors" (include "otelcol-phoenix.insertBeforeBatch" (dict "list" $m.processors "item" (printf "experiment/%s" $p.experiment.name)) | fromYamlArray) }}
{{- end }}
{{- if $p.control.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.control" . | fromYaml) $config }}
{{- $s := $config.service }}
{{- $_ := set $s "extensions" (concat (default list $s.extensions) (list "bearertokenauth/phoenix" "file_storage/phoenix" "phoenix_control") | uniq) }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/* insertBeforeBatch puts item just before "batch" (the end when there is none), once. */}}
{{- define "otelcol-phoenix.insertBeforeBatch" -}}
{{- $out := list }}
{{- $done := has .item .list }}
{{- range .list }}
{{- if and (not $done) (eq . "batch") }}{{ $out = append $out $.item }}{{ $done = true }}{{ end }}
{{- $out = append $out . }}
{{- end }}
{{- if not $done }}{{ $out = append $out .item }}{{ end }}
{{- toYaml $out }}
{{- end }}

{{- define "otelcol-phoenix.preset.hostMetrics" -}}
{{- $h := .Values.presets.hostMetrics }}
receivers:
  host_metrics:
    collection_interval: {{ $h.collectionInterval }}
    root_path: /hostfs
    scrapers:
      cpu: {}
      load: {}
      memory: {}
      disk: {}
      filesystem:
        exclude_mount_points:
          mount_points: [/dev/*, /proc/*, /sys/*, /run/k3s/containerd/*, /var/lib/docker/*, /var/lib/kubelet/*, /snap/*]
          match_type: regexp
        exclude_fs_types:
          fs_types: [autofs, binfmt_misc, bpf, cgroup2, configfs, debugfs, devpts, devtmpfs, fusectl, hugetlbfs, iso9660, mqueue, nsfs, overlay, proc, procfs, pstore, rpc_pipefs, securityfs, selinuxfs, squashfs, sysfs, tracefs]
          match_type: strict
      network: {}
      process:
        mute_process_name_error: true
        {{- if not $h.readAllProcesses }}
        # Without CAP_SYS_PTRACE other users' executables, I/O and owners cannot be read (readAllProcesses).
        mute_process_exe_error: true
        mute_process_io_error: true
        mute_process_user_error: true
        {{- end }}
{{- end }}

{{- define "otelcol-phoenix.preset.simulator" -}}
{{- $s := .Values.presets.simulator }}
receivers:
  simulated_process:
    profile: {{ $s.profile }}
    processes: {{ $s.processes }}
    collection_interval: {{ $s.collectionInterval }}
    {{- if .Values.presets.control.enabled }}
    control: phoenix_control
    {{- end }}
{{- end }}

{{- define "otelcol-phoenix.preset.kubernetesAttributes" -}}
processors:
  k8s_attributes:
    auth_type: serviceAccount
    passthrough: false
    {{- if eq .Values.mode "daemonset" }}
    filter:
      node_from_env_var: K8S_NODE_NAME
    {{- end }}
    extract:
      metadata: [k8s.namespace.name, k8s.pod.name, k8s.pod.uid, k8s.pod.start_time, k8s.deployment.name, k8s.node.name]
    pod_association:
      - sources: [{from: resource_attribute, name: k8s.pod.ip}]
      - sources: [{from: resource_attribute, name: k8s.pod.uid}]
      - sources: [{from: connection}]
{{- end }}

{{- define "otelcol-phoenix.preset.experiment" -}}
{{- $e := .Values.presets.experiment }}
{{- $top := printf "top%d" (int $e.topK) }}
processors:
  experiment/{{ $e.name }}:
    mode: shadow
    baseline: full
    active: {{ $e.active }}
    window: {{ $e.window }}
    {{- if .Values.presets.control.enabled }}
    control: phoenix_control
    {{- end }}
    critical:
      attribute: process.executable.name
      patterns: {{ toJson $e.criticalPatterns }}
    {{- with $e.cost }}
    {{- if .enabled }}
    cost:
      model: {{ .model }}
      price: {{ .price }}
      currency: {{ .currency | quote }}
      {{- if eq .model "active_series" }}
      horizon: {{ .horizon }}
      {{- if .includedDPM }}
      included_dpm: {{ .includedDPM }}
      overage_price: {{ .overagePrice }}
      {{- end }}
      {{- end }}
    {{- end }}
    {{- end }}
    {{- with $e.rules }}
    {{- if .enabled }}
    rules:
      {{- include "otelcol-phoenix.rulesPaths" $ | nindent 6 }}
      {{- with .dashboardVariables }}
      dashboard_variables: {{ toJson . }}
      {{- end }}
      {{- with .inline }}
      inline: {{ toJson . }}
      {{- end }}
      tolerance: {{ .tolerance }}
      max_range: {{ .maxRange }}
    {{- end }}
    {{- end }}
    variants:
      full: {}
      {{ $top }}:
        processors:
          - topk:
              k: {{ int $e.topK }}
              keep: {patterns: {{ toJson $e.criticalPatterns }}}
      by_executable:
        processors:
          - topk: {k: 0, group_by: [process.executable.name]}
{{- end }}

{{- define "otelcol-phoenix.preset.control" -}}
{{- $c := .Values.presets.control }}
extensions:
  bearertokenauth/phoenix:
    token: ${env:PHOENIX_CONTROL_TOKEN}
  file_storage/phoenix:
    directory: /var/lib/otelcol-phoenix   # the pod's state volume
    create_directory: true
  phoenix_control:
    # All of the pod's interfaces (not the node's: no hostNetwork), so kubectl port-forward reaches it too.
    endpoint: 0.0.0.0:{{ $c.port }}
    auth:
      authenticator: bearertokenauth/phoenix
    storage: file_storage/phoenix
    node_name: ${env:K8S_NODE_NAME}
    {{- if .Values.presets.desiredState.enabled }}
    desired_state:
      path: /etc/otelcol-phoenix/desired-state/desired-state.yaml
      poll_interval: {{ .Values.presets.desiredState.pollInterval }}
    {{- end }}
{{- end }}

{{/* The desired-state file: the configured experiments, else the experiment preset at its active variant. */}}
{{- define "otelcol-phoenix.desiredState" -}}
{{- $d := .Values.presets.desiredState }}
{{- $exps := $d.experiments }}
{{- if empty $exps }}
{{- $exps = dict (printf "experiment/%s" .Values.presets.experiment.name) (dict "active" .Values.presets.experiment.active) }}
{{- end }}
{{- toYaml (dict "experiments" $exps) }}
{{- end }}

{{/* Where the rules preset's files are mounted: the chart's ConfigMap, then each of the user's. */}}
{{- define "otelcol-phoenix.rulesDir" -}}/etc/otelcol-phoenix/rules{{- end }}

{{/* The rules: block's files and dashboards globs over the mounted ConfigMaps. */}}
{{- define "otelcol-phoenix.rulesPaths" -}}
{{- $r := .Values.presets.experiment.rules }}
{{- $dir := include "otelcol-phoenix.rulesDir" . }}
{{- $files := list }}
{{- $dashboards := list }}
{{- range $name, $_ := $r.files }}
{{- $files = append $files (printf "%s/chart/%s" $dir $name) }}
{{- end }}
{{- range $name, $_ := $r.dashboards }}
{{- $dashboards = append $dashboards (printf "%s/chart/%s" $dir $name) }}
{{- end }}
{{- range $r.existingConfigMaps }}
{{- $files = concat $files (list (printf "%s/configmap-%s/*.yaml" $dir .) (printf "%s/configmap-%s/*.yml" $dir .)) }}
{{- $dashboards = append $dashboards (printf "%s/configmap-%s/*.json" $dir .) }}
{{- end }}
{{- if $files }}
files: {{ toJson $files }}
{{- end }}
{{- if $dashboards }}
dashboards: {{ toJson $dashboards }}
{{- end }}
{{- end }}
