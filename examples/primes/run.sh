#!/usr/bin/env bash
# End-to-end run of the tutorial example: status, 4 parallel workers, status, results.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
rm -rf primes.jugdata
PY=${PYTHON:-python3}
$PY -m jug status primes.py
for i in 1 2 3 4; do $PY -m jug execute primes.py & done
wait
$PY -m jug status primes.py
$PY - <<'PYEOF'
import jug
store, ns = jug.init("primes.py")
values = jug.value(ns["primes100"])
primes = [n for n, p in zip(range(2, 101), values) if p]
print("primes below 101:", primes)
assert len(primes) == 25, primes
PYEOF
