#!/usr/bin/env bash
# slurm-up.sh (jug tests/clusters) - bring up a REAL single-node Slurm cluster (Debian 12 packages,
# Slurm 22.05.8) on this machine, for integration tests.  Run as root.
#
# Idempotent: installs packages only if missing, rewrites the config only if it
# changed (restarting the daemons when it did), starts only daemons that are
# not already running, then waits until `sinfo` shows the node idle.
#
# No systemd needed: daemons are started directly (they daemonize themselves;
# mariadbd is backgrounded with setsid and its output sent to a log file).
#
# Knobs (environment):
#   SLURM_WITH_DBD=0   (default) accounting_storage/none: jug never needs sacct
#                      (it reads squeue and its own store), so the test cluster
#                      skips MariaDB + slurmdbd (3 s less install, 110 MB less RAM).
#                      1 = also run MariaDB + slurmdbd so `sacct` works.
#   SLURM_CGROUPS=0    (default) proctrack/linuxproc + task/none + CR_Core:
#                      works anywhere, but --mem is not enforced.
#                      1 = proctrack/cgroup + task/cgroup + CR_Core_Memory +
#                      DefMemPerCPU=500: --mem enforced (OUT_OF_MEMORY).  Needs a
#                      writable cgroup fs (works on this VM: cgroup v1 hybrid).
#   LOCAL_SLURM_CLUSTER=localcluster   ClusterName.
#   SLURM_UP_TIMEOUT=90                seconds to wait for the node to go idle.
#   SLURM_MAX_ARRAY_SIZE=1001          MaxArraySize (Slurm's default).
#
# Everything it starts is recorded in /run/localcluster/slurm.started so that
# slurm-down.sh stops exactly those daemons (by pid).
set -euo pipefail

SLURM_WITH_DBD=${SLURM_WITH_DBD:-0}
SLURM_CGROUPS=${SLURM_CGROUPS:-0}
CLUSTER=${LOCAL_SLURM_CLUSTER:-localcluster}
UP_TIMEOUT=${SLURM_UP_TIMEOUT:-90}
MAX_ARRAY_SIZE=${SLURM_MAX_ARRAY_SIZE:-1001}
LEDGER_DIR=/run/localcluster
LEDGER=$LEDGER_DIR/slurm.started
LOGDIR=/var/log/slurm
DB_PASS=slurmdbpass   # local throwaway DB user, bound to 127.0.0.1 only

[ "$(id -u)" = 0 ] || { echo "slurm-up.sh: must run as root" >&2; exit 1; }

now() { date +%s.%N; }
T_START=$(now)
declare -a TIMINGS=()
lap() { # lap LABEL T0
  local d; d=$(awk -v a="$2" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}')
  TIMINGS+=("$(printf '%-28s %6ss' "$1" "$d")")
}
log() { echo "[slurm-up] $*"; }

# alive PIDFILE EXPECTED_COMM -> 0 if the pid in PIDFILE is a live (non-zombie)
# process whose comm starts with EXPECTED_COMM
alive() {
  local pf=$1 want=$2 pid st comm
  [ -r "$pf" ] || return 1
  pid=$(tr -dc '0-9' < "$pf")
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
  [ "$st" != Z ] || return 1
  comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
  [[ "$comm" == "$want"* ]]
}
port_listening() { [[ "$(ss -Hltn "sport = :$1" 2>/dev/null)" == *LISTEN* ]]; }
ctld_up() { [[ "$(scontrol ping 2>/dev/null)" == *UP* ]]; }
record() { mkdir -p "$LEDGER_DIR"; grep -qx "$1" "$LEDGER" 2>/dev/null || echo "$1" >> "$LEDGER"; }
# stop_pidfile PIDFILE COMM  (used only for restarts after a config change)
stop_pidfile() {
  local pf=$1 want=$2 pid
  alive "$pf" "$want" || return 0
  pid=$(tr -dc '0-9' < "$pf")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do alive "$pf" "$want" || return 0; sleep 0.2; done
  kill -KILL "$pid" 2>/dev/null || true
  sleep 0.5
}

# ---------------------------------------------------------------- install
t=$(now)
need=()
for b in /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/munged; do
  [ -x "$b" ] || need+=(slurm-wlm munge)
