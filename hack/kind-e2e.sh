#!/usr/bin/env bash
# The e2e suite against gatewarden installed by its Helm chart in a kind
# cluster: real pods, Service, self-managed certificates, RBAC and
# NetworkPolicy-free defaults. Needs Docker and kind; not part of `make test`.
#
#   hack/kind-e2e.sh            create the cluster, build, install, test, delete
#   KEEP_CLUSTER=1 hack/kind-e2e.sh   leave the cluster running afterwards
#
# Environment: KIND_CLUSTER (gatewarden-e2e), IMAGE (gatewarden:e2e),
# KIND_NODE_IMAGE (kind's default), KIND (kind), HELM (bin/helm),
# KUBECTL (bin/kubectl), E2E_RUN (go test -run pattern, default .), HOST_IP
# (this machine's address on the kind network; found with docker network
# inspect). Tests that need the gatewarden process the suite starts itself
# (signals, restarts, its ports) are skipped in this mode and say so.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=${KIND_CLUSTER:-gatewarden-e2e}
IMAGE=${IMAGE:-gatewarden:e2e}
KIND=${KIND:-kind}
HELM=${HELM:-$ROOT/bin/helm}
KUBECTL=${KUBECTL:-$ROOT/bin/kubectl}
NAMESPACE=gatewarden-system
RELEASE=gatewarden
STATE=$(mktemp -d "${TMPDIR:-/tmp}/gatewarden-kind.XXXXXX")
KUBECONFIG_FILE=$STATE/kubeconfig

log() { printf 'kind-e2e: %s\n' "$*" >&2; }

for tool in docker "$KIND" "$HELM" "$KUBECTL" go; do
	command -v "$tool" >/dev/null 2>&1 || { log "$tool not found (docker and kind must be installed; make tools builds helm and kubectl)"; exit 2; }
done
docker info >/dev/null 2>&1 || { log "docker is not running"; exit 2; }
[ -d bin/crds ] || { log "bin/crds missing: run make crds"; exit 2; }

cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ] && [ -f "$KUBECONFIG_FILE" ]; then
		log "failed; gatewarden logs:"
		"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" -n "$NAMESPACE" logs -l app.kubernetes.io/name=gatewarden --all-containers --tail=100 --prefix >&2 || true
	fi
	if [ -z "${KEEP_CLUSTER:-}" ]; then
		log "deleting cluster $CLUSTER"
		"$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
	else
		log "cluster kept: export KUBECONFIG=$KUBECONFIG_FILE"
	fi
	[ -n "${KEEP_CLUSTER:-}" ] || rm -rf "$STATE"
	exit "$rc"
}
trap cleanup EXIT

# The kind config and chart values are Go functions in e2e/framework/kind.go
# (unit-tested there); this writes them out.
log "writing kind config and values to $STATE"
GATEWARDEN_KIND_OUT=$STATE GATEWARDEN_KIND_CLUSTER=$CLUSTER GATEWARDEN_KIND_IMAGE=$IMAGE \
	go test -count=1 -run '^TestWriteKindFiles$' ./e2e/framework/ >/dev/null
if [ -n "${KIND_NODE_IMAGE:-}" ]; then NODE_IMAGE_ARGS=(--image "$KIND_NODE_IMAGE"); else NODE_IMAGE_ARGS=(); fi

log "building $IMAGE"
docker build --build-arg VERSION="$(git describe --tags --always --dirty 2>/dev/null || echo dev)" -t "$IMAGE" .

if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
	log "reusing cluster $CLUSTER"
else
	log "creating cluster $CLUSTER"
	"$KIND" create cluster --name "$CLUSTER" --config "$STATE/kind.yaml" "${NODE_IMAGE_ARGS[@]}" --wait 120s
fi
"$KIND" get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }

log "loading $IMAGE into the nodes"
"$KIND" load docker-image "$IMAGE" --name "$CLUSTER"

log "installing CRDs (Istio, cert-manager types, APIRule, Gardener certificates)"
k apply --server-side -f bin/crds/ -f e2e/testdata/crds/ >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
for ns in "$NAMESPACE" istio-system kyma-system; do
	k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
done

log "installing the chart"
"$HELM" --kubeconfig "$KUBECONFIG_FILE" upgrade --install "$RELEASE" charts/gatewarden \
	--namespace "$NAMESPACE" --values "$STATE/values.yaml" --wait --timeout 5m
k -n "$NAMESPACE" rollout status deployment/"$RELEASE" --timeout=120s

# The self-managed certificate is issued and its CA injected before the pods
# turn ready; check it is there before the suite relies on it.
for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
	bundle=$(k get "$kind" "$RELEASE" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
	[ -n "$bundle" ] || { log "$kind $RELEASE has no caBundle"; exit 1; }
done

# The suite's OIDC issuer runs on this machine; the pods reach it at the
# gateway address of the Docker network kind attaches its nodes to. The suite
# upgrades the release to trust exactly that address and its issuer's CA.
HOST_IP=${HOST_IP:-$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' || true)}
[ -n "$HOST_IP" ] || { log "cannot find the gateway address of the Docker network kind (set HOST_IP)"; exit 2; }

log "building bin/gatewarden (the suite runs \`gatewarden check\` against the cluster)"
make --no-print-directory build >/dev/null

log "running the e2e suite against the cluster (issuer on $HOST_IP)"
GATEWARDEN_E2E_KUBECONFIG=$KUBECONFIG_FILE \
GATEWARDEN_E2E_HOST_IP=$HOST_IP \
GATEWARDEN_E2E_NAMESPACE=$NAMESPACE \
GATEWARDEN_E2E_RELEASE=$RELEASE \
	go test -count=1 -timeout 30m ./e2e/ -v -run "${E2E_RUN:-.}"
