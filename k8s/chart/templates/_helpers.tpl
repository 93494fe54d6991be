{{- define "scout.fullname" -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}

{{- define "scout.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "scout.labels" -}}
{{ include "scout.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "scout.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}
{{- end -}}

{{/* Refusals the schema cannot express: named in the message, at helm template/install time. */}}
{{- define "scout.checks" -}}
{{- if gt (int .Values.replicas) (int .Values.recovery.partitions) -}}
{{- fail (printf "replicas (%d) must not exceed recovery.partitions (%d): Bytewax fixes the partitions when the recovery store is created" (int .Values.replicas) (int .Values.recovery.partitions)) -}}
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

{{/* Where every pod mounts its recovery volume: the config's recovery_dir, bytewax.run -r, the init container's. */}}
{{- define "scout.recoveryDir" -}}
/var/lib/scout/recovery
{{- end -}}
