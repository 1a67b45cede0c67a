"""The engine: what a worker (a process running ``jug execute``) does, apart from the command
line that starts it: the loop over passes, locks and heartbeats (:mod:`.worker`)."""
