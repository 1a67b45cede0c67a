"""A fake PBS (qsub / qstat / qdel) for tests: records every call and runs jobs locally.

qsub reads the ``#PBS`` directives of the script (``-N``, ``-J``/``-t`` array range, ``-o``),
prints the id like PBS Pro (``12[].fakeserver``), and runs every array element as a local
process with the variables a real PBS sets (``PBS_JOBID``, ``PBS_ARRAY_INDEX`` or Torque's
``PBS_ARRAYID``, ``PBS_ARRAY_ID``, ``PBS_O_WORKDIR``), a bare environment and ``$HOME`` as
working directory, as real PBS does, so the rendered script itself is exercised.
State lives in ``$FAKEPBS_DIR`` (calls.jsonl, jobs.json).  ``FAKEPBS_SYNC=1`` makes qsub wait
for the elements; ``FAKEPBS_QSUB_STDOUT`` / ``FAKEPBS_QSUB_EXIT`` replace qsub's output
(wrapper banners, rejections).  ``-W depend=afterany:ID[:ID...]`` holds a job until every
element of the named jobs has ended.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

STATE = os.environ.get("FAKEPBS_DIR", "/tmp/fakepbs")


@contextmanager
def _locked():
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "lock"), "w") as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        path = os.path.join(STATE, "jobs.json")
        jobs = json.load(open(path)) if os.path.exists(path) else {"next": 1, "jobs": {}}
        yield jobs
        with open(path + ".tmp", "w") as f:
            json.dump(jobs, f)
        os.replace(path + ".tmp", path)


def _record(cmd: str, argv: list[str]) -> None:
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, "calls.jsonl"), "a") as f:
        f.write(json.dumps({"cmd": cmd, "argv": argv, "cwd": os.getcwd()}) + "\n")


def _directives(script: str) -> dict:
    opts: dict = {}
    for line in open(script):
        if not line.startswith("#PBS"):
            if line.startswith("#") or not line.strip():
                continue
            break
        parts = line.split(None, 2)
        if len(parts) >= 3:
            opts.setdefault(parts[1], []).append(parts[2].strip())
    return opts


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


def qsub(argv: list[str]) -> int:
    _record("qsub", argv)
    if os.environ.get("FAKEPBS_QSUB_EXIT"):
        sys.stderr.write(os.environ.get("FAKEPBS_QSUB_STDERR", "qsub: Job rejected\n"))
        return int(os.environ["FAKEPBS_QSUB_EXIT"])
    script = os.path.abspath(argv[-1])
    opts = _directives(script)
    name = opts.get("-N", ["STDIN"])[0]
    torque = "-t" in opts
    rng = (opts.get("-J") or opts.get("-t") or [None])[0]
    indices: list = [None]
    if rng:
        m = re.match(r"(\d+)-(\d+)", rng)
        indices = list(range(int(m.group(1)), int(m.group(2)) + 1))
    outdir = opts.get("-o", [os.getcwd() + "/"])[0]
    after = [w.split("afterany:", 1)[1].split(":") for w in opts.get("-W", [])
             if w.startswith("depend=afterany:")]
    hold = [sys.executable, os.path.abspath(__file__), "_after", STATE,
            json.dumps(after[0])] if after else []
    with _locked() as jobs:
        n = jobs["next"]
        jobs["next"] = n + 1
    job_id = f"{n}[].fakeserver" if rng else f"{n}.fakeserver"
    procs = []
    home = os.environ.get("HOME", "/")
    for i in indices:
        sub_id = f"{n}[{i}].fakeserver" if i is not None else job_id
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "PBS_JOBID": sub_id,
               "PBS_O_WORKDIR": os.getcwd(), "PBS_JOBNAME": name, "PBS_ENVIRONMENT": "PBS_BATCH"}
        if i is not None:
            env["PBS_ARRAY_ID"] = job_id
            env["PBS_ARRAYID" if torque else "PBS_ARRAY_INDEX"] = str(i)
        suffix = f".{i}" if i is not None else ""
        out = os.path.join(outdir, f"{name}.o{n}{suffix}") if outdir.endswith("/") else outdir
        log = open(out, "w")
        p = subprocess.Popen([*hold, "/bin/bash", script], cwd=home, env=env, stdout=log,
                             stderr=subprocess.STDOUT, start_new_session=True)
        procs.append((sub_id, i, p))
    with _locked() as jobs:
        for sub_id, i, p in procs:
            jobs["jobs"][sub_id] = {"array": job_id, "index": i, "pid": p.pid, "name": name}
    print(os.environ.get("FAKEPBS_QSUB_STDOUT", job_id))
    sys.stdout.flush()
    if os.environ.get("FAKEPBS_SYNC"):
        for _s, _i, p in procs:
            p.wait()
    return 0


def qstat(argv: list[str]) -> int:
    _record("qstat", argv)
    with _locked() as jobs:
        rows = [(k, v) for k, v in jobs["jobs"].items() if _alive(v["pid"])]
    print("Job id            Name             User              Time Use S Queue")
    print("----------------  ---------------- ----------------  -------- - -----")
    arrays = sorted({v["array"] for _k, v in rows if v["index"] is not None})
    for a in arrays:
        print(f"{a:<17} {'jug':<16} {'user':<17} {'0':>8} B workq")
    for k, v in rows:
        print(f"{k:<17} {v['name'][:16]:<16} {'user':<17} 00:00:01 R workq")
    return 0


def qdel(argv: list[str]) -> int:
    _record("qdel", argv)
    with _locked() as jobs:
        for target in argv:
            for k, v in jobs["jobs"].items():
                if k == target or v["array"] == target:
                    try:
                        os.killpg(v["pid"], signal.SIGTERM)
                    except OSError:
                        pass
    time.sleep(0.2)
    return 0


def _after(argv: list[str]) -> int:
    """Wait until no element of the jobs ``argv[1]`` (JSON list) runs, then run ``argv[2:]``.

    ``argv[0]`` is the state folder (the job's bare environment does not name it)."""
    global STATE
    STATE = argv[0]
    ids = set(json.loads(argv[1]))
    while True:
        with _locked() as jobs:
            pids = [v["pid"] for k, v in jobs["jobs"].items() if k in ids or v["array"] in ids]
        if not any(_alive(pid) for pid in pids):
            break
        time.sleep(0.2)
    os.execv(argv[2], argv[2:])
    return 1


if __name__ == "__main__":
    if sys.argv[1] == "_after":
        sys.exit(_after(sys.argv[2:]))
    cmd = os.path.basename(sys.argv[1])
    sys.exit({"qsub": qsub, "qstat": qstat, "qdel": qdel}[cmd](sys.argv[2:]))
