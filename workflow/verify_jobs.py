"""`audit verify` split over worker processes: row ranges checked side by side.

Recomputing every root is CPU-bound hashing, so a big log is checked in ranges, one worker
process each, plus one worker for the records-against-history pass. A worker starts its range
from the tree the stored leaf hashes before it give; the worker checking those rows recomputes
them, so taking the lowest row any worker names gives exactly the sequential verdict.

Workers are fresh interpreters (``python -m workflow.verify_jobs``) told what to do on stdin,
reporting progress and their verdict as JSON lines on stdout: nothing of the caller's program
is imported again or shared with them.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from workflow import merkle
from workflow.errors import WorkflowError

Verdict = list[Any]


def ranges(size: int, jobs: int) -> list[tuple[int, int]]:
    """``jobs`` contiguous ranges of seq covering 1..size, each (first, last)."""
    jobs = max(1, min(jobs, size))
    bounds = [1 + size * i // jobs for i in range(jobs)] + [size + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(jobs)]


# -- the worker side -------------------------------------------------------------------------


def _say(line: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def _work(task: dict[str, Any]) -> Verdict:
    from workflow import checks
    from workflow.database import Database

    try:
        scan = Database(task["target"]).scan
        if task["job"] == "records":
            return ["ok", checks.check_records(scan, task.get("due_field"),
                                               task.get("admission"))]
        behind: list[Any] = []
        frontier = checks.check_rows(scan, task["start"], task["last"], size=task["size"],
                                     progress=lambda count: _say({"done": count}),
                                     behind=behind)
        return ["ok", frontier.size, [n.hex() for n in frontier.nodes], behind or None]
    except checks.AuditFailure as failure:
        return ["fail", failure.message, failure.seq, failure.ref]
    except checks.UnreadablePrefix:
        return ["unreadable", task.get("start")]  # an earlier range names the row
    except WorkflowError as error:
        return ["error", str(error)]
    except Exception as error:  # any other failure, reported to the caller as one line
        return ["error", f"verification worker failed: {type(error).__name__}: {error}"]


def main() -> None:
    task = json.loads(sys.stdin.readline())
    threading.Thread(target=_end_with_caller, daemon=True).start()
    _say({"verdict": _work(task)})


def _end_with_caller() -> None:
    """End this worker once its caller is gone (killed, even): the caller keeps the worker's
    stdin open until it has the verdict, so the end of it means nobody waits for one, and the
    worker's read transaction is not held open for nothing."""
    sys.stdin.read()
    os._exit(1)


# -- the caller's side -------------------------------------------------------------------------


def _start(task: dict[str, Any], errors: IO[bytes]) -> subprocess.Popen[str]:
    home = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": home + (os.pathsep + path if path else "")}
    # -P: not the current directory first on the path, so this very package is what runs
    worker = subprocess.Popen([sys.executable, "-P", "-m", "workflow.verify_jobs"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=errors, text=True, env=env)
    assert worker.stdin is not None
    worker.stdin.write(json.dumps(task) + "\n")  # on stdin: a URL may hold a password
    worker.stdin.flush()  # and kept open: the worker ends when it closes (see _end_with_caller)
    return worker


def _read(slot: int, out: IO[str], lines: queue.Queue[tuple[int, dict[str, Any] | None]]) -> None:
    for line in out:
        try:
            lines.put((slot, json.loads(line)))
        except ValueError:
            continue
    lines.put((slot, None))


def run(target: str, size: int, jobs: int, progress: Callable[[int], None] | None,
        due_field: str | None = None, admission: dict[str, Any] | None = None,
        behind: list[Any] | None = None) -> tuple[merkle.Frontier, Any]:
    """Check the log in ``jobs`` ranges and the records beside them (``behind`` as
    :func:`workflow.checks.check_rows` gives it).

    Raises the rows' failure the sequential check would raise; otherwise returns the tree after
    the last row and the records' verdict (their count, or the :class:`AuditFailure` to raise
    once the log head has been checked against the tree, as the sequential check orders them).
    """
    from workflow.checks import AuditFailure

    parts = ranges(size, jobs)
    tasks = [{"job": "rows", "target": target, "start": start, "last": last, "size": size}
             for start, last in parts] + [{"job": "records", "target": target,
                                          "due_field": due_field, "admission": admission}]
    lines: queue.Queue[tuple[int, dict[str, Any] | None]] = queue.Queue()
    verdicts: dict[int, Verdict] = {}
    with contextlib.ExitStack() as stack:
        logs = [stack.enter_context(tempfile.TemporaryFile()) for _ in tasks]
        workers = [_start(task, log) for task, log in zip(tasks, logs, strict=True)]
        try:
            for slot, worker in enumerate(workers):
                assert worker.stdout is not None
                threading.Thread(target=_read, args=(slot, worker.stdout, lines),
                                 daemon=True).start()
            finished = 0
            while finished < len(workers):
                slot, line = lines.get()
                if line is None:
                    finished += 1
                elif "done" in line:
                    if progress:
                        progress(int(line["done"]))
                elif "verdict" in line:
                    verdicts[slot] = line["verdict"]
        finally:
            _end(workers)
        for slot, log in enumerate(logs):
            if slot not in verdicts:
                log.seek(0)
                said = log.read().decode(errors="replace").strip().splitlines()
                raise WorkflowError("a verification worker stopped without a verdict"
                                    + (f": {said[-1]}" if said else ""))
    _raise_first([verdicts[slot] for slot in range(len(parts))])
    _, tree_size, nodes, _ = verdicts[len(parts) - 1]
    frontier = merkle.Frontier(tree_size, [bytes.fromhex(n) for n in nodes])
    found = [verdicts[slot][3] for slot in range(len(parts)) if verdicts[slot][3]]
    if behind is not None and found:
        behind.extend(found[0])  # the lowest: ranges come in order
    records = verdicts[len(parts)]
    if records[0] == "error":
        return frontier, WorkflowError(records[1])
    if records[0] == "fail":
        return frontier, AuditFailure(records[1], records[2], records[3])
    return frontier, int(records[1])


def _end(workers: list[subprocess.Popen[str]]) -> None:
    """Each worker told its caller is done (its stdin closed), and killed if still at work."""
    for worker in workers:
        if worker.stdin is not None:
            with contextlib.suppress(OSError):
                worker.stdin.close()
        if worker.poll() is None:
            worker.kill()
        worker.wait()


def _raise_first(verdicts: list[Verdict]) -> None:
    """Raise what the sequential check would have raised first, if anything: the lowest row
    named, unless a range before it could not be checked at all."""
    from workflow.checks import AuditFailure

    named: list[Verdict] = []
    for verdict in verdicts:
        if verdict[0] == "fail":
            named.append(verdict)
        elif verdict[0] == "error" and not named:
            raise WorkflowError(verdict[1])
    if named:
        _, message, seq, ref = min(named, key=lambda v: (v[2] is None, v[2] or 0))
        raise AuditFailure(message, seq, ref)
    for verdict in verdicts:
        if verdict[0] != "ok":
            raise AuditFailure("a stored leaf hash before it is unreadable", verdict[1])


if __name__ == "__main__":
    main()
