#!/bin/bash
#BSUB -J jug-jugfile-plan
#BSUB -W 0:10
#BSUB -o /home/user/proj/logs/jug-jugfile-plan_%J.out
#BSUB -cwd /home/user/proj
#BSUB -n 1
#BSUB -w "ended(4711) && ended(4712)"
#BSUB -q short
#BSUB -P proj42
#
# Written by `jug submit --until-done` for /home/user/proj/jugfile.py
# Planner of generation 3: runs when its arrays have ended, looks at the work
# left and submits the next workers if nobody did; does nothing when done or drained.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
echo "jug chain planner for jug-jugfile-plan on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.hpc.chain --jugdir /home/user/proj/jugfile.jugdata --generation 3 --walltime 600 /home/user/proj/jugfile.py
