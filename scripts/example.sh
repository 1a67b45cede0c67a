#!/usr/bin/env bash
# Install jug (a regular, non-editable install: the fast start-up path) and run the tutorial
# example end to end (4 parallel workers, then status).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash examples/primes/run.sh
