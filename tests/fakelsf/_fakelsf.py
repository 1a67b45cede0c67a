"""A fake IBM Spectrum LSF (bsub, bjobs, bkill, bmod, bstop, bresume, bparams) for tests.

It behaves like LSF as its documentation describes it (outputs in tests/fakelsf/recorded/):

* ``bsub < script`` reads the ``#BSUB`` lines of the script on its standard input (``-J
  "name[1-N]%K"``, ``-W [H:]M``, ``-o`` with ``%J``/``%I``, ``-cwd``, ``-q``, ``-n``, ``-wa``/``-wt``,
  ``-w "ended(ID) && ..."``), refuses an array whose largest index exceeds MAX_JOB_ARRAY_SIZE
  and a dependency on an unknown job, and prints ``Job <ID> is submitted to [default] queue
  <normal>.``;
* a daemon (the fake mbatchd) dispatches pending elements while slots are free
  (``$FAKELSF_SLOTS``, default 16) and the array's slot limit allows, runs each element's
  script with ``/bin/sh`` in the submission environment plus ``LSB_JOBID``/``LSB_JOBINDEX``, sends
  the ``-wa`` signal ``-wt`` minutes before the run limit and kills at the run limit (SIGINT,
  SIGTERM, SIGKILL, ``$FAKELSF_TERMINATE_INTERVAL`` s apart, default 10, as bkill does);
* ``bjobs -u USER -o "..." -json`` lists unfinished elements (PEND, PSUSP, RUN, USUSP, SSUSP);
  ``bkill``, ``bmod -J "%K"``, ``bstop``/``bresume`` (USUSP/PSUSP) act on ``ID`` or ``"ID[1,3-5]"``.

State lives in ``$FAKELSF_DIR``.  ``FAKELSF_BSUB_EXIT``/``FAKELSF_BSUB_STDERR`` reject a
submission, ``FAKELSF_BSUB_STDOUT`` replaces its output (site banners), ``FAKELSF_MAX_ARRAY``
sets MAX_JOB_ARRAY_SIZE (default 1000).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import fakebatch as fb  # noqa: E402

STATE = os.environ.get("FAKELSF_DIR", "/tmp/fakelsf")
UNFINISHED = ("PEND", "PSUSP", "RUN", "USUSP", "SSUSP")
STARTED = ("RUN", "USUSP", "SSUSP")
SIGNALS = {"USR1": signal.SIGUSR1, "USR2": signal.SIGUSR2, "TERM": signal.SIGTERM,
           "INT": signal.SIGINT, "KILL": signal.SIGKILL, "URG": signal.SIGURG}


def _fail(msg: str, code: int = 255) -> int:
    sys.stderr.write(msg + "\n")
    return code


def _minutes(text: str) -> int:
    """Seconds of ``[H:]M``."""
    parts = [int(p) for p in text.split(":")]
    return (parts[0] * 60 + parts[1]) * 60 if len(parts) == 2 else parts[0] * 60


def _directives(text: str) -> dict[str, str]:
    """The ``#BSUB`` options of a script (later ones win; an -R adds to the earlier)."""
    opts: dict[str, str] = {}
    for line in text.splitlines()[1:]:
        if not line.startswith("#BSUB"):
            if line.startswith("#") or not line.strip():
                continue
            break
        words = shlex.split(line[len("#BSUB"):])
        if words:
            key, value = words[0], " ".join(words[1:])
            opts[key] = f"{opts[key]} {value}" if key == "-R" and key in opts else value
    return opts


def _array(spec: str) -> tuple[str, list[int] | None, int | None]:
    """(name, indices or None, slot limit) of ``-J``."""
    m = re.fullmatch(r"([^\[]*)\[([\d,\-:]+)\](?:%(\d+))?", spec)
    if not m:
        return spec, None, None
    indices = []
    for part in m.group(2).split(","):
        rng, _, step = part.partition(":")
        lo, _, hi = rng.partition("-")
        indices += range(int(lo), int(hi or lo) + 1, int(step or 1))
    return m.group(1), indices, int(m.group(3)) if m.group(3) else None


