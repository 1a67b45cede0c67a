"""A fake HTCondor (condor_submit, condor_q, condor_rm, condor_hold, condor_release,
condor_qedit) for tests.

It behaves like HTCondor as its manual describes it (outputs in tests/fakecondor/recorded/):

* ``condor_submit -terse FILE.sub`` reads a submit description (``key = value``, ``+Attr =
  value``, ``queue N``; ``$(Cluster)``/``$(Process)`` expanded per proc), refuses a missing
  executable, prints ``1234.0 - 1234.9``; ``max_materialize``/``max_idle`` make the cluster a
  late materialization factory whose procs appear as earlier ones leave the queue;
* a daemon (the fake schedd) runs idle procs of the vanilla universe while slots are free
  (``$FAKECONDOR_SLOTS``, default 16) and local-universe jobs at once, each as its own
  executable in ``initialdir`` with HTCondor's bare environment plus the description's
  ``environment``; a proc whose executable cannot run is held (HoldReasonCode 6);
  ``periodic_remove = ... time() - JobCurrentStartDate > N`` removes a proc running longer
  (SIGTERM, SIGKILL after ``$FAKECONDOR_KILL_DELAY`` s); completed and removed procs leave
  the queue;
* ``condor_q`` answers ``-json -attributes A,B -constraint EXPR``, ``-af ATTR|EXPR ...``,
  ``-factory`` and cluster / cluster.proc restrictions, with a small ClassAd evaluator;
  ``condor_rm``, ``condor_hold`` (HoldReasonCode 1), ``condor_release`` take cluster,
  cluster.proc or ``-constraint``; ``condor_qedit CLUSTER JobMaterializeLimit N``.

State lives in ``$FAKECONDOR_DIR``; ``FAKECONDOR_SUBMIT_EXIT``/``FAKECONDOR_SUBMIT_STDERR``
reject a submission; ``FAKECONDOR_BROKEN_NODE=1`` holds every vanilla proc as it starts, as
an execute node that cannot run the executable does.
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

STATE = os.environ.get("FAKECONDOR_DIR", "/tmp/fakecondor")
IDLE, RUNNING, REMOVED, COMPLETED, HELD = 1, 2, 3, 4, 5
KNOWN = {"universe", "executable", "arguments", "initialdir", "output", "error", "log",
         "environment", "getenv", "should_transfer_files", "transfer_executable",
         "request_cpus", "request_memory", "request_gpus", "request_disk", "batch_name",
         "accounting_group", "periodic_remove", "max_materialize", "max_idle",
         "requirements", "rank", "notification"}


# -- the submit description ----------------------------------------------------------------
def _parse_description(text: str) -> tuple[dict[str, str], dict[str, str], int]:
    """(commands, +attributes, queue count) of a submit description."""
    cmds: dict[str, str] = {}
    attrs: dict[str, str] = {}
    count = 0
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"queue(?:\s+(\d+))?", line, re.I)
        if m:
            count = int(m.group(1) or 1)
            break  # a factory takes one queue statement; lines after it are ignored
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"ERROR: on Line of submit file: {line}")
        key = key.strip()
        if key.startswith("+"):
            attrs[key[1:]] = value.strip()
        else:
            cmds[key.lower()] = value.strip()
    return cmds, attrs, count


def _environment(value: str) -> dict[str, str]:
    """The new syntax: ``"A=1 B='two words'"``."""
    value = value.strip()
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return dict(w.split("=", 1) for w in shlex.split(value) if "=" in w)


def _expand(value: str, cluster: int, proc: int) -> str:
    for name, v in (("Cluster", cluster), ("ClusterId", cluster), ("Process", proc),
                    ("ProcId", proc)):
        value = re.sub(r"\$\(" + name + r"\)", str(v), value, flags=re.I)
    return value


def condor_submit(argv: list[str]) -> int:
    fb.record(STATE, "condor_submit", argv)
    if os.environ.get("FAKECONDOR_SUBMIT_EXIT"):
        sys.stderr.write(os.environ.get("FAKECONDOR_SUBMIT_STDERR", "ERROR: Failed to "
                                        "connect to local queue manager\n"))
        return int(os.environ["FAKECONDOR_SUBMIT_EXIT"])
    files = [a for a in argv if not a.startswith("-")]
    try:
        cmds, attrs, count = _parse_description(open(files[-1]).read())
    except (OSError, IndexError):
        return _fail(f"ERROR: Can't open \"{files[-1] if files else ''}\"")
    except ValueError as e:
        return _fail(str(e))
    exe = cmds.get("executable", "")
    if not exe or not os.path.exists(exe):
        return _fail(f"ERROR: Executable file {exe} does not exist")
    for key in cmds:
        if key not in KNOWN:
            sys.stderr.write(f"WARNING: the line '{key} = {cmds[key]}' was unused by "
                             f"condor_submit. Is it a typo?\n")
    with fb.locked(STATE) as doc:
        cluster = doc["next"]
        doc["next"] += 1
        doc["jobs"][str(cluster)] = _cluster(cluster, cmds, attrs, max(count, 1))
    n = max(count, 1)
    if "-terse" in argv:
        print(f"{cluster}.0 - {cluster}.{n - 1}")
    else:
        print(f"Submitting job(s){'.' * n}\n{n} job(s) submitted to cluster {cluster}.")
    sys.stdout.flush()
    fb.start_daemon(os.path.abspath(__file__), STATE)
    return 0


def _cluster(cluster: int, cmds: dict, attrs: dict, count: int) -> dict:
    limit = cmds.get("max_materialize") or cmds.get("max_idle")
    walltime = re.search(r"JobCurrentStartDate\s*\)?\s*>\s*(\d+)", cmds.get("periodic_remove", ""))
    log = _expand(cmds["log"], cluster, 0) if cmds.get("log") else None
    if log:
        _event(log, "000", cluster, 0, "Job submitted from host: <127.0.0.1:9618>")
    return {"id": cluster, "owner": getpass.getuser(), "cmds": cmds, "attrs": attrs,
            "total": count, "next_proc": 0, "limit": int(limit) if limit else None,
            "factory": limit is not None, "walltime": int(walltime.group(1)) if walltime else None,
            "submit_env": dict(os.environ), "qdate": int(time.time()), "procs": {}}


def _event(log: str, code: str, cluster: int, proc: int, text: str) -> None:
    """One event of the job event log (the ``log`` command)."""
    try:
        with open(log, "a") as f:
            f.write(f"{code} ({cluster:03d}.{proc:03d}.000) {time.strftime('%m/%d %H:%M:%S')} "
                    f"{text}\n...\n")
    except OSError:
        pass


def _fail(msg: str, code: int = 1) -> int:
    sys.stderr.write(msg + "\n")
    return code


# -- ClassAds -------------------------------------------------------------------------------
def _ad(c: dict, proc: str, p: dict) -> dict:
    """The job ad of one proc (with its cluster's attributes, as condor_q shows them)."""
    ad = {"ClusterId": c["id"], "ProcId": int(proc), "JobStatus": p["status"],
          "Owner": c["owner"], "Cmd": c["cmds"].get("executable"), "QDate": c["qdate"],
          "JobBatchName": c["cmds"].get("batch_name"), "EnteredCurrentStatus": p["entered"],
          "TotalSubmitProcs": c["total"], "JobUniverse": 12 if _local(c) else 5}
    if c["factory"]:
        ad.update(JobMaterializeLimit=c["limit"], JobMaterializeNextProcId=c["next_proc"])
    if p.get("start"):
        ad["JobCurrentStartDate"] = int(p["start"])
    if p["status"] == HELD:
        ad.update(HoldReasonCode=p["hold_code"], HoldReason=p["hold_reason"])
    ad.update({k: _literal(v) for k, v in c["attrs"].items()})
    return {k: v for k, v in ad.items() if v is not None}


def _factory_ad(c: dict) -> dict:
    return {"ClusterId": c["id"], "Owner": c["owner"], "TotalSubmitProcs": c["total"],
            "JobMaterializeLimit": c["limit"], "JobMaterializeNextProcId": c["next_proc"]}


def _literal(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return text


def evaluate(expr: str, ad: dict):
    """A small ClassAd expression evaluator: attributes (case-insensitive), numbers,
    strings, == != < > <= >= && || ! + - * /, time(); an undefined attribute is None."""
    low = {k.lower(): v for k, v in ad.items()}
    expr = re.sub(r"\btime\(\s*\)", str(int(time.time())), expr)
    tokens = re.findall(r'"[^"]*"|\d+\.?\d*|[A-Za-z_][\w.]*|==|!=|=\?=|=!=|<=|>=|&&|\|\||'
                        r'[()!<>+\-*/]', expr)
    out = []
    for t in tokens:
        if t in ("&&", "||"):
            out.append(" and " if t == "&&" else " or ")
        elif t == "!":
            out.append(" not ")
        elif t in ("=?=", "=!="):
            out.append(" is " if t == "=?=" else " is not ")
        elif re.fullmatch(r"[A-Za-z_][\w.]*", t):
            out.append(_name(t, low))
        else:
            out.append(t)
    try:
        return eval(" ".join(out), {"__builtins__": {}}, {})
    except Exception:
        return None


def _name(token: str, low: dict) -> str:
    t = token.lower()
    if t in ("true", "false"):
        return t.capitalize()
    if t == "undefined":
        return "None"
    return repr(low.get(t.split(".")[-1]))


# -- commands that read or change the queue ---------------------------------------------------
def _selected(doc: dict, argv: list[str]) -> tuple[list[tuple[dict, str, dict]], str | None]:
    """(cluster, proc, record) the restrictions of ``argv`` select, and the constraint."""
    constraint = argv[argv.index("-constraint") + 1] if "-constraint" in argv else None
    ids = [a for a in argv if re.fullmatch(r"\d+(\.\d+)?", a)]
    out = []
    for c in sorted(doc["jobs"].values(), key=lambda c: c["id"]):
        for proc, p in sorted(c["procs"].items(), key=lambda kv: int(kv[0])):
            if ids and str(c["id"]) not in ids and f"{c['id']}.{proc}" not in ids:
                continue
            if constraint and evaluate(constraint, _ad(c, proc, p)) is not True:
                continue
            out.append((c, proc, p))
    return out, constraint


def condor_q(argv: list[str]) -> int:
    fb.record(STATE, "condor_q", argv)
    with fb.locked(STATE) as doc:
        if "-factory" in argv:
            ids = [a for a in argv if re.fullmatch(r"\d+", a)]
            ads = [_factory_ad(c) for c in doc["jobs"].values() if c["factory"]
                   and (not ids or str(c["id"]) in ids)]
        else:
            ads = [_ad(c, proc, p) for c, proc, p in _selected(doc, argv)[0]]
    if "-af" in argv or "-autoformat" in argv:
        exprs = [a for a in argv[argv.index("-af" if "-af" in argv else "-autoformat") + 1:]
                 if not a.startswith("-")]
        exprs = [e for e in exprs if not re.fullmatch(r"\d+(\.\d+)?", e)]
        for ad in ads:
            print(" ".join(_show(evaluate(e, ad)) for e in exprs))
    elif "-json" in argv:
        if ads:
            keys = (argv[argv.index("-attributes") + 1].split(",") if "-attributes" in argv
                    else None)
            shown = [{k: v for k, v in sorted(ad.items()) if keys is None or k in keys}
                     for ad in ads]
            print("[\n" + "\n,\n".join(json.dumps(a, indent=2) for a in shown) + "\n]")
    else:
        _table(ads)
    return 0


def _show(value) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _table(ads: list[dict]) -> None:
    letters = {1: "I", 2: "R", 3: "X", 4: "C", 5: "H"}
    print("\n\n-- Schedd: fakehost : <127.0.0.1:9618?...\n ID      OWNER    ST CMD")
    for ad in ads:
        print(f"{ad['ClusterId']}.{ad['ProcId']:<6} {ad['Owner']:<8} "
              f"{letters.get(ad['JobStatus'], '?')}  {os.path.basename(ad['Cmd'] or '')}")
    print(f"\nTotal for query: {len(ads)} jobs")


def _change(cmd: str, argv: list[str], act, verb: str) -> int:
    """condor_rm / condor_hold / condor_release on the selected procs."""
    fb.record(STATE, cmd, argv)
    with fb.locked(STATE) as doc:
        chosen, constraint = _selected(doc, argv)
        named = [a for a in argv if re.fullmatch(r"\d+(\.\d+)?", a)]
        for c, proc, p in chosen:
            act(c, proc, p)
        if cmd == "condor_rm":  # removing a cluster removes its factory too
            for a in named:
                if "." not in a and a in doc["jobs"]:
                    doc["jobs"][a]["next_proc"] = doc["jobs"][a]["total"]
        found = {str(c["id"]) for c, _, _ in chosen} | {f"{c['id']}.{q}" for c, q, _ in chosen}
    status = 0
    for a in named:
        if a in found:
            print(f"All jobs in cluster {a} have been {verb}" if "." not in a
                  else f"Job {a} {verb}")
        else:
            print(f"Couldn't find/{cmd.split('_')[1]} all jobs in cluster {a}" if "." not in a
                  else f"Job {a} not found")
            status = 1
    if constraint is not None:
        print(f"All jobs matching constraint ({constraint}) have been {verb}")
    return status


def _remove(c: dict, proc: str, p: dict) -> None:
    if p["status"] == RUNNING:
        fb.signal_group(p["pid"], signal.SIGCONT)
        fb.signal_group(p["pid"], signal.SIGTERM)
        p["kill_at"] = time.time() + float(os.environ.get("FAKECONDOR_KILL_DELAY", "10"))
    _set(p, REMOVED)


def _hold(c: dict, proc: str, p: dict) -> None:
    if p["status"] in (IDLE, RUNNING):
        fb.signal_group(p["pid"], signal.SIGKILL)  # a held running job gets a hard kill
        _set(p, HELD, 1, f"via condor_hold (by user {c['owner']})")


def _release(c: dict, proc: str, p: dict) -> None:
    if p["status"] == HELD:
        _set(p, IDLE)


def _set(p: dict, status: int, code: int | None = None, reason: str | None = None) -> None:
    p.update(status=status, entered=int(time.time()), hold_code=code, hold_reason=reason)


def condor_qedit(argv: list[str]) -> int:
    fb.record(STATE, "condor_qedit", argv)
    target, attr, value = argv[-3], argv[-2], argv[-1]
    with fb.locked(STATE) as doc:
        c = doc["jobs"].get(target)
        if c is None:
            return _fail(f"Failed to set attribute \"{attr}\" to \"{value}\".")
        if attr == "JobMaterializeLimit":
            c["limit"] = int(value)
        else:
            c["attrs"][attr] = value
    print(f'Set attribute "{attr}".')
    return 0


# -- the fake schedd ------------------------------------------------------------------------
def _local(c: dict) -> bool:
    return c["cmds"].get("universe", "vanilla").lower() in ("local", "scheduler")


def _round(doc: dict, children: dict) -> bool:
    """Reap, enforce periodic_remove, materialize, start; True while any proc is left."""
    now = time.time()
    clusters = sorted(doc["jobs"].values(), key=lambda c: c["id"])
    for c in clusters:
        for proc, p in list(c["procs"].items()):
            _watch_proc(c, proc, p, now, children)
        _materialize(c)
    used = sum(p["status"] == RUNNING for c in clusters if not _local(c)
               for p in c["procs"].values())
    slots = int(os.environ.get("FAKECONDOR_SLOTS", "16"))
    for c in clusters:
        for proc, p in sorted(c["procs"].items(), key=lambda kv: int(kv[0])):
            if p["status"] == IDLE and (_local(c) or used < slots):
                _start(c, proc, p, children)
                used += not _local(c)
    for key in [k for k, c in doc["jobs"].items() if not c["procs"]
                and c["next_proc"] >= c["total"]]:
        del doc["jobs"][key]  # the cluster (and its factory) leaves the queue
    return bool(doc["jobs"])


def _materialize(c: dict) -> None:
    while c["next_proc"] < c["total"] and (c["limit"] is None or c["limit"] < 1
                                           or len(c["procs"]) < c["limit"]):
        c["procs"][str(c["next_proc"])] = {"status": IDLE, "pid": None,
                                           "entered": int(time.time())}
        c["next_proc"] += 1


def _watch_proc(c: dict, proc: str, p: dict, now: float, children: dict) -> None:
    """Reap an ended proc (completed and removed ones leave the queue, a held one stays)."""
    code = fb.finished(p["pid"], children) if p.get("pid") else None
    if code is not None or (p["status"] == REMOVED and not p.get("pid")):
        p["pid"] = None
        if p["status"] == HELD:
            return
        log = c["cmds"].get("log")
        if log and code is not None:
            _event(_expand(log, c["id"], int(proc)), "005", c["id"], int(proc),
                   f"Job terminated.\n\t(1) Normal termination (return value {code})")
        del c["procs"][proc]
        return
    if p["status"] == RUNNING and c["walltime"] and now - p["start"] > c["walltime"]:
        _remove(c, proc, p)  # periodic_remove
    if p.get("kill_at") and now >= p["kill_at"]:
        fb.signal_group(p["pid"], signal.SIGKILL)


def _start(c: dict, proc: str, p: dict, children: dict) -> None:
    """Run one proc: its executable in initialdir, with the description's environment."""
    cmds, n = c["cmds"], int(proc)
    iwd = cmds.get("initialdir") or os.getcwd()
    exe = cmds["executable"]
    if not os.path.isdir(iwd):
        return _set(p, HELD, 14, f"Error from slot1@fakehost: Failed to open '{iwd}' as "
                    "the initial working directory (errno=2: 'No such file or directory')")
    broken = os.environ.get("FAKECONDOR_BROKEN_NODE") and not _local(c)
    if broken or not os.access(exe, os.X_OK):
        return _set(p, HELD, 6, f"Error from slot1@fakehost: Failed to execute '{exe}': "
                    "(errno=13: 'Permission denied')")
    env = dict(c["submit_env"]) if cmds.get("getenv", "").lower() == "true" else {}
    env.update(_CONDOR_SCRATCH_DIR=iwd, _CONDOR_SLOT="slot1", _CONDOR_JOB_IWD=iwd,
               BATCH_SYSTEM="HTCondor", **_environment(_expand(cmds.get("environment", ""),
                                                               c["id"], n)))
    out = _open(_expand(cmds.get("output", os.devnull), c["id"], n))
    err = _open(_expand(cmds.get("error", os.devnull), c["id"], n))
    proc_ = subprocess.Popen([exe], cwd=iwd, env=env, stdout=out, stderr=err,
                             stdin=subprocess.DEVNULL, start_new_session=True)
    out.close()
    err.close()
    children[proc_.pid] = proc_
    p.update(status=RUNNING, pid=proc_.pid, start=time.time(), entered=int(time.time()))
    if cmds.get("log"):
        _event(_expand(cmds["log"], c["id"], n), "001", c["id"], n,
               "Job executing on host: <127.0.0.1:9618>")


def _open(path: str):
    try:
        return open(path, "w")
    except OSError:
        return open(os.devnull, "w")


def main() -> int:
    if sys.argv[1] == "_daemon":
        global STATE
        STATE = sys.argv[2]
        return fb.run_daemon(STATE, _round)
    cmd = os.path.basename(sys.argv[1])
    argv = sys.argv[2:]
    changes = {"condor_rm": (_remove, "marked for removal"), "condor_hold": (_hold, "held"),
               "condor_release": (_release, "released")}
    if cmd in changes:
        return _change(cmd, argv, *changes[cmd])
    commands = {"condor_submit": condor_submit, "condor_q": condor_q,
                "condor_qedit": condor_qedit}
    return commands[cmd](argv)


if __name__ == "__main__":
    sys.exit(main())
