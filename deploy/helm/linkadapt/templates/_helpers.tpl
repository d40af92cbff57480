{{/*
Name of the chart, truncated to the 63 characters of a DNS label.
*/}}
{{- define "linkadapt.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Resource name prefix: the release name, suffixed with the chart name unless it already
holds it. 58 characters at most, so "<fullname>-grpc" and "<fullname>-http" fit a label.
*/}}
{{- define "linkadapt.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 58 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 58 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 58 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Label key that lets a pod through the NetworkPolicy: "<fullname>-client", the
fullname cut to 56 characters so that the key fits the 63 of a label name.
*/}}
{{- define "linkadapt.clientLabel" -}}
{{- printf "%s-client" (include "linkadapt.fullname" . | trunc 56 | trimSuffix "-") -}}
{{- end -}}

{{- define "linkadapt.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Labels every resource carries, rendered from one map so that each key appears once.
Precedence: the selector labels (never overridden: validateValues refuses them in
commonLabels and podLabels), then the caller's extra labels, then commonLabels, then
the other built-in labels. Call with the root context, or through labelsWith.
*/}}
{{- define "linkadapt.labels" -}}
{{- include "linkadapt.labelsWith" (dict "root" . "extra" dict) -}}
{{- end -}}

{{/*
The labels above plus extra ones: (dict "root" $ "extra" MAP).
*/}}
{{- define "linkadapt.labelsWith" -}}
{{- $root := .root -}}
{{- $builtIn := dict
  "helm.sh/chart" (include "linkadapt.chart" $root)
  "app.kubernetes.io/version" ($root.Chart.AppVersion | toString)
  "app.kubernetes.io/managed-by" $root.Release.Service
  "app.kubernetes.io/part-of" "near-rt-ric"
-}}
{{- $selector := include "linkadapt.selectorLabels" $root | fromYaml -}}
{{- toYaml (merge (dict) $selector (default dict .extra) (default dict $root.Values.commonLabels) $builtIn) -}}
{{- end -}}

{{/*
Labels selecting the xApp pods (never change them: Deployment selectors are immutable).
*/}}
{{- define "linkadapt.selectorLabels" -}}
{{- toYaml (dict
  "app.kubernetes.io/name" (include "linkadapt.name" .)
  "app.kubernetes.io/instance" .Release.Name
  "app.kubernetes.io/component" "xapp") -}}
{{- end -}}

