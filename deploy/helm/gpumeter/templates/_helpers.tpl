{{/* Chart name, possibly overridden. */}}
{{- define "gpumeter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified name: the release name, with the chart name added unless the release name contains it. */}}
{{- define "gpumeter.fullname" -}}
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

{{- define "gpumeter.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "gpumeter.labels" -}}
helm.sh/chart: {{ include "gpumeter.chart" . }}
app.kubernetes.io/name: {{ include "gpumeter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gpumeter
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of one component: include "gpumeter.selectorLabels" (list . "agent") */}}
{{- define "gpumeter.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "gpumeter.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* All labels of one component: include "gpumeter.componentLabels" (list . "agent") */}}
{{- define "gpumeter.componentLabels" -}}
{{ include "gpumeter.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{- define "gpumeter.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end }}

{{- define "gpumeter.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (printf "%s-agent" (include "gpumeter.fullname" .)) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gpumeter.collector.serviceAccountName" -}}
{{- if .Values.collector.serviceAccount.create }}
{{- default (printf "%s-collector" (include "gpumeter.fullname" .)) .Values.collector.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.collector.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* A list value or a comma-separated string, as one comma-separated string. */}}
{{- define "gpumeter.csv" -}}
{{- if kindIs "slice" . }}{{ join "," . }}{{ else }}{{ . }}{{ end }}
{{- end }}

{{- define "gpumeter.commitments.configMapName" -}}
{{- default (printf "%s-commitments" (include "gpumeter.fullname" .)) .Values.commitments.existingConfigMap }}
{{- end }}

{{- define "gpumeter.commitments.enabled" -}}
{{- if or .Values.commitments.content .Values.commitments.existingConfigMap }}true{{ end }}
{{- end }}

{{/* Environment both binaries share: logging and traces. */}}
{{- define "gpumeter.commonEnv" -}}
- name: GPUMETER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: GPUMETER_LOG_FORMAT
  value: {{ .Values.logFormat | quote }}
{{- with .Values.otlpEndpoint }}
- name: GPUMETER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Kafka connection environment (agent and collector). */}}
{{- define "gpumeter.kafkaEnv" -}}
{{- $k := .Values.kafka -}}
- name: GPUMETER_KAFKA_BROKERS
  value: {{ include "gpumeter.csv" $k.brokers | quote }}
- name: GPUMETER_TOPIC
  value: {{ $k.topic | quote }}
{{- if $k.tls.enabled }}
- name: GPUMETER_KAFKA_TLS
  value: "true"
{{- with $k.tls.serverName }}
- name: GPUMETER_KAFKA_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $k.tls.caSecret.name }}
- name: GPUMETER_KAFKA_CA_FILE
  value: /etc/gpumeter/kafka-ca/{{ $k.tls.caSecret.key }}
{{- end }}
{{- if $k.tls.clientCertSecret }}
- name: GPUMETER_KAFKA_CERT_FILE
  value: /etc/gpumeter/kafka-client/tls.crt
- name: GPUMETER_KAFKA_KEY_FILE
  value: /etc/gpumeter/kafka-client/tls.key
{{- end }}
{{- end }}
{{- if $k.sasl.mechanism }}
- name: GPUMETER_KAFKA_SASL_MECHANISM
  value: {{ $k.sasl.mechanism | quote }}
- name: GPUMETER_KAFKA_USERNAME
  value: {{ required "kafka.sasl.username is required with kafka.sasl.mechanism" $k.sasl.username | quote }}
- name: GPUMETER_KAFKA_PASSWORD_FILE
  value: /etc/gpumeter/kafka-sasl/{{ $k.sasl.passwordSecret.key }}
{{- if $k.sasl.allowPlaintext }}
- name: GPUMETER_KAFKA_ALLOW_PLAINTEXT_SASL
  value: "true"
{{- end }}
{{- end }}
{{- end }}

