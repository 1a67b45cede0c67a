#!/usr/bin/env bash
# Set up jug and run the tutorial example end to end (4 parallel workers, then status).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash examples/primes/run.sh