{{/*
The image reference: registry/repository, then @digest or :tag (default appVersion).
*/}}
{{- define "linkadapt.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" .Values.image.registry .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{- define "linkadapt.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "linkadapt.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/*
The secret holding the admin token, and whether the chart creates it.
*/}}
{{- define "linkadapt.secretName" -}}
{{- default (printf "%s-admin" (include "linkadapt.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "linkadapt.createSecret" -}}
{{- if and .Values.auth.enabled (not .Values.auth.existingSecret) -}}true{{- end -}}
{{- end -}}

{{/*
A PodDisruptionBudget field as text, "" when unset: 0 (a number) is kept, where
`default` and `if` would take it for empty. Call with (dict "values" .Values.pdb "key" NAME).
*/}}
{{- define "linkadapt.pdbValue" -}}
{{- if hasKey .values .key -}}
{{- $value := index .values .key -}}
{{- if kindIs "string" $value -}}{{ $value }}{{- else if not (kindIs "invalid" $value) -}}{{ int64 $value }}{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Checksum of the created Secret's stable inputs (never of secret.yaml itself: its
generated token is random on every render without a cluster, and a lookup keeps it
across upgrades anyway), so that only a given token's change rolls the pods.
*/}}
{{- define "linkadapt.secretChecksum" -}}
{{- printf "%s\n%s\n%s" (include "linkadapt.secretName" .) .Values.auth.existingSecretKey .Values.auth.adminToken | sha256sum -}}
{{- end -}}

{{/*
"true" when the model store is a claim only one node can attach: the chart's own claim
with a ReadWriteOnce or ReadWriteOncePod access mode, or an existing claim (its access
modes are unknown here, so it is taken as ReadWriteOnce).
*/}}
{{- define "linkadapt.storeAttachesOnce" -}}
{{- $p := .Values.persistence -}}
{{- $modes := include "linkadapt.storeAccessModes" . | fromYamlArray -}}
{{- if and $p.enabled (or $p.existingClaim (has "ReadWriteOnce" $modes) (has "ReadWriteOncePod" $modes)) -}}true{{- end -}}
{{- end -}}

{{/*
Access modes of the chart's model store claim: the live claim's on an upgrade (the API
server refuses to change them, so a release installed with ReadWriteOnce keeps it, and its
strategy with it, until the store is migrated), else persistence.accessModes. `helm
template` looks nothing up and renders persistence.accessModes.
*/}}
{{- define "linkadapt.storeAccessModes" -}}
{{- $live := lookup "v1" "PersistentVolumeClaim" .Release.Namespace (include "linkadapt.claimName" .) -}}
{{- if and $live $live.spec $live.spec.accessModes -}}
{{- toYaml $live.spec.accessModes -}}
{{- else -}}
{{- toYaml .Values.persistence.accessModes -}}
{{- end -}}
{{- end -}}

{{/*
The Deployment strategy: updateStrategy when given; else, when the model store attaches
to one node only, a rolling update with no surge (maxSurge 0, maxUnavailable 1): the old
pod stops and releases the volume before the new one starts, where a surge pod scheduled
on another node would wait for the volume forever (Multi-Attach, a rollout that never
ends). Not Recreate: chart 0.1.0 rendered {type: RollingUpdate}, so a live Deployment
carries the defaulted rollingUpdate, which Helm's three-way merge patch keeps and the API
server refuses next to type Recreate (helm/helm#5144). Else (a shared store, or none) a
surge of one and no pod unavailable: a new pod is ready before an old one stops.
*/}}
{{- define "linkadapt.updateStrategy" -}}
{{- if .Values.updateStrategy -}}
{{- toYaml .Values.updateStrategy -}}
{{- else if eq (include "linkadapt.storeAttachesOnce" .) "true" -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 0
  maxUnavailable: 1
{{- else -}}
type: RollingUpdate
rollingUpdate:
  maxSurge: 1
  maxUnavailable: 0
{{- end -}}
{{- end -}}

{{- define "linkadapt.claimName" -}}
{{- default (printf "%s-model-store" (include "linkadapt.fullname" .)) .Values.persistence.existingClaim -}}
{{- end -}}

{{/*
Where the config file and the admin token are mounted in the container.
*/}}
{{- define "linkadapt.configDir" -}}/etc/linkadapt/config{{- end -}}
{{- define "linkadapt.secretDir" -}}/etc/linkadapt/secret{{- end -}}
{{- define "linkadapt.tlsDir" -}}/etc/linkadapt/tls{{- end -}}

{{/*
The TLS Secret (type kubernetes.io/tls: tls.crt, tls.key, ca.crt, as cert-manager writes
it), mounted whole so that a renewal reaches the running pods (a subPath mount would not).
*/}}
{{- define "linkadapt.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "linkadapt.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{/*
The O-RAN SC style config file the service reads (its "controls" section; field names
of xapp/settings.py). Ports and paths follow the chart so probes and services agree.
*/}}
{{- define "linkadapt.configFile" -}}
{{- $controls := dict
  "host" "0.0.0.0"
  "grpc_port" .Values.containerPorts.grpc
  "http_port" .Values.containerPorts.http
  "model_store" .Values.persistence.mountPath
  "log_level" .Values.config.logLevel
  "max_batch_size" .Values.config.maxBatchSize
  "max_request_bytes" .Values.config.maxRequestBytes
  "max_model_bytes" .Values.config.maxModelBytes
  "latency_budget_us" .Values.config.latencyBudgetUs
  "fallback_backoff" .Values.config.fallbackBackoff
  "default_target_bler" .Values.config.defaultTargetBler
  "decisions_require_token" .Values.config.decisionsRequireToken
  "shutdown_grace_s" .Values.config.shutdownGraceSeconds
-}}
{{- if .Values.auth.enabled -}}
{{- $_ := set $controls "admin_token_file" (printf "%s/%s" (include "linkadapt.secretDir" .) .Values.auth.existingSecretKey) -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $controls "tls_cert" (printf "%s/tls.crt" (include "linkadapt.tlsDir" .)) -}}
{{- $_ = set $controls "tls_key" (printf "%s/tls.key" (include "linkadapt.tlsDir" .)) -}}
{{- if .Values.tls.mutual -}}
{{- $_ = set $controls "tls_client_ca" (printf "%s/ca.crt" (include "linkadapt.tlsDir" .)) -}}
{{- with .Values.tls.clientNames -}}
{{- $_ = set $controls "tls_client_names" . -}}
{{- end -}}
{{- end -}}
{{- else -}}
{{- $_ := set $controls "insecure" true -}}
{{- end -}}
{{- /* The chart's controls set over extraControls one by one: `merge` would let an
extraControls value replace a chart value that is empty (0, false). validateValues
refuses these keys in extraControls anyway. */ -}}
{{- $file := deepCopy (default dict .Values.config.extraControls) -}}
{{- range $key, $value := $controls -}}
{{- $_ := set $file $key $value -}}
{{- end -}}
{{- $file = dict "name" (include "linkadapt.name" .) "version" .Chart.AppVersion "controls" $file -}}
{{- toPrettyJson $file -}}
{{- end -}}

{{/*
Fail early on value combinations the service would refuse at start-up.
*/}}
{{- define "linkadapt.validateValues" -}}
{{- $selector := include "linkadapt.selectorLabels" . | fromYaml -}}
{{- range $where, $labels := dict "commonLabels" (default dict .Values.commonLabels) "podLabels" (default dict .Values.podLabels) -}}
{{- range $key := keys $selector | sortAlpha -}}
{{- if hasKey $labels $key -}}
{{- fail (printf "%s cannot set %s: it selects the xApp pods (a Deployment's selector is immutable); use nameOverride or another key" $where $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- /* The controls linkadapt.configFile writes (keep the two lists together), and what
sets each one: in extraControls the chart's value would win silently. */ -}}
{{- $chartControls := dict
  "host" "the chart binds 0.0.0.0, where probes and Services reach the pod; set LINKADAPT_HOST in extraEnvVars to change it"
  "grpc_port" "set containerPorts.grpc instead"
  "http_port" "set containerPorts.http instead"
  "model_store" "set persistence.mountPath instead"
  "log_level" "set config.logLevel instead"
  "max_batch_size" "set config.maxBatchSize instead"
  "max_request_bytes" "set config.maxRequestBytes instead"
  "max_model_bytes" "set config.maxModelBytes instead"
  "latency_budget_us" "set config.latencyBudgetUs instead"
  "fallback_backoff" "set config.fallbackBackoff instead"
  "default_target_bler" "set config.defaultTargetBler instead"
  "decisions_require_token" "set config.decisionsRequireToken instead"
  "shutdown_grace_s" "set config.shutdownGraceSeconds instead"
  "admin_token_file" "set auth.existingSecret and auth.existingSecretKey instead (the chart mounts the token file)"
  "admin_token" "use auth.adminToken or auth.existingSecret (a Secret, not plain text in the ConfigMap; with auth.enabled the service would also refuse two token sources)"
  "tls_cert" "set tls.enabled and tls.secretName instead (the chart mounts the Secret)"
  "tls_key" "set tls.enabled and tls.secretName instead (the chart mounts the Secret)"
  "tls_client_ca" "set tls.mutual instead (the CA is the Secret's ca.crt)"
  "tls_client_names" "set tls.clientNames instead"
  "insecure" "set tls.enabled=false instead"
-}}
{{- range $key := keys (default dict .Values.config.extraControls) | sortAlpha -}}
{{- with get $chartControls $key -}}
{{- fail (printf "config.extraControls.%s: %s" $key .) -}}
{{- end -}}
{{- end -}}
{{- if and (or .Values.tls.mutual .Values.tls.clientNames) (not .Values.tls.enabled) -}}
{{- fail "tls.mutual and tls.clientNames need tls.enabled" -}}
{{- end -}}
{{- if and .Values.tls.clientNames (not .Values.tls.mutual) -}}
{{- fail "tls.clientNames needs tls.mutual: names are only known from verified client certificates" -}}
{{- end -}}
{{- if and .Values.config.decisionsRequireToken (not .Values.auth.enabled) -}}
{{- fail "config.decisionsRequireToken needs auth.enabled (the token is the admin token)" -}}
{{- end -}}
{{- range $port, $type := dict "grpcNodePort" "type" "httpNodePort" "httpType" -}}
{{- if and (index $.Values.service $port) (eq (index $.Values.service $type) "ClusterIP") -}}
{{- fail (printf "service.%s needs service.%s NodePort or LoadBalancer" $port $type) -}}
{{- end -}}
{{- end -}}
{{- if eq (int .Values.containerPorts.grpc) (int .Values.containerPorts.http) -}}
{{- fail "containerPorts.grpc and containerPorts.http must differ" -}}
{{- end -}}
{{- if ge (int .Values.config.shutdownGraceSeconds) (int .Values.terminationGracePeriodSeconds) -}}
{{- fail "config.shutdownGraceSeconds must stay below terminationGracePeriodSeconds" -}}
{{- end -}}
{{- end -}}
