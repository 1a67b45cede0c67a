#!/bin/bash
#BSUB -J "jug-jugfile[1-64]"
#BSUB -W 4:00
#BSUB -o /home/user/proj/logs/jug-jugfile_%J_%I.out
#BSUB -cwd /home/user/proj
#BSUB -wa USR1
#BSUB -wt 12
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 64 worker(s) of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:36:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=36 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
echo "jug worker ${LSB_JOBINDEX:-0} of jug-jugfile on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py
