#!/usr/bin/env bash
# make down: stop what `make up` started (by its recorded pid) and remove its files.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${GATEWARDEN_LOCAL_STATE:-$root/.e2e/local}"
if [ -f "$state/pid" ]; then
  pid=$(cat "$state/pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then echo "pid $pid did not stop; killing"; kill -KILL "$pid"; fi
  fi
  echo ">> stopped local cluster (pid $pid)"
else
  echo ">> no local cluster recorded in $state"
fi
rm -rf "$state"
