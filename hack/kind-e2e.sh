#!/usr/bin/env bash
# The e2e suite against gatewarden installed by its Helm chart in a kind
# cluster of one control plane and two workers: real pods, Service,
# self-managed certificates, RBAC, PodDisruptionBudget. Offline: everything,
# Docker included, is built or installed here by hack/kind/build.sh and cached
# under bin/kind/ (docs/kind.md). Not part of `make test`.
#
#   hack/kind-e2e.sh                   build what is missing, create the cluster, install, test, delete
#   KEEP_CLUSTER=1 hack/kind-e2e.sh    leave the cluster running afterwards
#
# Environment: KIND_CLUSTER (gatewarden-e2e), IMAGE (gatewarden:e2e),
# KIND_NODE_IMAGE (default: the node image hack/kind/build.sh assembles),
# E2E_RUN (go test -run pattern, default .), HOST_IP (this machine's address
# on the kind network; found with docker network inspect). A cluster of that
# name that exists already is used and left in place; one this script creates
# is deleted at the end. Tests that need the gatewarden process the suite
# starts itself (signals, restarts, its ports) skip in this mode and say so.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
CLUSTER=${KIND_CLUSTER:-gatewarden-e2e}
IMAGE=${IMAGE:-gatewarden:e2e}
# The same image under a second tag: the upgrade test moves the release to it.
UPGRADE_IMAGE=${IMAGE%:*}:${IMAGE##*:}-upgrade
KIND=$ROOT/bin/kind/bin/kind
HELM=$ROOT/bin/helm
KUBECTL=$ROOT/bin/kubectl
NAMESPACE=gatewarden-system
RELEASE=gatewarden
STATE=$(mktemp -d "${TMPDIR:-/tmp}/gatewarden-kind.XXXXXX")
KUBECONFIG_FILE=$STATE/kubeconfig
RUNLOG=$ROOT/bin/kind/runs.log
started=$SECONDS
created=""

log() { printf 'kind-e2e: %s\n' "$*" >&2; }
phase() { log "[$((SECONDS - started))s] $*"; }

for tool in go "$HELM" "$KUBECTL"; do
	command -v "$tool" >/dev/null 2>&1 || { log "$tool not found (make tools builds helm and kubectl)"; exit 2; }
done
[ -d bin/crds ] || { log "bin/crds missing: run make crds"; exit 2; }

# shellcheck disable=SC2317 # run by the EXIT trap, which shellcheck does not follow
cleanup() {
	rc=$?
	if [ "$rc" -ne 0 ] && [ -f "$KUBECONFIG_FILE" ]; then
		log "failed; gatewarden pods and logs:"
		"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" get pods -A -o wide >&2 || true
		"$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" -n "$NAMESPACE" logs -l app.kubernetes.io/name=gatewarden --all-containers --tail=50 --prefix >&2 || true
	fi
	if [ -n "$created" ] && [ -z "${KEEP_CLUSTER:-}" ]; then
		log "deleting cluster $CLUSTER (created by this run)"
		"$KIND" delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
	elif [ -f "$KUBECONFIG_FILE" ]; then
		log "cluster $CLUSTER left running: export KUBECONFIG=$KUBECONFIG_FILE"
	fi
	mkdir -p "$(dirname "$RUNLOG")"
	printf '%s rc=%d total=%ds build=%ss cluster=%ss install=%ss suite=%ss %s\n' "$(date -u +%FT%TZ)" "$rc" "$((SECONDS - started))" \
		"${t_build:--}" "${t_cluster:--}" "${t_install:--}" "${t_suite:--}" "$(git describe --tags --always --dirty 2>/dev/null)" >>"$RUNLOG"
	if [ -z "$created" ] || [ -z "${KEEP_CLUSTER:-}" ]; then
		rm -rf "$STATE"
	fi
	exit "$rc"
}
trap cleanup EXIT

phase "building what is not cached (hack/kind/build.sh; log in bin/kind/logs)"
t0=$SECONDS
IMAGE=$IMAGE bash hack/kind/build.sh
eval "$(IMAGE=$IMAGE bash hack/kind/build.sh env)"
NODE_IMAGE=${KIND_NODE_IMAGE:-$NODE_IMAGE}
make --no-print-directory build >/dev/null
t_build=$((SECONDS - t0))

# kind.yaml and values.yaml come from e2e/framework (unit-tested there).
go run ./hack/kind/kindfiles -out "$STATE" -cluster "$CLUSTER" -image "$IMAGE" -node-image "$NODE_IMAGE"

t0=$SECONDS
if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
	phase "using the existing cluster $CLUSTER (it stays)"
else
	phase "creating cluster $CLUSTER from $NODE_IMAGE"
	created=1
	"$KIND" create cluster --name "$CLUSTER" --config "$STATE/kind.yaml" --wait 5m
fi
"$KIND" get kubeconfig --name "$CLUSTER" >"$KUBECONFIG_FILE"
k() { "$KUBECTL" --kubeconfig "$KUBECONFIG_FILE" "$@"; }
k wait --for=condition=Ready nodes --all --timeout=300s >/dev/null
t_cluster=$((SECONDS - t0))

t0=$SECONDS
phase "loading $IMAGE and $UPGRADE_IMAGE into the nodes"
docker tag "$IMAGE" "$UPGRADE_IMAGE"
"$KIND" load docker-image "$IMAGE" "$UPGRADE_IMAGE" --name "$CLUSTER"

phase "installing CRDs (Istio, cert-manager types, APIRule, Gardener certificates)"
k apply --server-side -f bin/crds/ -f e2e/testdata/crds/ >/dev/null
k wait --for condition=established --timeout=60s crd --all >/dev/null
for ns in "$NAMESPACE" istio-system kyma-system; do
	k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
done

phase "installing the chart (self-managed certificates, two replicas)"
"$HELM" --kubeconfig "$KUBECONFIG_FILE" upgrade --install "$RELEASE" charts/gatewarden \
	--namespace "$NAMESPACE" --values "$STATE/values.yaml" --wait --timeout 5m
k -n "$NAMESPACE" rollout status deployment/"$RELEASE" --timeout=120s

# The pods issue the certificate and inject its CA before they turn ready.
for kind in validatingwebhookconfiguration mutatingwebhookconfiguration; do
	bundle=$(k get "$kind" "$RELEASE" -o jsonpath='{.webhooks[0].clientConfig.caBundle}')
	[ -n "$bundle" ] || { log "$kind $RELEASE has no caBundle"; exit 1; }
done
t_install=$((SECONDS - t0))

# The suite's OIDC issuer runs on this machine; the pods reach it at the
# gateway address of the Docker network kind attaches its nodes to, an
# address of this machine. The suite upgrades the release to trust exactly
# that address and its issuer's CA.
HOST_IP=${HOST_IP:-$(docker network inspect kind -f '{{range .IPAM.Config}}{{.Gateway}} {{end}}' | tr ' ' '\n' | grep -m1 -E '^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$' || true)}
[ -n "$HOST_IP" ] || { log "cannot find the gateway address of the Docker network kind (set HOST_IP)"; exit 2; }

phase "running the e2e suite against the cluster (issuer on $HOST_IP; output in bin/kind/e2e.log)"
t0=$SECONDS
set +e
GATEWARDEN_E2E_KUBECONFIG=$KUBECONFIG_FILE \
GATEWARDEN_E2E_HOST_IP=$HOST_IP \
GATEWARDEN_E2E_NAMESPACE=$NAMESPACE \
GATEWARDEN_E2E_RELEASE=$RELEASE \
GATEWARDEN_E2E_UPGRADE_IMAGE=$UPGRADE_IMAGE \
	go test -count=1 -timeout 40m ./e2e/ -v -run "${E2E_RUN:-.}" 2>&1 | tee "$ROOT/bin/kind/e2e.log" |
	grep -E '^(=== RUN|\s*--- |PASS|FAIL|ok|panic)|e2e:|kind_ha_test'
rc=${PIPESTATUS[0]}
set -e
t_suite=$((SECONDS - t0))
phase "suite finished (exit $rc): $(grep -c -- '--- PASS' bin/kind/e2e.log) passed, $(grep -c -- '--- FAIL' bin/kind/e2e.log) failed, $(grep -c -- '--- SKIP' bin/kind/e2e.log) skipped"
exit "$rc"
