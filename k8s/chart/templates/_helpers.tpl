{{- define "scout.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "scout.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* The dataflow's pods (the StatefulSet's selector, its Services' and its PDB's): not Grafana's or a Job's. */}}
{{- define "scout.dataflowSelector" -}}
{{ include "scout.selectorLabels" . }}
app.kubernetes.io/component: dataflow
{{- end -}}

{{- define "scout.labels" -}}
{{ include "scout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* An image reference from {repository, tag, digest}: the tag, and the digest when given. */}}
{{- define "scout.imageOf" -}}
{{- if .digest -}}
{{ .repository }}:{{ .tag }}@{{ .digest }}
{{- else -}}
{{ .repository }}:{{ .tag }}
{{- end -}}
{{- end -}}

{{- define "scout.image" -}}
{{ include "scout.imageOf" .Values.image }}
{{- end -}}

{{/* Refusals the schema cannot express: named in the message, at helm template/install time. */}}
{{- define "scout.checks" -}}
{{- if gt (int .Values.replicas) (int .Values.recovery.partitions) -}}
{{- fail (printf "replicas (%d) must not exceed recovery.partitions (%d): Bytewax fixes the partitions when the recovery store is created" (int .Values.replicas) (int .Values.recovery.partitions)) -}}
{{- end -}}
{{- if le (float64 .Values.terminationGracePeriodSeconds) (add1 (float64 .Values.snapshotIntervalS | ceil | int) | float64) -}}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed snapshotIntervalS (%v) plus the last flush: a pod stopped before its last epoch is snapshotted redoes it at the resume" .Values.terminationGracePeriodSeconds .Values.snapshotIntervalS) -}}
{{- end -}}
{{- if and (hasPrefix "SASL" .Values.kafka.securityProtocol) (not .Values.kafka.existingSecret) -}}
{{- fail "kafka.existingSecret must name the Secret holding the SASL password when kafka.securityProtocol is SASL_*" -}}
{{- end -}}
{{- end -}}

{{- define "scout.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "scout.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end -}}

{{/* Secrets of every scout container, by reference only (never a value in the chart). */}}
{{- define "scout.secretEnv" -}}
{{- if .Values.clickhouse.existingSecret }}
- name: SCOUT_CLICKHOUSE_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.clickhouse.existingSecret }}
      key: {{ .Values.clickhouse.passwordKey }}
{{- end }}
{{- if .Values.kafka.existingSecret }}
- name: SCOUT_KAFKA__SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.kafka.existingSecret }}
      key: {{ .Values.kafka.saslPasswordKey }}
{{- end }}
{{- end -}}

{{/* Where every pod mounts its recovery volume: the config's recovery_dir and bytewax.run -r. */}}
{{- define "scout.recoveryDir" -}}
/var/lib/scout/recovery
{{- end -}}

{{/* A provisioning file's ConfigMap key: files/grafana/provisioning/alerting/x.yaml → alerting-x.yaml */}}
{{- define "scout.grafanaKey" -}}
{{ base (dir .) }}-{{ base . }}
{{- end -}}

{{/* Grafana's Secrets: its pod would not start without them, so helm refuses first. */}}
{{- define "scout.grafanaChecks" -}}
{{- range $key := list "adminSecret" "alertingSecret" }}
{{- if not (index $.Values.grafana $key) }}
{{- fail (printf "grafana.%s must name a Secret when grafana.enabled (k8s/README.md, \"Secrets\")" $key) }}
{{- end }}
{{- end }}
{{- if not .Values.grafana.clickhouse.existingSecret }}
{{- fail "grafana.clickhouse.existingSecret must name the Secret holding the read-only ClickHouse user's password when grafana.enabled" }}
{{- end }}
{{- end -}}

{{/* CA bundles of private CAs, from Secrets, as files (a root of their own: not inside the read-only config volume). */}}
{{- define "scout.clickhouseCa" -}}
/etc/scout-tls/clickhouse/{{ .Values.clickhouse.caKey }}
{{- end -}}

{{- define "scout.kafkaCa" -}}
/etc/scout-tls/kafka/{{ .Values.kafka.caKey }}
{{- end -}}

{{/* What every scout container mounts: /tmp (the root filesystem is read-only) and the CA bundles. */}}
{{- define "scout.runtimeMounts" -}}
- {name: tmp, mountPath: /tmp}
{{- if .Values.clickhouse.caSecret }}
- {name: clickhouse-ca, mountPath: /etc/scout-tls/clickhouse, readOnly: true}
{{- end }}
{{- if .Values.kafka.caSecret }}
- {name: kafka-ca, mountPath: /etc/scout-tls/kafka, readOnly: true}
{{- end }}
{{- end -}}

{{- define "scout.runtimeVolumes" -}}
- name: tmp
  emptyDir: {}
{{- if .Values.clickhouse.caSecret }}
- name: clickhouse-ca
  secret:
    secretName: {{ .Values.clickhouse.caSecret }}
    items: [{key: {{ .Values.clickhouse.caKey }}, path: {{ .Values.clickhouse.caKey }}}]
{{- end }}
{{- if .Values.kafka.caSecret }}
- name: kafka-ca
  secret:
    secretName: {{ .Values.kafka.caSecret }}
    items: [{key: {{ .Values.kafka.caKey }}, path: {{ .Values.kafka.caKey }}}]
{{- end }}
{{- end -}}

{{/* Each stream's Kafka topic: the values' topics over the SPEC §2 names (dataflows.config.Topics, kept
equal by tests/k8s/test_chart_operators.py). */}}
{{- define "scout.topics" -}}
{{- $defaults := dict "stt" "eh-pi-stt-raw" "visual" "eh-pi-visual-stream" "heartbeat" "eh-device-heartbeat" "feedback" "eh-insight-feedback" "annotated" "eh-pi-annotated-events" "dead_letter" "scout-dead-letter" -}}
{{- toYaml (merge (deepCopy .Values.topics) $defaults) -}}
{{- end -}}
