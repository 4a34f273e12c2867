{{/* Names and labels. */}}
{{- define "vmgw.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vmgw.fullname" -}}
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

{{- define "vmgw.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vmgw.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vmgw.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vmgw.labels" -}}
helm.sh/chart: {{ include "vmgw.chart" . }}
{{ include "vmgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: vmgw
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "vmgw.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vmgw.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vmgw.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
Paths inside the container. Every path the gateway writes is a volume (the root filesystem
is read-only); the config and the secrets are read-only volumes.
*/}}
{{- define "vmgw.configPath" -}}/etc/vmgw/vmgw.toml{{- end }}
{{- define "vmgw.dataPath" -}}/var/lib/vmgw/data{{- end }}
{{- define "vmgw.tierPath" -}}/var/lib/vmgw/tiers/{{ . }}{{- end }}
{{- define "vmgw.keysPath" -}}/etc/vmgw/keys{{- end }}
{{- define "vmgw.remotePath" -}}/etc/vmgw/remote{{- end }}
{{- define "vmgw.tlsPath" -}}/etc/vmgw/tls{{- end }}
{{- define "vmgw.clientCAPath" -}}/etc/vmgw/client-ca{{- end }}

{{/* The Secret the chart creates for values given inline. */}}
{{- define "vmgw.secretName" -}}{{ include "vmgw.fullname" . }}{{- end }}

{{/* Whether the chart's Secret has anything to hold (as "true" or ""). */}}
{{- define "vmgw.hasSecret" -}}
{{- $inline := false }}
{{- if and .Values.credentials.accessKey (not .Values.credentials.existingSecret) }}{{ $inline = true }}{{ end }}
{{- if not .Values.encryption.existingSecret }}
{{- range .Values.encryption.keys }}{{ if .value }}{{ $inline = true }}{{ end }}{{ end }}
{{- end }}
{{- range .Values.tiers }}
{{- if and (eq (default "local" .kind) "s3") .credentials }}
{{- if and .credentials.accessKey (not .credentials.existingSecret) }}{{ $inline = true }}{{ end }}
{{- end }}
{{- end }}
{{- if $inline }}true{{ end }}
{{- end }}

{{/* One value as TOML: strings as JSON strings (valid TOML basic strings), numbers as
integers when whole (Helm reads every number as a float), lists element by element. */}}
{{- define "vmgw.toml.value" -}}
{{- if kindIs "string" . -}}
{{ toJson . }}
{{- else if kindIs "bool" . -}}
{{ . }}
{{- else if or (kindIs "float64" .) (kindIs "int" .) (kindIs "int64" .) -}}
{{- if eq (float64 .) (floor .) }}{{ int64 . }}{{ else }}{{ . }}{{ end -}}
{{- else if kindIs "slice" . -}}
[{{ range $i, $v := . }}{{ if $i }}, {{ end }}{{ include "vmgw.toml.value" $v }}{{ end }}]
{{- else -}}
{{ fail (printf "vmgw.toml cannot hold %v (%s)" . (kindOf .)) }}
{{- end -}}
{{- end }}

{{/* A table's keys (scalars first, as TOML requires), then its sub-tables under their
dotted names; empty tables are left out (vmgw's defaults apply). Called with (dict "path" "server" "table" $map). */}}
{{- define "vmgw.toml.table" -}}
{{- $path := .path }}
{{- range $key, $value := .table }}
{{- if not (kindIs "map" $value) }}
{{ $key }} = {{ include "vmgw.toml.value" $value }}
{{- end }}
{{- end }}
{{- range $key, $value := .table }}
{{- if and (kindIs "map" $value) $value }}
{{- $name := ternary $key (printf "%s.%s" $path $key) (eq $path "") }}

[{{ $name }}]
{{- include "vmgw.toml.table" (dict "path" $name "table" $value) }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Volumes: the data directory and each local tier, from a volume value (exactly one of
hostPath, persistentVolumeClaim, existingClaim, emptyDir). persistentVolumeClaim becomes a
volumeClaimTemplate, so it exists in StatefulSet mode only. Called with
(dict "name" "data" "volume" $v "root" $).
*/}}
{{- define "vmgw.volume" -}}
{{- $v := .volume }}
{{- if $v.hostPath }}
- name: {{ .name }}
  hostPath:
    path: {{ $v.hostPath }}
    type: DirectoryOrCreate
{{- else if $v.existingClaim }}
- name: {{ .name }}
  persistentVolumeClaim:
    claimName: {{ $v.existingClaim }}
{{- else if hasKey $v "emptyDir" }}
- name: {{ .name }}
  emptyDir: {{- toYaml (default dict $v.emptyDir) | nindent 4 }}
{{- end }}
{{- end }}

