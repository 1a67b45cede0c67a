#!/bin/bash
#SBATCH --job-name=sim
#SBATCH --array=0-15%8
#SBATCH --time=04:00:00
#SBATCH --output=/home/user/proj/logs/%x_%A_%a.out
#SBATCH --chdir=/home/user/proj
#SBATCH --signal=B:TERM@300
#SBATCH --partition=short
#SBATCH --account=proj42
#SBATCH --cpus-per-task=4
#SBATCH --mem=4G
#SBATCH --gres=gpu:1
#SBATCH --qos=high
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
echo "jug worker ${SLURM_ARRAY_TASK_ID:-0} of sim on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py -- input.csv --fast
