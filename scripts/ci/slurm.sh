#!/usr/bin/env bash
# Start (or stop) a single-node SLURM on this machine for the SLURM executor tests.
#
#   scripts/ci/slurm.sh [start]   # install slurm-wlm + munge if missing, start, wait for idle
#   scripts/ci/slurm.sh stop      # scontrol shutdown, then stop munged
#
# Debian packages, no systemd: the daemons are started by hand (see
# shared/research/cluster-services.md). One node, "localhost", partition "debug", with this
# machine's CPUs and 80 % of its RAM. `start` exits 0 once `sinfo` shows the node idle (already
# idle: nothing is restarted), non-zero if it is not idle within $SLURM_TIMEOUT seconds
# (default 60), with the daemons' log tails on stderr. Needs root (or passwordless sudo).
set -euo pipefail

cmd=${1:-start}
timeout=${SLURM_TIMEOUT:-60}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo -n"
conf=/etc/slurm/slurm.conf

# sinfo retries for ~25 s when slurmctld is down: ask only a running controller, briefly.
node_state() {
  pgrep -x slurmctld >/dev/null || return 0
  timeout 5 sinfo -h -n localhost -o %t 2>/dev/null | head -n1 || true
}

stop() {
  $sudo scontrol shutdown >/dev/null 2>&1 || true
  for _ in $(seq 20); do pgrep -x slurmctld >/dev/null || pgrep -x slurmd >/dev/null || break; sleep 0.5; done
  if [ -f /run/munge/munged.pid ]; then
    $sudo kill "$(cat /run/munge/munged.pid)" 2>/dev/null || true
  fi
}

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.8)}' /proc/meminfo)
  $sudo install -d -m 0755 /etc/slurm
  $sudo tee "$conf" >/dev/null <<EOF
# Written by scripts/ci/slurm.sh: a single-node SLURM for tests.
ClusterName=accio
SlurmctldHost=localhost
SlurmctldPort=6817
SlurmdPort=6818
SrunPortRange=60001-60100
SlurmUser=slurm
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
NodeName=localhost CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  local state
  state=$(node_state)
  case "$state" in idle | mix | alloc)
    echo "slurm.sh: SLURM already up (node $state)"
    return 0
    ;;
  esac
  if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q slurm-wlm munge
  fi
  write_conf
  $sudo install -d -o slurm -g slurm -m 0755 /var/lib/slurm /var/lib/slurm/slurmctld \
    /var/lib/slurm/slurmd /var/log/slurm
  $sudo install -d -o munge -g munge -m 0755 /run/munge
  if [ ! -s /etc/munge/munge.key ]; then  # normally made by the package; not if it was removed
    $sudo install -d -o munge -g munge -m 0700 /etc/munge
    $sudo runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key
  fi
  if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    $sudo runuser -u munge -- /usr/sbin/munged
  fi
  pgrep -x slurmctld >/dev/null || $sudo /usr/sbin/slurmctld
  pgrep -x slurmd >/dev/null || $sudo /usr/sbin/slurmd -N localhost
  local deadline=$((SECONDS + timeout))
  state=""
  while [ "$SECONDS" -lt "$deadline" ]; do
    state=$(node_state)
    if [ "$state" = idle ]; then
      echo "slurm.sh: SLURM up, node localhost idle after ${SECONDS}s"
      return 0
    fi
    # a node left down/drained by an earlier run comes back once its slurmd answers
    case "$state" in down* | drain* | drng*) $sudo scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;; esac
    sleep 1
  done
  echo "slurm.sh: node localhost not idle after ${timeout}s (state: '${state:-none}')" >&2
  tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 2>/dev/null || true
  return 1
}

case "$cmd" in
start) start ;;
stop) stop ;;
*)
  echo "usage: slurm.sh [start|stop]" >&2
  exit 2
  ;;
esac
