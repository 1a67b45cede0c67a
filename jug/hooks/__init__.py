"""Hooks that change how ``jug execute`` behaves (see :mod:`jug.hooks.exit_checks`)."""