done
if [ "$SLURM_WITH_DBD" = 1 ]; then
  [ -x /usr/sbin/slurmdbd ] || need+=(slurmdbd)
  [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
fi
if [ ${#need[@]} -gt 0 ]; then
  mapfile -t need < <(printf '%s\n' "${need[@]}" | sort -u)
  log "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d (if present) stops postinst from starting services; if it is
  # absent, invoke-rc.d may start munge/mariadb itself - handled below.
  apt-get install -y -qq --no-install-recommends "${need[@]}" > /tmp/slurm-up-apt.log 2>&1 \
    || { tail -30 /tmp/slurm-up-apt.log; exit 1; }
fi
lap "install (apt)" "$t"

# ---------------------------------------------------------------- host name
NODE=$(hostname -s)
if ! getent hosts "$NODE" >/dev/null; then
  log "hostname $NODE does not resolve; adding it to /etc/hosts"
  echo "127.0.1.1 $NODE" >> /etc/hosts
fi

# ---------------------------------------------------------------- munge
t=$(now)
install -d -o munge -g munge -m 0700 /etc/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0755 /run/munge
if [ ! -s /etc/munge/munge.key ]; then
  log "creating munge key"
  runuser -u munge -- /usr/sbin/mungekey --create --keyfile=/etc/munge/munge.key
fi
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "munged already running"
else
  rm -f /run/munge/munge.socket.2.lock /run/munge/munged.pid
  # munged keeps every descriptor it inherits: run under `flock LOCK pytest ...`, it held the
  # lock for its whole life (every later `flock` waited forever); start it with only 0-2 open
  python3 -c 'import os, sys; os.closerange(3, 65536); os.execvp(sys.argv[1], sys.argv[1:])' \
    runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 1 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { echo "munged failed to start"; exit 1; }
  record munged
  log "munged started (pid $(cat /run/munge/munged.pid))"
fi
lap "munged" "$t"

# ---------------------------------------------------------------- dirs
install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld "$LOGDIR"
install -d -o root  -g root  -m 0755 /var/lib/slurm/slurmd
install -d -m 0755 /etc/slurm

# ---------------------------------------------------------------- slurm.conf
# Node line straight from `slurmd -C` (exact CPU/socket/core/memory layout, so
# the node never drains for "Low RealMemory" / topology mismatch).
NODELINE=$(/usr/sbin/slurmd -C | head -1)
case "$NODELINE" in NodeName=*) ;; *) echo "slurmd -C failed: $NODELINE"; exit 1;; esac
if [ "$SLURM_WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
else
  ACCT="AccountingStorageType=accounting_storage/none"
fi
if [ "$SLURM_CGROUPS" = 1 ]; then
  PROC="# cgroup mode (SLURM_CGROUPS=1): containment + memory enforcement
ProctrackType=proctrack/cgroup
TaskPlugin=task/cgroup,task/affinity"
  SELECT="SelectTypeParameters=CR_Core_Memory
# without a default every job would get the whole node's memory -> 1 job at a time
DefMemPerCPU=500"
  printf '# generated by slurm-up.sh\nCgroupPlugin=autodetect\nConstrainCores=yes\nConstrainRAMSpace=yes\n' > /tmp/cgroup.conf.new
  cmp -s /tmp/cgroup.conf.new /etc/slurm/cgroup.conf || { install -m 0644 /tmp/cgroup.conf.new /etc/slurm/cgroup.conf; CGROUP_CHANGED=1; }
  rm -f /tmp/cgroup.conf.new
else
  PROC="# no cgroups: plain /proc based process tracking, no task containment
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none"
  SELECT="SelectTypeParameters=CR_Core"
  if grep -qs 'generated by slurm-up.sh' /etc/slurm/cgroup.conf; then rm -f /etc/slurm/cgroup.conf; fi
fi
NEWCONF=$(mktemp)
cat > "$NEWCONF" <<EOF
# generated by slurm-up.sh - single-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=$NODE
SlurmUser=slurm
SlurmctldPort=6817
SlurmdPort=6818
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
$PROC
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=$LOGDIR/jobcomp.log
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# kill_invalid_depend: jobs whose dependency can never be met are cancelled
# instead of pending forever (DependencyNeverSatisfied).  NB: since 20.11 this
# belongs in DependencyParameters; under SchedulerParameters it is ignored.
DependencyParameters=kill_invalid_depend
# one job per core, so 2 single-CPU jobs run concurrently on 2 cores
SelectType=select/cons_tres
$SELECT
ReturnToService=2
# seconds between SIGTERM and SIGKILL at time limit / scancel (default 30)
KillWait=5
MinJobAge=300
MaxArraySize=$MAX_ARRAY_SIZE
$NODELINE State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
CONF_CHANGED=${CGROUP_CHANGED:-0}
if ! cmp -s "$NEWCONF" /etc/slurm/slurm.conf; then
  if [ -f /etc/slurm/slurm.conf ] && ! grep -q 'generated by slurm-up.sh' /etc/slurm/slurm.conf; then
    cp -a /etc/slurm/slurm.conf "/etc/slurm/slurm.conf.bak.$(date +%s)"
  fi
  install -m 0644 "$NEWCONF" /etc/slurm/slurm.conf
  CONF_CHANGED=1
  log "wrote /etc/slurm/slurm.conf"
fi
rm -f "$NEWCONF"

# ---------------------------------------------------------------- mariadb + slurmdbd
if [ "$SLURM_WITH_DBD" = 1 ]; then
  t=$(now)
  install -d -o mysql -g root -m 0755 /run/mysqld
  if mariadb-admin ping >/dev/null 2>&1; then
    log "mariadb already running"
  else
    [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
    setsid /usr/sbin/mariadbd --user=mysql --pid-file=/run/mysqld/mysqld.pid \
      >> "$LOGDIR/mariadb.log" 2>&1 < /dev/null &
    for _ in $(seq 1 150); do mariadb-admin ping >/dev/null 2>&1 && break; sleep 0.2; done
    mariadb-admin ping >/dev/null 2>&1 || { tail -20 "$LOGDIR/mariadb.log"; echo "mariadb failed"; exit 1; }
    record mariadbd
    log "mariadbd started (pid $(cat /run/mysqld/mysqld.pid))"
  fi
  mariadb -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
  lap "mariadbd" "$t"

  t=$(now)
  NEWDBD=$(mktemp)
  cat > "$NEWDBD" <<EOF
# generated by slurm-up.sh
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  DBD_CHANGED=0
  if ! cmp -s "$NEWDBD" /etc/slurm/slurmdbd.conf; then
    install -m 0600 -o slurm -g slurm "$NEWDBD" /etc/slurm/slurmdbd.conf; DBD_CHANGED=1
  fi
  rm -f "$NEWDBD"
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 0600 /etc/slurm/slurmdbd.conf
  if [ "$DBD_CHANGED" = 1 ]; then stop_pidfile /run/slurmdbd.pid slurmdbd; fi
  if alive /run/slurmdbd.pid slurmdbd; then
    log "slurmdbd already running"
  else
    /usr/sbin/slurmdbd
    record slurmdbd
    for _ in $(seq 1 150); do port_listening 6819 && break; sleep 0.2; done
    port_listening 6819 || { tail -20 "$LOGDIR/slurmdbd.log"; echo "slurmdbd failed"; exit 1; }
    log "slurmdbd started (pid $(cat /run/slurmdbd.pid))"
  fi
  lap "slurmdbd" "$t"
fi

# ---------------------------------------------------------------- slurmctld / slurmd
t=$(now)
if [ "$CONF_CHANGED" = 1 ]; then
  stop_pidfile /run/slurmd.pid slurmd
  stop_pidfile /run/slurmctld.pid slurmctld
fi
if alive /run/slurmctld.pid slurmctld; then
  log "slurmctld already running"
else
  /usr/sbin/slurmctld          # daemonizes; drops privileges to SlurmUser=slurm
  record slurmctld
  log "slurmctld started"
fi
for _ in $(seq 1 100); do ctld_up && break; sleep 0.2; done
if alive /run/slurmd.pid slurmd; then
  log "slurmd already running"
else
  /usr/sbin/slurmd             # daemonizes; runs as root (needed to start jobs as the submitting user)
  record slurmd
  log "slurmd started"
fi

# ---------------------------------------------------------------- wait for idle
state=""
deadline=$(( $(date +%s) + UP_TIMEOUT ))
resumed=0
while [ "$(date +%s)" -lt "$deadline" ]; do
  state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mixed|allocated|completing) break ;;
    down|down\*|drained|draining|drain*)
      if [ $resumed = 0 ]; then
        log "node state '$state' -> scontrol update state=resume"
        scontrol update nodename="$NODE" state=resume 2>/dev/null || true
        resumed=1
      fi ;;
  esac
  sleep 0.25
done
lap "slurmctld+slurmd -> idle" "$t"
case "$state" in
  idle|mixed|allocated|completing) ;;
  *) echo "node did not become idle (state='$state'); see $LOGDIR/slurm{ctld,d}.log"; exit 1;;
esac

# ---------------------------------------------------------------- second partition
# "gpu": the same node in a second partition, for the worker-pool tests (one array per pool,
# each in its pool's partition).  Created live with scontrol: a running cluster gains it
# without a config change or daemon restart, so running jobs are not disturbed.
if ! scontrol show partition gpu >/dev/null 2>&1; then
  scontrol create PartitionName=gpu Nodes="$NODE" Default=NO MaxTime=INFINITE State=UP
  log "partition gpu created"
fi

sinfo
echo "---- timings ----"
printf '%s\n' "${TIMINGS[@]}"
lap "TOTAL slurm-up.sh" "$T_START"; echo "${TIMINGS[-1]}"
