#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine, for Thaw's Slurm tests and CI.
#
#   bash scripts/slurm/start-local-slurm.sh            install if needed, start, wait until the node is idle
#   bash scripts/slurm/start-local-slurm.sh --status   exit 0 when the cluster these scripts started is up
#   bash scripts/slurm/stop-local-slurm.sh             cancel every job, stop what this script started
#
# Root only. Debian's own packages (slurmctld, slurmd, slurm-client, munge;
# bookworm has Slurm 22.05) are installed when missing; no systemd, cgroups or
# database is needed. Running it again while the cluster is up does nothing
# (0.1-0.3 s); after a change of the settings below it restarts the two Slurm
# daemons (3-5 s, queued and running jobs are lost).
#
# Settings (environment):
#   SLURM_LOCAL_CPUS        CPUs the node advertises (default: the core count, at least 8)
#   SLURM_LOCAL_MEM_MB      memory the node advertises (default: 90% of MemTotal)
#   SLURM_LOCAL_NODE        the node's name (default: hostname -s)
#   SLURM_LOCAL_DIR         spool, logs, PID record, lock (default /var/spool/slurm-local)
#   SLURM_LOCAL_CONF        where slurm.conf goes (default /etc/slurm/slurm.conf; elsewhere,
#                           the client commands need SLURM_CONF pointing at it)
#   SLURM_LOCAL_FORCE=1     overwrite a slurm.conf these scripts did not write (kept as *.before-thaw)
#   SLURM_LOCAL_KEEP_STATE=1  keep the jobs of the last run (default: start with an empty queue)
#   SLURM_LOCAL_TIMEOUT     seconds to wait for the node to become idle (default 60)
#
# Why each step is the way it is (measured on Debian 12, 2 cores, no systemd):
# - The packages' postinst starts nothing when policy-rc.d forbids it (containers), and
#   without systemd nothing would create /run/munge: it is made here, and munged runs as
#   user munge, as its unit would. A munged that already answers (e.g. started by an init
#   script) is reused and never stopped.
# - --no-install-recommends: 7 packages instead of 35 (the plugins package pulls X and HDF5).
# - Each daemon starts with every inherited descriptor above stderr closed: the flock fd
#   (9) would otherwise be held by a daemon forever, and a pipe (e.g. `npm test | tee`)
#   would never see its end, so the caller would hang on exit.
# - SlurmctldHost must be `hostname -s` (slurmctld refuses to run otherwise); the address
#   127.0.0.1 avoids DNS. The daemons listen on ports 6817/6818.
# - batch_sched_delay=0: the default (3) starts batch jobs and array waves on a 3 s cadence;
#   0 gives a ~1 s tick, which is what keeps the tests short.
# - DefMemPerCPU: with CR_Core_Memory and no default, each job is allotted the node's whole
#   memory, so jobs would run one at a time. Nothing is enforced without cgroups.
# - More CPUs than cores (SLURM_LOCAL_CPUS) needs SlurmdParameters=config_overrides, else
#   the node goes "inval" (Low socket*core*thread count) and never becomes idle. The
#   default advertises at least 8 so that several trivial array tasks run at once.
# - EnforcePartLimits=ALL rejects impossible jobs at submit time instead of letting them
#   pend forever; MinJobAge keeps finished jobs in `scontrol show job` for 10 minutes;
#   jobcomp/filetxt writes one line per finished job (there is no slurmdbd, so no sacct).
# - slurmctld -c starts with an empty queue (a test run never sees the last one's jobs);
#   -i ignores unreadable state files.
# - The config is rewritten only when it is ours (first line = the marker), so an
#   administrator's slurm.conf is never touched without SLURM_LOCAL_FORCE=1.
set -euo pipefail
# Command substitutions ($(...)) stop at a failing command too, as the script does.
shopt -s inherit_errexit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/common.sh"

usage() { sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//' >&2; }

# detached LOG COMMAND...: runs a daemon with stdin from /dev/null, stdout and stderr
# appended to LOG, and every other inherited descriptor closed (see the header).
detached() {
  local log=$1; shift
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    exec "$@"
  ) < /dev/null >> "$log" 2>&1
}

# wait_pidfile NAME FILE: prints the PID in FILE once it names a running NAME (10 s at most).
wait_pidfile() {
  local i pid
  for ((i = 0; i < 100; i++)); do
    pid=$(cat "$2" 2>/dev/null || true)
    if is_daemon "$1" "$pid"; then echo "$pid"; return 0; fi
    sleep 0.1
  done
  return 1
}

