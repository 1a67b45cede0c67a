#!/usr/bin/env bash
# Install what jug and its test suite need on a fresh Debian machine (idempotent).
#   scripts/setup.sh            Python packages only: jug (a regular install) + its runtime
#                               dependencies
#   scripts/setup.sh --test     jug editable, test extras and, as root, the Debian packages the tests
#                               talk to for real (redis-server, chromium, graphviz) and strace
#                               (the benchmarks count system calls with it);
#                               SLURM and SGE are installed by tests/clusters/*-up.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

if [ "$want_test" = 1 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v dot >/dev/null || missing+=(graphviz)
    command -v chromium >/dev/null || missing+=(chromium)
    command -v chromedriver >/dev/null || missing+=(chromium-driver)
    command -v strace >/dev/null || missing+=(strace)
    if [ ${#missing[@]} -gt 0 ]; then
        echo "setup: installing Debian packages: ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq || apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
fi

if [ "$want_test" = 1 ]; then
    # development: editable, so the checkout is what runs (tests also put it on PYTHONPATH)
    $PY -m pip install -q -e '.[test,redis,shell,web]'
else
    # users: a regular install; an editable one adds a path hook to every Python start
    # (about 11 ms per worker and per jug command)
    $PY -m pip install -q .
fi
