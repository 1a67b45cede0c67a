#!/bin/bash
#SBATCH --job-name=jug-wf-gpu
#SBATCH --array=0-1
#SBATCH --time=00:10:00
#SBATCH --output=/work/wt/pools/logs/%x_%A_%a.out
#SBATCH --chdir=/tmp/pytest-of-root/pytest-249/test_one_array_per_pool_sized_0
#SBATCH --signal=B:TERM@30
#SBATCH --partition=gpu
#SBATCH --gres=gpu:1
#
# Written by `jug submit` for /tmp/pytest-of-root/pytest-249/test_one_array_per_pool_sized_0/wf.py
# 2 worker(s) of `jug execute`; walltime 00:10:00, workers stop
# taking new tasks after 00:09:00; `touch /work/wt/pools/STOP` drains them.
cd /tmp/pytest-of-root/pytest-249/test_one_array_per_pool_sized_0 || exit 1
export JUG_MAX_HOURS=0 JUG_MAX_MINUTES=9 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/work/wt/pools/STOP
echo "jug worker ${SLURM_ARRAY_TASK_ID:-0} of jug-wf-gpu on $(hostname) at $(date '+%F %T')"
exec /root/.pyenv/versions/3.11.7/bin/python -m jug execute --jugdir /tmp/pytest-of-root/pytest-249/test_one_array_per_pool_sized_0/wf.jugdata --pool gpu --only train /tmp/pytest-of-root/pytest-249/test_one_array_per_pool_sized_0/wf.py
