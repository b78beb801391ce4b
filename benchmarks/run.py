"""The benchmark suite: every figure beside a baseline measured in the same run, as a ratio.

    python benchmarks/run.py [--quick] [--json results.json]

PostgreSQL figures are included when WORKFLOW_BENCH_POSTGRES_URL (or
WORKFLOW_TEST_POSTGRES_URL) names a database the suite may create schemas in.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from make_db import PATRIOT, build  # noqa: E402

from workflow import Workflow  # noqa: E402
from workflow.ledger import canonical  # noqa: E402

CLI = [sys.executable, "-c", "import sys; from cli.main import main; sys.argv[0] = 'workflow'; "
       "main()"]
RESULTS: list[dict[str, Any]] = []


def record(name: str, ours: float, baseline: float, unit: str, target: str,
           passed: bool | None, note: str = "") -> None:
    """One line of the table; ``ratio`` is always ours relative to the baseline's figure."""
    ratio = ours / baseline if baseline else float("inf")
    RESULTS.append({"name": name, "ours": ours, "baseline": baseline, "unit": unit,
                    "ratio": round(ratio, 3), "target": target, "met": passed, "note": note})
    mark = "-" if passed is None else ("yes" if passed else "NO")
    print(f"{name:<46} {ours:>12.1f} {baseline:>12.1f} {unit:<9} {ratio:>6.2f}x  "
          f"{target:<8} {mark}", flush=True)


def per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


# -- firing events, one transaction each ---------------------------------------------------


def _ready(target: str, count: int) -> tuple[Workflow, list[str]]:
    wf = Workflow(target, create=True)
    wf.init("admin", direct_schema=True)
    wf.add_user("dan", ["drafter"], actor="admin")
    refs = wf.create_many([PATRIOT] * count, actor="dan")
    return wf, refs


def _raw_row(i: int) -> bytes:
    return canonical({"ref": f"TR-2026-{i:04d}", "event": "submit", "from": "drafted",
                      "to": "nsc_review", "actor": "dan", "at": datetime.now(UTC).isoformat()})


def raw_sqlite_firings(path: str, count: int, batched: bool) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, state TEXT, version INTEGER)")
    conn.execute("CREATE TABLE h (seq INTEGER PRIMARY KEY, record_id INTEGER, body TEXT, "
                 "leaf TEXT)")
    conn.executemany("INSERT INTO r VALUES (?, 'drafted', 1)", [(i,) for i in range(count)])

    def fire(i: int) -> None:
        cursor = conn.execute("UPDATE r SET state = 'nsc_review', version = version + 1 "
                              "WHERE id = ? AND version = 1", (i,))
        assert cursor.rowcount == 1
        body = _raw_row(i)
        conn.execute("INSERT INTO h (record_id, body, leaf) VALUES (?, ?, ?)",
                     (i, body.decode(), hashlib.sha256(body).hexdigest()))

    def run() -> None:
        if batched:
            conn.execute("BEGIN IMMEDIATE")
            for i in range(count):
                fire(i)
            conn.execute("COMMIT")
            return
        for i in range(count):
            conn.execute("BEGIN IMMEDIATE")
            fire(i)
            conn.execute("COMMIT")

    seconds = timed(run)
    conn.close()
    return seconds


def raw_postgres_firings(url: str, count: int, batched: bool) -> float:
    import psycopg

    schema = f"bench_raw_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}")
    try:
        with psycopg.connect(url, options=f"-csearch_path={schema}") as conn:
            conn.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, state TEXT, version INTEGER)")
            conn.execute("CREATE TABLE h (seq SERIAL PRIMARY KEY, record_id INTEGER, "
                         "body TEXT, leaf TEXT)")
            with conn.cursor() as cur:
                cur.executemany("INSERT INTO r VALUES (%s, 'drafted', 1)",
                                [(i,) for i in range(count)])
            conn.commit()

            def fire(i: int) -> None:
                cursor = conn.execute("UPDATE r SET state = 'nsc_review', version = version + 1 "
                                      "WHERE id = %s AND version = 1", (i,))
                assert cursor.rowcount == 1
                body = _raw_row(i)
                conn.execute("INSERT INTO h (record_id, body, leaf) VALUES (%s, %s, %s)",
                             (i, body.decode(), hashlib.sha256(body).hexdigest()))

            def run() -> None:
                for i in range(count):
                    fire(i)
                    if not batched:
                        conn.commit()
                conn.commit()

            return timed(run)
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE")