status() {
  local name pid state ok=0
  for name in munged slurmctld slurmd; do
    if pid=$(recorded_pid "$name"); then say "$name: running (PID $pid)"
    elif [ "$name" = munged ] && munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then say "munged: running (not started by these scripts)"
    else say "$name: not running"; ok=1
    fi
  done
  # Without our slurmctld, sinfo would retry for ~10 s before giving up.
  state=
  if recorded_pid slurmctld > /dev/null; then state=$(node_state); fi
  say "node: ${state:-no answer from sinfo}"
  serving "$state" || ok=1
  return "$ok"
}

install_packages() {
  local missing=() file
  for file in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch; do
    [ -x "$file" ] || missing+=("$file")
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  command -v apt-get > /dev/null || die "Slurm is not installed (no ${missing[*]}) and there is no apt-get here: install Slurm (slurmctld, slurmd and the client commands) and MUNGE with this system's package manager, then rerun."
  say "installing Slurm and MUNGE (Debian packages slurmctld slurmd slurm-client munge)"
  # Fresh machines may have empty package lists: update first. fd 9 (the lock) is
  # closed in case a postinst starts a daemon.
  apt-get update -q >&2 9>&- || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=120 slurmctld slurmd slurm-client munge >&2 9>&- \
    || die "apt-get install slurmctld slurmd slurm-client munge failed"
}

# The settings, checked before anything is touched.
read_settings() {
  host=$(hostname -s)
  node=${SLURM_LOCAL_NODE:-$host}
  cores=$(nproc)
  cpus=${SLURM_LOCAL_CPUS:-$((cores > 8 ? cores : 8))}
  mem=${SLURM_LOCAL_MEM_MB:-$(awk '/^MemTotal:/ { print int($2 / 1024 * 0.9) }' /proc/meminfo)}
  idle_timeout=${SLURM_LOCAL_TIMEOUT:-60}
  [[ "$cpus" =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_CPUS must be a positive integer, not '$cpus'"
  [[ "$mem" =~ ^[1-9][0-9]*$ ]] || die "SLURM_LOCAL_MEM_MB must be a positive integer, not '$mem'"
  [[ "$node" =~ ^[A-Za-z0-9][A-Za-z0-9._-]*$ ]] || die "SLURM_LOCAL_NODE must be a host-name-like word, not '$node'"
  [[ "$idle_timeout" =~ ^[0-9]+$ ]] || die "SLURM_LOCAL_TIMEOUT must be a number of seconds, not '$idle_timeout'"
}

write_conf_text() {
  cat <<EOF
$slurm_marker
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$slurm_dir/ctld
SlurmdSpoolDir=$slurm_dir/d
SlurmctldPidFile=$slurm_dir/slurmctld.pid
SlurmdPidFile=$slurm_dir/slurmd.pid
SlurmctldLogFile=$slurm_dir/log/slurmctld.log
SlurmdLogFile=$slurm_dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$slurm_dir/log/jobcomp.txt
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=512
MinJobAge=600
KillWait=5
EnforcePartLimits=ALL
ReturnToService=2
EOF
  if [ "$cpus" != "$cores" ]; then echo "SlurmdParameters=config_overrides"; fi
  echo "NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN"
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP"
}

# write_conf: writes slurm.conf when it differs; prints "changed" or "same".
write_conf() {
  local text
  text=$(write_conf_text)
  [ "${text%%$'\n'*}" = "$slurm_marker" ] || die "could not generate $slurm_conf"
  if [ -e "$slurm_conf" ] && [ "$(head -n 1 "$slurm_conf")" != "$slurm_marker" ]; then
    [ "${SLURM_LOCAL_FORCE:-}" = 1 ] || die "$slurm_conf was not written by this script; leaving it alone. Set SLURM_LOCAL_FORCE=1 to replace it (it is kept as $slurm_conf.before-thaw), or SLURM_LOCAL_CONF=another/path."
    [ -e "$slurm_conf.before-thaw" ] || cp -p "$slurm_conf" "$slurm_conf.before-thaw"
    say "replacing $slurm_conf (the old one is $slurm_conf.before-thaw)"
  fi
  if [ -e "$slurm_conf" ] && [ "$(cat "$slurm_conf")" = "$text" ]; then echo same; return; fi
  mkdir -p "$(dirname "$slurm_conf")"
  printf '%s\n' "$text" > "$slurm_conf.new"
  chmod 0644 "$slurm_conf.new"
  mv "$slurm_conf.new" "$slurm_conf"
  echo changed
}

start_munged() {
  local pid
  recorded_pid munged > /dev/null && return 0
  forget_pid munged
  if munge -n 2> /dev/null | unmunge > /dev/null 2>&1; then
    say "reusing the munged that already runs (not started here, so never stopped here)"
    return 0
  fi
  install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then
    runuser -u munge -- /usr/sbin/mungekey --create > /dev/null || die "no /etc/munge/munge.key and mungekey could not create one"
  fi
  detached "$slurm_dir/log/munged.out" runuser -u munge -- /usr/sbin/munged \
    || die "munged did not start: see /var/log/munge/munged.log and $slurm_dir/log/munged.out"
  pid=$(wait_pidfile munged /run/munge/munged.pid) || die "munged did not start: see /var/log/munge/munged.log"
  record_pid munged "$pid"
}

# start_slurm NAME ARGS...: starts slurmctld or slurmd unless ours already runs.
start_slurm() {
  local name=$1 pid others; shift
  recorded_pid "$name" > /dev/null && return 0
  forget_pid "$name"
  others=$(other_pids "$name" | tr '\n' ' ')
  [ -z "$others" ] || die "a $name not started by this script runs (PID ${others% }); stop it first."
  rm -f "$slurm_dir/$name.pid"
  detached "$slurm_dir/log/$name.out" "/usr/sbin/$name" "$@" \
    || die "$name did not start: see $slurm_dir/log/$name.log and $slurm_dir/log/$name.out"
  pid=$(wait_pidfile "$name" "$slurm_dir/$name.pid") || die "$name did not start: see $slurm_dir/log/$name.log"
  record_pid "$name" "$pid"
}

wait_until_idle() {
  local state resumed=0 start=$SECONDS
  while :; do
    state=$(node_state)
    serving "$state" && return 0
    # A node drained or down from an earlier run: it is ours, put it back once.
    case "$state" in
      drain*|down) if [ "$resumed" = 0 ]; then scontrol update NodeName="$node" State=RESUME 2> /dev/null || true; resumed=1; fi ;;
    esac
    if ((SECONDS - start >= idle_timeout)); then
      say "the node did not become idle within $idle_timeout s (state: ${state:-no answer from sinfo})"
      timeout 10 sinfo -R >&2 2> /dev/null || true
      die "see $slurm_dir/log/slurmctld.log and $slurm_dir/log/slurmd.log"
    fi
    sleep 0.2
  done
}

case "${1:-}" in
  --status) status; exit ;;
  -h | --help) usage; exit 0 ;;
  "") ;;
  *) usage; exit 2 ;;
