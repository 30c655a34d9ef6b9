{{/*
Chart name.
*/}}
{{- define "mlflow.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name of the release's MLflow server; also the name of its Service.
*/}}
{{- define "mlflow.fullname" -}}
{{- if contains .Chart.Name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
Name of the in-cluster PostgreSQL StatefulSet and of its headless Service. Cut to 52
characters so that the StatefulSet's controller-revision-hash label stays within 63.
*/}}
{{- define "mlflow.postgresFullname" -}}
{{- printf "%s-postgres" (include "mlflow.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{/*
Chart label value.
*/}}
{{- define "mlflow.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels. Call with (dict "context" $ "component" "<component>").
*/}}
{{- define "mlflow.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mlflow.name" .context }}
app.kubernetes.io/instance: {{ .context.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/*
Common labels. Call with (dict "context" $ "component" "<component>").
*/}}
{{- define "mlflow.labels" -}}
helm.sh/chart: {{ include "mlflow.chart" .context }}
{{ include "mlflow.selectorLabels" . }}
app.kubernetes.io/version: {{ .context.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: mlops-platform
app.kubernetes.io/managed-by: {{ .context.Release.Service }}
{{- end }}

{{/*
Stops rendering with a message saying how to fix each required value that is missing.
*/}}
{{- define "mlflow.validateValues" -}}
{{- if and .Values.tenants.identities (not .Values.workspaces.enabled) }}
{{- fail "tenants.identities needs workspaces.enabled: true (each tenant is a workspace)" }}
{{- end }}
{{- if and .Values.tenants.identities (not .Values.tenants.passwordsSecret) }}
{{- fail "tenants.identities needs tenants.passwordsSecret: a Secret with one key per editor and reader user (its password)" }}
{{- end }}
{{- range .Values.tenants.identities }}
{{- if not (and (hasPrefix $.Values.tenants.userPrefix .editor) (hasPrefix $.Values.tenants.userPrefix .reader)) }}
{{- fail (printf "tenants.identities: users %s and %s must start with tenants.userPrefix %q" .editor .reader $.Values.tenants.userPrefix) }}
{{- end }}
{{- end }}
{{- if not .Values.auth.existingSecret }}
{{- fail "auth.existingSecret is required: set it to the name of a Secret with keys admin-username, admin-password and flask-secret-key" }}
{{- end }}
{{- if not .Values.backendStore.existingSecret }}
{{- fail "backendStore.existingSecret is required: set it to the name of a Secret with key postgres-password (or key dsn when backendStore.external is true)" }}
{{- end }}
{{- if not .Values.artifacts.bucket }}
{{- fail "artifacts.bucket is required: set it to the bucket MLflow stores artifacts in" }}
{{- end }}
{{- if not .Values.artifacts.s3EndpointUrl }}
{{- fail "artifacts.s3EndpointUrl is required: set it to the S3 API URL of the object store, e.g. http://seaweedfs.mlops-storage.svc:8333" }}
{{- end }}
{{- if not .Values.artifacts.existingSecret }}
{{- fail "artifacts.existingSecret is required: set it to the name of a Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.host is required when ingress.enabled is true: set it to the host name MLflow is served at, or set ingress.enabled to false" }}
{{- end }}
{{- end }}

{{/*
Reference of the MLflow server image.
*/}}
{{- define "mlflow.image" -}}
{{- printf "%s:%s" .Values.image.repository .Values.image.tag }}
{{- end }}

{{/*
Reference of the PostgreSQL image.
*/}}
{{- define "mlflow.postgresImage" -}}
{{- printf "%s:%s" .Values.backendStore.postgres.image.repository .Values.backendStore.postgres.image.tag }}
{{- end }}

{{/*
Value of --allowed-hosts. Giving the flag replaces MLflow's default list, so its loopback and
private IPv4 entries (what port-forwards and NodePort clients send) are kept and the Service's
DNS names and the Ingress host are added, each with and without a port.
*/}}
{{- define "mlflow.allowedHosts" -}}
{{- $service := include "mlflow.fullname" . }}
{{- $namespaced := printf "%s.%s" $service .Release.Namespace }}
{{- $hosts := list $service $namespaced (printf "%s.svc" $namespaced) (printf "%s.svc.*" $namespaced) }}
{{- if .Values.ingress.enabled }}
{{- $hosts = append $hosts .Values.ingress.host }}
{{- end }}
{{- $hosts = concat $hosts (list "localhost" "127.0.0.1" "[::1]") }}
{{- $allowed := list }}
{{- range $hosts }}
{{- $allowed = append $allowed . }}
{{- if not (contains "*" .) }}
{{- $allowed = append $allowed (printf "%s:*" (. | replace "[" "[[]")) }}
{{- end }}
{{- end }}
{{- $allowed = concat $allowed (list "10.*" "192.168.*") }}
{{- range $octet := untilStep 16 32 1 }}
{{- $allowed = append $allowed (printf "172.%d.*" $octet) }}
{{- end }}
{{- join "," $allowed }}
{{- end }}

{{/*
Environment of every container that talks to the backend store. MLFLOW_BACKEND_STORE_URI is
also what `mlflow server` reads, which keeps the password out of its command line. In-cluster,
the URI is assembled from the password with Kubernetes' $(VAR) expansion, so the password only
ever lives in the Secret.
*/}}
{{- define "mlflow.backendStoreEnv" -}}
{{- if .Values.backendStore.external -}}
- name: MLFLOW_BACKEND_STORE_URI
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backendStore.existingSecret | quote }}
      key: dsn
{{- else -}}
- name: POSTGRES_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.backendStore.existingSecret | quote }}
      key: postgres-password
- name: MLFLOW_BACKEND_STORE_URI
  value: {{ printf "postgresql://mlflow:$(POSTGRES_PASSWORD)@%s:5432/mlflow" (include "mlflow.postgresFullname" .) | quote }}
{{- end }}
{{- end }}

{{/*
AUTH_DATABASE_URI, the database of the basic-auth app's users and permissions; follows
mlflow.backendStoreEnv. In-cluster it is the separate database mlflow_auth; an external
server's DSN is shared, where the auth tables keep their own alembic_version_auth table.
*/}}
{{- define "mlflow.authDatabaseEnv" -}}
- name: AUTH_DATABASE_URI
{{- if .Values.backendStore.external }}
  value: $(MLFLOW_BACKEND_STORE_URI)
{{- else }}
  value: {{ printf "postgresql://mlflow:$(POSTGRES_PASSWORD)@%s:5432/mlflow_auth" (include "mlflow.postgresFullname" .) | quote }}
{{- end }}
{{- end }}

{{/*
Environment every MLflow container shares: a writable HOME (the root file system is
read-only and uid 1000 has no home directory) and no usage telemetry leaving the cluster.
*/}}
{{- define "mlflow.commonEnv" -}}
- name: HOME
  value: /tmp
- name: MLFLOW_DISABLE_TELEMETRY
  value: "true"
{{- end }}
