#!/bin/bash
#SBATCH --job-name=jug-jugfile-plan
#SBATCH --time=00:10:00
#SBATCH --output=/home/user/proj/logs/%x_%j.out
#SBATCH --chdir=/home/user/proj
#SBATCH --ntasks=1
#SBATCH --cpus-per-task=1
#SBATCH --dependency=afterany:4711:4712
#SBATCH --partition=short
#SBATCH --account=proj42
#
# Written by `jug submit --until-done` for /home/user/proj/jugfile.py
# Planner of generation 3: runs when its arrays have ended, looks at the work
# left and submits the next workers if nobody did; does nothing when done or drained.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
echo "jug chain planner for jug-jugfile-plan on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.hpc.chain --jugdir /home/user/proj/jugfile.jugdata --generation 3 --walltime 600 /home/user/proj/jugfile.py