{{- define "gpumeter.kafkaVolumeMounts" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.tls.enabled $k.tls.caSecret.name }}
- name: kafka-ca
  mountPath: /etc/gpumeter/kafka-ca
  readOnly: true
{{- end }}
{{- if and $k.tls.enabled $k.tls.clientCertSecret }}
- name: kafka-client
  mountPath: /etc/gpumeter/kafka-client
  readOnly: true
{{- end }}
{{- if $k.sasl.mechanism }}
- name: kafka-sasl
  mountPath: /etc/gpumeter/kafka-sasl
  readOnly: true
{{- end }}
{{- end }}

{{- define "gpumeter.kafkaVolumes" -}}
{{- $k := .Values.kafka -}}
{{- if and $k.tls.enabled $k.tls.caSecret.name }}
- name: kafka-ca
  secret:
    secretName: {{ $k.tls.caSecret.name }}
    items:
      - key: {{ $k.tls.caSecret.key }}
        path: {{ $k.tls.caSecret.key }}
{{- end }}
{{- if and $k.tls.enabled $k.tls.clientCertSecret }}
- name: kafka-client
  secret:
    secretName: {{ $k.tls.clientCertSecret }}
    items:
      - key: tls.crt
        path: tls.crt
      - key: tls.key
        path: tls.key
{{- end }}
{{- if $k.sasl.mechanism }}
- name: kafka-sasl
  secret:
    secretName: {{ required "kafka.sasl.passwordSecret.name is required with kafka.sasl.mechanism" $k.sasl.passwordSecret.name }}
    items:
      - key: {{ $k.sasl.passwordSecret.key }}
        path: {{ $k.sasl.passwordSecret.key }}
{{- end }}
{{- end }}

{{/* ClickHouse connection environment: (list . "collector") or (list . "migrate"). The migration Job connects as
the migration user when there is one; the collector as clickhouse.user, migrating at start as the migration user. */}}
{{- define "gpumeter.clickhouseEnv" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $c := $root.Values.clickhouse -}}
{{- $m := $c.migration -}}
- name: GPUMETER_CLICKHOUSE_ADDR
  value: {{ include "gpumeter.csv" $c.addr | quote }}
- name: GPUMETER_CLICKHOUSE_DATABASE
  value: {{ $c.database | quote }}
{{- if and (eq $component "migrate") $m.user }}
- name: GPUMETER_CLICKHOUSE_USER
  value: {{ $m.user | quote }}
{{- if $m.passwordSecret.name }}
- name: GPUMETER_CLICKHOUSE_PASSWORD_FILE
  value: /etc/gpumeter/clickhouse-migration/{{ $m.passwordSecret.key }}
{{- end }}
{{- else }}
- name: GPUMETER_CLICKHOUSE_USER
  value: {{ $c.user | quote }}
{{- if $c.passwordSecret.name }}
- name: GPUMETER_CLICKHOUSE_PASSWORD_FILE
  value: /etc/gpumeter/clickhouse/{{ $c.passwordSecret.key }}
{{- end }}
{{- end }}
{{- if eq $component "collector" }}
{{- if not $root.Values.collector.migrateAtStart }}
- name: GPUMETER_MIGRATE
  value: "false"
{{- else if $m.user }}
- name: GPUMETER_CLICKHOUSE_MIGRATE_USER
  value: {{ $m.user | quote }}
{{- if $m.passwordSecret.name }}
- name: GPUMETER_CLICKHOUSE_MIGRATE_PASSWORD_FILE
  value: /etc/gpumeter/clickhouse-migration/{{ $m.passwordSecret.key }}
{{- end }}
{{- end }}
{{- end }}
{{- if $c.tls.enabled }}
- name: GPUMETER_CLICKHOUSE_TLS
  value: "true"
{{- with $c.tls.serverName }}
- name: GPUMETER_CLICKHOUSE_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- if $c.tls.caSecret.name }}
- name: GPUMETER_CLICKHOUSE_CA_FILE
  value: /etc/gpumeter/clickhouse-ca/{{ $c.tls.caSecret.key }}
{{- end }}
{{- if $c.tls.clientCertSecret }}
- name: GPUMETER_CLICKHOUSE_CERT_FILE
  value: /etc/gpumeter/clickhouse-client/tls.crt
