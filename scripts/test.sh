#!/usr/bin/env bash
# The whole test suite, on a fresh machine: install, lint, then every test.
# Tests that need Redis, SLURM, SGE or Chromium start them themselves (as root they install
# them from Debian's packages); with CI=true a missing service fails its tests.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bash scripts/setup.sh --test
$PY -m ruff check jug tests benchmarks examples
# in parallel (pytest-xdist), except the tests that share a cluster or want both cores
# (tests/conftest.py: SERIAL_GROUPS); JUG_TEST_PROCESSES=0 runs everything in one process
exec $PY -m pytest -q -ra -n "${JUG_TEST_PROCESSES:-4}" --dist loadgroup "$@"
