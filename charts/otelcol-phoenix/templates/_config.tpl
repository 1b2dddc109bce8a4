{{/*
The collector config: .Values.config (or alternateConfig) with the old component names renamed, unused nulls
removed, and every enabled preset merged under it (the user's config wins, as mustMergeOverwrite does in the
upstream chart) and the preset's components added to the pipelines.
*/}}
{{- define "otelcol-phoenix.config" -}}
{{- $config := deepCopy (.Values.alternateConfig | default .Values.config) }}
{{- if .Values.rewriteDeprecatedComponentNames }}
{{- $_ := include "otelcol-phoenix.renameDeprecated" $config }}
{{- end }}
{{- $_ := include "otelcol-phoenix.pruneNulls" $config }}
{{- $_ := include "otelcol-phoenix.upstreamSelfScrape" $config }}
{{- $p := .Values.presets }}
{{- $metricsSource := "" }}
{{- if $p.hostMetrics.enabled }}{{ $metricsSource = "host_metrics" }}{{ end }}
{{- if $p.simulator.enabled }}{{ $metricsSource = "simulated_process" }}{{ end }}
{{- if or $metricsSource $p.kubernetesAttributes.enabled $p.kubeletMetrics.enabled }}
{{- if not (dig "service" "pipelines" "metrics" nil $config) }}
{{- fail "config.service.pipelines.metrics is missing: the presets add their components to it" }}
{{- end }}
{{- end }}
{{- if and $p.logsCollection.enabled (not (dig "service" "pipelines" "logs" nil $config)) }}
{{- fail "config.service.pipelines.logs is missing: presets.logsCollection adds file_log to it" }}
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
{{- if $p.kubeletMetrics.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.kubeletMetrics" . | fromYaml) $config }}
{{- $m := $config.service.pipelines.metrics }}
{{- $_ := set $m "receivers" (append (default list $m.receivers) "kubelet_stats" | uniq) }}
{{- end }}
{{- if $p.logsCollection.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.logsCollection" . | fromYaml) $config }}
{{- $l := $config.service.pipelines.logs }}
{{- $_ := set $l "receivers" (append (default list $l.receivers) "file_log" | uniq) }}
{{- if not $p.logsCollection.includeCollectorLogs }}
{{- /* Also when config sets its own exclude list: the collector's own logs would loop through it. */}}
{{- $fl := $config.receivers.file_log }}
{{- $_ := set $fl "exclude" (append (default list $fl.exclude) (include "otelcol-phoenix.ownLogs" .) | uniq) }}
{{- end }}
{{- if $p.logsCollection.storeCheckpoints }}
{{- $s := $config.service }}
{{- $_ := set $s "extensions" (append (default list $s.extensions) "file_storage" | uniq) }}
{{- end }}
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
{{- if $p.fleet.enabled }}
{{- $config = mustMergeOverwrite (include "otelcol-phoenix.preset.fleet" . | fromYaml) $config }}
{{- $s := $config.service }}
{{- $_ := set $s "extensions" (concat (default list $s.extensions) (list "bearertokenauth/fleet" "file_storage/fleet" "phoenix_fleet") | uniq) }}
{{- end }}
{{- /* Templates in the values ({{ .Release.Name }}, {{ .Values.global.x }}) render, as upstream's
tpl (toYaml $config) does; the collector's ${env:X} is not template syntax and passes through. */}}
{{- tpl (toYaml $config) . }}
{{- end }}

{{/*
The old component names the presets' components had (the upstream chart's values use them), by kind. The
renamed ones load too, as deprecated aliases, but a preset's host_metrics and your hostmetrics would be two
receivers.
*/}}
{{- define "otelcol-phoenix.deprecatedNames" -}}
receivers:
  hostmetrics: host_metrics
  kubeletstats: kubelet_stats
  filelog: file_log
processors:
  k8sattributes: k8s_attributes
{{- end }}

{{/*
renameDeprecated renames, in the config dict it is given (in place), the old names of deprecatedNames to the
new ones, merged (the new name's settings win), and their references in the pipelines.
*/}}
{{- define "otelcol-phoenix.renameDeprecated" -}}
{{- $config := . }}
{{- range $kind, $table := include "otelcol-phoenix.deprecatedNames" . | fromYaml }}
{{- $section := index $config $kind }}
{{- if kindIs "map" $section }}
{{- range $old, $new := $table }}
{{- if hasKey $section $old }}
{{- $_ := set $section $new (mustMergeOverwrite (deepCopy (default dict (index $section $old))) (deepCopy (default dict (index $section $new)))) }}
{{- $_ := unset $section $old }}
{{- end }}
{{- end }}
{{- end }}
{{- range $_, $pipeline := dig "service" "pipelines" dict $config }}
{{- if and (kindIs "map" $pipeline) (index $pipeline $kind) }}
{{- $refs := list }}
{{- range index $pipeline $kind }}
{{- $refs = append $refs (hasKey $table . | ternary (get $table .) .) }}
{{- end }}
{{- $_ := set $pipeline $kind ($refs | uniq) }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
pruneNulls removes, in place, what a null in the values means to remove: a null pipeline, and a null component
no pipeline (or service.extensions) uses. In the upstream chart `jaeger: null` removes a default receiver; here,
where there is no such default, Helm keeps the null, and the collector would read it as the component with its
default settings. A null component a pipeline does use is kept: that is the collector's "defaults" form.
*/}}
{{- define "otelcol-phoenix.pruneNulls" -}}
{{- $config := . }}
{{- $pipelines := dig "service" "pipelines" dict $config }}
{{- range $name, $pipeline := $pipelines }}
{{- if kindIs "invalid" $pipeline }}{{ $_ := unset $pipelines $name }}{{ end }}
{{- end }}
{{- $used := dig "service" "extensions" list $config }}
{{- range $_, $pipeline := $pipelines }}
{{- range $kind := list "receivers" "processors" "exporters" }}
{{- $used = concat $used (default list (index $pipeline $kind)) }}
{{- end }}
{{- end }}
{{- range $kind := list "receivers" "processors" "exporters" "extensions" "connectors" }}
{{- $section := index $config $kind }}
{{- if kindIs "map" $section }}
{{- range $name, $component := $section }}
{{- if and (kindIs "invalid" $component) (not (has $name $used)) }}{{ $_ := unset $section $name }}{{ end }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}

{{/*
upstreamSelfScrape: the upstream chart's config has a `prometheus` receiver scraping the collector's own
telemetry (port 8888), and its values files put it in pipelines without defining it. This chart's config has
none (Prometheus scrapes port metrics directly, see podMonitor); a pipeline that names `prometheus` while
config defines no such receiver gets that self-scrape.
*/}}
{{- define "otelcol-phoenix.upstreamSelfScrape" -}}
{{- $config := . }}
{{- $wanted := false }}
{{- range $_, $pipeline := dig "service" "pipelines" dict $config }}
{{- if has "prometheus" (default list (index $pipeline "receivers")) }}{{ $wanted = true }}{{ end }}
{{- end }}
{{- if and $wanted (not (hasKey (default dict $config.receivers) "prometheus")) }}
{{- $_ := set $config "receivers" (default dict $config.receivers) }}
{{- $_ := set $config.receivers "prometheus" (dict "config" (dict "scrape_configs" (list (dict "job_name" "opentelemetry-collector" "scrape_interval" "10s" "static_configs" (list (dict "targets" (list "${env:MY_POD_IP}:8888"))))))) }}
{{- end }}
{{- end }}

{{/* renamedNames lists the old names found in the values' config, for NOTES.txt. */}}
{{- define "otelcol-phoenix.renamedNames" -}}
{{- $config := .Values.alternateConfig | default .Values.config }}
{{- $found := list }}
{{- range $kind, $table := include "otelcol-phoenix.deprecatedNames" . | fromYaml }}
{{- range $old, $new := $table }}
{{- if hasKey (default dict (index $config $kind)) $old }}
{{- $found = append $found (printf "%s.%s → %s" $kind $old $new) }}
{{- end }}
{{- end }}
{{- end }}
{{- join ", " $found }}
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
          # Anchored: a mount point that is one of these directories or below it (/devops stays).
          mount_points: ['^/dev($|/)', '^/proc($|/)', '^/sys($|/)', '^/run/k3s/containerd($|/)', '^/var/lib/docker($|/)', '^/var/lib/kubelet($|/)', '^/snap($|/)']
          match_type: regexp
        exclude_fs_types:
          fs_types: [autofs, binfmt_misc, bpf, cgroup2, configfs, debugfs, devpts, devtmpfs, fusectl, hugetlbfs, iso9660, mqueue, nsfs, overlay, proc, procfs, pstore, rpc_pipefs, securityfs, selinuxfs, squashfs, sysfs, tracefs]
          match_type: strict
      network: {}
      # On a real node some reads fail for every scrape even as root with CAP_SYS_PTRACE: kernel threads have no
      # executable, processes exit between the listing and the read, and without readAllProcesses other users'
      # executables, I/O and owners are unreadable. Those are expected, not errors to log each interval.
      process:
        mute_process_name_error: true
        mute_process_exe_error: true
        mute_process_io_error: true
        mute_process_user_error: true
        mute_process_cgroup_error: true
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
      # The resource.opentelemetry.io/<attribute> pod annotations (service.name, …) as resource attributes.
      otel_annotations: true
      # Upstream's set: the pod, its owners (names and uids from the owner references; the CronJob's name
      # from its Job's), container name and image, the cluster (kube-system's uid) and the service.*
      # attributes (from the app.kubernetes.io labels and the annotations above).
      metadata:
        - k8s.namespace.name
        - k8s.pod.name
        - k8s.pod.uid
        - k8s.node.name
        - k8s.pod.start_time
        - k8s.deployment.name
        - k8s.replicaset.name
        - k8s.replicaset.uid
        - k8s.daemonset.name
        - k8s.daemonset.uid
        - k8s.job.name
        - k8s.job.uid
        - k8s.container.name
        - k8s.cronjob.name
        - k8s.statefulset.name
        - k8s.statefulset.uid
        - container.image.tag
        - container.image.name
        - k8s.cluster.uid
        - service.namespace
        - service.name
        - service.version
        - service.instance.id
      {{- if .Values.presets.kubernetesAttributes.extractAllPodLabels }}
      labels: [{tag_name: $$1, key_regex: (.*), from: pod}]
      {{- end }}
      {{- if .Values.presets.kubernetesAttributes.extractAllPodAnnotations }}
      annotations: [{tag_name: $$1, key_regex: (.*), from: pod}]
      {{- end }}
    pod_association:
      - sources: [{from: resource_attribute, name: k8s.pod.ip}]
      - sources: [{from: resource_attribute, name: k8s.pod.uid}]
      - sources: [{from: connection}]
{{- end }}

{{- define "otelcol-phoenix.preset.kubeletMetrics" -}}
{{- $k := .Values.presets.kubeletMetrics }}
receivers:
  kubelet_stats:
    collection_interval: {{ $k.collectionInterval }}
    auth_type: serviceAccount
    endpoint: ${env:K8S_NODE_IP}:10250
    {{- if $k.insecureSkipVerify }}
    insecure_skip_verify: true
    {{- end }}
{{- end }}

{{/* ownLogs: the log files of this release's collector containers. */}}
{{- define "otelcol-phoenix.ownLogs" -}}
/var/log/pods/{{ include "otelcol-phoenix.namespace" . }}_{{ include "otelcol-phoenix.fullname" . }}-*_*/otelcol-phoenix/*.log
{{- end }}

{{- define "otelcol-phoenix.preset.logsCollection" -}}
{{- $l := .Values.presets.logsCollection }}
{{- if $l.storeCheckpoints }}
extensions:
  file_storage:
    directory: /var/lib/otelcol
{{- end }}
receivers:
  file_log:
    # /var/log/pods/<namespace>_<pod>_<pod uid>/<container>/<restart>.log
    include: [/var/log/pods/*/*/*.log]
    exclude: []
    start_at: end
    retry_on_failure:
      enabled: true
    {{- if $l.storeCheckpoints }}
    storage: file_storage
    {{- end }}
    include_file_path: true
    include_file_name: false
    operators:
      - type: container
        id: container-parser
        max_log_size: {{ int $l.maxRecombineLogSize }}
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
    {{- if $c.opamp.enabled }}
    # An OpAMP agent of the fleet controller (presets.fleet): its instance UID derives from node_name.
    opamp:
      endpoint: {{ include "otelcol-phoenix.opampEndpoint" . | quote }}
      headers:
        Authorization: "Bearer ${env:PHOENIX_FLEET_TOKEN}"
      report_interval: {{ $c.opamp.reportInterval }}
      {{- with $c.opamp.tls }}
      {{- if or .caSecret .clientCertificate }}
      tls:
        # Renewed files (kubelet updates the mounts in place) are read again this often.
        reload_interval: 5m
        {{- if .caSecret }}
        ca_file: /etc/otelcol-phoenix/opamp-ca/{{ default "ca.crt" .caKey }}
        {{- end }}
        {{- if .clientCertificate }}
        # This node's own certificate, naming it (the controller's node_identity: certificate).
        cert_file: /etc/otelcol-phoenix/opamp-client/tls.crt
        key_file: /etc/otelcol-phoenix/opamp-client/tls.key
        {{- end }}
      {{- end }}
      {{- end }}
    {{- end }}
{{- end }}

{{- define "otelcol-phoenix.preset.fleet" -}}
{{- $f := .Values.presets.fleet }}
extensions:
  bearertokenauth/fleet:
    token: ${env:PHOENIX_FLEET_TOKEN}
  file_storage/fleet:
    directory: /var/lib/otelcol-phoenix-fleet   # the pod's fleet volume (PersistentVolumeClaim or emptyDir)
    create_directory: true
  phoenix_fleet:
    # All of the pod's interfaces, so kubectl port-forward reaches it too; the agents come through the Service.
    endpoint: 0.0.0.0:{{ $f.port }}
    auth:
      authenticator: bearertokenauth/fleet
    storage: file_storage/fleet
    report_interval: {{ $f.reportInterval }}
    max_agents: {{ int $f.maxAgents }}
    {{- if $f.tls.secretName }}
    tls:
      cert_file: /etc/otelcol-phoenix/fleet-tls/tls.crt
      key_file: /etc/otelcol-phoenix/fleet-tls/tls.key
      # A renewed certificate (kubelet updates the Secret's mount in place) is read again this often.
      reload_interval: 5m
      {{- if eq $f.tls.nodeIdentity "certificate" }}
      client_ca_file: /etc/otelcol-phoenix/fleet-tls/ca.crt
      client_ca_file_reload: true
    # Each agent's client certificate must name the node it reports (a node cannot speak for another).
    node_identity: certificate
      {{- end }}
    {{- end }}
    {{- if $f.apiPort }}
    # The operators: the API, the page and /metrics, with the token and no client certificate.
    api:
      endpoint: 0.0.0.0:{{ $f.apiPort }}
      auth:
        authenticator: bearertokenauth/fleet
      {{- if $f.tls.secretName }}
      tls:
        cert_file: /etc/otelcol-phoenix/fleet-tls/tls.crt
        key_file: /etc/otelcol-phoenix/fleet-tls/tls.key
        reload_interval: 5m
      {{- end }}
    {{- end }}
{{- end }}

{{/* The desired-state file: the configured experiments (their null keys, unset by a later values file,
left out), else the experiment preset at its active variant. */}}
{{- define "otelcol-phoenix.desiredState" -}}
{{- $d := .Values.presets.desiredState }}
{{- $exps := dict }}
{{- range $name, $e := $d.experiments }}
{{- $entry := dict }}
{{- range $k, $v := $e }}
{{- if not (kindIs "invalid" $v) }}
{{- $_ := set $entry $k $v }}
{{- end }}
{{- end }}
{{- $_ := set $exps $name $entry }}
{{- end }}
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
