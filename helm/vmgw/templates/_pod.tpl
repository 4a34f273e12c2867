{{/* The pod template both workload kinds share. */}}
{{- define "vmgw.podTemplate" -}}
metadata:
  labels:
    {{- include "vmgw.labels" . | nindent 4 }}
    {{- with .Values.podLabels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  annotations:
    {{- /* The gateway reads its config and keys only at start: a change must roll the pods. */}}
    checksum/config: {{ include "vmgw.config" . | sha256sum }}
    checksum/secret: {{ include (print $.Template.BasePath "/secret.yaml") . | sha256sum }}
    {{- with .Values.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "vmgw.serviceAccountName" . }}
  automountServiceAccountToken: {{ .Values.automountServiceAccountToken }}
  {{- with .Values.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.priorityClassName }}
  priorityClassName: {{ . }}
  {{- end }}
  {{- if .Values.hostNetwork }}
  hostNetwork: true
  dnsPolicy: {{ .Values.dnsPolicy | default "ClusterFirstWithHostNet" }}
  {{- else if .Values.dnsPolicy }}
  dnsPolicy: {{ .Values.dnsPolicy }}
  {{- end }}
  terminationGracePeriodSeconds: {{ int64 .Values.terminationGracePeriodSeconds }}
  securityContext:
    {{- toYaml .Values.podSecurityContext | nindent 4 }}
  containers:
    - name: vmgw
      image: {{ include "vmgw.image" . | quote }}
      imagePullPolicy: {{ .Values.image.pullPolicy }}
      {{- /* The image's entrypoint is `vmgw serve`. */}}
      args:
        - --config
        - {{ include "vmgw.configPath" . }}
      env:
        - name: VMGW_LOG
          value: {{ .Values.logLevel | quote }}
        - name: VMGW_LOG_FORMAT
          value: {{ .Values.logFormat | quote }}
        {{- with .Values.credentials }}
        {{- if or .existingSecret .accessKey }}
        - name: VMGW_ACCESS_KEY
          valueFrom:
            secretKeyRef:
              name: {{ .existingSecret | default (include "vmgw.secretName" $) }}
              key: {{ .accessKeyKey }}
        - name: VMGW_SECRET_KEY
          valueFrom:
            secretKeyRef:
              name: {{ .existingSecret | default (include "vmgw.secretName" $) }}
              key: {{ .secretKeyKey }}
        {{- end }}
        {{- end }}
        {{- /* The node the pod runs on, from the downward API. In DaemonSet mode every remote
        tier's prefix ends in it (see vmgw.remotePrefix), so that each node's gateway keeps its
        blobs, and sweeps for orphans, under a prefix of its own in a shared bucket. Set in
        both modes: config values may name it too (`${VMGW_NODE_NAME}`). */}}
        - name: VMGW_NODE_NAME
          valueFrom:
            fieldRef:
              fieldPath: spec.nodeName
        {{- with .Values.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: s3
          containerPort: {{ int64 .Values.ports.s3 }}
          protocol: TCP
          {{- if and (not .Values.hostNetwork) .Values.ports.s3HostPort }}
          hostPort: {{ int64 .Values.ports.s3HostPort }}
          {{- end }}
        - name: metrics
          containerPort: {{ int64 .Values.ports.metrics }}
          protocol: TCP
        {{- if .Values.admin.enabled }}
        - name: admin
          containerPort: {{ int64 .Values.ports.admin }}
          protocol: TCP
        {{- end }}
      {{- with .Values.probes }}
      startupProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- with .startup }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      livenessProbe:
        httpGet:
          path: /healthz
          port: metrics
        {{- with .liveness }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      readinessProbe:
        httpGet:
          path: /readyz
          port: metrics
        {{- with .readiness }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.securityContext | nindent 8 }}
      resources:
        {{- toYaml .Values.resources | nindent 8 }}
      volumeMounts:
        - name: config
          mountPath: {{ include "vmgw.configPath" . }}
          subPath: vmgw.toml
          readOnly: true
        - name: data
          mountPath: {{ include "vmgw.dataPath" . }}
        {{- range .Values.tiers }}
        {{- if eq (default "local" .kind) "local" }}
        - name: tier-{{ .name }}
          mountPath: {{ include "vmgw.tierPath" .name }}
        {{- end }}
        {{- end }}
        {{- if .Values.encryption.keys }}
        - name: keys
          mountPath: {{ include "vmgw.keysPath" . }}
          readOnly: true
        {{- end }}
        {{- if include "vmgw.remoteTiersWithCredentials" . }}
        - name: remote-credentials
          mountPath: {{ include "vmgw.remotePath" . }}
          readOnly: true
        {{- end }}
        {{- if .Values.tls.enabled }}
        - name: tls
          mountPath: {{ include "vmgw.tlsPath" . }}
          readOnly: true
        {{- if .Values.tls.clientCASecret }}
        - name: client-ca
          mountPath: {{ include "vmgw.clientCAPath" . }}
          readOnly: true
        {{- end }}
        {{- end }}
        {{- /* Scratch space for anything that writes to $TMPDIR. */}}
        - name: tmp
          mountPath: /tmp
  volumes:
    - name: config
      configMap:
        name: {{ include "vmgw.fullname" . }}
    {{- include "vmgw.volume" (dict "name" "data" "volume" (include "vmgw.dataVolume" . | fromJson)) | trim | nindent 4 }}
    {{- range .Values.tiers }}
    {{- if eq (default "local" .kind) "local" }}
    {{- include "vmgw.volume" (dict "name" (printf "tier-%s" .name) "volume" .volume) | trim | nindent 4 }}
    {{- end }}
    {{- end }}
    {{- with .Values.encryption }}
    {{- if .keys }}
    - name: keys
      secret:
        secretName: {{ .existingSecret | default (include "vmgw.secretName" $) }}
        defaultMode: 0440
        items:
          {{- range .keys }}
          - key: {{ include "vmgw.keySecretKey" . }}
            path: {{ printf "%v.hex" (int64 .id) }}
          {{- end }}
    {{- end }}
    {{- end }}
    {{- if include "vmgw.remoteTiersWithCredentials" . }}
    - name: remote-credentials
      projected:
        defaultMode: 0440
        sources:
          {{- range .Values.tiers }}
          {{- $creds := .credentials | default dict }}
          {{- if and (eq (default "local" .kind) "s3") (or $creds.accessKey $creds.existingSecret) }}
          - secret:
              name: {{ $creds.existingSecret | default (include "vmgw.secretName" $) }}
              items:
                - key: {{ include "vmgw.remoteSecretKey" . }}
                  path: {{ printf "%s.toml" .name }}
          {{- end }}
          {{- end }}
    {{- end }}
    {{- if .Values.tls.enabled }}
    - name: tls
      secret:
        secretName: {{ .Values.tls.existingSecret }}
        defaultMode: 0440
        items:
          - key: tls.crt
            path: tls.crt
          - key: tls.key
            path: tls.key
    {{- if .Values.tls.clientCASecret }}
    - name: client-ca
      secret:
        secretName: {{ .Values.tls.clientCASecret }}
        defaultMode: 0440
        items:
          - key: ca.crt
            path: ca.crt
    {{- end }}
    {{- end }}
    - name: tmp
      emptyDir:
        sizeLimit: 64Mi
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

{{/* "true" when some remote tier has a credentials file. */}}
{{- define "vmgw.remoteTiersWithCredentials" -}}
{{- range .Values.tiers }}
{{- $creds := .credentials | default dict }}
{{- if and (eq (default "local" .kind) "s3") (or $creds.accessKey $creds.existingSecret) }}true{{ end }}
{{- end }}
{{- end }}