def _rounds(name: str, unit: str, rounds: int, ours: Callable[[int], float],
            baseline: Callable[[int], float], count: int) -> None:
    """Ours and the baseline measured in turn, ``rounds`` times: the machine's load drifts, so
    the figures are those of the round with the median ratio, and every round's ratio is
    noted."""
    pairs = [(ours(n), baseline(n)) for n in range(rounds)]
    seen = ", ".join(f"{raw / seconds:.2f}" for seconds, raw in pairs)
    mine, theirs = sorted(pairs, key=lambda pair: pair[1] / pair[0])[(rounds - 1) // 2]
    record(name, per_second(count, mine), per_second(count, theirs), unit, ">= 0.5x",
           theirs / mine >= 0.5,
           f"median of {rounds} interleaved rounds; each round's ratio: {seen}")


def _firing(target: str, count: int) -> float:
    wf, refs = _ready(target, count)
    seconds = timed(lambda: [wf.fire(r, "submit", actor="dan") for r in refs])
    wf.close()
    return seconds


def _batch(target: str, count: int, created: list[float] | None = None) -> float:
    wf, refs = _ready(target, count)
    seconds = timed(lambda: wf.fire_many([{"ref": r, "event": "submit"} for r in refs],
                                         actor="dan"))
    if created is not None:
        created.append(timed(lambda: wf.create_many([PATRIOT] * count, actor="dan")))
    wf.close()
    return seconds


def _on_postgres(url: str, measure: Callable[[str], float]) -> float:
    with pg_schema(url) as target:
        return measure(target)


def bench_firing(work: Path, count: int, postgres: str | None, rounds: int) -> None:
    _rounds("fire, one transaction each (SQLite)", "firings/s", rounds,
            lambda n: _firing(str(work / f"fire-{n}.db"), count),
            lambda n: raw_sqlite_firings(str(work / f"raw-fire-{n}.db"), count, batched=False),
            count)
    if postgres:
        _rounds("fire, one transaction each (PostgreSQL)", "firings/s", rounds,
                lambda n: _on_postgres(postgres, lambda target: _firing(target, count)),
                lambda n: raw_postgres_firings(postgres, count, batched=False), count)


def bench_bulk(work: Path, count: int, postgres: str | None, rounds: int) -> None:
    created: list[float] = []
    raws: list[float] = []

    def raw(n: int) -> float:
        raws.append(raw_sqlite_firings(str(work / f"raw-bulk-{n}.db"), count, batched=True))
        return raws[-1]

    _rounds("bulk advance, one transaction (SQLite)", "firings/s", rounds,
            lambda n: _batch(str(work / f"bulk-{n}.db"), count, created), raw, count)
    _rounds("bulk import, one transaction (SQLite)", "rows/s", rounds,  # the same rounds
            lambda n: created[n], lambda n: raws[n], count)
    if postgres:
        _rounds("bulk advance, one transaction (PostgreSQL)", "firings/s", rounds,
                lambda n: _on_postgres(postgres, lambda target: _batch(target, count)),
                lambda n: raw_postgres_firings(postgres, count, batched=True), count)


@contextmanager
def pg_schema(url: str) -> Iterator[str]:
    """A fresh PostgreSQL schema for one measurement, dropped afterwards."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


# -- command start-up and reads on a big database ---------------------------------------------


def _median_runs(commands: list[tuple[list[str], dict[str, str] | None]], runs: int
                 ) -> list[float]:
    """Each command's median time over ``runs`` rounds, the commands taking turns within a
    round: a machine whose load drifts weighs on ours and the baseline alike."""
    times: list[list[float]] = [[] for _ in commands]
    for _ in range(runs):
        for (command, env), took in zip(commands, times, strict=True):
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, env=env, check=False)
            took.append(time.perf_counter() - start)
            if done.returncode != 0:
                raise RuntimeError(f"{command} failed: {done.stderr.decode()[-300:]}")
    return [statistics.median(took) for took in times]


def compile_project() -> None:
    """Write the program's bytecode, as installing it or a first run does (click's is written
    already): start-up is measured as it is every time after, not with the sources compiled
    again, which happens on every run where writing bytecode is off (PYTHONDONTWRITEBYTECODE)."""
    import compileall

    for package in ("cli", "workflow", "states"):
        compileall.compile_dir(str(ROOT / package), quiet=1)


def bench_startup(runs: int) -> None:
    ours, base = _median_runs([([*CLI, "--help"], None),
                               ([sys.executable, "-c", "import click"], None)], runs)
    record("workflow --help (start-up)", ours * 1000, base * 1000, "ms", "<= 2x",
           ours / base <= 2, "baseline: python -c 'import click'; the two take turns; "
           "bytecode written first, as an installed program has it")


def bench_reads(big: str, runs: int) -> None:
    env = {**os.environ, "WORKFLOW_DB": big, "WORKFLOW_USER": "aud"}
    ref = _some_ref(big)
    reads = (("request show REF", ["request", "show", ref]), ("history REF", ["history", ref]))
    base, *ours = _median_runs([([sys.executable, "-c", "import sqlmodel"], None)]
                               + [([*CLI, *args], env) for _, args in reads], runs)
    for (name, _), mine in zip(reads, ours, strict=True):
        record(f"{name} (big database)", mine * 1000, base * 1000, "ms", "<= 1.25x",
               mine / base <= 1.25, "baseline: python -c 'import sqlmodel'; they take turns")


def _some_ref(big: str) -> str:
    conn = sqlite3.connect(big)
    count = conn.execute("SELECT count(*) FROM wf_record").fetchone()[0]
    ref = conn.execute("SELECT ref FROM wf_record WHERE id = ?", (count // 2 or 1,)).fetchone()[0]
    conn.close()
    return str(ref)


PEAK_KB = """
def peak_kb():
    try:  # this program's own high-water mark: a new one at exec
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:  # elsewhere ru_maxrss, which on Linux would carry the parent's peak over
        import resource
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
"""


def _peak_rss_mb(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of one CLI run in a fresh process."""
    code = (f"import sys\n{PEAK_KB}\nfrom cli.main import cli\n"
            f"code = cli.main({args!r}, prog_name='workflow', standalone_mode=False)\n"
            "print(peak_kb(), file=sys.stderr)\n"
            "sys.exit(code or 0)\n")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, env=env, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stderr.decode()[-300:]}")
    return seconds, int(done.stderr.decode().strip().splitlines()[-1]) / 1024


