#!/bin/bash
#SBATCH --job-name=jug-jugfile
#SBATCH --array=0-63
#SBATCH --time=04:00:00
#SBATCH --output=/home/user/proj/logs/%x_%A_%a.out
#SBATCH --chdir=/home/user/proj
#SBATCH --signal=B:TERM@720
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 64 worker(s) of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:36:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=36 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
echo "jug worker ${SLURM_ARRAY_TASK_ID:-0} of jug-jugfile on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py
