#!/bin/bash
#HTCONDOR universe = local
#HTCONDOR batch_name = jug-jugfile-plan
#HTCONDOR initialdir = /home/user/proj
#HTCONDOR output = /home/user/proj/logs/jug-jugfile-plan_$(Cluster).out
#HTCONDOR error = /home/user/proj/logs/jug-jugfile-plan_$(Cluster).err
#HTCONDOR log = /home/user/proj/logs/jug-jugfile-plan_$(Cluster).log
#HTCONDOR environment = "HTCONDOR_JOBID=$(Cluster).$(Process)"
#HTCONDOR accounting_group = proj42
#HTCONDOR queue 1
#
# Written by `jug submit --until-done` for /home/user/proj/jugfile.py
# Planner of generation 3: runs when its arrays have ended, looks at the work
# left and submits the next workers if nobody did; does nothing when done or drained.
export JUG_JOB_START=$(date +%s)
cd /home/user/proj || exit 1
JUG_AFTER='4711 4712'
jug_busy() {  # a job of $JUG_AFTER idle (1), running (2, 6, 7) or not materialized yet
    states=$(condor_q $JUG_AFTER -af JobStatus) || return 0
    case " $(echo $states) " in *" 1 "*|*" 2 "*|*" 6 "*|*" 7 "*) return 0 ;; esac
    left=$(condor_q -factory $JUG_AFTER -af 'TotalSubmitProcs - JobMaterializeNextProcId') || return 0
    for n in $left; do [ "$n" -gt 0 ] 2>/dev/null && return 0; done
    return 1
}
echo "jug chain planner for jug-jugfile-plan: waiting for cluster(s) $JUG_AFTER to end"
while jug_busy; do sleep "${JUG_PLANNER_POLL:-30}"; done
echo "jug chain planner for jug-jugfile-plan on $(hostname) at $(date '+%F %T')"
exec timeout 600 /opt/venv/bin/python -m jug.hpc.chain --jugdir /home/user/proj/jugfile.jugdata --generation 3 --walltime 600 /home/user/proj/jugfile.py
