#!/usr/bin/env bash
# Stops the local Slurm cluster that start-local-slurm.sh started.
#
# 1. Cancels every job first: slurmstepd (the parent of a running job) survives
#    slurmd's exit by design, so stopping the daemons alone would orphan running jobs.
# 2. SIGTERM to slurmd and slurmctld, then munged, and waits for their exits (each
#    saves its state first, about 2 s), SIGKILL after 20 s.
# Only the PIDs in $SLURM_LOCAL_DIR/started.pids are signalled, and only while
# /proc/PID/comm still names the daemon (PIDs are reused quickly). A munged this
# script did not start is left running. Nothing is deleted: the config, the spool
# and the logs stay for the next start (and for reading). Idempotent; root only.
set -euo pipefail
shopt -s inherit_errexit
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/common.sh"

# squeue and scancel must ask the cluster that was started, whatever its config's path.
if [ -z "${SLURM_LOCAL_CONF:-}" ] && [ -s "$slurm_dir/conf.path" ]; then
  SLURM_CONF=$(cat "$slurm_dir/conf.path")
  export SLURM_CONF
fi
[ "$(id -u)" -eq 0 ] || die "run it as root: the daemons run as root and munge (sudo bash $0)"
if [ ! -f "$slurm_record" ]; then
  say "not running (nothing started by start-local-slurm.sh)"
  exit 0
fi
began=$(date +%s.%N)
exec 9> "$slurm_lock"
flock -w 300 9 || die "another start or stop has held $slurm_lock for 5 minutes"

running=
for name in slurmd slurmctld munged; do
  if pid=$(recorded_pid "$name"); then running+=" $name($pid)"; fi
done
if [ -z "$running" ]; then
  : > "$slurm_record"
  say "not running (the recorded daemons have exited)"
  exit 0
fi

if recorded_pid slurmctld > /dev/null; then
  jobs=$(timeout 10 squeue -h -o %F 2> /dev/null | sort -u | tr '\n' ' ' || true)
  if [ -n "${jobs// /}" ]; then
    say "cancelling jobs: $jobs"
    # shellcheck disable=SC2086 # one argument per job id
    timeout 20 scancel $jobs 2> /dev/null || true
    # KillWait=5: running jobs get SIGTERM, then SIGKILL 5 s later.
    for ((i = 0; i < 150; i++)); do
      [ -z "$(timeout 10 squeue -h -o %i 2> /dev/null || true)" ] && break
      sleep 0.2
    done
  fi
fi

stop_daemons slurmd slurmctld
stop_daemons munged
took=$(awk -v a="$began" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
say "stopped:$running ($took s)"
