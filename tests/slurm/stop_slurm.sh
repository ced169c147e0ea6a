#!/usr/bin/env bash
# Stop the cluster that tests/slurm/start_slurm.sh started in DIR: cancel its jobs, then end
# exactly the daemons listed in DIR/pids (newest first), each by its process id, and only while
# that id still belongs to the program it was recorded for. Safe to run twice.
#
#   bash tests/slurm/stop_slurm.sh DIR [--purge]    # --purge also deletes the MariaDB data
set -uo pipefail

dir=${1:?usage: stop_slurm.sh DIR [--purge]}
[ -d "$dir" ] || exit 0
dir=$(cd "$dir" && pwd)
pids="$dir/pids"

# Jobs first, so no slurmstepd outlives its slurmd.
if [ -f "$dir/etc/slurm.conf" ] && command -v squeue >/dev/null; then
  export SLURM_CONF="$dir/etc/slurm.conf"
  jobs=$(timeout 10 squeue -h -o %i 2>/dev/null)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086  # one argument per job id
    timeout 10 scancel $jobs 2>/dev/null
    for _ in $(seq 20); do
      [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.5
    done
  fi
fi

owned() {  # owned PID NAME: is PID still a running NAME process?
  [ -r "/proc/$1/comm" ] && [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]
}

if [ -f "$pids" ]; then
  tac "$pids" | while read -r name pid; do
    [ -n "$pid" ] || continue
    if owned "$pid" "$name"; then
      kill -TERM "$pid" 2>/dev/null
      for _ in $(seq 40); do
        owned "$pid" "$name" || break
        sleep 0.25
      done
      if owned "$pid" "$name"; then
        echo "stop_slurm: $name ($pid) ignored SIGTERM for 10 s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
      fi
    fi
  done
  mv "$pids" "$pids.stopped"
fi

if [ "${2:-}" = --purge ]; then
  rm -rf "$dir/mysql" "$dir/state" "$dir/spool"
fi
exit 0
