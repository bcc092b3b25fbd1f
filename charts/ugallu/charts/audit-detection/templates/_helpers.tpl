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
app.kubernetes.io/instance: {{ .Release.Name | quote }}
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
{{- if and (eq .Values.rules.from "dir") (not .Values.rules.dir.configMaps) (not .Values.rules.examples.enabled) (not .Values.rules.pack.enabled) }}
{{- fail "audit-detection: rules.from=dir needs rule files: name ConfigMaps in rules.dir.configMaps (or set rules.pack.enabled=true or rules.examples.enabled=true)" }}
{{- end }}
{{- if and (not .Values.rules.pack.enabled) (or .Values.rules.pack.disabled .Values.rules.pack.exceptions) }}
{{- fail "audit-detection: rules.pack.disabled and rules.pack.exceptions tune the bundled pack, which rules.pack.enabled=false leaves out: empty them, or turn the pack on" }}
{{- end }}
{{- if .Values.rules.pack.enabled }}
{{- /* Checks the names in rules.pack.disabled and rules.pack.exceptions (it fails naming a wrong one). */}}
{{- $_ := include "audit-detection.packTunings" . }}
{{- end }}
{{- $envNames := include "audit-detection.extraEnvNames" . | fromJsonArray }}
{{- range list "POD_NAME" "POD_NAMESPACE" "NODE_NAME" "AUDIT_WEBHOOK_TOKEN" }}
{{- if has . $envNames }}
{{- fail (printf "audit-detection: extraEnv sets %s, which the chart sets itself (AUDIT_WEBHOOK_TOKEN: use webhook.sharedSecretRef and sharedSecretKey)" .) }}
{{- end }}
{{- end }}
{{- if ne (len $envNames) (len ($envNames | uniq)) }}
{{- fail "audit-detection: extraEnv names a variable twice" }}
{{- end }}
{{- $volumes := list "tmp" "rules" }}
{{- $paths := list "/tmp" "/etc/ugallu/rules" }}
{{- if eq .Values.mode "file" }}
{{- $volumes = concat $volumes (list "audit-log" "cursor") }}
{{- $paths = concat $paths (list (printf "/host%s" (dir .Values.fileMode.auditLogPath)) "/var/lib/ugallu") }}
{{- else }}
{{- $volumes = concat $volumes (list "tls" "client-ca") }}
{{- $paths = concat $paths (list "/etc/ugallu/tls" "/etc/ugallu/client-ca") }}
{{- end }}
{{- $secretNames := list }}
{{- range $i, $secret := .Values.auditDetectionConfig.secrets }}
{{- if has $secret.name $secretNames }}
{{- fail (printf "audit-detection: auditDetectionConfig.secrets names the Secret %s twice" $secret.name) }}
{{- end }}
{{- $secretNames = append $secretNames $secret.name }}
{{- $volumes = append $volumes (printf "consumer-secret-%d" $i) }}
{{- $paths = append $paths (printf "/etc/ugallu/secrets/%s" $secret.name) }}
{{- end }}
{{- range .Values.extraVolumes }}
{{- if has .name $volumes }}
{{- fail (printf "audit-detection: extraVolumes: the volume name %s is the chart's; pick another" .name) }}
{{- end }}
{{- $volumes = append $volumes .name }}
{{- end }}
{{- range .Values.extraVolumeMounts }}
{{- if has .mountPath $paths }}
{{- fail (printf "audit-detection: extraVolumeMounts: %s is already a mount path of the detector container" .mountPath) }}
{{- end }}
{{- $paths = append $paths .mountPath }}
{{- end }}
{{- if and .Values.networkPolicy.enabled (eq .Values.mode "webhook") (not .Values.networkPolicy.webhookFrom) }}
{{- fail "audit-detection: networkPolicy.enabled in webhook mode needs networkPolicy.webhookFrom: the NetworkPolicyPeers kube-apiserver's requests come from (e.g. [{ ipBlock: { cidr: <control-plane nodes' subnet> } }]); an empty list would shut it out (or, as a from list, let everyone in)" }}
{{- end }}
{{- end }}

