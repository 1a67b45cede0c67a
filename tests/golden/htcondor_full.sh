#!/bin/bash
#HTCONDOR universe = vanilla
#HTCONDOR batch_name = sim
#HTCONDOR initialdir = /home/user/proj
#HTCONDOR should_transfer_files = NO
#HTCONDOR transfer_executable = false
#HTCONDOR output = /home/user/proj/logs/sim_$(Cluster)_$(Process).out
#HTCONDOR error = /home/user/proj/logs/sim_$(Cluster)_$(Process).err
#HTCONDOR log = /home/user/proj/logs/sim_$(Cluster).log
#HTCONDOR environment = "HTCONDOR_JOBID=$(Cluster).$(Process) HTCONDOR_PROCID=$(Process)"
#HTCONDOR periodic_remove = (JobStatus == 2) && (time() - JobCurrentStartDate > 14400)
#HTCONDOR +MaxRuntime = 14400
#HTCONDOR request_cpus = 4
#HTCONDOR request_memory = 4096
#HTCONDOR request_gpus = 1
#HTCONDOR accounting_group = proj42
#HTCONDOR max_materialize = 8
#HTCONDOR queue 16
#HTCONDOR requirements = (OpSys == "LINUX")
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 16 worker(s) of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:50:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
module load python/3.11
source /opt/venv/bin/activate
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=50 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
export OMP_NUM_THREADS=4
echo "jug worker ${HTCONDOR_PROCID:-0} of sim on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py -- input.csv --fast
