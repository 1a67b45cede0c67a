#!/bin/bash
#PBS -N jug-jugfil-plan
#PBS -l walltime=00:10:00
#PBS -l select=1:ncpus=1
#PBS -W depend=afterany:4711[].server:4712[].server
#PBS -j oe
#PBS -o /home/user/proj/logs/
#PBS -q short
#PBS -A proj42
#
# Written by `jug submit --until-done` for /home/user/proj/jugfile.py
# Planner of generation 3: runs when its arrays have ended, looks at the work
# left and submits the next workers if nobody did; does nothing when done or drained.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
echo "jug chain planner for jug-jugfil-plan on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.hpc.chain --jugdir /home/user/proj/jugfile.jugdata --generation 3 --walltime 600 /home/user/proj/jugfile.py