{{/*
The pod's environment: its own name and namespace for the detector, the
bearer token in webhook mode, node's options (V8's heap limit, source maps;
unless extraEnv sets NODE_OPTIONS), then extraEnv.
*/}}
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
{{- if and (eq .Values.mode "webhook") .Values.webhook.sharedSecretRef }}
- name: AUDIT_WEBHOOK_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ .Values.webhook.sharedSecretRef }}
      key: {{ .Values.webhook.sharedSecretKey }}
{{- end }}
{{- $heap := include "audit-detection.maxOldSpaceMiB" . }}
{{- $nodeOptions := list }}
{{- if $heap }}{{ $nodeOptions = append $nodeOptions (printf "--max-old-space-size=%s" $heap) }}{{ end }}
{{- if .Values.sourceMaps }}{{ $nodeOptions = append $nodeOptions "--enable-source-maps" }}{{ end }}
{{- if and $nodeOptions (not (has "NODE_OPTIONS" (include "audit-detection.extraEnvNames" . | fromJsonArray))) }}
# V8's heap under the container's memory limit (nodeHeapPercent of resources.limits.memory); sourceMaps.
- name: NODE_OPTIONS
  value: {{ join " " $nodeOptions | quote }}
{{- end }}
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "audit-detection.extraEnvNames" -}}
{{- $names := list }}
{{- range .Values.extraEnv }}{{ $names = append $names .name }}{{ end }}
{{- toJson $names }}
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
{{- with .Values.retention }}
{{- if .enabled }}
{{- if ne $.Values.emit "kubernetes" }}
{{- fail "audit-detection: retention.enabled deletes SecurityEvent resources: it needs emit=kubernetes" }}
{{- end }}
- --retention
- --retention-max-age={{ .maxAge }}
{{- if gt (int64 .maxCount) 0 }}
- --retention-max-count={{ .maxCount | int64 }}
{{- end }}
- --retention-interval={{ .intervalSeconds | int64 }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Security contexts: the chart's hardened defaults with podSecurityContext and
securityContext merged over them key by key (the schema refuses a value
that weakens them unless allowInsecureSecurityContext is true). The
detector's uid and gid: securityContext's, else podSecurityContext's, else
runAsUser/runAsGroup; root only through fileMode.runAsRoot.
*/}}
{{- define "audit-detection.runAsRoot" -}}
{{- if and (eq .Values.mode "file") .Values.fileMode.runAsRoot }}true{{ end }}
{{- end }}

