#!/usr/bin/env bash
# Start a throw-away, single-node SLURM cluster on this machine, for tests/test_slurm.py
# (and for anyone who wants to try the cluster profile without a cluster).
#
#   bash tests/slurm/start_slurm.sh DIR     # start; prints the client environment
#   bash tests/slurm/stop_slurm.sh DIR      # stop exactly the daemons this started
#   RETAIN_SLURM_OWNER=PID bash tests/slurm/start_slurm.sh DIR   # ...and stop them when PID ends
#
# Everything lives under DIR: configs, munge key and socket, MariaDB data, state, spool, logs,
# and DIR/pids (one "name pid" line per daemon started). Nothing in /etc, /run or /var is
# touched and no system service is started, so it runs beside a real SLURM or MariaDB.
# Ports are free loopback ports picked at start. Needs root (slurmd runs jobs as the submitter
# and must be able to switch users) and Debian's packages:
#   apt-get install slurm-wlm slurmdbd munge mariadb-server
#
# Accounting: Debian 12's SLURM (22.05) ships no accounting_storage/filetxt any more, and
# sacct reads only slurmdbd, so a real slurmdbd backed by a private MariaDB runs here.
#
# Exit status: 0 started; 2 a program is missing; 3 a daemon did not start. On 2 and 3 the
# last line on stderr is "start_slurm: REASON: ..." and whatever was started has been stopped.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: start_slurm.sh DIR}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
cluster=${RETAIN_SLURM_CLUSTER:-retain-test}
partition=${RETAIN_SLURM_PARTITION:-retain}
account=${RETAIN_SLURM_ACCOUNT:-retain}
user=$(id -un)

reason() {
  echo "start_slurm: REASON: $*" >&2
}

fail() {  # fail LOGFILE MESSAGE: show the daemon's own words, stop what was started, exit 3
  local log=$1
  shift
  if [ -s "$log" ]; then
    echo "---- last lines of $log" >&2
    tail -n 15 "$log" >&2
    echo "----" >&2
  fi
  bash "$here/stop_slurm.sh" "$dir" >&2 || true
  reason "$*"
  exit 3
}

programs=(munged munge unmunge mariadb-install-db mariadbd mariadb mariadb-admin slurmdbd slurmctld slurmd
  sbatch srun sacct sacctmgr sinfo squeue scontrol scancel python3 setsid)
missing=()
for program in "${programs[@]}"; do
  command -v "$program" >/dev/null || missing+=("$program")