def bsub(argv: list[str]) -> int:
    fb.record(STATE, "bsub", argv)
    if os.environ.get("FAKELSF_BSUB_EXIT"):
        sys.stderr.write(os.environ.get("FAKELSF_BSUB_STDERR", "Request aborted by esub. "
                                        "Job not submitted.\n"))
        return int(os.environ["FAKELSF_BSUB_EXIT"])
    text = sys.stdin.read()
    if not text.strip():
        return _fail("bsub: No command is specified. Job not submitted.")
    opts = _directives(text)
    name, indices, limit = _array(opts.get("-J", "NONAME"))
    max_array = int(os.environ.get("FAKELSF_MAX_ARRAY", "1000"))
    if indices is not None and (not indices or min(indices) < 1 or max(indices) > max_array
                                or len(indices) > max_array):
        return _fail("Job array index too large. Job not submitted." if indices
                     else "Job array index error. Job not submitted.")
    deps = re.findall(r"ended\((\d+)\)", opts.get("-w", ""))
    with fb.locked(STATE) as doc:
        if any(d not in doc["jobs"] for d in deps):
            return _fail("Dependency condition invalid or never satisfied. Job not submitted.")
        job_id = doc["next"]
        doc["next"] += 1
        doc["jobs"][str(job_id)] = _job(job_id, name, indices, limit, opts, deps, text)
    queue = opts.get("-q")
    where = f"queue <{queue}>" if queue else "default queue <normal>"
    print(os.environ.get("FAKELSF_BSUB_STDOUT", f"Job <{job_id}> is submitted to {where}."))
    sys.stdout.flush()
    fb.start_daemon(os.path.abspath(__file__), STATE)
    return 0


def _job(job_id: int, name: str, indices: list[int] | None, limit: int | None, opts: dict,
         deps: list[str], text: str) -> dict:
    """The record of a new job (spooling its script as LSF does)."""
    spool = os.path.join(STATE, "spool")
    os.makedirs(spool, exist_ok=True)
    script = os.path.join(spool, f"{job_id}.sh")
    with open(script, "w") as f:
        f.write(text)
    warn = None
    if "-wa" in opts and "-wt" in opts:
        warn = [opts["-wa"], _minutes(opts["-wt"])]
    cwd = opts.get("-cwd") or os.getcwd()
    output = opts.get("-o") or opts.get("-oo") or os.path.join(cwd, "LSFJOB_%J_%I.out")
    return {"id": job_id, "name": name, "user": getpass.getuser(), "queue": opts.get("-q"),
            "script": script, "cwd": cwd, "env": dict(os.environ), "limit": limit,
            "walltime": _minutes(opts["-W"]) if "-W" in opts else None, "warn": warn,
            "output": output, "deps": deps, "submitted": time.time(), "array": indices is not None,
            "elements": {str(i): {"stat": "PEND", "pid": None} for i in (indices or [0])}}


def _targets(doc: dict, spec: str) -> list[tuple[dict, str, dict]] | None:
    """(job, index, element) named by ``ID`` or ``ID[1,3-5]``; None if the job is unknown."""
    m = re.fullmatch(r"(\d+)(?:\[([\d,\-]+)\])?", spec)
    job = doc["jobs"].get(m.group(1)) if m else None
    if job is None:
        return None
    wanted = None
    if m.group(2):
        _, wanted, _ = _array(f"x[{m.group(2)}]")
        wanted = {str(i) for i in wanted or []}
    return [(job, i, el) for i, el in job["elements"].items() if wanted is None or i in wanted]


def _label(job: dict, index: str) -> str:
    return f"{job['id']}[{index}]" if job["array"] else str(job["id"])


