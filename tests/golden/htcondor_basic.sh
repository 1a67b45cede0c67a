#!/bin/bash
#HTCONDOR universe = vanilla
#HTCONDOR batch_name = jug-jugfile
#HTCONDOR initialdir = /home/user/proj
#HTCONDOR should_transfer_files = NO
#HTCONDOR transfer_executable = false
#HTCONDOR output = /home/user/proj/logs/jug-jugfile_$(Cluster)_$(Process).out
#HTCONDOR error = /home/user/proj/logs/jug-jugfile_$(Cluster)_$(Process).err
#HTCONDOR log = /home/user/proj/logs/jug-jugfile_$(Cluster).log
#HTCONDOR environment = "HTCONDOR_JOBID=$(Cluster).$(Process) HTCONDOR_PROCID=$(Process)"
#HTCONDOR periodic_remove = (JobStatus == 2) && (time() - JobCurrentStartDate > 14400)
#HTCONDOR +MaxRuntime = 14400
#HTCONDOR max_materialize = 64
#HTCONDOR queue 64
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 64 worker(s) of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:36:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=36 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
echo "jug worker ${HTCONDOR_PROCID:-0} of jug-jugfile on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py
