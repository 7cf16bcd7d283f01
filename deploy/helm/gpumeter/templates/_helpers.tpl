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

{{/* ClickHouse connection environment (collector and migration Job). */}}
{{- define "gpumeter.clickhouseEnv" -}}
{{- $c := .Values.clickhouse -}}
- name: GPUMETER_CLICKHOUSE_ADDR
  value: {{ include "gpumeter.csv" $c.addr | quote }}
- name: GPUMETER_CLICKHOUSE_DATABASE
  value: {{ $c.database | quote }}
- name: GPUMETER_CLICKHOUSE_USER
  value: {{ $c.user | quote }}
{{- if $c.passwordSecret.name }}
- name: GPUMETER_CLICKHOUSE_PASSWORD_FILE
  value: /etc/gpumeter/clickhouse/{{ $c.passwordSecret.key }}
{{- end }}
- name: GPUMETER_RAW_RETENTION_DAYS
  value: {{ $c.rawRetentionDays | quote }}
{{- if $c.cluster }}
- name: GPUMETER_CLICKHOUSE_CLUSTER
  value: {{ $c.cluster | quote }}
{{- end }}
{{- end }}

{{- define "gpumeter.clickhouseVolumeMounts" -}}
{{- if .Values.clickhouse.passwordSecret.name }}
- name: clickhouse-password
  mountPath: /etc/gpumeter/clickhouse
  readOnly: true
{{- end }}
{{- end }}

{{- define "gpumeter.clickhouseVolumes" -}}
{{- $c := .Values.clickhouse -}}
{{- if $c.passwordSecret.name }}
- name: clickhouse-password
  secret:
    secretName: {{ $c.passwordSecret.name }}
    items:
      - key: {{ $c.passwordSecret.key }}
        path: {{ $c.passwordSecret.key }}
{{- end }}
{{- end }}
