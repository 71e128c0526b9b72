#!/usr/bin/env bash
# make up: start (or reuse) a local control plane with gatewarden installed
# and leave it running. Re-running it after a code change restarts gatewarden
# only. `make down` stops exactly what this started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${GATEWARDEN_LOCAL_STATE:-$root/.e2e/local}"
cd "$root"
mkdir -p "$state"

if [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; then
  echo ">> local cluster already running (pid $(cat "$state/pid")): restarting gatewarden with the new build"
  before=$(grep -c 'starting gatewarden' "$state/local.log" || true)
  kill -HUP "$(cat "$state/pid")"
  for _ in $(seq 1 120); do
    now=$(grep -c 'starting gatewarden' "$state/local.log" || true)
    [ "$now" -gt "$before" ] && grep -q 'restart' "$state/local.log" && break
    sleep 0.5
  done
else
  rm -f "$state/pid" "$state/env"
  go build -o bin/gatewarden-local ./e2e/cmd/gatewarden-local
  # setsid: the cluster outlives this shell and make.
  setsid "$root/bin/gatewarden-local" -root "$root" -state "$state" >"$state/local.log" 2>&1 </dev/null &
  echo ">> starting kube-apiserver, etcd, a local OIDC issuer and gatewarden (log: $state/local.log)"
  for _ in $(seq 1 300); do
    [ -f "$state/pid" ] && break
    if ! kill -0 $! 2>/dev/null; then cat "$state/local.log"; exit 1; fi
    sleep 0.5
  done
  [ -f "$state/pid" ] || { echo "did not come up; see $state/local.log"; exit 1; }
fi
# shellcheck disable=SC1091
source "$state/env"
cat <<MSG

gatewarden is running against a local kube-apiserver.

  export KUBECONFIG=$KUBECONFIG
  bin/kubectl apply -f examples/demo/00-setup.yaml

Local OIDC issuers (trusted through --ca-file and --allow-cidr 127.0.0.0/8):
  good:               $GATEWARDEN_ISSUER_GOOD
  wrong issuer:       $GATEWARDEN_ISSUER_WRONG
  unreachable JWKS:   $GATEWARDEN_ISSUER_BROKEN_JWKS

gatewarden log: $GATEWARDEN_LOG
Rebuild and restart gatewarden: make up      Stop everything: make down
MSG
