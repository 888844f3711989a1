{{/*
Names and labels.
*/}}
{{- define "hypasis.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hypasis.fullname" -}}
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

{{- define "hypasis.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Name of a component's objects: <fullname>-<component>. Call with (dict "root" $ "name" "store"). */}}
{{- define "hypasis.componentName" -}}
{{- printf "%s-%s" (include "hypasis.fullname" .root) .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "hypasis.selectorLabels" -}}
app.kubernetes.io/name: {{ include "hypasis.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end }}

{{- define "hypasis.labels" -}}
helm.sh/chart: {{ include "hypasis.chart" .root }}
{{ include "hypasis.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: hypasis
{{- end }}

{{- define "hypasis.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hypasis.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hypasis.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/*
In-cluster gRPC URL of a component: https://<fullname>-<name>:<port>. The services verify the
peer certificate against the short service name (`store`, `scheduler`, ...: the SANs written by
`hypasis certs generate`), not the URL's host, so no extra SANs are needed for in-cluster calls.
*/}}
{{- define "hypasis.url" -}}
{{- $port := index .root.Values .name "grpcPort" -}}
{{- printf "https://%s:%v" (include "hypasis.componentName" .) $port }}
{{- end }}

{{/*
Flags every service takes (crates/config CommonArgs). Binding 0.0.0.0: the defaults are
127.0.0.1, which a Service cannot reach.
*/}}
{{- define "hypasis.commonArgs" -}}
{{- $v := index .root.Values .name -}}
- --listen=0.0.0.0:{{ $v.grpcPort }}
- --metrics-listen=0.0.0.0:{{ $v.metricsPort }}
- --tls-dir={{ .root.Values.tls.mountPath }}
- --log-format={{ .root.Values.logFormat }}
{{- end }}

{{/* Environment every service gets. */}}
{{- define "hypasis.env" -}}
{{- $v := index .root.Values .name -}}
- name: RUST_LOG
  value: {{ .root.Values.logLevel | quote }}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_IP
  valueFrom:
    fieldRef:
      fieldPath: status.podIP
{{- if .root.Values.otlp.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ .root.Values.otlp.endpoint | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.pod.name=$(POD_NAME),service.namespace={{ .root.Release.Namespace }}"
{{- end }}
{{- with $v.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Probes. The gRPC port serves mTLS only and requires a client certificate, so neither the
kubelet's native `grpc:` probe (plaintext, no client certificate) nor an `httpGet` on it can
reach it. Every service also serves plain HTTP on its metrics port (crates/telemetry::
serve_metrics_with, bound right before the gRPC listener, in the same process): GET /healthz
answers 200 once the process is up (liveness, startup), GET /readyz answers 200 while the
service's grpc.health.v1 status is SERVING and 503 otherwise (readiness: a standby scheduler,
NOT_SERVING by design, is not Ready and gets no traffic).
The startup probe is generous: the scheduler and fetcher bind their ports only after they reach
the store (and etcd), which may start after them.
*/}}
{{- define "hypasis.probes" -}}
{{- $p := .root.Values.probes -}}
{{- $v := index .root.Values .name -}}
startupProbe:
{{- if $v.startupProbe }}
  {{- toYaml $v.startupProbe | nindent 2 }}
{{- else }}
  httpGet:
    path: {{ $p.path }}
    port: metrics
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
{{- end }}
livenessProbe:
{{- if $v.livenessProbe }}
  {{- toYaml $v.livenessProbe | nindent 2 }}
{{- else }}
  httpGet:
    path: {{ $p.path }}
    port: metrics
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
{{- end }}
readinessProbe:
{{- if $v.readinessProbe }}
  {{- toYaml $v.readinessProbe | nindent 2 }}
{{- else }}
  httpGet:
    path: {{ $p.readyPath }}
    port: metrics
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end }}
{{- end }}

{{/*
A service's Deployment. Call with (dict "root" $ "name" "store" "args" (list ...) "ports" (list ...)
"mounts" (list ...) "volumes" (list ...) "strategy" (dict ...) "replicas" true|false); with
"kind" "StatefulSet" and "claims" (list ...) it is a StatefulSet whose pods each get the claims
(volumeClaimTemplates), its update strategy the given one.
*/}}
{{- define "hypasis.deployment" -}}
{{- $root := .root -}}
{{- $v := index $root.Values .name -}}
{{- $ctx := dict "root" $root "name" .name -}}
{{- $kind := default "Deployment" .kind -}}
apiVersion: apps/v1
kind: {{ $kind }}
metadata:
  name: {{ include "hypasis.componentName" $ctx }}
  labels:
    {{- include "hypasis.labels" $ctx | nindent 4 }}
spec:
  {{- if eq $kind "StatefulSet" }}
  serviceName: {{ include "hypasis.componentName" $ctx }}
  # Fetchers are peers of each other, not an ordered set: start and stop them together.
  podManagementPolicy: Parallel
  {{- end }}
  {{- if .replicas }}
  replicas: {{ $v.replicas }}
  {{- end }}
  revisionHistoryLimit: 5
  {{- with .strategy }}
  {{ if eq $kind "StatefulSet" }}updateStrategy{{ else }}strategy{{ end }}:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  selector:
    matchLabels:
      {{- include "hypasis.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "hypasis.labels" $ctx | nindent 8 }}
      annotations:
        {{- if $root.Values.metrics.podAnnotations }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ $v.metricsPort | quote }}
        prometheus.io/path: /metrics
        {{- end }}
        {{- with $v.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "hypasis.serviceAccountName" $root }}
      automountServiceAccountToken: false
      {{- with $root.Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $root.Values.podSecurityContext | nindent 8 }}
      terminationGracePeriodSeconds: 60
      containers:
        - name: {{ .name }}
          image: {{ include "hypasis.image" $root }}
          imagePullPolicy: {{ $root.Values.image.pullPolicy }}
          command:
            - hypasis-{{ .name }}
          args:
            {{- include "hypasis.commonArgs" $ctx | nindent 12 }}
            {{- with .args }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
            {{- with $v.extraArgs }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          env:
            {{- include "hypasis.env" $ctx | nindent 12 }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            - name: grpc
              containerPort: {{ $v.grpcPort }}
              protocol: TCP
            - name: metrics
              containerPort: {{ $v.metricsPort }}
              protocol: TCP
            {{- with .ports }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          {{- include "hypasis.probes" $ctx | nindent 10 }}
          resources:
            {{- toYaml $v.resources | nindent 12 }}
          securityContext:
            {{- toYaml $root.Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tls
              mountPath: {{ $root.Values.tls.mountPath }}
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- with .mounts }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
      volumes:
        # Only the CA and this service's own certificate and key (crates/tls: ca.pem,
        # <name>.pem, <name>.key); 0440 + fsGroup so the non-root user can read them.
        - name: tls
          secret:
            secretName: {{ $root.Values.tls.existingSecret }}
            defaultMode: 288
            items:
              - key: ca.pem
                path: ca.pem
              - key: {{ .name }}.pem
                path: {{ .name }}.pem
              - key: {{ .name }}.key
                path: {{ .name }}.key
        - name: tmp
          emptyDir:
            sizeLimit: 64Mi
        {{- with .volumes }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      {{- with $v.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with $v.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
  {{- with .claims }}
  volumeClaimTemplates:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}

{{/* A service's Service: gRPC and metrics ports. */}}
{{- define "hypasis.service" -}}
{{- $v := index .root.Values .name -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ include "hypasis.componentName" . }}
  labels:
    {{- include "hypasis.labels" . | nindent 4 }}
spec:
  type: ClusterIP
  selector:
    {{- include "hypasis.selectorLabels" . | nindent 4 }}
  ports:
    - name: grpc
      port: {{ $v.grpcPort }}
      targetPort: grpc
      protocol: TCP
      appProtocol: grpc
    - name: metrics
      port: {{ $v.metricsPort }}
      targetPort: metrics
      protocol: TCP
      appProtocol: http
{{- end }}

{{/* Megabytes in a Kubernetes memory quantity given in Mi or Gi; -1 when another unit. */}}
{{- define "hypasis.quantityMi" -}}
{{- $q := toString . -}}
{{- if regexMatch "^[0-9]+Mi$" $q -}}
{{- trimSuffix "Mi" $q -}}
{{- else if regexMatch "^[0-9]+Gi$" $q -}}
{{- mul (atoi (trimSuffix "Gi" $q)) 1024 -}}
{{- else -}}
-1
{{- end -}}
{{- end }}
