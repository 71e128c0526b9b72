{{- define "gatewarden.name" -}}
{{- .Values.nameOverride | default .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "gatewarden.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gatewarden.labels" -}}
app.kubernetes.io/name: {{ include "gatewarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: gatewarden
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gatewarden.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gatewarden.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* clientConfig of a webhook: a URL for an external server, else the Service. */}}
{{- define "gatewarden.clientConfig" -}}
clientConfig:
{{- if .root.Values.webhook.url }}
  url: {{ printf "%s%s" (trimSuffix "/" .root.Values.webhook.url) .path | quote }}
{{- else }}
  service:
    name: {{ include "gatewarden.fullname" .root }}
    namespace: {{ .root.Release.Namespace }}
    path: {{ .path | quote }}
    port: 443
{{- end }}
{{- if .root.Values.webhook.caBundle }}
  caBundle: {{ .root.Values.webhook.caBundle }}
{{- end }}
{{- end -}}

{{/* What the webhooks intercept: every kind and served version. */}}
{{- define "gatewarden.rules" -}}
rules:
- apiGroups: ["gateway.kyma-project.io"]
  apiVersions: ["v2", "v2alpha1", "v1beta1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["apirules"]
  scope: Namespaced
- apiGroups: ["networking.istio.io"]
  apiVersions: ["v1", "v1beta1", "v1alpha3"]
  operations: ["CREATE", "UPDATE"]
  resources: ["gateways"]
  scope: Namespaced
- apiGroups: ["security.istio.io"]
  apiVersions: ["v1", "v1beta1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["requestauthentications", "authorizationpolicies"]
  scope: Namespaced
- apiGroups: ["gatewarden.io"]
  apiVersions: ["v1alpha1"]
  operations: ["CREATE", "UPDATE"]
  resources: ["gatewardenexceptions"]
  scope: Namespaced
{{- end -}}

{{- define "gatewarden.namespaceSelector" -}}
namespaceSelector:
  matchExpressions:
  - key: kubernetes.io/metadata.name
    operator: NotIn
    values: {{ concat (list "kube-system" .Release.Namespace) .Values.webhook.excludeNamespaces | uniq | toJson }}
  - key: {{ .Values.config.namespaceLabel | default "gatewarden.io/enforcement" }}
    operator: NotIn
    values: ["off"]
{{- end -}}

{{- define "gatewarden.webhookCommon" -}}
admissionReviewVersions: ["v1"]
sideEffects: None
timeoutSeconds: {{ .Values.webhook.timeoutSeconds }}
failurePolicy: {{ .Values.webhook.failurePolicy }}
matchPolicy: Equivalent
{{- end -}}

{{- define "gatewarden.caInjection" -}}
{{- if and .Values.certManager.enabled (not .Values.webhook.url) }}
annotations:
  cert-manager.io/inject-ca-from: {{ printf "%s/%s" .Release.Namespace (include "gatewarden.fullname" .) }}
{{- end }}
{{- end -}}

{{/* Everything below is for the in-cluster server (no webhook.url). */}}
{{- define "gatewarden.inCluster" -}}
{{- if not .Values.webhook.url }}true{{ end -}}
{{- end -}}

{{- define "gatewarden.selfManagedCerts" -}}
{{- if and (not .Values.webhook.url) (not .Values.certManager.enabled) }}true{{ end -}}
{{- end -}}

{{- define "gatewarden.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "gatewarden.fullname" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "gatewarden.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/* Secret with the self-managed CA and serving certificate. */}}
{{- define "gatewarden.certSecret" -}}
{{- printf "%s-cert" (include "gatewarden.fullname" .) -}}
{{- end -}}

{{/* Secret cert-manager writes the serving certificate to. */}}
{{- define "gatewarden.tlsSecret" -}}
{{- printf "%s-tls" (include "gatewarden.fullname" .) -}}
{{- end -}}

{{- define "gatewarden.dnsNames" -}}
- {{ printf "%s.%s.svc" (include "gatewarden.fullname" .) .Release.Namespace }}
- {{ printf "%s.%s.svc.cluster.local" (include "gatewarden.fullname" .) .Release.Namespace }}
{{- end -}}

{{/* The webhook has to stop serving before the kubelet kills it. */}}
{{- define "gatewarden.terminationGracePeriodSeconds" -}}
{{- $delay := int .Values.shutdownDelaySeconds -}}
{{- $grace := .Values.terminationGracePeriodSeconds | default (add $delay 25) | int -}}
{{- if le $grace (add $delay 10) -}}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed shutdownDelaySeconds + 10 (%d): gatewarden keeps serving for the delay, then drains for up to 10 s" $grace (add $delay 10)) -}}
{{- end -}}
{{- $grace -}}
{{- end -}}

{{/* The API server's own timeout must not fire before gatewarden answers:
the admission budget (fetches included) stays below webhook.timeoutSeconds. */}}
{{- define "gatewarden.admissionBudget" -}}
{{- $b := .Values.admissionBudget -}}
{{- $ms := 0 -}}
{{- if regexMatch "^[0-9]+ms$" $b -}}
{{- $ms = int (trimSuffix "ms" $b) -}}
{{- else if regexMatch "^[0-9]+(\\.[0-9]+)?s$" $b -}}
{{- $ms = mulf (float64 (trimSuffix "s" $b)) 1000 | int -}}
{{- else -}}
{{- fail (printf "admissionBudget %q: give it in seconds or milliseconds, e.g. 3s or 2500ms" $b) -}}
{{- end -}}
{{- $limit := mul (int .Values.webhook.timeoutSeconds) 1000 -}}
{{- if ge $ms $limit -}}
{{- fail (printf "admissionBudget (%s) must be below webhook.timeoutSeconds (%ds): otherwise the API server gives up before gatewarden answers and failurePolicy decides instead" $b (int .Values.webhook.timeoutSeconds)) -}}
{{- end -}}
{{- $b -}}
{{- end -}}

{{/* A byte count from a number or a quantity string (32Mi, 64M, 33554432). */}}
{{- define "gatewarden.bytes" -}}
{{- $v := .value -}}
{{- if kindIs "float64" $v -}}{{- $v = int64 $v | toString -}}{{- else -}}{{- $v = toString $v -}}{{- end -}}
{{- $re := "^([0-9]+)(Ki|Mi|Gi|Ti|k|K|M|G|T)?$" -}}
{{- if not (regexMatch $re $v) -}}
{{- fail (printf "%s %q: give a byte count such as 33554432 or 32Mi" .name $v) -}}
{{- end -}}
{{- $units := dict "" 1 "Ki" 1024 "Mi" 1048576 "Gi" 1073741824 "Ti" 1099511627776 "k" 1000 "K" 1000 "M" 1000000 "G" 1000000000 "T" 1000000000000 -}}
{{- mul (int64 (regexReplaceAll $re $v "${1}")) (get $units (regexReplaceAll $re $v "${2}")) -}}
{{- end -}}

{{/* The trust cache, cached failures included (a quarter more), must stay
under half of the memory limit: the rest is the process, its informers and
the admissions in flight. */}}
{{- define "gatewarden.trustCacheMaxBytes" -}}
{{- $cache := include "gatewarden.bytes" (dict "name" "trust.cacheMaxBytes" "value" .Values.trust.cacheMaxBytes) | int64 -}}
{{- if le $cache 0 -}}
{{- fail "trust.cacheMaxBytes must be positive" -}}
{{- end -}}
{{- $limit := dig "limits" "memory" "" (.Values.resources | default dict) -}}
{{- if $limit -}}
{{- $limitBytes := include "gatewarden.bytes" (dict "name" "resources.limits.memory" "value" $limit) | int64 -}}
{{- if gt (div (mul $cache 5) 4) (div $limitBytes 2) -}}
{{- fail (printf "trust.cacheMaxBytes (%s) with its quarter for cached failures exceeds half of resources.limits.memory (%s): lower the cache or raise the limit" (toString .Values.trust.cacheMaxBytes) (toString $limit)) -}}
{{- end -}}
{{- end -}}
{{- $cache -}}
{{- end -}}

{{/* Who may set the enforcement label, in words for the denial message. */}}
{{- define "gatewarden.labelAdmins" -}}
{{- $who := list -}}
{{- range .Values.enforcementLabelPolicy.allowedGroups }}{{ $who = append $who (printf "members of %s" .) }}{{ end -}}
{{- range .Values.enforcementLabelPolicy.allowedUsers }}{{ $who = append $who . }}{{ end -}}
{{- $who = append $who (printf "users allowed to update enforcementlabels.gatewarden.io (cluster-admin, or a binding to ClusterRole %s-enforcement-label-admin)" (include "gatewarden.fullname" .)) -}}
{{- join " and " $who -}}
{{- end -}}