def bjobs(argv: list[str]) -> int:
    fb.record(STATE, "bjobs", argv)
    user = argv[argv.index("-u") + 1] if "-u" in argv else getpass.getuser()
    fields = (argv[argv.index("-o") + 1] if "-o" in argv else "jobid stat").split()
    show_all = "-a" in argv
    rows = []
    with fb.locked(STATE) as doc:
        for job in sorted(doc["jobs"].values(), key=lambda j: j["id"]):
            if user not in ("all", job["user"]):
                continue
            for i, el in sorted(job["elements"].items(), key=lambda kv: int(kv[0])):
                if show_all or el["stat"] in UNFINISHED:
                    rows.append(_row(job, i, el, fields))
    if "-json" in argv:
        print(json.dumps({"COMMAND": "bjobs", "JOBS": len(rows), "RECORDS": rows}, indent=2,
                         separators=(",", ":")))
    elif rows:
        print(" ".join(f.split(":")[0].upper() for f in fields))
        for r in rows:
            print(" ".join(r.values()))
    else:
        sys.stderr.write("No unfinished job found\n")
    return 0


def _row(job: dict, index: str, el: dict, fields: list[str]) -> dict[str, str]:
    values = {"jobid": str(job["id"]), "jobindex": index, "stat": el["stat"],
              "job_name": f"{job['name']}[{index}]" if job["array"] else job["name"],
              "queue": job["queue"] or "normal", "user": job["user"]}
    return {f.split(":")[0].upper(): values.get(f.split(":")[0].lower(), "-") for f in fields}


def _each_target(cmd: str, argv: list[str], act) -> int:
    """Run ``act(doc, job, index, element)`` on every element each argument names."""
    fb.record(STATE, cmd, argv)
    status = 0
    with fb.locked(STATE) as doc:
        for spec in [a for a in argv if not a.startswith("-")]:
            found = _targets(doc, spec)
            if found is None:
                print(f"Job <{spec}>: No matching job found")
                status = 255
                continue
            live = [t for t in found if t[2]["stat"] in UNFINISHED]
            if not live:
                print(f"Job <{spec}>: Job has already finished")
                status = 255
            for job, i, el in live:
                print(act(doc, job, i, el))
    return status


def _kill(doc: dict, job: dict, index: str, el: dict) -> str:
    if el["stat"] in ("PEND", "PSUSP"):
        el["stat"] = "EXIT"
    else:
        fb.signal_group(el["pid"], signal.SIGCONT)
        _terminate(el, time.time())
    return f"Job <{_label(job, index)}> is being terminated"


def _terminate(el: dict, now: float) -> None:
    """LSF's kill: SIGINT, then SIGTERM, then SIGKILL, JOB_TERMINATE_INTERVAL apart."""
    if el.get("killing"):
        return
    el["killing"] = True
    interval = float(os.environ.get("FAKELSF_TERMINATE_INTERVAL", "10"))
    fb.signal_group(el["pid"], signal.SIGINT)
    el["kill_seq"] = [[now + interval, int(signal.SIGTERM)],
                      [now + 2 * interval, int(signal.SIGKILL)]]


def _stop(doc: dict, job: dict, index: str, el: dict) -> str:
    if el["stat"] == "PEND":
        el["stat"] = "PSUSP"
    elif el["stat"] == "RUN":
        fb.signal_group(el["pid"], signal.SIGSTOP)
        el["stat"] = "USUSP"
    return f"Job <{_label(job, index)}> is being stopped"


def _resume(doc: dict, job: dict, index: str, el: dict) -> str:
    if el["stat"] == "PSUSP":
        el["stat"] = "PEND"
    elif el["stat"] in ("USUSP", "SSUSP"):
        fb.signal_group(el["pid"], signal.SIGCONT)
        el["stat"] = "RUN"
    return f"Job <{_label(job, index)}> is being resumed"


def bmod(argv: list[str]) -> int:
    fb.record(STATE, "bmod", argv)
    spec = argv[-1]
    limit = argv[argv.index("-J") + 1] if "-J" in argv else ""
    with fb.locked(STATE) as doc:
        job = doc["jobs"].get(spec)
        if job is None:
            return _fail(f"Job <{spec}>: No matching job found")
        if not re.fullmatch(r"%\d+", limit) or not job["array"]:
            return _fail(f"{limit}: Bad job name. Job not modified.")
        job["limit"] = int(limit[1:])
    print(f"Parameters of job <{spec}> are being changed")
    return 0