- name: GPUMETER_CLICKHOUSE_KEY_FILE
  value: /etc/gpumeter/clickhouse-client/tls.key
{{- end }}
{{- end }}
- name: GPUMETER_RAW_RETENTION_DAYS
  value: {{ $c.rawRetentionDays | quote }}
{{- if $c.cluster }}
- name: GPUMETER_CLICKHOUSE_CLUSTER
  value: {{ $c.cluster | quote }}
{{- end }}
{{- end }}

{{/* Secrets the ClickHouse connection reads, as files: (list . "collector") or (list . "migrate"). */}}
{{- define "gpumeter.clickhouseSecrets" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
{{- $c := $root.Values.clickhouse -}}
{{- $m := $c.migration -}}
{{- $out := list -}}
{{- $ingest := or (eq $component "collector") (not $m.user) -}}
{{- if and $ingest $c.passwordSecret.name }}
{{- $out = append $out (dict "name" "clickhouse-password" "path" "/etc/gpumeter/clickhouse" "secret" $c.passwordSecret.name "keys" (list $c.passwordSecret.key)) }}
{{- end }}
{{- $migrates := or (eq $component "migrate") $root.Values.collector.migrateAtStart -}}
{{- if and $migrates $m.user $m.passwordSecret.name }}
{{- $out = append $out (dict "name" "clickhouse-migration" "path" "/etc/gpumeter/clickhouse-migration" "secret" $m.passwordSecret.name "keys" (list $m.passwordSecret.key)) }}
{{- end }}
{{- if and $c.tls.enabled $c.tls.caSecret.name }}
{{- $out = append $out (dict "name" "clickhouse-ca" "path" "/etc/gpumeter/clickhouse-ca" "secret" $c.tls.caSecret.name "keys" (list $c.tls.caSecret.key)) }}
{{- end }}
{{- if and $c.tls.enabled $c.tls.clientCertSecret }}
{{- $out = append $out (dict "name" "clickhouse-client" "path" "/etc/gpumeter/clickhouse-client" "secret" $c.tls.clientCertSecret "keys" (list "tls.crt" "tls.key")) }}
{{- end }}
{{- toJson $out -}}
{{- end }}

{{- define "gpumeter.clickhouseVolumeMounts" -}}
{{- range (include "gpumeter.clickhouseSecrets" . | fromJsonArray) }}
- name: {{ .name }}
  mountPath: {{ .path }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "gpumeter.clickhouseVolumes" -}}
{{- range (include "gpumeter.clickhouseSecrets" . | fromJsonArray) }}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    items:
      {{- range .keys }}
      - key: {{ . }}
        path: {{ . }}
      {{- end }}
{{- end }}
{{- end }}

{{/* The web config (TLS, basic auth) of /metrics, /healthz and /readyz: env, mount, volume, probes. */}}
{{- define "gpumeter.webConfigEnv" -}}
{{- with .Values.metricsWebConfig.secret }}
- name: GPUMETER_WEB_CONFIG_FILE
  value: /etc/gpumeter/web/{{ $.Values.metricsWebConfig.key }}
{{- end }}
{{- end }}

{{- define "gpumeter.webConfigVolumeMounts" -}}
{{- if .Values.metricsWebConfig.secret }}
- name: web-config
  mountPath: /etc/gpumeter/web
  readOnly: true
{{- end }}
{{- end }}

{{- define "gpumeter.webConfigVolumes" -}}
{{- with .Values.metricsWebConfig.secret }}
- name: web-config
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}

{{/* A probe: (list . probe). With a web config the kubelet cannot authenticate: an httpGet probe checks the port
instead (exec and tcpSocket probes stay as they are). */}}
{{- define "gpumeter.probe" -}}
{{- $root := index . 0 -}}
{{- $probe := index . 1 -}}
{{- if and $root.Values.metricsWebConfig.secret $probe.httpGet }}
{{- toYaml (set (omit $probe "httpGet") "tcpSocket" (dict "port" ($probe.httpGet.port | default "metrics"))) }}
{{- else }}
{{- toYaml $probe }}
{{- end }}
{{- end }}

