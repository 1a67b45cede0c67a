#!/bin/bash
#$ -N sim
#$ -t 1-16
#$ -tc 8
#$ -l h_rt=04:00:00
#$ -l s_rt=03:55:00
#$ -S /bin/bash
#$ -notify
#$ -wd /home/user/proj
#$ -j y
#$ -o /home/user/proj/logs/$JOB_NAME_$JOB_ID_$TASK_ID.out
#$ -q short
#$ -A proj42
#$ -pe smp 4
#$ -l h_vmem=1G
#$ -l gpu=1
#$ -l arch=lx-amd64
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
echo "jug worker ${SGE_TASK_ID:-0} of sim on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.commands.sge_entry execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py -- input.csv --fast