done
if [ ${#missing[@]} -gt 0 ]; then
  reason "not installed: ${missing[*]} (apt-get install slurm-wlm slurmdbd munge mariadb-server)"
  exit 2
fi
if [ "$(id -u)" != 0 ]; then
  reason "slurmd must run as root to start jobs (running as $user)"
  exit 2
fi

# A fresh directory, private to root: munged refuses sockets in group/world-writable places.
if [ -e "$dir/pids" ]; then
  reason "$dir already holds a cluster (stop it first: bash tests/slurm/stop_slurm.sh $dir)"
  exit 3
fi
chmod 700 "$dir"
mkdir -p "$dir"/{etc,log,run,state,spool,munge,mysql}
: >"$dir/pids"

# With RETAIN_SLURM_OWNER=PID, a watchdog stops the cluster when that process ends without
# stopping it (a test run killed outright), so no daemon outlives its owner for long.
if [ -n "${RETAIN_SLURM_OWNER:-}" ]; then
  setsid bash -c 'while kill -0 "$1" 2>/dev/null && [ -e "$2/pids" ]; do sleep 2; done
    if [ -e "$2/pids" ]; then bash "$3/stop_slurm.sh" "$2" --purge; fi' \
    watchdog "$RETAIN_SLURM_OWNER" "$dir" "$here" >"$dir/log/watchdog.out" 2>&1 </dev/null &
fi

free_ports() {  # N distinct free TCP ports on the loopback interface
  python3 - "$1" <<'EOF'
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}
read -r db_port dbd_port ctld_port slurmd_port < <(free_ports 4)

start() {  # start NAME COMMAND...: run a daemon in the foreground of its own session, record its pid
  local name=$1
  shift
  setsid "$@" >"$dir/log/$name.out" 2>&1 </dev/null &
  echo "$name $!" >>"$dir/pids"
}

wait_for() {  # wait_for SECONDS NAME COMMAND...: until COMMAND succeeds, or the daemon dies, or time runs out
  local seconds=$1 name=$2
  shift 2
  local pid
  pid=$(awk -v n="$name" '$1 == n {print $2}' "$dir/pids")
  local deadline=$((SECONDS + seconds))
  while ! "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 2
    fi
    if [ $SECONDS -ge $deadline ]; then
      return 1
    fi
    sleep 0.5
  done
}

why() {  # why STATUS NAME SECONDS: the words for wait_for's failure
  if [ "$1" = 2 ]; then echo "$2 exited during start-up"; else echo "$2 did not become ready within $3 s"; fi
}

# ---------------------------------------------------------------- munge (authentication)
socket="$dir/munge/munge.socket"
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
start munged munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$socket" \
  --pid-file="$dir/munge/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munged.seed"
munge_works() { munge --socket="$socket" -n | unmunge --socket="$socket"; }
wait_for 20 munged munge_works || fail "$dir/log/munged.log" "$(why $? munged 20)"

# ---------------------------------------------------------------- MariaDB (slurmdbd's store)
mysql_socket="$dir/mysql/mysqld.sock"
mariadb-install-db --no-defaults --user="$user" --datadir="$dir/mysql/data" --skip-test-db \
  --auth-root-authentication-method=normal --innodb-log-file-size=8M >"$dir/log/mariadb-install.log" 2>&1 ||
  fail "$dir/log/mariadb-install.log" "mariadb-install-db could not create a database in $dir/mysql/data"
start mariadbd mariadbd --no-defaults --user="$user" --datadir="$dir/mysql/data" --socket="$mysql_socket" \
  --port="$db_port" --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/mysql/mariadbd.pid" \
  --log-error="$dir/log/mariadb.log" --innodb-log-file-size=8M --innodb-buffer-pool-size=64M
mariadb_ready() { mariadb-admin --no-defaults --socket="$mysql_socket" -uroot ping; }
wait_for 60 mariadbd mariadb_ready || fail "$dir/log/mariadb.log" "$(why $? mariadbd 60)"
db_password=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
mariadb --no-defaults --socket="$mysql_socket" -uroot -e "
  CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$db_password';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" >"$dir/log/mariadb-grant.log" 2>&1 ||
  fail "$dir/log/mariadb-grant.log" "could not create the slurm database user"

# ---------------------------------------------------------------- configuration
# The node as slurmd sees it (hostname, CPUs, sockets, memory), so slurmd accepts the config.
node=$(slurmd -C | head -n 1)
case $node in NodeName=*) ;; *) fail /dev/null "slurmd -C did not describe this machine: $node" ;; esac
hostname=${node#NodeName=}
hostname=${hostname%% *}
mkdir -p "$dir/spool/slurmd-$hostname"

cat >"$dir/etc/slurm.conf" <<EOF
# Written by tests/slurm/start_slurm.sh: a one-node cluster on the loopback interface.
ClusterName=$cluster
SlurmctldHost=$hostname(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/slurmd-%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
PlugStackConfig=$dir/etc/plugstack.conf
MailProg=/bin/true
# No cgroups: the test machine may be a container or a micro-VM without a delegated cgroup tree.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
# For slurmdbd connections the munge socket is given here, not by AuthInfo.
AccountingStoragePass=$socket
AccountingStorageEnforce=associations
# Keep the comment the executor plugin gives each job (rule and wildcards) in sacct.
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Keep finished jobs visible to squeue for a while (the plugin's fallback status command).
MinJobAge=600
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MpiDefault=none
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=$partition Nodes=$hostname Default=YES MaxTime=INFINITE State=UP
EOF
: >"$dir/etc/plugstack.conf"

cat >"$dir/etc/slurmdbd.conf" <<EOF
# Written by tests/slurm/start_slurm.sh.
AuthType=auth/munge
AuthInfo=socket=$socket
DbdHost=$hostname
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
LogFile=$dir/log/slurmdbd.log
PidFile=$dir/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$db_port
StorageUser=slurm
StoragePass=$db_password
StorageLoc=slurm_acct_db
EOF
chmod 600 "$dir/etc/slurmdbd.conf"  # slurmdbd refuses a world-readable config (it holds a password)

# slurmdbd finds slurmdbd.conf beside the slurm.conf that SLURM_CONF names.
export SLURM_CONF="$dir/etc/slurm.conf"

# ---------------------------------------------------------------- slurmdbd, then the account tree
start slurmdbd slurmdbd -D
wait_for 60 slurmdbd sacctmgr -n list cluster || fail "$dir/log/slurmdbd.log" "$(why $? slurmdbd 60)"
{
  sacctmgr -i add cluster "$cluster"
  sacctmgr -i add account "$account" Cluster="$cluster" Description="Retain tests" Organization=retain
  sacctmgr -i add user "$user" Account="$account" Cluster="$cluster" DefaultAccount="$account"
} >"$dir/log/sacctmgr.log" 2>&1 || fail "$dir/log/sacctmgr.log" "sacctmgr could not register cluster $cluster and account $account"

# ---------------------------------------------------------------- slurmctld and slurmd
start slurmctld slurmctld -D -i
ctld_up() { scontrol ping | grep -q 'is UP'; }
wait_for 60 slurmctld ctld_up || fail "$dir/log/slurmctld.log" "$(why $? slurmctld 60)"
start slurmd slurmd -D
node_idle() { sinfo -h -N -o %T | grep -qx idle; }
wait_for 60 slurmd node_idle || fail "$dir/log/slurmd.log" "$(why $? slurmd 60) (node state: $(sinfo -h -N -o '%T %E' 2>&1 | head -n 1))"

# A one-second job through sbatch and srun proves that jobs start, run steps and reach sacct.
probe=$(sbatch --parsable -p "$partition" -A "$account" -n 1 -c 1 --mem 100 -t 1 -J retain-probe \
  -o "$dir/log/probe-%j.out" --wrap 'srun -n 1 true') || fail "$dir/log/slurmctld.log" "sbatch refused a probe job"
probe=${probe%%;*}
probe_done() { [ "$(sacct -n -X -P -j "$probe" -o State)" = COMPLETED ]; }
wait_for 60 slurmd probe_done ||
  fail "$dir/log/slurmd.log" "a probe job ($probe) did not complete (sacct: $(sacct -n -X -P -j "$probe" -o State,Reason 2>&1 | head -n 1))"

# snakemake-executor-plugin-slurm-jobstep (0.6.1) strips every SLURM_* variable, SLURM_CONF too,
# before its srun inside the job, and srun then finds no configuration (this cluster's
# slurm.conf is not at the default /etc/slurm/slurm.conf). A one-line srun first on PATH puts
# SLURM_CONF back; docs/cluster.md shows the same shim for sites that rely on SLURM_CONF.
mkdir -p "$dir/bin"
printf '#!/bin/sh\nSLURM_CONF=%s exec %s "$@"\n' "$SLURM_CONF" "$(command -v srun)" >"$dir/bin/srun"
chmod 755 "$dir/bin/srun"

cat >"$dir/env" <<EOF
export SLURM_CONF=$SLURM_CONF
export PATH=$dir/bin:\$PATH
export RETAIN_SLURM_CLUSTER=$cluster
export RETAIN_SLURM_PARTITION=$partition
export RETAIN_SLURM_ACCOUNT=$account
EOF
cat "$dir/env"
