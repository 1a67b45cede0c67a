#!/bin/bash
#BSUB -J "sim[1-16]%8"
#BSUB -W 4:00
#BSUB -o /home/user/proj/logs/sim_%J_%I.out
#BSUB -cwd /home/user/proj
#BSUB -wa USR1
#BSUB -wt 5
#BSUB -q short
#BSUB -P proj42
#BSUB -n 4
#BSUB -R "rusage[mem=4096] span[hosts=1]"
#BSUB -gpu "num=1"
#BSUB -R "select[type==X86_64]"
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
echo "jug worker ${LSB_JOBINDEX:-0} of sim on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug execute --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py -- input.csv --fast