{{- define "vmgw.claimTemplate" -}}
{{- $claim := .volume.persistentVolumeClaim }}
- metadata:
    name: {{ .name }}
    labels: {{- include "vmgw.selectorLabels" .root | nindent 6 }}
  spec:
    accessModes: {{- toYaml (default (list "ReadWriteOnce") $claim.accessModes) | nindent 6 }}
    {{- if $claim.storageClassName }}
    storageClassName: {{ $claim.storageClassName | quote }}
    {{- end }}
    resources:
      requests:
        storage: {{ $claim.size | quote }}
{{- end }}

{{/* Fails the render on combinations the schema cannot express. */}}
{{- define "vmgw.validate" -}}
{{- $daemonset := eq .Values.mode "daemonset" }}
{{- $volumes := list (dict "name" "dataVolume" "volume" (include "vmgw.dataVolume" . | fromJson)) }}
{{- range .Values.tiers }}
{{- if eq (default "local" .kind) "local" }}
{{- $volumes = append $volumes (dict "name" (printf "tiers[%s].volume" .name) "volume" .volume) }}
{{- end }}
{{- end }}
{{- range $volumes }}
{{- if and $daemonset (or .volume.persistentVolumeClaim .volume.existingClaim) }}
{{- fail (printf "%s: a DaemonSet's pods cannot each get their own claim; use hostPath (a directory on each node's disk) or mode=statefulset" .name) }}
{{- end }}
{{- end }}
{{- $names := list }}
{{- $encrypted := false }}
{{- range .Values.tiers }}
{{- if has .name $names }}{{ fail (printf "tiers: the name %q is used twice" .name) }}{{ end }}
{{- $names = append $names .name }}
{{- if .encrypt }}{{ $encrypted = true }}{{ end }}
{{- end }}
{{- /* The chart sets VMGW_NODE_NAME from spec.nodeName, and in DaemonSet mode each remote
tier's prefix ends in it; a value of extraEnv would come later in the container's env and
win, giving every node the same prefix. */}}
{{- range .Values.extraEnv }}
{{- if eq .name "VMGW_NODE_NAME" }}
{{- fail "extraEnv: VMGW_NODE_NAME is set by the chart to the pod's node name (spec.nodeName); in DaemonSet mode each remote tier's prefix ends in it, so one value on every node would put all nodes under one prefix, where each gateway's orphan sweep deletes the others' blobs" }}
{{- end }}
{{- end }}
{{- if and $encrypted (not .Values.encryption.keys) }}
{{- fail "encryption.keys: a tier has encrypt=true, so at least one key is needed" }}
{{- end }}
{{- $ids := list }}
{{- range .Values.encryption.keys }}
{{- $ids = append $ids (int64 .id) }}
{{- if and (not $.Values.encryption.existingSecret) (not .value) }}
{{- fail (printf "encryption.keys[id=%v]: needs value (64 hex digits), or encryption.existingSecret" .id) }}
{{- end }}
{{- end }}
{{- if and (not (kindIs "invalid" .Values.encryption.activeKey)) (not (has (int64 .Values.encryption.activeKey) $ids)) }}
{{- fail (printf "encryption.activeKey: no key has the id %v" .Values.encryption.activeKey) }}
{{- end }}
{{- if ne (empty .Values.credentials.accessKey) (empty .Values.credentials.secretKey) }}
{{- fail "credentials: accessKey and secretKey go together" }}
{{- end }}
{{- if and .Values.tls.enabled (not .Values.tls.existingSecret) }}
{{- fail "tls.existingSecret: tls.enabled needs a Secret of type kubernetes.io/tls" }}
{{- end }}
{{- if and .Values.admin.enabled (not .Values.tls.enabled) }}
{{- fail "admin.enabled: the admin API takes credentials and is served over HTTPS only; enable tls" }}
{{- end }}
{{- end }}

{{/* Secret entries. Called with an encryption key, or a tier. */}}
{{- define "vmgw.keySecretKey" -}}
{{- .secretKey | default (printf "key-%v" (int64 .id)) }}
{{- end }}

{{- define "vmgw.remoteSecretKey" -}}
{{- $creds := .credentials | default dict }}
{{- if $creds.existingSecret }}{{ $creds.key | default "credentials.toml" }}{{ else }}{{ printf "remote-%s.toml" .name }}{{ end }}
{{- end }}

{{/* A remote tier's credentials_file: TOML with access_key and secret_key. */}}
{{- define "vmgw.remoteCredentialsFile" -}}
access_key = {{ .accessKey | toJson }}
secret_key = {{ .secretKey | toJson }}
{{- if .sessionToken }}
session_token = {{ .sessionToken | toJson }}
{{- end }}
{{ end }}

{{/* The data directory's volume, with the mode's default when none is given. */}}
{{- define "vmgw.dataVolume" -}}
{{- if .Values.dataVolume }}
{{- toJson .Values.dataVolume }}
{{- else if eq .Values.mode "daemonset" }}
{{- toJson (dict "hostPath" "/var/lib/vmgw/data") }}
{{- else }}
{{- toJson (dict "persistentVolumeClaim" (dict "size" "10Gi")) }}
{{- end }}
{{- end }}