def _hash_lines(path: Path, *, roots: bool) -> None:
    """hashlib alone over the rows' canonical bytes: each leaf and, with ``roots``, the tree
    root after each row (the hashing `audit verify` must do), in a plain loop."""
    sha256 = hashlib.sha256
    nodes: list[bytes] = []
    size = 0
    with path.open("rb") as lines:
        for line in lines:
            leaf = sha256(b"\x00" + line.rstrip(b"\n")).digest()
            if not roots:
                continue
            nodes.append(leaf)
            index = size
            size += 1
            while index & 1:
                right = nodes.pop()
                nodes.append(sha256(b"\x01" + nodes.pop() + right).digest())
                index >>= 1
            root = nodes[-1]
            for node in reversed(nodes[:-1]):
                root = sha256(b"\x01" + node + root).digest()


def bench_audit(big: str, work: Path) -> None:
    """Verify against hashlib over the same bytes (the rows' canonical encodings, streamed
    from a JSONL export), and peak memory of verify and export against a process that only
    opens the database."""
    env = {**os.environ, "WORKFLOW_DB": big, "WORKFLOW_USER": "aud"}
    out = work / "export.jsonl"
    _, export_peak = _peak_rss_mb(["audit", "export", "--format", "jsonl", "-o", str(out)], env)
    leaves_only = timed(lambda: _hash_lines(out, roots=False))
    wf = Workflow(big)
    # verify and the hashing take turns, three times: the round with the median ratio counts
    pairs = [(timed(wf.verify), timed(lambda: _hash_lines(out, roots=True)))
             for _ in range(3)]
    ours, same_hashing = sorted(pairs, key=lambda pair: pair[0] / pair[1])[1]
    alone = timed(lambda: wf.verify(jobs=1))
    wf.close()
    seen = ", ".join(f"{mine / theirs:.2f}" for mine, theirs in pairs)
    record("audit verify (big database)", ours, same_hashing, "s", "<= 2x",
           ours / same_hashing <= 2,
           f"{os.cpu_count()} CPUs, default jobs; baseline: hashlib, every leaf and root; "
           f"median of 3 interleaved rounds; each round's ratio: {seen}")
    record("audit verify --jobs 1 (big database)", alone, same_hashing, "s", "-", None,
           "one process; baseline: hashlib, every leaf and root")
    record("audit verify vs leaf bytes alone", ours, leaves_only, "s", "-", None,
           "baseline: hashlib over each row's bytes once")
    _, idle = _peak_rss_mb(["db", "current"], env)
    _, verify_peak = _peak_rss_mb(["audit", "verify"], env)
    record("audit verify peak memory", verify_peak, idle, "MB", "flat", None,
           "baseline: a process that only opens the database")
    record("audit export peak memory", export_peak, 150, "MB", "< 150 MB", export_peak < 150)
    for name, args in (("audit log", ["audit", "log"]),
                       ("request list --as-of", ["request", "list", "--as-of", "2025-06-30"]),
                       ("audit report", ["audit", "report"])):
        seconds, peak = _peak_rss_mb(args, env)
        record(f"{name} peak memory", peak, idle, "MB", "flat", None,
               f"over the whole log, in {seconds:.1f} s; baseline: a process that only opens "
               "the database")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", dest="json_path", default=str(ROOT / "benchmarks" /
                                                                 "results.json"))
    parser.add_argument("--big-db", help="reuse a database built by make_db.py")
    args = parser.parse_args()
    fires, requests, runs = (200, 2_000, 3) if args.quick else (2_000, 100_000, 7)
    rounds = 2 if args.quick else 5
    postgres = os.environ.get("WORKFLOW_BENCH_POSTGRES_URL") or os.environ.get(
        "WORKFLOW_TEST_POSTGRES_URL")
    print(f"{'benchmark':<46} {'ours':>12} {'baseline':>12} {'unit':<9} {'ratio':>7}  "
          f"{'target':<8} met")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        bench_firing(work, fires, postgres, rounds)
        bench_bulk(work, fires * 5, postgres, rounds)
        compile_project()
        bench_startup(runs)
        big = args.big_db or str(work / "big.db")
        if not args.big_db:
            built = build(big, requests, show_progress=sys.stderr.isatty())
            print(f"(big database: {built['requests']} requests, "
                  f"{built['history_rows']} history rows)", flush=True)
        bench_reads(big, runs)
        bench_audit(big, work)
    summary = {"date": datetime.now(UTC).isoformat(timespec="seconds"), "quick": args.quick,
               "machine": f"{platform.machine()} {os.cpu_count()} cores, "
                          f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}",
               "results": RESULTS}
    Path(args.json_path).write_text(json.dumps(summary, indent=2) + "\n")
    print(f"results written to {args.json_path}")


if __name__ == "__main__":
    main()
