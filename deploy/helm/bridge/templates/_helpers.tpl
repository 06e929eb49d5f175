{{/* Names ------------------------------------------------------------------- */}}
{{- define "bridge.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "bridge.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "bridge.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "bridge.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "bridge.configMapName" -}}
{{- printf "%s-config" (include "bridge.fullname" .) -}}
{{- end -}}

{{- define "bridge.secretName" -}}
{{- default (printf "%s-secret" (include "bridge.fullname" .)) .Values.secret.existingSecret -}}
{{- end -}}

{{/* Labels ------------------------------------------------------------------ */}}
{{- define "bridge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "bridge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: bridge
{{- end -}}

{{- define "bridge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "bridge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one component: web, worker, beat or migrate. Call with (list $ "web"). */}}
{{- define "bridge.componentLabels" -}}
{{- $ := index . 0 -}}
{{ include "bridge.labels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "bridge.componentSelector" -}}
{{- $ := index . 0 -}}
{{ include "bridge.selectorLabels" $ }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{/* Image ------------------------------------------------------------------- */}}
{{- define "bridge.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag must be a pinned version, not \"latest\"" -}}
{{- end -}}
{{- printf "%s:%s" .Values.image.repository $tag -}}
{{- end -}}
{{- end -}}

{{/* The first host of ALLOWED_HOSTS: the Host header of HTTP probes (Django refuses others). */}}
{{- define "bridge.probeHost" -}}
{{- $hosts := required "config.ALLOWED_HOSTS is required: the host names Bridge answers to" .Values.config.ALLOWED_HOSTS -}}
{{- $first := splitList "," $hosts | first | trim | trimPrefix "." -}}
{{- if or (eq $first "") (eq $first "*") -}}localhost{{- else -}}{{ $first }}{{- end -}}
{{- end -}}

{{/* Pod-level pieces shared by every Bridge pod. ---------------------------- */}}
{{- define "bridge.podAnnotations" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret: {{ include (print .Template.BasePath "/secret.yaml") . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "bridge.podSpecCommon" -}}
serviceAccountName: {{ include "bridge.serviceAccountName" . }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- end -}}

{{- define "bridge.containerCommon" -}}
image: {{ include "bridge.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
envFrom:
  - configMapRef:
      name: {{ include "bridge.configMapName" . }}
  - secretRef:
      name: {{ include "bridge.secretName" . }}
{{- if .Values.kubeconfigSecret }}
env:
  - name: KUBECONFIG
    value: /etc/bridge/kubeconfig/config
{{- end }}
volumeMounts:
  - name: state
    mountPath: /var/lib/bridge
  - name: media
    mountPath: /var/lib/bridge/media
  - name: tmp
    mountPath: /tmp
{{- if .Values.kubeconfigSecret }}
  - name: kubeconfig
    mountPath: /etc/bridge/kubeconfig
    readOnly: true
{{- end }}
{{- end -}}

{{- define "bridge.volumes" -}}
volumes:
  - name: state
    emptyDir:
      sizeLimit: {{ .Values.scratch.sizeLimit }}
  - name: tmp
    emptyDir:
      sizeLimit: {{ .Values.scratch.sizeLimit }}
  - name: media
  {{- if .Values.mediaExistingClaim }}
    persistentVolumeClaim:
      claimName: {{ .Values.mediaExistingClaim }}
  {{- else }}
    emptyDir: {}
  {{- end }}
{{- if .Values.kubeconfigSecret }}
  - name: kubeconfig
    secret:
      secretName: {{ .Values.kubeconfigSecret }}
      defaultMode: 0440
{{- end }}
{{- end -}}

{{/* Resources created before the migration hook must be hooks themselves (configmap, secret, account). */}}
{{- define "bridge.preHookAnnotations" -}}
helm.sh/hook: pre-install,pre-upgrade
helm.sh/hook-weight: "-10"
helm.sh/hook-delete-policy: before-hook-creation
{{- end -}}
