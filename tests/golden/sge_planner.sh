#!/bin/bash
#$ -N jug-jugfile-plan
#$ -l h_rt=00:10:00
#$ -S /bin/bash
#$ -wd /home/user/proj
#$ -j y
#$ -o /home/user/proj/logs/$JOB_NAME_$JOB_ID.out
#$ -hold_jid 4711,4712
#$ -q short
#$ -A proj42
#
# Written by `jug submit --until-done` for /home/user/proj/jugfile.py
# Planner of generation 3: runs when its arrays have ended, looks at the work
# left and submits the next workers if nobody did; does nothing when done or drained.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
echo "jug chain planner for jug-jugfile-plan on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.hpc.chain --jugdir /home/user/proj/jugfile.jugdata --generation 3 --walltime 600 /home/user/proj/jugfile.py
