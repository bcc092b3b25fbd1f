{{/*
Names. The helpers take the subchart's context; the umbrella's NOTES.txt
calls them with a context it builds the same shape
(Values, Release, Chart.Name).
*/}}
{{- define "audit-detection.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "audit-detection.fullname" -}}
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

{{- define "audit-detection.selectorLabels" -}}
app.kubernetes.io/name: {{ include "audit-detection.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "audit-detection.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "audit-detection.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ugallu
{{- end }}

{{- define "audit-detection.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "audit-detection.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: the ServiceAccount the detector runs as" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "audit-detection.webhookServiceName" -}}
{{- printf "%s-webhook" (include "audit-detection.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "audit-detection.metricsServiceName" -}}
{{- printf "%s-metrics" (include "audit-detection.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "audit-detection.tlsSecretName" -}}
{{- .Values.webhook.tls.existingSecret | default (printf "%s-webhook-tls" (include "audit-detection.fullname" .)) }}
{{- end }}

{{- define "audit-detection.clientSecretName" -}}
{{- printf "%s-webhook-client" (include "audit-detection.fullname" .) }}
{{- end }}

{{/* The Secret holding the client CA bundle, and its key; empty when no mTLS. */}}
{{- define "audit-detection.clientCASecretName" -}}
{{- if .Values.webhook.clientCA.existingSecret }}
{{- .Values.webhook.clientCA.existingSecret }}
{{- else if .Values.webhook.clientCA.generate }}
{{- include "audit-detection.clientSecretName" . }}
{{- end }}
{{- end }}

{{- define "audit-detection.clientCASecretKey" -}}
{{- if .Values.webhook.clientCA.existingSecret }}
{{- .Values.webhook.clientCA.existingSecretKey }}
{{- else }}
{{- "ca.crt" }}
{{- end }}
{{- end }}

{{- define "audit-detection.image" -}}
{{- $repository := ternary .Values.image.fileRepository .Values.image.webhookRepository (eq .Values.mode "file") }}
{{- $ref := $repository }}
{{- if .Values.image.registry }}
{{- $ref = printf "%s/%s" .Values.image.registry $repository }}
{{- end }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" $ref .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" $ref (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/*
Checks what the schema cannot say clearly; included by every workload
template so a bad combination fails the render with this message.
*/}}
{{- define "audit-detection.validate" -}}
{{- if not .Values.clusterIdentity.clusterID }}
{{- fail "audit-detection: clusterIdentity.clusterID is required: the cluster identity stamped on every SecurityEvent (e.g. --set audit-detection.clusterIdentity.clusterID=prod-eu-1)" }}
{{- end }}
{{- if eq .Values.mode "webhook" }}
{{- if and (not .Values.webhook.sharedSecretRef) (not (include "audit-detection.clientCASecretName" .)) }}
{{- fail "audit-detection: webhook mode needs a way to authenticate kube-apiserver: a bearer token (webhook.sharedSecretRef, the default) or a client CA for mTLS (webhook.clientCA.existingSecret or webhook.clientCA.generate=true). Refusing to render an unauthenticated audit sink." }}
{{- end }}
{{- if and .Values.webhook.clientCA.existingSecret .Values.webhook.clientCA.generate }}
{{- fail "audit-detection: set either webhook.clientCA.existingSecret or webhook.clientCA.generate, not both" }}
{{- end }}
{{- end }}
{{- if and (eq .Values.rules.from "dir") (not .Values.rules.dir.configMaps) (not .Values.rules.examples.enabled) }}
{{- fail "audit-detection: rules.from=dir needs rule files: name ConfigMaps in rules.dir.configMaps (or set rules.examples.enabled=true)" }}
{{- end }}
{{- end }}

{{/* The pod's environment: its own name and namespace for the detector. */}}
{{- define "audit-detection.env" -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
{{- end }}

{{/* Flags both binaries take. */}}
{{- define "audit-detection.engineArgs" -}}
- --cluster-id={{ .Values.clusterIdentity.clusterID }}
- --rules-from={{ .Values.rules.from }}
{{- if eq .Values.rules.from "dir" }}
- --rules=/etc/ugallu/rules
{{- end }}
- --emit={{ .Values.emit }}
- --metrics-addr=:{{ .Values.metrics.port }}
- --log-level={{ .Values.logLevel }}
- --channel-capacity={{ .Values.channelCapacity }}
- --max-event-bytes={{ .Values.maxEventBytes | int64 }}
{{- end }}

{{- define "audit-detection.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- if and (eq .Values.mode "file") .Values.fileMode.runAsRoot }}
runAsNonRoot: false
runAsUser: 0
runAsGroup: 0
{{- else }}
runAsNonRoot: true
runAsUser: {{ .Values.runAsUser }}
runAsGroup: {{ .Values.runAsGroup }}
{{- end }}
{{- end }}

{{- define "audit-detection.probes" -}}
livenessProbe:
  httpGet:
    path: /healthz
    port: metrics
  {{- toYaml .Values.probes.liveness | nindent 2 }}
readinessProbe:
  httpGet:
    path: /readyz
    port: metrics
  {{- toYaml .Values.probes.readiness | nindent 2 }}
{{- end }}

{{/* Rule volumes for rules.from=dir: the named ConfigMaps, plus the examples. */}}
{{- define "audit-detection.rulesVolume" -}}
{{- if eq .Values.rules.from "dir" }}
- name: rules
  projected:
    sources:
      {{- range .Values.rules.dir.configMaps }}
      - configMap:
          name: {{ . }}
      {{- end }}
      {{- if .Values.rules.examples.enabled }}
      - configMap:
          name: {{ include "audit-detection.fullname" . }}-example-rules
      {{- end }}
{{- end }}
{{- end }}

{{- define "audit-detection.rulesVolumeMount" -}}
{{- if eq .Values.rules.from "dir" }}
- name: rules
  mountPath: /etc/ugallu/rules
  readOnly: true
{{- end }}
{{- end }}

{{- define "audit-detection.podMetadata" -}}
labels:
  {{- include "audit-detection.selectorLabels" . | nindent 2 }}
  app.kubernetes.io/component: detector
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}
