{{- define "monitoring.fullname" -}}
{{- printf "%s-audit-detection" .Release.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "monitoring.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ .Values.detectorName }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ugallu
app.kubernetes.io/component: monitoring
{{- end }}

{{/* The PromQL selector of this release's detector series. */}}
{{- define "monitoring.selector" -}}
job="{{ .Values.detectorName }}",namespace="{{ .Release.Namespace }}"
{{- end }}
