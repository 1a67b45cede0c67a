"""The HPC orchestration layer of ``jug submit``: planning, watching and chaining worker arrays.

It sits at the top of the stack (it imports the loader, task states, locks, timings and the
store), while :mod:`jug.schedulers` below it stays a leaf of pure scheduler adapters (facts,
command builders, output parsers) that imports nothing else from jug.  Modules:

* :mod:`jug.hpc.profiles`: the settings of ``jug submit`` and where each value came from;
* :mod:`jug.hpc.job`: :class:`~jug.hpc.job.JobPlan` renders, submits and records arrays;
* :mod:`jug.hpc.sizing`: pure decision of how many workers the work can use;
* :mod:`jug.hpc.watch`: the ``--watch`` resubmit loop;
* :mod:`jug.hpc.chain`: ``--until-done`` generations of workers and their planner jobs (a
  package, one module per concern; ``python -m jug.hpc.chain`` is the planner's entry);
* :mod:`jug.commands.sge_entry`: the SGE worker entry (walltime signals become SIGTERM).
"""
