"""Many OS processes firing events on the same requests at once, on SQLite and PostgreSQL.

Each worker (tests/stress_worker.py) opens its own connection, waits for a common start signal,
then makes a fixed number of pseudo-random attempts and reports each outcome. Afterwards every
applied firing must be exactly one history row, the log must be whole and every request must
agree with its last history row.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import CAST, PATRIOT, report_figures
from workflow import Workflow

WORKERS = 8
ATTEMPTS = 60
SEED = 20261125
WORKER_SCRIPT = Path(__file__).with_name("stress_worker.py")
TIMEOUT = 150


def prepare(target: str) -> tuple[Workflow, list[str]]:
    """An initialised database with the cast and six requests spread over the process."""
    wf = Workflow(target, create=True)
    wf.init("admin", direct_schema=True)
    for name, roles in CAST.items():
        wf.add_user(name, roles, actor="admin")
    refs = []
    for n, drafter in enumerate(("dan", "dora", "duo", "dan", "dora", "dan")):
        ref = wf.create(actor=drafter, **PATRIOT)
        if n >= 1:
            wf.fire(ref, "submit", actor=drafter)
        if n >= 3:
            wf.fire(ref, "approve_for_us", actor="ann")
        refs.append(ref)
    return wf, refs


def run_workers(target: str, refs: list[str]) -> list[dict[str, Any]]:
    """Start every worker, release them together, and collect every line they report."""
    procs = []
    for worker in range(WORKERS):
        config = {"target": target, "seed": SEED + worker, "attempts": ATTEMPTS, "refs": refs,
                  "worker": worker}
        procs.append(subprocess.Popen(
            [sys.executable, str(WORKER_SCRIPT), json.dumps(config)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0,
        ))
    try:
        for proc in procs:  # unbuffered: readline takes exactly the ready line, nothing more
            assert proc.stdout is not None
            first = proc.stdout.readline()
            assert first == b"ready\n", (first, proc.stderr.read() if proc.stderr else b"")
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
        lines: list[dict[str, Any]] = []
        for worker, proc in enumerate(procs):
            out, err = proc.communicate(timeout=TIMEOUT)
            assert proc.returncode == 0, (worker, err.decode(errors="replace")[-3000:])
            assert b"Traceback" not in err, err.decode(errors="replace")[-3000:]
            reported = [json.loads(line) for line in out.decode().splitlines()]
            assert reported[-1] == {"done": True, "worker": worker}
            lines.extend(reported[:-1])
        return lines
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_concurrent_processes_lose_no_firing_and_keep_the_log_whole(db_target):
    wf, refs = prepare(db_target)
    try:
        rows_before = len(wf.log())
        refusals_before = len(wf.refusals())
        began = time.monotonic()
        lines = run_workers(db_target, refs)
        elapsed = time.monotonic() - began

        outcomes = Counter(line["outcome"] for line in lines)
        backend = "postgresql" if "://" in db_target else "sqlite"
        report_figures(f"[stress {backend}] processes={WORKERS} attempted={len(lines)} "
              f"applied={outcomes['applied']} refused={outcomes['refused']} "
              f"conflicts={outcomes['conflict']} busy={outcomes['busy']} "
              f"noop-edits={outcomes['noop']} other={outcomes['other']} "
              f"rules={dict(Counter(line.get('rule') for line in lines if line.get('rule')))} "
              f"in {elapsed:.1f}s")

        others = [line for line in lines if line["outcome"] == "other"]
        assert not others, others[:3]
        assert len(lines) == WORKERS * ATTEMPTS
        assert set(outcomes) <= {"applied", "noop", "refused", "conflict", "busy"}
        assert outcomes["applied"] > WORKERS, outcomes  # the run did move requests along

        # every applied firing is exactly one new history row, and nothing else was written
        log = wf.log()
        assert [row["seq"] for row in log] == list(range(1, len(log) + 1))
        added = log[rows_before:]
        assert len(added) == outcomes["applied"]
        applied = Counter((line["ref"], line["event"], line["state"], line["actor"])
                          for line in lines if line["outcome"] == "applied")
        written = Counter((row["ref"], row["event"], row["to"], row["actor"]) for row in added)
        assert written == applied

        # every refused attempt and every conflict was logged as a refusal
        logged = wf.refusals()[refusals_before:]
        assert len(logged) == outcomes["refused"] + outcomes["conflict"]
        assert Counter(r["rule"] for r in logged) == Counter(
            line.get("rule", "conflict") for line in lines
            if line["outcome"] in ("refused", "conflict"))

        # every request agrees with its last history row, and versions count the rows
        records = wf.list()
        for record in records:
            history = wf.history(record["ref"])
            assert history, record["ref"]
            assert record["state"] == history[-1]["to"], (record, history[-1])
            assert record["version"] == len(history), record
            for before, after in itertools.pairwise(history):
                assert after["from"] == before["to"], (record["ref"], before, after)

        # references stay gap-free per year, however many processes created them at once
        by_year: dict[str, list[int]] = {}
        for record in records:
            _, year, number = record["ref"].split("-")
            by_year.setdefault(year, []).append(int(number))
        for numbers in by_year.values():
            assert sorted(numbers) == list(range(1, len(numbers) + 1))

        result = wf.verify()
        assert result["rows"] == len(log)
        assert result["records"] == len(records)
    finally:
        wf.close()