def bparams(argv: list[str]) -> int:
    fb.record(STATE, "bparams", argv)
    print("Default Queues:  normal\nMBD_SLEEP_TIME used for calculations:  10 seconds\n"
          "Job Checking Interval:  7 seconds\nJob Accepting Interval:  0 seconds")
    if "-a" in argv:
        print(f"    MAX_JOB_ARRAY_SIZE = {os.environ.get('FAKELSF_MAX_ARRAY', '1000')}\n"
              f"    JOB_TERMINATE_INTERVAL = 10\n    CLEAN_PERIOD = 3600")
    return 0


# -- the fake mbatchd ---------------------------------------------------------------------
def _round(doc: dict, children: dict) -> bool:
    """One dispatch round; True while anything is unfinished."""
    now = time.time()
    jobs = sorted(doc["jobs"].values(), key=lambda j: j["id"])
    for job in jobs:
        for el in job["elements"].values():
            if el["stat"] in STARTED:
                _watch_element(job, el, now, children)
    used = sum(el["stat"] in STARTED for j in jobs for el in j["elements"].values())
    slots = int(os.environ.get("FAKELSF_SLOTS", "16"))
    for job in jobs:
        if any(el["stat"] in UNFINISHED for d in job["deps"]
               for el in doc["jobs"][d]["elements"].values()):
            continue
        running = sum(el["stat"] in STARTED for el in job["elements"].values())
        for i, el in sorted(job["elements"].items(), key=lambda kv: int(kv[0])):
            if el["stat"] != "PEND" or used >= slots or (job["limit"] and running >= job["limit"]):
                continue
            _start(job, i, el, children)
            used += 1
            running += 1
    return any(el["stat"] in UNFINISHED for j in jobs for el in j["elements"].values())


def _watch_element(job: dict, el: dict, now: float, children: dict) -> None:
    """Reap an ended element; send the warning, the run limit kill, a pending SIGKILL."""
    code = fb.finished(el["pid"], children)
    if code is not None:
        el["stat"] = "DONE" if code == 0 else "EXIT"
        el["exit"] = code
        return
    while el.get("kill_seq") and now >= el["kill_seq"][0][0]:
        fb.signal_group(el["pid"], el["kill_seq"].pop(0)[1])
    if el["stat"] != "RUN":
        return
    started = el["start"]
    if job["warn"] and not el.get("warned") and job["walltime"] and \
            now >= started + job["walltime"] - job["warn"][1]:
        fb.signal_group(el["pid"], SIGNALS.get(job["warn"][0].upper(), signal.SIGUSR2))
        el["warned"] = True
    if job["walltime"] and now >= started + job["walltime"]:
        _terminate(el, now)


def _start(job: dict, index: str, el: dict, children: dict) -> None:
    """Run one element: the spooled script with /bin/sh, as LSF runs a job file."""
    label = f"{job['name']}[{index}]" if job["array"] else job["name"]
    env = {**job["env"], "LSB_JOBID": str(job["id"]), "LSB_JOBINDEX": index,
           "LSB_JOBNAME": label, "LSB_QUEUE": job["queue"] or "normal",
           "LSB_JOBFILENAME": job["script"]}
    out = job["output"].replace("%J", str(job["id"])).replace("%I", index)
    try:
        log = open(out, "a")
    except OSError:
        log = open(os.devnull, "w")  # LSF mails the output when it cannot write the file
    proc = subprocess.Popen(["/bin/sh", job["script"]], cwd=job["cwd"], env=env, stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    log.close()
    children[proc.pid] = proc
    el.update(stat="RUN", pid=proc.pid, start=time.time())


def main() -> int:
    if sys.argv[1] == "_daemon":
        global STATE
        STATE = sys.argv[2]
        return fb.run_daemon(STATE, _round)
    cmd = os.path.basename(sys.argv[1])
    argv = sys.argv[2:]
    actions = {"bkill": _kill, "bstop": _stop, "bresume": _resume}
    if cmd in actions:
        return _each_target(cmd, argv, actions[cmd])
    return {"bsub": bsub, "bjobs": bjobs, "bmod": bmod, "bparams": bparams}[cmd](argv)


if __name__ == "__main__":
    sys.exit(main())