{{/* Alertmanager environment and secrets (collector). */}}
{{- define "gpumeter.alertmanagerURLs" -}}
{{- $a := .Values.alertmanager -}}
{{- $urls := $a.urls | default list -}}
{{- if $a.url }}{{ $urls = prepend $urls $a.url }}{{ end -}}
{{- join "," $urls -}}
{{- end }}

{{- define "gpumeter.alertmanagerEnv" -}}
{{- $a := .Values.alertmanager -}}
{{- with (include "gpumeter.alertmanagerURLs" .) }}
- name: GPUMETER_ALERTMANAGER_URL
  value: {{ . | quote }}
{{- end }}
{{- if $a.username }}
{{- $_ := required "alertmanager.passwordSecret.name is required with alertmanager.username" $a.passwordSecret.name }}
- name: GPUMETER_ALERTMANAGER_USERNAME
  value: {{ $a.username | quote }}
- name: GPUMETER_ALERTMANAGER_PASSWORD_FILE
  value: /etc/gpumeter/alertmanager-password/{{ $a.passwordSecret.key }}
{{- end }}
{{- if $a.bearerTokenSecret.name }}
- name: GPUMETER_ALERTMANAGER_BEARER_TOKEN_FILE
  value: /etc/gpumeter/alertmanager-token/{{ $a.bearerTokenSecret.key }}
{{- end }}
{{- if $a.caSecret.name }}
- name: GPUMETER_ALERTMANAGER_CA_FILE
  value: /etc/gpumeter/alertmanager-ca/{{ $a.caSecret.key }}
{{- end }}
{{- end }}

{{- define "gpumeter.alertmanagerVolumeMounts" -}}
{{- range (include "gpumeter.alertmanagerSecrets" . | fromJsonArray) }}
- name: {{ .name }}
  mountPath: {{ .path }}
  readOnly: true
{{- end }}
{{- end }}

{{- define "gpumeter.alertmanagerVolumes" -}}
{{- range (include "gpumeter.alertmanagerSecrets" . | fromJsonArray) }}
- name: {{ .name }}
  secret:
    secretName: {{ .secret }}
    items:
      - key: {{ .key }}
        path: {{ .key }}
{{- end }}
{{- end }}

{{- define "gpumeter.alertmanagerSecrets" -}}
{{- $a := .Values.alertmanager -}}
{{- $out := list -}}
{{- if $a.username }}
{{- $out = append $out (dict "name" "alertmanager-password" "path" "/etc/gpumeter/alertmanager-password" "secret" $a.passwordSecret.name "key" $a.passwordSecret.key) }}
{{- end }}
{{- if $a.bearerTokenSecret.name }}
{{- $out = append $out (dict "name" "alertmanager-token" "path" "/etc/gpumeter/alertmanager-token" "secret" $a.bearerTokenSecret.name "key" $a.bearerTokenSecret.key) }}
{{- end }}
{{- if $a.caSecret.name }}
{{- $out = append $out (dict "name" "alertmanager-ca" "path" "/etc/gpumeter/alertmanager-ca" "secret" $a.caSecret.name "key" $a.caSecret.key) }}
{{- end }}
{{- toJson $out -}}
{{- end }}

{{/* NetworkPolicy: one egress rule: (list peersAndPorts [protocols]). Empty "to": that port to any destination. */}}
{{- define "gpumeter.egressRule" -}}
{{- $r := index . 0 -}}
{{- $protocols := index . 1 -}}
- ports:
    {{- range $r.ports }}
    {{- $port := . }}
    {{- range $protocols }}
    - {port: {{ $port | int }}, protocol: {{ . }}}
    {{- end }}
    {{- end }}
  {{- with $r.to }}
  to:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{/* NetworkPolicy: ingress to the metrics port from the monitoring namespace: (list port from). */}}
{{- define "gpumeter.metricsIngress" -}}
- ports:
    - {port: {{ index . 0 | int }}, protocol: TCP}
  {{- with index . 1 }}
  from:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