{{- define "audit-detection.podSecurityContext" -}}
{{- $user := deepCopy (.Values.podSecurityContext | default dict) }}
{{- $context := dict "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- if not (include "audit-detection.runAsRoot" .) }}
{{- $_ := set $context "runAsNonRoot" true }}
{{- end }}
{{- $groups := list }}
{{- if and (eq .Values.mode "file") (not (kindIs "invalid" .Values.fileMode.auditLogGroup)) }}
{{- /* The group that may read the host's audit log (fileMode.auditLogGroup). */}}
{{- $groups = append $groups (.Values.fileMode.auditLogGroup | int64) }}
{{- end }}
{{- range ($user.supplementalGroups | default list) }}
{{- $groups = append $groups (. | int64) }}
{{- end }}
{{- $_ := unset $user "supplementalGroups" }}
{{- $context = mustMergeOverwrite $context $user }}
{{- with ($groups | uniq) }}
{{- $_ := set $context "supplementalGroups" . }}
{{- end }}
{{- toYaml $context }}
{{- end }}

{{- define "audit-detection.containerSecurityContext" -}}
{{- $pod := .Values.podSecurityContext | default dict }}
{{- $context := dict
  "allowPrivilegeEscalation" false
  "readOnlyRootFilesystem" true
  "privileged" false
  "capabilities" (dict "drop" (list "ALL"))
  "seccompProfile" (dict "type" "RuntimeDefault") }}
{{- if include "audit-detection.runAsRoot" . }}
{{- $_ := set $context "runAsNonRoot" false }}
{{- $_ := set $context "runAsUser" 0 }}
{{- $_ := set $context "runAsGroup" 0 }}
{{- else }}
{{- $_ := set $context "runAsNonRoot" true }}
{{- $_ := set $context "runAsUser" (ternary $pod.runAsUser .Values.runAsUser (hasKey $pod "runAsUser") | int64) }}
{{- $_ := set $context "runAsGroup" (ternary $pod.runAsGroup .Values.runAsGroup (hasKey $pod "runAsGroup") | int64) }}
{{- end }}
{{- toYaml (mustMergeOverwrite $context (deepCopy (.Values.securityContext | default dict))) }}
{{- end }}

{{/*
NODE_OPTIONS' --max-old-space-size, in MiB: nodeHeapPercent of
resources.limits.memory (a Kubernetes quantity: 512Mi, 1Gi, 600M, bytes);
empty when there is no memory limit or nodeHeapPercent is 0.
*/}}
{{- define "audit-detection.maxOldSpaceMiB" -}}
{{- $limit := "" }}
{{- with .Values.resources }}{{ with .limits }}{{ with .memory }}{{ $limit = toString . }}{{ end }}{{ end }}{{ end }}
{{- $percent := .Values.nodeHeapPercent | int }}
{{- if and $limit (gt $percent 0) }}
{{- $number := regexFind "^[0-9]*\\.?[0-9]+([eE][-+]?[0-9]+)?" $limit }}
{{- $suffix := trimPrefix $number $limit }}
{{- $scale := dict "" 1.0 "m" 0.001 "k" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 }}
{{- if not (and $number (hasKey $scale $suffix)) }}
{{- fail (printf "audit-detection: resources.limits.memory %q is not a quantity the chart can read (e.g. 512Mi, 1Gi, 600M)" $limit) }}
{{- end }}
{{- $mib := floor (divf (mulf (float64 $number) (get $scale $suffix) $percent) 104857600.0) | int64 }}
{{- if lt $mib 32 }}
{{- fail (printf "audit-detection: resources.limits.memory %s leaves Node a heap of %d MiB (nodeHeapPercent %d): raise the limit (the default is 512Mi) or set nodeHeapPercent=0" $limit $mib $percent) }}
{{- end }}
{{- $mib }}
{{- end }}
{{- end }}

{{/* The detector pods' labels, which Services, the PodDisruptionBudget, spread constraints and the NetworkPolicy select on. */}}
{{- define "audit-detection.podSelectorLabels" -}}
{{ include "audit-detection.selectorLabels" . }}
app.kubernetes.io/component: detector
{{- end }}

{{/* webhook.topologySpreadConstraints, each without a labelSelector given the detector pods' labels. */}}
{{- define "audit-detection.topologySpreadConstraints" -}}
{{- range .Values.webhook.topologySpreadConstraints }}
{{- $constraint := deepCopy . }}
{{- if not (hasKey $constraint "labelSelector") }}
{{- $_ := set $constraint "labelSelector" (dict "matchLabels" (include "audit-detection.podSelectorLabels" $ | fromYaml)) }}
{{- end }}
- {{- toYaml $constraint | nindent 2 }}
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

{{/* Rule volumes for rules.from=dir: the named ConfigMaps, plus the examples and the pack. */}}
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
      {{- if .Values.rules.pack.enabled }}
      - configMap:
          name: {{ include "audit-detection.fullname" . }}-pack-rules
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
  {{- include "audit-detection.podSelectorLabels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with .Values.podAnnotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/*
The bundled detection pack (files/pack: the rule files of packages/rules,
copied by `pnpm --filter @ugallu/charts-test sync-pack` as
<theme>-<file>.yaml, kept equal by the chart tests), as JSON:
  rules: every rule, in file order: { name, file, install, rule } - install
         is false for the audit trail (theme audit-trail, class Audit)
         unless rules.pack.auditTrail;
  files: file name -> the text rules.from=dir mounts: the file itself, or,
         when rules are left out of it, its other documents as written
         (comments kept); a file left with no rule is not there.
*/}}
{{- define "audit-detection.pack" -}}
{{- $rules := list }}
{{- $files := dict }}
{{- range $path, $_ := .Files.Glob "files/pack/*.yaml" }}
{{- $file := base $path }}
{{- $text := $.Files.Get $path }}
{{- $kept := list }}
{{- $keptRules := 0 }}
{{- $leftOut := false }}
{{- range $doc := regexSplit "(?m)^---[ \t]*$" $text -1 }}
{{- $rule := fromYaml $doc }}
{{- if hasKey $rule "Error" }}
{{- fail (printf "audit-detection: %s is not valid YAML: %s" $path $rule.Error) }}
{{- end }}
{{- if $rule }}
{{- $auditTrail := and (hasPrefix "audit-trail-" $file) (eq (include "audit-detection.ruleClass" $rule) "Audit") }}
{{- $install := or (not $auditTrail) $.Values.rules.pack.auditTrail }}
{{- $rules = append $rules (dict "name" $rule.metadata.name "file" $file "install" $install "rule" $rule) }}
{{- if $install }}
{{- $kept = append $kept $doc }}
{{- $keptRules = add1 $keptRules }}
{{- else }}
{{- $leftOut = true }}
{{- end }}
{{- else }}
{{- $kept = append $kept $doc }}
{{- end }}
{{- end }}
{{- if not $leftOut }}
{{- $_ := set $files $file $text }}
{{- else if gt $keptRules 0 }}
{{- $_ := set $files $file (join "---" $kept | trimPrefix "\n") }}
{{- end }}
{{- end }}
{{- toJson (dict "rules" $rules "files" $files) }}
{{- end }}

{{/* A rule's class as the compiler resolves it: emit.class, else Audit for severity info and low, else Detection. */}}
{{- define "audit-detection.ruleClass" -}}
{{- $class := dig "spec" "emit" "class" "" . }}
{{- if $class }}
{{- $class }}
{{- else if has (dig "spec" "emit" "severity" "" .) (list "info" "low") }}
{{- "Audit" }}
{{- else }}
{{- "Detection" }}
{{- end }}
{{- end }}

{{/*
rules.pack.disabled and rules.pack.exceptions as tunings (a JSON list of
SigmaRule manifests, by rule name): one <rule>.values-tuning per rule named,
tunes: <rule>, with enabled: false and/or the exceptions. The bundled rules
are never edited. Fails on a name the chart does not install.
*/}}
{{- define "audit-detection.packTunings" -}}
{{- $values := .Values.rules.pack }}
{{- $disabled := $values.disabled | default list }}
{{- $exceptions := $values.exceptions | default dict }}
{{- $all := dict }}
{{- range (include "audit-detection.pack" . | fromJson).rules }}
{{- $_ := set $all .name .install }}
{{- end }}
{{- $tunings := list }}
{{- range $name := concat $disabled (keys $exceptions) | uniq | sortAlpha }}
{{- if not (hasKey $all $name) }}
{{- fail (printf "audit-detection: rules.pack: no rule of the pack is named %s (packages/rules/README.md lists them)" $name) }}
{{- end }}
{{- if not (get $all $name) }}
{{- fail (printf "audit-detection: rules.pack: %s is an audit-trail rule, installed only with rules.pack.auditTrail=true" $name) }}
{{- end }}
{{- $spec := dict "tunes" $name "description" "Written by the chart from rules.pack.disabled and rules.pack.exceptions: change those values, not this resource." }}
{{- if has $name $disabled }}
{{- $_ := set $spec "enabled" false }}
{{- end }}
{{- if hasKey $exceptions $name }}
{{- $_ := set $spec "exceptions" (get $exceptions $name) }}
{{- end }}
{{- $tunings = append $tunings (dict "apiVersion" "security.ugallu.io/v1alpha1" "kind" "SigmaRule" "metadata" (dict "name" (printf "%s.values-tuning" $name)) "spec" $spec) }}
{{- end }}
{{- toJson $tunings }}
{{- end }}

{{/*
The consumers' credential Secrets (auditDetectionConfig.secrets), each
mounted read-only at /etc/ugallu/secrets/<name>: a consumer names a key's
file there (e.g. auth.bearerTokenFile: /etc/ugallu/secrets/siem/token). The
kubelet refreshes them in place and the detector reads a credential file
again when it changes, so a rotated Secret needs no restart.
*/}}
{{- define "audit-detection.consumerSecretVolumes" -}}
{{- range $i, $secret := .Values.auditDetectionConfig.secrets }}
- name: consumer-secret-{{ $i }}
  secret:
    secretName: {{ $secret.name }}
    defaultMode: 292 # 0444: readable by the non-root detector, never writable
{{- end }}
{{- end }}

{{- define "audit-detection.consumerSecretMounts" -}}
{{- range $i, $secret := .Values.auditDetectionConfig.secrets }}
- name: consumer-secret-{{ $i }}
  mountPath: /etc/ugallu/secrets/{{ $secret.name }}
  readOnly: true
{{- end }}
{{- end }}
