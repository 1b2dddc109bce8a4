{{/* The pod template shared by the DaemonSet and the Deployment. */}}
{{- define "otelcol-phoenix.podTemplate" -}}
{{- $p := .Values.presets }}
{{- $readAll := and $p.hostMetrics.enabled $p.hostMetrics.readAllProcesses -}}
metadata:
  annotations:
    # Rolls the pods when the collector config changes (not when the desired-state file does: that one is
    # picked up live).
    checksum/config: {{ include "otelcol-phoenix.config" . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  labels:
    {{- include "otelcol-phoenix.selectorLabels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "otelcol-phoenix.serviceAccountName" . }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with (include "otelcol-phoenix.priorityClassName" .) }}
  priorityClassName: {{ . }}
  {{- end }}
  terminationGracePeriodSeconds: {{ .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- $podSC := deepCopy .Values.podSecurityContext }}
    {{- if $readAll }}
    {{- $_ := set $podSC "runAsNonRoot" false }}
    {{- $_ := set $podSC "runAsUser" 0 }}
    {{- $_ := set $podSC "runAsGroup" 0 }}
    {{- end }}
    {{- toYaml $podSC | nindent 4 }}
  containers:
    - name: otelcol-phoenix
      image: "{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}"
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      args:
        - --config=/conf/relay.yaml
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
        {{- with .Values.extraEnvs }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        {{- range $name, $port := .Values.ports }}
        {{- if $port.enabled }}
        - name: {{ $name }}
          containerPort: {{ $port.containerPort }}
          protocol: {{ $port.protocol }}
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
        - name: health
          containerPort: 13133
          protocol: TCP
      livenessProbe:
        httpGet:
          path: /
          port: health
        {{- toYaml .Values.livenessProbe | nindent 8 }}
      readinessProbe:
        httpGet:
          path: /
          port: health
        {{- toYaml .Values.readinessProbe | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
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
        {{- if $p.control.enabled }}
        - name: state
          mountPath: /var/lib/otelcol-phoenix
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
        {{- toYaml . | nindent 8 }}
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
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
