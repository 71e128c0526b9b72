#!/usr/bin/env bash
# make demo: start a local control plane with gatewarden, apply the examples
# in examples/demo with kubectl, show what the API server answered, stop.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state=$(mktemp -d /tmp/gatewarden-demo.XXXXXX)
kubectl="$root/bin/kubectl"
cd "$root" || exit 1
# shellcheck source=hack/session.sh
source "$root/hack/session.sh"
go build -o bin/gatewarden-local ./hack/local || exit 1

# In a session of its own, as `make up` runs it, so that down.sh stops
# whatever it started even if it dies first.
setsid "$root/bin/gatewarden-local" -root "$root" -state "$state" >"$state/local.log" 2>&1 </dev/null &
local_pid=$!
cleanup() { GATEWARDEN_LOCAL_STATE="$state" bash "$root/hack/down.sh" >/dev/null; }
trap cleanup EXIT
session_record "$state" "$local_pid" || { kill -TERM "$local_pid"; exit 1; }

echo ">> starting kube-apiserver, etcd and gatewarden (log: $state/local.log)"
for _ in $(seq 1 300); do
  [ -f "$state/pid" ] && break
  kill -0 "$local_pid" 2>/dev/null || { cat "$state/local.log"; exit 1; }
  sleep 0.5
done
[ -f "$state/pid" ] || { echo "local cluster did not come up"; cat "$state/local.log"; exit 1; }
# shellcheck disable=SC1091
source "$state/env"

show() {
  local title=$1; shift
  printf '\n\033[1m== %s\033[0m\n$ kubectl %s\n' "$title" "$*"
  "$kubectl" "$@" 2>&1 | sed 's/^/  /'
}
render() { sed -e "s|\${GATEWARDEN_ISSUER_GOOD}|$GATEWARDEN_ISSUER_GOOD|g" -e "s|\${GATEWARDEN_ISSUER_WRONG}|$GATEWARDEN_ISSUER_WRONG|g" "$1"; }

d=examples/demo
show "cluster setup: the Kyma gateway and a Service" apply -f $d/00-setup.yaml
show "an mTLS Gateway with no CA is denied" apply -f $d/01-gateway-mtls-without-ca.yaml
show "a v1beta1 APIRule is admitted with a deprecation warning" apply -f $d/02-apirule-v1beta1.yaml
show "a correct v2 APIRule is admitted" apply -f $d/03-apirule-v2-good.yaml
show "an APIRule with several problems is denied, all of them listed" apply -f $d/04-apirule-v2-many-problems.yaml
render $d/05-apirule-jwt-wrong-issuer.yaml.tpl >"$state/05.yaml"
show "a JWT issuer whose discovery names another issuer is denied" apply -f "$state/05.yaml"
render $d/06-apirule-jwt-defaulted.yaml.tpl >"$state/06.yaml"
printf '\n\033[1m== defaults: gateway and jwksUri filled in (server-side dry run)\033[0m\n$ kubectl apply --dry-run=server -o yaml -f 06.yaml | grep ...\n'
"$kubectl" apply --dry-run=server -o yaml -f "$state/06.yaml" 2>&1 | grep -E 'gateway:|jwksUri:|gatewarden.io/defaulted|Warning' | sed 's/^/  /'
printf '\n\033[1m== gatewarden check runs the same checks offline, no cluster needed\033[0m\n'
printf '$ gatewarden check -f examples/demo/04-apirule-v2-many-problems.yaml -f examples/demo/00-setup.yaml\n'
bin/gatewarden check --no-network -f $d/04-apirule-v2-many-problems.yaml -f $d/00-setup.yaml 2>&1 | sed 's/^/  /'
echo
echo ">> done; stopping the local control plane"
