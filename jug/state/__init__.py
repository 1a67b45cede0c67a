"""What the store records besides results, and how it is judged: task states, locks and
whether their owners are dead, integrity of results, crash loops, run times and their history,
workers' shift records, and which pool a task belongs to.  Below the engine, the status
renderers and the HPC toolkit, which all read it; above the stores it reads."""
