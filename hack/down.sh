#!/usr/bin/env bash
# make down: stop exactly what `make up` started and remove its files.
#
# $state/pids lists every process gatewarden-local runs ("role pid starttime
# session"). A pid counts only while /proc/PID/stat still shows the recorded
# start time, so a recycled pid is never signalled. Processes of the session
# gatewarden-local leads (hack/up.sh starts it with setsid) count too: that
# covers a gatewarden started after the list was last written. Nothing is
# matched by name.
#
# gatewarden-local gets SIGTERM first and stops the rest itself; whatever is
# still running afterwards (gatewarden-local crashed or was SIGKILLed and
# left etcd, kube-apiserver or gatewarden behind) gets SIGTERM, then SIGKILL.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
state="${GATEWARDEN_LOCAL_STATE:-$root/.e2e/local}"
case "$(cd "$state" 2>/dev/null && pwd)" in
/ | "$HOME" | "$root") echo "refusing to remove $state" >&2; exit 1 ;;
esac

if [ ! -f "$state/pids" ]; then
  echo ">> no local cluster recorded in $state"
  rm -rf "$state"
  exit 0
fi

# stat_of PID: sets st_state, st_session and st_start from /proc/PID/stat
# (fields after the parenthesised command name); fails if PID is gone.
stat_of() {
  local line f
  read -r line 2>/dev/null <"/proc/$1/stat" || return 1
  read -r -a f <<<"${line##*) }"
  st_state=${f[0]} st_session=${f[3]} st_start=${f[19]}
}

# alive PID START: PID runs and is the process recorded (zombies are gone).
alive() {
  stat_of "$1" && [ "$st_state" != Z ] && [ "$st_start" = "$2" ]
}

# wait_gone SECONDS PID START...: wait until none of the pairs is alive.
wait_gone() {
  local deadline=$((SECONDS + $1)) i any
  shift
  local -a p=("$@")
  while :; do
    any=
    for ((i = 0; i < ${#p[@]}; i += 2)); do
      alive "${p[i]}" "${p[i + 1]}" && any=1
    done
    [ -z "$any" ] && return 0
    [ "$SECONDS" -ge "$deadline" ] && return 1
    sleep 0.2
  done
}

# stop WHAT PID START...: SIGTERM, 15s, SIGKILL, 10s; fails if any survives.
stop() {
  local what=$1 i
  shift
  local -a p=("$@") live=()
  for ((i = 0; i < ${#p[@]}; i += 2)); do
    alive "${p[i]}" "${p[i + 1]}" && live+=("${p[i]}") && { kill -TERM "${p[i]}" 2>/dev/null || true; }
  done
  [ "${#live[@]}" -gt 0 ] || return 0
  echo ">> stopping $what gatewarden-local left running: pid ${live[*]}"
  wait_gone 15 "${p[@]}" && return 0
  for ((i = 0; i < ${#p[@]}; i += 2)); do
    if alive "${p[i]}" "${p[i + 1]}"; then
      echo ">> pid ${p[i]} did not stop within 15s: SIGKILL"
      kill -KILL "${p[i]}" 2>/dev/null || true
    fi
  done
  wait_gone 10 "${p[@]}"
}

declare -A start_of=()
leader= leader_start= leader_session=
etcd=() rest=()
while read -r role pid start session; do
  case "$role" in '' | '#'*) continue ;; esac
  start_of[$pid]=$start
  case "$role" in
  gatewarden-local) leader=$pid leader_start=$start leader_session=$session ;;
  etcd) etcd+=("$pid" "$start") ;;
  *) rest+=("$pid" "$start") ;;
  esac
done <"$state/pids"

# 1. gatewarden-local stops gatewarden, the issuer and the control plane.
if [ -n "$leader" ] && alive "$leader" "$leader_start"; then
  kill -TERM "$leader"
  wait_gone 90 "$leader" "$leader_start" || echo ">> gatewarden-local (pid $leader) did not stop within 90s"
  rest+=("$leader" "$leader_start")
fi

# 2. Whatever is left: recorded processes, and processes in gatewarden-local's
# own session started after it. The session counts only if gatewarden-local
# led it (sid = its pid) and that pid is not now held by another process.
if [ -n "$leader" ] && [ "$leader_session" = "$leader" ] && { ! stat_of "$leader" || [ "$st_start" = "$leader_start" ]; }; then
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    [ -z "${start_of[$pid]:-}" ] || continue
    stat_of "$pid" || continue
    if [ "$st_session" = "$leader" ] && [ "$st_state" != Z ] && [ "$st_start" -ge "$leader_start" ]; then
      rest+=("$pid" "$st_start")
    fi
  done
fi
# etcd last: kube-apiserver does not stop promptly without it.
if ! stop "processes" "${rest[@]}" || ! stop "etcd" "${etcd[@]}"; then
  echo "processes still running after SIGKILL; $state/pids kept" >&2
  exit 1
fi
echo ">> stopped the local cluster (gatewarden-local pid ${leader:-?})"
rm -rf "$state"
