"""``jug submit --until-done``: worker arrays that carry the work across walltimes by themselves.

``--watch`` needs a process on the login node for as long as the work lasts; many sites kill
such processes and laptops close.  A chain needs none: every worker already reads the task
states from the store and may ask the queue one question, so

* a worker that leaves because its time budget is spent (not because the work is done, not
  because of the stop file) *hands over*: it runs ONE poll of the ``--watch`` sizing logic
  (:class:`~.poll.ChainWatcher`), which submits what the remaining work needs as the next
  *generation*;
* each generation comes with a small *planner job* held until every live array of the chain
  has ended (``afterany`` / ``-hold_jid``): the safety net when all workers died at once.  It
  runs the same poll and does nothing when the work is done, failed or drained.

Exactly one process plans at a time (a store lock with an owner record, reclaimed when its
owner is provably dead), and the chain record in the store (namespace ``chain``) lists every
generation with its arrays, time and planner: a generation is planned once, by whoever comes
first.  Bounds: ``--max-workers`` / ``--max-queued`` as for ``--watch``, a generation limit
(default from the recorded run times, never above :data:`~.records.HARD_GENERATIONS`), failed tasks are
never resubmitted for, and a generation that finished no task stops the chain with a reason
that ``jug status`` and ``jug submit --status`` show.

With worker pools (:mod:`jug.hpc.pool_settings`) every poll sizes every pool, each with the chain's
rules (:class:`~.poll.ChainPoll`): generation 1 is one pools poll, a generation lists the arrays
of all pools, and a pool's worker that leaves with nothing left it could run hands over too
(its tasks wait on another pool, or its pool is done while another pool's tasks became
ready), so the next pool's workers start when the work reaches it, not when the planner job
runs.

Modules, one concern each:

* :mod:`.records`: the chain record (generations, status), written by compare-and-set, and
  the lines that describe it;
* :mod:`.lock`: the planner lock (one planner at a time, heartbeaten, a dead owner's reclaimed);
* :mod:`.requests`: polls left in the record while the lock is busy, for its holder;
* :mod:`.bounds`: the generation limit and the progress check;
* :mod:`.poll`: :class:`~.poll.ChainPoll`, the chain's rules over one ``--watch`` poll;
* :mod:`.planning`: one poll under the lock (:func:`~.planning.plan_once`), judged and recorded;
* :mod:`.planner`: the planner job's script and its submission;
* :mod:`.start`: ``jug submit --until-done``, ``--resume`` and ``--cancel``;
* :mod:`.handover`: a leaving worker's hand-over (the only part ``jug execute`` imports);
* :mod:`.__main__`: ``python -m jug.hpc.chain``, the entry point job scripts call.

This file imports nothing, so that a worker's hand-over loads only what it needs.
"""
