"""The command layer: what ``jug <command>`` parses, checks and prints (one module per\ncommand); the work itself is done by the layers below (engine, state, status, hpc)."""
