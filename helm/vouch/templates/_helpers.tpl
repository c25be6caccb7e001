{{/* The chart name, or nameOverride. */}}
{{- define "vouch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* "<release>-<chart>", or fullnameOverride; the release name alone when it already holds the chart name. */}}
{{- define "vouch.fullname" -}}
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

{{- define "vouch.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "vouch.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "vouch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vouch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vouch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vouch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
terminationGracePeriodSeconds: Kubernetes kills the pod that long after SIGTERM, so it must cover
the drain and then the longer of the REST and gRPC grace periods (gRPC adds 5 s to cancel what is
left), plus a margin for the JVM to exit. Both phases run one after the other.
*/}}
{{- define "vouch.minimumGracePeriod" -}}
{{- $s := .Values.shutdown }}
{{- add $s.drainDelaySeconds (max $s.timeoutPerShutdownPhaseSeconds (add $s.grpcGraceSeconds 5)) 5 }}
{{- end }}

{{- define "vouch.terminationGracePeriodSeconds" -}}
{{- $s := .Values.shutdown }}
{{- $minimum := include "vouch.minimumGracePeriod" . | atoi }}
{{- if ge (int $s.drainDelaySeconds) (int $s.timeoutPerShutdownPhaseSeconds) }}
{{- fail (printf "shutdown.drainDelaySeconds (%d) must be below shutdown.timeoutPerShutdownPhaseSeconds (%d): Spring stops waiting for a shutdown phase after that long" (int $s.drainDelaySeconds) (int $s.timeoutPerShutdownPhaseSeconds)) }}
{{- end }}
{{- if eq (int $s.terminationGracePeriodSeconds) 0 }}
{{- $minimum }}
{{- else if lt (int $s.terminationGracePeriodSeconds) $minimum }}
{{- fail (printf "shutdown.terminationGracePeriodSeconds (%d) is too short: the drain (%d s) and the grace periods (REST %d s, gRPC %d+5 s) need at least %d s" (int $s.terminationGracePeriodSeconds) (int $s.drainDelaySeconds) (int $s.timeoutPerShutdownPhaseSeconds) (int $s.grpcGraceSeconds) $minimum) }}
{{- else }}
{{- $s.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/*
The pod's application.yaml: Vouch's settings from values plus what the chart owns (ports, data
directory, shutdown). Credentials must come from Secrets: every ${NAME} in it must be an
environment variable of the container, and auth passwords, bearer tokens and credential-like
headers must be such references, never literal values.
*/}}
{{- define "vouch.applicationYaml" -}}
{{- $vouch := deepCopy .Values.vouch }}
{{- $_ := set $vouch "data-dir" .Values.persistence.mountPath }}
{{- $grpc := get $vouch "grpc" | default dict }}
{{- $_ = set $grpc "port" .Values.ports.grpc }}
{{- $_ = set $grpc "shutdown-grace-seconds" .Values.shutdown.grpcGraceSeconds }}
{{- $_ = set $vouch "grpc" $grpc }}
{{- $_ = set $vouch "shutdown" (dict "drain-delay" (printf "%ds" (int .Values.shutdown.drainDelaySeconds))) }}
{{- range $i, $b := $vouch.backends }}
{{- if $b.auth }}
{{- range $key := list "password" "bearer-token" }}
{{- $v := index $b.auth $key | default "" | toString }}
{{- if and $v (not (regexMatch "^\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}$" $v)) }}
{{- fail (printf "vouch.backends[%d].auth.%s must be a ${NAME} reference to a secretEnv entry, not the credential itself" $i $key) }}
{{- end }}
{{- end }}
{{- end }}
{{- range $header, $v := $b.headers }}
{{- if and (regexMatch "(?i)^(authorization|.*(token|key|secret|password).*)$" $header) (not (regexMatch "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}" (toString $v))) }}
{{- fail (printf "vouch.backends[%d].headers.%s must use a ${NAME} reference to a secretEnv entry, not hold the credential itself" $i $header) }}
{{- end }}
{{- end }}
{{- end }}
{{- $config := dict "server" (dict "port" .Values.ports.http) "spring" (dict "lifecycle" (dict "timeout-per-shutdown-phase" (printf "%ds" (int .Values.shutdown.timeoutPerShutdownPhaseSeconds)))) "vouch" $vouch }}
{{- $yaml := toYaml $config }}
{{- $envNames := list }}
{{- range .Values.secretEnv }}{{ $envNames = append $envNames .name }}{{ end }}
{{- range .Values.extraEnv }}{{ $envNames = append $envNames .name }}{{ end }}
{{- range regexFindAll "\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}" $yaml -1 }}
{{- $name := trimSuffix "}" (trimPrefix "${" .) }}
{{- if not (has $name $envNames) }}
{{- fail (printf "the config references ${%s}, but neither secretEnv nor extraEnv defines %s" $name $name) }}
{{- end }}
{{- end }}
{{- $yaml }}
{{- end }}
