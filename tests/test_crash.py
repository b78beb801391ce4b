"""Killing a writer with SIGKILL at a random moment leaves a whole, verifiable database.

A subprocess (tests/crash_worker.py) fires events on ever new requests in a loop; it is killed
0.05-0.5 s after it reports that it started, many times over. After every kill the database
must pass SQLite's own integrity check, the audit verification (every request agrees with its
last history row; no half-written transition) and go on working.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import CAST, PATRIOT, report_figures
from workflow import Workflow

CRASHES = {"sqlite": 20, "postgresql": 6}
WORKER_SCRIPT = Path(__file__).with_name("crash_worker.py")
SEED = 424242


def sqlite_checks(path: str) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        conn.close()


def run_and_kill(target: str, rng: random.Random, index: int) -> float:
    """Start the looping writer, wait for its start line, kill it; the delay before the kill."""
    proc = subprocess.Popen([sys.executable, str(WORKER_SCRIPT), target, str(SEED + index)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        assert first == b"started\n", (first, proc.stderr.read()[-3000:])
        delay = rng.uniform(0.05, 0.5)
        time.sleep(delay)  # the random moment of the crash is the point of this test
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        stderr = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # it was still writing when killed: it neither stopped on an error nor finished
    assert proc.returncode == -signal.SIGKILL, (proc.returncode, stderr[-3000:])
    assert b"Traceback" not in stderr, stderr[-3000:]
    return delay


def test_sigkill_mid_loop_leaves_a_whole_database_that_goes_on(db_target):
    backend = "postgresql" if "://" in db_target else "sqlite"
    setup = Workflow(db_target, create=True)
    setup.init("admin", direct_schema=True)
    for name, roles in CAST.items():
        setup.add_user(name, roles, actor="admin")
    rows_before = setup.verify()["rows"]
    setup.close()

    rng = random.Random(SEED)
    rows = rows_before
    delays = []
    for index in range(CRASHES[backend]):
        delays.append(run_and_kill(db_target, rng, index))
        if backend == "sqlite":
            sqlite_checks(db_target)
        with Workflow(db_target) as wf:
            result = wf.verify()  # state = last history row, versions count rows, log whole
            assert result["rows"] >= rows  # nothing that was committed went missing
            records = wf.list()
            assert result["records"] == len(records)
            for record in records[-3:]:
                history = wf.history(record["ref"])
                assert record["state"] == history[-1]["to"]
                assert record["version"] == len(history)
            # and the workflow goes on normally
            ref = wf.create(actor="dora", **PATRIOT)
            assert wf.fire(ref, "submit", actor="dora") == "nsc_review"
            assert [h["event"] for h in wf.history(ref)] == ["create", "submit"]
            after = wf.verify()
            assert after["rows"] == result["rows"] + 2
            rows = after["rows"]
    if backend == "sqlite":
        sqlite_checks(db_target)
    report_figures(f"[crash {backend}] crashes survived={len(delays)} rows written="
          f"{rows - rows_before} (kills after {min(delays):.2f}-{max(delays):.2f}s)")
    assert rows - rows_before > 2 * len(delays)  # the victim did write between the kills
