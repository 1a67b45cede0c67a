#!/bin/bash
#PBS -N jug-jugfile
#PBS -t 0-2
#PBS -l walltime=04:00:00
#PBS -l nodes=1:ppn=4
#PBS -j oe
#PBS -o /home/user/proj/logs/
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 3 job(s) of 4 workers of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:36:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=36 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
echo "jug worker ${PBS_ARRAYID:-0} of jug-jugfile on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute -j 4 --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py
