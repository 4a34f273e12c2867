{{/*
vmgw.toml. Field names are vmgw's own (gateway/src/config.rs); vmgw refuses unknown fields
and invalid values at start with a message naming the field. Paths are the container's
mounts (see _helpers.tpl); secrets are files in read-only volumes, never in this ConfigMap.
*/}}
{{- define "vmgw.config" -}}
# Written by the vmgw Helm chart from its values.
listen = [{{ printf "%s:%v" (include "vmgw.hostPort" .Values.listenAddress) (int64 .Values.ports.s3) | toJson }}]
data_dir = {{ include "vmgw.dataPath" . | toJson }}
{{- include "vmgw.toml.table" (dict "path" "" "table" .Values.config) }}

[metrics]
listen = {{ printf "%s:%v" (include "vmgw.hostPort" .Values.listenAddress) (int64 .Values.ports.metrics) | toJson }}
{{- if .Values.admin.enabled }}

[admin]
listen = {{ printf "%s:%v" (include "vmgw.hostPort" .Values.listenAddress) (int64 .Values.ports.admin) | toJson }}
{{- end }}
{{- if .Values.tls.enabled }}

[tls]
cert_file = {{ printf "%s/tls.crt" (include "vmgw.tlsPath" .) | toJson }}
key_file = {{ printf "%s/tls.key" (include "vmgw.tlsPath" .) | toJson }}
{{- if .Values.tls.clientCASecret }}
client_ca_file = {{ printf "%s/ca.crt" (include "vmgw.clientCAPath" .) | toJson }}
require_client_cert = {{ .Values.tls.requireClientCert }}
{{- end }}
{{- end }}
{{- range .Values.tiers }}
{{- $kind := default "local" .kind }}

[[tiers]]
name = {{ .name | toJson }}
kind = {{ $kind | toJson }}
{{- if eq $kind "local" }}
path = {{ include "vmgw.tierPath" .name | toJson }}
{{- end }}
{{- $tier := . }}
{{- range list "endpoint" "region" "bucket" "path_style" "capacity" "high_watermark" "low_watermark" "compression" "encrypt" }}
{{- if hasKey $tier . }}
{{ . }} = {{ include "vmgw.toml.value" (get $tier .) }}
{{- end }}
{{- end }}
{{- if and (eq $kind "s3") (or (hasKey $tier "prefix") (eq $.Values.mode "daemonset")) }}
prefix = {{ include "vmgw.remotePrefix" (dict "prefix" ($tier.prefix | default "") "mode" $.Values.mode) | toJson }}
{{- end }}
{{- if and (eq $kind "s3") .credentials }}
{{- if or .credentials.accessKey .credentials.existingSecret }}
credentials_file = {{ printf "%s/%s.toml" (include "vmgw.remotePath" $) .name | toJson }}
{{- end }}
{{- end }}
{{- end }}
{{- if .Values.encryption.keys }}

[encryption]
{{- if not (kindIs "invalid" .Values.encryption.activeKey) }}
active_key = {{ int64 .Values.encryption.activeKey }}
{{- end }}
{{- range .Values.encryption.keys }}

[[encryption.keys]]
id = {{ int64 .id }}
file = {{ printf "%s/%v.hex" (include "vmgw.keysPath" $) (int64 .id) | toJson }}
{{- end }}
{{- end }}
{{- end }}

{{/* An address for IP:PORT: IPv6 addresses go in brackets. */}}
{{- define "vmgw.hostPort" -}}
{{- if contains ":" . }}[{{ . }}]{{ else }}{{ . }}{{ end }}
{{- end }}

{{/*
A remote tier's key prefix. In DaemonSet mode every node's gateway reads this one ConfigMap,
and each gateway's orphan sweep deletes every blob under its prefix that its own metadata
does not reference: a shared prefix would have each node delete the others' data. So the
prefix ends in the node's name, `${VMGW_NODE_NAME}` (vmgw expands it from the environment at
start, and the pod sets it from spec.nodeName). A non-empty prefix gets its trailing `/`
first, as vmgw itself adds one (`cluster1` means `cluster1/`), so that the node's name is a
path segment of its own. StatefulSet mode runs one gateway: its prefix stays as given.
Called with (dict "prefix" $prefix "mode" $mode).
*/}}
{{- define "vmgw.remotePrefix" -}}
{{- $prefix := .prefix }}
{{- if eq .mode "daemonset" }}
{{- if and $prefix (not (hasSuffix "/" $prefix)) }}{{ $prefix = printf "%s/" $prefix }}{{ end }}
{{- printf "%s${VMGW_NODE_NAME}/" $prefix }}
{{- else }}
{{- $prefix }}
{{- end }}
{{- end }}
