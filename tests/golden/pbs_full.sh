#!/bin/bash
#PBS -N sim
#PBS -J 0-15%8
#PBS -l walltime=04:00:00
#PBS -l select=1:ncpus=4:mem=4gb:ngpus=1
#PBS -j oe
#PBS -o /home/user/proj/logs/
#PBS -q short
#PBS -A proj42
#PBS -l place=scatter
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
echo "jug worker ${PBS_ARRAY_INDEX:-0} of sim on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py -- input.csv --fast