esac

read_settings
[ "$(id -u)" -eq 0 ] || die "run it as root: it installs packages and starts daemons as root and munge (sudo bash $0)"
began=$(date +%s.%N)
mkdir -p "$slurm_dir"
# One start or stop at a time; the daemons never inherit fd 9 (see detached).
exec 9> "$slurm_lock"
flock -w 300 9 || die "another start or stop has held $slurm_lock for 5 minutes"

install_packages
mkdir -p "$slurm_dir/ctld" "$slurm_dir/d" "$slurm_dir/log"
conf=$(write_conf)
# The stop script reads the queue through this config, wherever it is.
echo "$slurm_conf" > "$slurm_dir/conf.path"
if [ "$conf" = changed ] && { recorded_pid slurmctld > /dev/null || recorded_pid slurmd > /dev/null; }; then
  say "$slurm_conf changed: restarting slurmctld and slurmd (jobs are lost)"
  stop_daemons slurmd slurmctld
fi
if [ "$conf" = same ] && recorded_pid slurmctld > /dev/null && recorded_pid slurmd > /dev/null; then
  noop=1
else
  noop=0
fi

start_munged
ctld_flags=(-i -f "$slurm_conf")
[ "${SLURM_LOCAL_KEEP_STATE:-}" = 1 ] || ctld_flags+=(-c)
start_slurm slurmctld "${ctld_flags[@]}"
start_slurm slurmd -N "$node" -f "$slurm_conf"
wait_until_idle

took=$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
if [ "$noop" = 1 ]; then
  say "already running: node $node $(node_state) ($took s)"
else
  say "up: node $node $(node_state), $(sed -n 's/^NodeName=.* CPUs=\([0-9]*\).*/\1/p' "$slurm_conf") CPUs, in $took s; logs in $slurm_dir/log"
fi
