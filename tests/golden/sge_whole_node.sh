#!/bin/bash
#$ -N jug-jugfile
#$ -t 1-2
#$ -l h_rt=04:00:00
#$ -l s_rt=03:48:00
#$ -S /bin/bash
#$ -notify
#$ -wd /home/user/proj
#$ -j y
#$ -o /home/user/proj/logs/$JOB_NAME_$JOB_ID_$TASK_ID.out
#$ -pe smp 128
#$ -l exclusive=true
#
# Written by `jug submit` for /home/user/proj/jugfile.py
# 2 job(s) of 128 workers of `jug execute`; walltime 04:00:00, workers stop
# taking new tasks after 03:36:00; `touch /home/user/proj/STOP` drains them.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
export JUG_MAX_HOURS=3 JUG_MAX_MINUTES=36 JUG_MAX_SECONDS=0
export JUG_EXIT_IF_FILE_EXISTS=/home/user/proj/STOP
echo "jug worker ${SGE_TASK_ID:-0} of jug-jugfile on $(hostname) at $(date '+%F %T')"
exec /opt/venv/bin/python -m jug.commands.sge_entry execute -j 128 --jugdir /home/user/proj/jugfile.jugdata --keep-going /home/user/proj/jugfile.py
