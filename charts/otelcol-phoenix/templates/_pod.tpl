{{/* The pod template shared by the DaemonSet and the Deployment. */}}
{{- define "otelcol-phoenix.podTemplate" -}}
{{- $p := .Values.presets }}
{{- $readAll := and $p.hostMetrics.enabled $p.hostMetrics.readAllProcesses }}
{{- $root := include "otelcol-phoenix.runAsRoot" . }}
{{- $logs := $p.logsCollection.enabled -}}
metadata:
  annotations:
    {{- if .Values.enableConfigChecksumAnnotation }}
    # Rolls the pods when the collector config changes (not when the desired-state file does: that one is
    # picked up live).
    checksum/config: {{ include "otelcol-phoenix.config" . | sha256sum }}
    {{- end }}
    {{- with .Values.podAnnotations }}
    {{- tpl (toYaml .) $ | nindent 4 }}
    {{- end }}
  labels:
    {{- include "otelcol-phoenix.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- tpl (toYaml .) $ | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "otelcol-phoenix.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.serviceAccount.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (include "otelcol-phoenix.priorityClassName" .) }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- with .Values.runtimeClassName }}
  runtimeClassName: {{ . }}
  {{- end }}
  {{- with .Values.schedulerName }}
  schedulerName: {{ . }}
  {{- end }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  {{- end }}
  {{- if .Values.hostPID }}
  hostPID: true
  {{- end }}
  {{- if .Values.shareProcessNamespace }}
  shareProcessNamespace: true
  {{- end }}
  {{- with .Values.dnsPolicy }}
  dnsPolicy: {{ . }}
  {{- end }}
  {{- with .Values.dnsConfig }}
  dnsConfig:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.hostAliases }}
  hostAliases:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- $podSC := deepCopy .Values.podSecurityContext }}
    {{- /* A non-root user given while a preset needs root fails in validate. */}}
    {{- $uid := ternary 0 10001 (eq $root "true") }}
    {{- if $root }}
    {{- $_ := set $podSC "runAsNonRoot" false }}
    {{- $_ := set $podSC "runAsUser" 0 }}
    {{- end }}
    {{- range $key, $default := dict "runAsNonRoot" (ne $uid 0) "runAsUser" $uid "runAsGroup" $uid }}
    {{- if not (hasKey $podSC $key) }}{{ $_ := set $podSC $key $default }}{{ end }}
    {{- end }}
    {{- toYaml $podSC | nindent 4 }}
  {{- with .Values.initContainers }}
  initContainers:
    {{- tpl (toYaml .) $ | nindent 4 }}
  {{- end }}
  containers:
    - name: otelcol-phoenix
      image: {{ include "otelcol-phoenix.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- with .Values.command.name }}
      command:
        - /{{ . }}
      {{- end }}
      args:
        - --config=/conf/relay.yaml
        {{- range .Values.command.extraArgs }}
        - {{ . | quote }}
        {{- end }}
      securityContext:
        {{- $sc := deepCopy .Values.securityContext }}
        {{- if $readAll }}
        {{- $_ := set $sc "capabilities" (dict "drop" (list "ALL") "add" (list "SYS_PTRACE" "DAC_READ_SEARCH")) }}
        {{- end }}
        {{- toYaml $sc | nindent 8 }}
      env:
        - name: MY_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        - name: K8S_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: K8S_NODE_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        # The upstream chart's names, for configs written for it.
        - name: OTEL_K8S_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        - name: OTEL_K8S_NODE_IP
          valueFrom:
            fieldRef:
              fieldPath: status.hostIP
        - name: OTEL_K8S_NAMESPACE
          valueFrom:
            fieldRef:
              fieldPath: metadata.namespace
        - name: OTEL_K8S_POD_NAME
          valueFrom:
            fieldRef:
              fieldPath: metadata.name
        - name: OTEL_K8S_POD_IP
          valueFrom:
            fieldRef:
              fieldPath: status.podIP
        {{- if .Values.useGOMEMLIMIT }}
        - name: GOMEMLIMIT
          value: {{ include "otelcol-phoenix.gomemlimit" .Values.resources.limits.memory | quote }}
        {{- end }}
        {{- if $p.control.enabled }}
        - name: PHOENIX_CONTROL_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "otelcol-phoenix.tokenSecretName" . }}
              key: {{ $p.control.token.key }}
        {{- end }}
        {{- if include "otelcol-phoenix.fleetTokenEnabled" . }}
        # The fleet token: the controller's bearer token, or the one the agents send it.
        - name: PHOENIX_FLEET_TOKEN
          valueFrom:
            secretKeyRef:
              name: {{ include "otelcol-phoenix.fleetTokenSecretName" . }}
              key: {{ (include "otelcol-phoenix.fleetToken" . | fromYaml).key }}
        {{- end }}
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with .Values.extraEnvsFrom }}
      envFrom:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      ports:
        {{- range $name, $port := .Values.ports }}
        {{- if $port.enabled }}
        - name: {{ $name }}
          containerPort: {{ $port.containerPort }}
          protocol: {{ $port.protocol | default "TCP" }}
          {{- if and $port.hostPort (eq $.Values.mode "daemonset") }}
          hostPort: {{ $port.hostPort }}
          {{- end }}
        {{- end }}
        {{- end }}
        {{- if $p.control.enabled }}
        - name: control
          containerPort: {{ $p.control.port }}
          protocol: TCP
        {{- end }}
        {{- if $p.fleet.enabled }}
        - name: opamp
          containerPort: {{ $p.fleet.port }}
          protocol: TCP
        {{- if $p.fleet.apiPort }}
        - name: api
          containerPort: {{ $p.fleet.apiPort }}
          protocol: TCP
        {{- end }}
        {{- end }}
        - name: health
          containerPort: 13133
          protocol: TCP
      {{- with .Values.lifecycleHooks }}
      lifecycle:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      livenessProbe:
        {{- include "otelcol-phoenix.probe" .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        {{- include "otelcol-phoenix.probe" .Values.readinessProbe | nindent 8 }}
      {{- with .Values.startupProbe }}
      startupProbe:
        {{- include "otelcol-phoenix.probe" . | nindent 8 }}
      {{- end }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      {{- with .Values.resizePolicy }}
      resizePolicy:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      volumeMounts:
        - name: config
          mountPath: /conf
          readOnly: true
        {{- if $p.hostMetrics.enabled }}
        - name: hostfs
          mountPath: /hostfs
          readOnly: true
          mountPropagation: HostToContainer
        {{- end }}
        {{- if $logs }}
        - name: varlogpods
          mountPath: /var/log/pods
          readOnly: true
        # Docker's container logs, which /var/log/pods links to on nodes running dockerd.
        - name: varlibdockercontainers
          mountPath: /var/lib/docker/containers
          readOnly: true
        {{- if $p.logsCollection.storeCheckpoints }}
        - name: varlibotelcol
          mountPath: /var/lib/otelcol
        {{- end }}
        {{- end }}
        {{- if $p.control.enabled }}
        - name: state
          mountPath: /var/lib/otelcol-phoenix
        {{- end }}
        {{- if $p.fleet.enabled }}
        - name: fleet
          mountPath: /var/lib/otelcol-phoenix-fleet
        {{- if $p.fleet.tls.secretName }}
        - name: fleet-tls
          mountPath: /etc/otelcol-phoenix/fleet-tls
          readOnly: true
        {{- end }}
        {{- end }}
        {{- if and $p.control.enabled $p.control.opamp.enabled }}
        {{- if $p.control.opamp.tls.caSecret }}
        - name: opamp-ca
          mountPath: /etc/otelcol-phoenix/opamp-ca
          readOnly: true
        {{- end }}
        {{- if $p.control.opamp.tls.clientCertificate }}
        - name: opamp-client
          mountPath: /etc/otelcol-phoenix/opamp-client
          readOnly: true
        {{- end }}
        {{- end }}
        {{- if $p.desiredState.enabled }}
        # The whole directory, not a subPath: kubelet updates it in place when the ConfigMap changes.
        - name: desired-state
          mountPath: /etc/otelcol-phoenix/desired-state
          readOnly: true
        {{- end }}
        {{- if and $p.experiment.enabled $p.experiment.rules.enabled }}
        {{- if or $p.experiment.rules.files $p.experiment.rules.dashboards }}
        # Whole directories, not subPaths: kubelet updates them in place and the processor reloads.
        - name: rules
          mountPath: {{ include "otelcol-phoenix.rulesDir" . }}/chart
          readOnly: true
        {{- end }}
        {{- range $p.experiment.rules.existingConfigMaps }}
        - name: rules-{{ . | replace "." "-" }}
          mountPath: {{ include "otelcol-phoenix.rulesDir" $ }}/configmap-{{ . }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- with .Values.extraVolumeMounts }}
        {{- tpl (toYaml .) $ | nindent 8 }}
        {{- end }}
    {{- with .Values.extraContainers }}
    {{- tpl (toYaml .) $ | nindent 4 }}
    {{- end }}
  volumes:
    - name: config
      configMap:
        name: {{ include "otelcol-phoenix.fullname" . }}
        items:
          - key: relay
            path: relay.yaml
    {{- if $p.hostMetrics.enabled }}
    - name: hostfs
      hostPath:
        path: /
    {{- end }}
    {{- if $logs }}
    - name: varlogpods
      hostPath:
        path: /var/log/pods
    - name: varlibdockercontainers
      hostPath:
        path: /var/lib/docker/containers
    {{- if $p.logsCollection.storeCheckpoints }}
    - name: varlibotelcol
      hostPath:
        path: /var/lib/otelcol
        type: DirectoryOrCreate
    {{- end }}
    {{- end }}
    {{- if $p.control.enabled }}
    - name: state
      {{- if $p.control.storage.hostPath }}
      hostPath:
        path: {{ $p.control.storage.hostPath }}
        type: DirectoryOrCreate
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- end }}
    {{- if $p.fleet.enabled }}
    # The rollouts: a restarted controller resumes them at their wave.
    - name: fleet
      {{- if $p.fleet.persistence.enabled }}
      persistentVolumeClaim:
        claimName: {{ include "otelcol-phoenix.fleetClaimName" . }}
      {{- else }}
      emptyDir: {}
      {{- end }}
    {{- if $p.fleet.tls.secretName }}
    # Whole, not subPaths: kubelet updates it in place when the certificate is renewed.
    - name: fleet-tls
      secret:
        secretName: {{ $p.fleet.tls.secretName }}
    {{- end }}
    {{- end }}
    {{- if and $p.control.enabled $p.control.opamp.enabled }}
    {{- with $p.control.opamp.tls }}
    {{- if .caSecret }}
    - name: opamp-ca
      secret:
        secretName: {{ .caSecret }}
        items:
          - key: {{ default "ca.crt" .caKey }}
            path: {{ default "ca.crt" .caKey }}
    {{- end }}
    {{- with .clientCertificate }}
    - name: opamp-client
      {{- toYaml . | nindent 6 }}
    {{- end }}
    {{- end }}
    {{- end }}
    {{- if $p.desiredState.enabled }}
    - name: desired-state
      configMap:
        name: {{ include "otelcol-phoenix.fullname" . }}-desired-state
    {{- end }}
    {{- if and $p.experiment.enabled $p.experiment.rules.enabled }}
    {{- if or $p.experiment.rules.files $p.experiment.rules.dashboards }}
    - name: rules
      configMap:
        name: {{ include "otelcol-phoenix.fullname" . }}-rules
    {{- end }}
    {{- range $p.experiment.rules.existingConfigMaps }}
    - name: rules-{{ . | replace "." "-" }}
      configMap:
        name: {{ . }}
    {{- end }}
    {{- end }}
    {{- with .Values.extraVolumes }}
    {{- tpl (toYaml .) $ | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with include "otelcol-phoenix.tolerations" . | trim }}
  tolerations:
    {{- . | nindent 4 }}
  {{- end }}
  {{- with .Values.topologySpreadConstraints }}
  topologySpreadConstraints:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
