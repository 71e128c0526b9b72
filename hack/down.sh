#!/usr/bin/env bash
# make down: stop exactly what `make up` started and remove its files.
#
# Everything up.sh starts runs in one session, led by gatewarden-local
# (hack/session.sh). gatewarden-local gets SIGTERM first and stops the rest
# itself. Whatever still runs in the session afterwards (gatewarden-local
# crashed or was SIGKILLed and left etcd, kube-apiserver or gatewarden
# behind) is stopped by process group: SIGTERM, then SIGKILL.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${GATEWARDEN_LOCAL_STATE:-$root/.e2e/local}"
# shellcheck source=hack/session.sh
source "$root/hack/session.sh"
case "$(cd "$state" 2>/dev/null && pwd)" in
/ | "$HOME" | "$root") echo "refusing to remove $state" >&2; exit 1 ;;
esac

if [ ! -f "$state/session" ]; then
  echo ">> no local cluster recorded in $state"
  rm -rf "$state"
  exit 0
fi
read -r sid start <"$state/session"

# groups: the process groups of the session's live processes, the group of
# the newest process first (zombies cannot be signalled and are gone for our
# purpose).
groups() {
  ps -o pgid=,stat= --sort=-start_time -s "$sid" 2>/dev/null | awk '$2 !~ /^Z/ && !seen[$1]++ {print $1}' || true
}

# wait_group_gone SECONDS PGID: wait until nothing of the group runs.
wait_group_gone() {
  local deadline=$((SECONDS + $1))
  while groups | grep -qx "$2"; do
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

if leader=$(session_leader "$state"); then
  kill -TERM "$leader"
  for _ in $(seq 1 450); do
    session_leader "$state" >/dev/null || break
    sleep 0.2
  done
  session_leader "$state" >/dev/null && echo ">> gatewarden-local (pid $leader) did not stop within 90s"
elif proc_start "$sid" >/dev/null; then
  # The pid runs but started later: the recorded leader is gone, and so is
  # everything of its session, or the pid could not have been reused.
  echo ">> pid $sid is no longer gatewarden-local (started $start): nothing of the local cluster runs"
  rm -rf "$state"
  exit 0
fi

# The session id stays taken while any process of the session runs, so its
# process groups are this cluster's. Newest first, one group at a time: a
# process may need what started before it to stop cleanly (kube-apiserver
# hangs in its shutdown without etcd).
left=$(groups | tr '\n' ' ')
if [ -n "$left" ]; then
  echo ">> stopping the process groups gatewarden-local left running: ${left% }"
  for g in $left; do
    kill -TERM -- "-$g" 2>/dev/null || true
    wait_group_gone 15 "$g" && continue
    echo ">> process group $g still running after 15s: SIGKILL"
    kill -KILL -- "-$g" 2>/dev/null || true
    wait_group_gone 10 "$g" || true
  done
  left=$(groups | tr '\n' ' ')
  if [ -n "$left" ]; then
    echo "process groups ${left% } of session $sid still running after SIGKILL; $state kept" >&2
    exit 1
  fi
fi
echo ">> stopped the local cluster (gatewarden-local pid $sid)"
rm -rf "$state"
