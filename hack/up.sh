#!/usr/bin/env bash
# make up: start (or reuse) a local control plane with gatewarden installed
# and leave it running. Re-running it restarts gatewarden only, from
# bin/gatewarden as it is then (`make up` rebuilds it first; running this
# script by itself does not). `make down` stops exactly what this started:
# everything runs in one session led by gatewarden-local (hack/session.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${GATEWARDEN_LOCAL_STATE:-$root/.e2e/local}"
cd "$root"
# shellcheck source=hack/session.sh
source "$root/hack/session.sh"

log_tail() {
  echo "---- $state/local.log (last 30 lines)"
  tail -n 30 "$state/local.log" 2>/dev/null || true
  echo "---- $state/gatewarden.log (last 30 lines)"
  tail -n 30 "$state/gatewarden.log" 2>/dev/null || true
}

for b in gatewarden kube-apiserver etcd helm crds; do
  [ -e "bin/$b" ] || { echo "bin/$b missing: run \`make build tools crds\` (or \`make up\`)" >&2; exit 1; }
done

# gatewarden_pid: the gatewarden process gatewarden-local last reported
# starting (at ready, and after each restart).
gatewarden_pid() {
  grep -oE '^gatewarden-local: (ready|restart [0-9]+ done) \(gatewarden pid [0-9]+\)' "$state/local.log" | tail -n 1 | grep -oE '[0-9]+\)$' | tr -d ')' || true
}

if session_leader "$state" >/dev/null; then
  if [ ! -f "$state/pid" ]; then
    echo "the local cluster in $state is starting or stopping (see $state/local.log); try again, or \`make down\`" >&2
    exit 1
  fi
  pid=$(cat "$state/pid")
  old=$(gatewarden_pid)
  echo ">> local cluster already running (pid $pid): restarting gatewarden from bin/gatewarden ($(date -r bin/gatewarden '+built %F %T'))"
  marks() { grep -cE '^gatewarden-local: restart [0-9]+ (done|failed)' "$state/local.log" || true; }
  before=$(marks)
  kill -HUP "$pid"
  # Stopping the old process takes up to 15s, the new one up to 60s to be ready.
  for _ in $(seq 1 240); do
    [ "$(marks)" -gt "$before" ] && break
    session_leader "$state" >/dev/null || break
    sleep 0.5
  done
  last=$(grep -E '^gatewarden-local: restart [0-9]+ (done|failed)' "$state/local.log" | tail -n 1 || true)
  new=$(gatewarden_pid)
  if [ "$(marks)" -le "$before" ] || [[ "$last" != *" done "* ]] || [ -z "$new" ] || [ "$new" = "$old" ]; then
    if ! session_leader "$state" >/dev/null; then
      echo "gatewarden-local (pid $pid) exited during the restart; \`make down\` stops what is left" >&2
    elif [ "$(marks)" -le "$before" ]; then
      echo "gatewarden did not restart within 120s" >&2
    else
      echo "gatewarden did not restart: ${last:-no restart recorded}" >&2
    fi
    log_tail >&2
    exit 1
  fi
  echo ">> gatewarden restarted: pid ${old:-(none running)} -> $new"
else
  if [ -f "$state/session" ]; then
    echo ">> $state holds a local cluster whose gatewarden-local is gone: stopping what it left behind"
    bash "$root/hack/down.sh"
  fi
  mkdir -p "$state/tmp"
  rm -f "$state/pid" "$state/env"
  go build -o bin/gatewarden-local ./hack/local
  # setsid: the cluster outlives this shell and make, in a session of its
  # own (this shell has no job control, so the background child is no
  # group leader and setsid runs it in place: $! is the session's id).
  # TMPDIR: envtest's data and certificate directories go under $state, so
  # `make down` removes them even after a crash.
  TMPDIR="$state/tmp" setsid "$root/bin/gatewarden-local" -root "$root" -state "$state" >"$state/local.log" 2>&1 </dev/null &
  started=$!
  if ! session_record "$state" "$started"; then
    kill -TERM "$started" 2>/dev/null || true
    exit 1
  fi
  echo ">> starting kube-apiserver, etcd, a local OIDC issuer and gatewarden (pid $started, log: $state/local.log)"
  for _ in $(seq 1 600); do
    [ -f "$state/pid" ] && break
    kill -0 "$started" 2>/dev/null || break
    sleep 0.5
  done
  if [ ! -f "$state/pid" ]; then
    if kill -0 "$started" 2>/dev/null; then
      echo "local cluster not ready after 300s; stopping it" >&2
    else
      echo "gatewarden-local exited before the cluster was ready; stopping what is left" >&2
    fi
    log_tail >&2
    bash "$root/hack/down.sh" >&2
    exit 1
  fi
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
                      (discovery names another issuer: denied, jwt-issuer-discovery)
  JWKS answers 404:   $GATEWARDEN_ISSUER_BROKEN_JWKS
                      (denied, jwt-jwks-usable)
  unreachable JWKS:   $GATEWARDEN_ISSUER_UNREACHABLE_JWKS
                      (discovery's jwks_uri $GATEWARDEN_UNREACHABLE_JWKS_URI: nothing listens there;
                      connection refused is a network failure: admitted with a jwt-jwks-usable warning;
                      denied where networkErrorAction is deny)
  Leave jwksUri out and gatewarden fills it in from discovery.

gatewarden log: $GATEWARDEN_LOG     session: $(cat "$state/session")
Rebuild and restart gatewarden: make up      Stop everything: make down
MSG
