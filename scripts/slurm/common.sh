# Shared by start-local-slurm.sh and stop-local-slurm.sh (sourced, never run).
#
# The local cluster keeps everything it owns under one folder, $SLURM_LOCAL_DIR
# (default /var/spool/slurm-local): the controller's and the node's spool, the
# logs, the daemons' PID files, the lock and `started.pids`, the record of the
# daemons these scripts started ("NAME PID" per line). The stop script signals
# only the PIDs in that record, and only while /proc/PID/comm still names the
# daemon: PIDs wrap around quickly on a busy test machine, so a PID written an
# hour ago may belong to some unrelated process by now.

slurm_dir=${SLURM_LOCAL_DIR:-/var/spool/slurm-local}
slurm_conf=${SLURM_LOCAL_CONF:-/etc/slurm/slurm.conf}
slurm_record=$slurm_dir/started.pids
slurm_lock=$slurm_dir/lock
# The first line of every slurm.conf these scripts write: a config without it
# belongs to someone else and is never overwritten (unless SLURM_LOCAL_FORCE=1).
slurm_marker='# Local test cluster written by thaw scripts/slurm/start-local-slurm.sh (edits are overwritten).'

# The client commands read SLURM_CONF when the config is not in the default place.
if [ "$slurm_conf" != /etc/slurm/slurm.conf ]; then export SLURM_CONF=$slurm_conf; fi

say() { echo "[slurm-local] $*" >&2; }
die() { say "error: $*"; exit 1; }

# is_daemon NAME PID: PID is alive and is still the daemon NAME.
is_daemon() {
  [ -n "${2:-}" ] && [ "$(cat "/proc/$2/comm" 2>/dev/null)" = "$1" ]
}

# recorded_pid NAME: prints the recorded PID of NAME if that daemon still runs.
recorded_pid() {
  local name pid
  [ -f "$slurm_record" ] || return 1
  while read -r name pid; do
    if [ "$name" = "$1" ] && is_daemon "$name" "$pid"; then echo "$pid"; return 0; fi
  done < "$slurm_record"
  return 1
}

# record_pid NAME PID: replaces NAME's line in the record.
record_pid() {
  local rest
  rest=$(grep -v "^$1 " "$slurm_record" 2>/dev/null || true)
  { [ -z "$rest" ] || echo "$rest"; echo "$1 $2"; } > "$slurm_record.new"
  mv "$slurm_record.new" "$slurm_record"
}

# forget_pid NAME: drops NAME's line from the record.
forget_pid() {
  [ -f "$slurm_record" ] || return 0
  { grep -v "^$1 " "$slurm_record" || true; } > "$slurm_record.new"
  mv "$slurm_record.new" "$slurm_record"
}

# other_pids NAME: PIDs of processes called NAME that are not in the record.
other_pids() {
  local ours comm pid
  ours=$(recorded_pid "$1" || true)
  for comm in /proc/[0-9]*/comm; do
    pid=${comm#/proc/}; pid=${pid%/comm}
    if [ "$pid" != "$ours" ] && [ "$(cat "$comm" 2>/dev/null)" = "$1" ]; then echo "$pid"; fi
  done
}

# node_state: the node's state as sinfo prints it (idle, mixed, idle*, inval…), or nothing.
node_state() {
  { timeout 10 sinfo -h -o %T 2> /dev/null || true; } | head -n 1
}

# serving STATE: the node can run jobs (a trailing * would mean "not responding").
serving() {
  case "$1" in idle|mixed|allocated|completing) return 0 ;; *) return 1 ;; esac
}

# stop_daemons NAME...: SIGTERM to each of our recorded daemons at once, then
# wait for their exits (each saves its state first: 1.5-2 s), SIGKILL after
# 20 s. Daemons that are not ours are left alone.
stop_daemons() {
  local name pid i left
  local -A pids=()
  for name in "$@"; do
    if pid=$(recorded_pid "$name"); then
      pids[$name]=$pid
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 200; i++)); do
    left=0
    for name in "${!pids[@]}"; do is_daemon "$name" "${pids[$name]}" && left=1; done
    [ "$left" = 0 ] && break
    sleep 0.1
  done
  for name in "${!pids[@]}"; do
    if is_daemon "$name" "${pids[$name]}"; then
      say "$name (PID ${pids[$name]}) still runs 20 s after SIGTERM: SIGKILL"
      kill -KILL "${pids[$name]}" 2>/dev/null || true
    fi
  done
  for name in "$@"; do forget_pid "$name"; done
}
