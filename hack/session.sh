# Sourced by up.sh, down.sh and demo.sh: the local cluster runs in a session
# of its own. hack/local (gatewarden-local) is started with setsid, so it
# leads a new session and process group whose id is its pid; etcd,
# kube-apiserver and gatewarden are its children and stay in that session
# (envtest gives etcd and kube-apiserver process groups of their own, but a
# process cannot leave its session). $state/session records the id and the
# leader's start time: a pid is reused once its process is gone (pid_max may
# be as low as 32768), and the start time tells the recorded leader from a
# later process with the same pid. Nothing is ever matched by name.
# shellcheck shell=bash

# proc_start PID: the start time of PID, if it runs and is not a zombie.
proc_start() {
  local stat start
  read -r stat start < <(ps -o stat=,lstart= -p "$1" 2>/dev/null) || return 1
  [[ $stat != Z* ]] || return 1
  echo "$start"
}

# session_record STATE PID: PID leads the session that holds the cluster.
session_record() {
  local sid start
  # setsid(1) calls setsid(2) just after the fork that $! reports.
  for _ in $(seq 1 50); do
    sid=$(ps -o sid= -p "$2" | tr -d ' ') || break
    [ "$sid" = "$2" ] && break
    sleep 0.1
  done
  if [ "$sid" != "$2" ]; then
    echo "gatewarden-local (pid $2) does not lead a session of its own (session ${sid:-?}); was it started with setsid?" >&2
    return 1
  fi
  start=$(proc_start "$2") || return 1
  echo "$2 $start" >"$1/session"
}

# session_leader STATE: prints the recorded leader's pid if that process
# still runs; fails if it is gone, or the pid now belongs to another process.
session_leader() {
  local sid start now
  read -r sid start <"$1/session" 2>/dev/null || return 1
  now=$(proc_start "$sid") || return 1
  [ "$now" = "$start" ] && echo "$sid"
}
