"""Databases that cannot be used: missing, read-only, locked, corrupt, unreachable.

Whatever the command, each gives one line on stderr starting with ``error: ``, nothing on
stdout, exit code 1 (2 for a malformed database URL), never a traceback, and leaves the
database (or the absence of one) exactly as it was.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import workflow.database
from cli.main import cli
from tests.conftest import (
    CAST,
    PATRIOT,
    FakeClock,
    _postgres_url,
    assert_one_line_error,
    db_snapshot,
    request_new_args,
)
from workflow import Workflow

REF = "TR-2026-0001"
READS = [
    ["request", "list"],
    ["request", "show", REF],
    ["history", REF],
    ["due"],
    ["user", "list"],
    ["policy", "list"],
    ["policy", "history"],
    ["audit", "verify"],
    ["audit", "log"],
    ["audit", "refusals"],
    ["audit", "report"],
    ["graph", REF],
]
WRITES = [
    ["user", "add", "zed", "--role", "drafter"],
    ["user", "disable", "dora"],
    request_new_args(),
    ["request", "edit", REF, "--note", "changed"],
    ["advance", REF, "submit"],
    ["advance", REF, "withdraw", "--reason", "no longer needed"],
    ["policy", "add", "PL", "--kind", "embargo", "--since", "2026-01-01", "--reason", "test"],
    ["policy", "end", "UA", "--on", "2026-12-01", "--reason", "test"],
]
ALL = READS + WRITES
WORKFLOW_SCRIPT = shutil.which("workflow")
# drop root's power to write whatever the permissions say, for the read-only tests
UNPRIVILEGED = ["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search"]


def invoke(target: str, *args: str, actor: str = "admin") -> Result:
    return CliRunner().invoke(cli, ["--db", target, "--as", actor, *args],
                              obj={"clock": FakeClock()}, catch_exceptions=False)


def ids(argv: list[str]) -> str:
    return " ".join(argv[:2]) + ("..." if len(argv) > 2 else "")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def listing(folder: Path) -> dict[str, str]:
    return {p.name: digest(p) for p in sorted(folder.iterdir()) if p.is_file()}


def initialised(path: Path) -> str:
    """A ready SQLite database at ``path`` with the cast and one drafted request, checkpointed
    so that the whole database is in the one file (the -wal and -shm go with the last close)."""
    with Workflow(str(path), clock=FakeClock(), create=True) as wf:
        wf.init("admin", direct_schema=True)
        for name, roles in CAST.items():
            wf.add_user(name, roles, actor="admin")
        ref = wf.create(actor="dan", **PATRIOT)
        assert ref == REF
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]
    return str(path)


@pytest.fixture
def ready_db(tmp_path: Path) -> str:
    folder = tmp_path / "db"
    folder.mkdir()
    return initialised(folder / "workflow.db")


def run_cli(argv: list[str], *, unprivileged: bool = False) -> subprocess.CompletedProcess[str]:
    """The installed console script in a subprocess, with no workflow settings from outside."""
    assert WORKFLOW_SCRIPT, "the workflow console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    command = [WORKFLOW_SCRIPT, *argv]
    if unprivileged:
        command = [*UNPRIVILEGED, *command]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)


def assert_one_line_failure(proc: subprocess.CompletedProcess[str], code: int = 1) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: "), proc.stderr
    return lines[0]


# -- file names a URL would read otherwise ------------------------------------------------------


@pytest.mark.parametrize("name", ["p%41.db", "w?mode=ro.db", "a#b.db", "x y.db", "x:memory:.db"])
def test_a_database_file_is_the_file_named_whatever_its_characters(tmp_path, name):
    """%, ? and # in a path are not URL escapes, a query or a fragment, nor is ":memory:" in a
    name a database in memory: the file named is the file used, a missing one is not made by
    a read, and the database's own file is never an output."""
    path = tmp_path / name
    assert "workflow init" in assert_one_line_error(invoke(str(path), "user", "list"), 1)
    assert not path.exists()
    result = invoke(str(path), "init", actor="admin")
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(name + "-")] == [name]
    listed = invoke(str(path), "user", "list", "--json", actor="admin")
    assert listed.exit_code == 0, listed.stderr
    before = path.read_bytes()
    line = assert_one_line_error(invoke(str(path), "audit", "checkpoint", "-o", str(path),
                                        "--force", actor="admin"), 2)
    assert "database's own file" in line
    assert path.read_bytes() == before


def test_memory_is_not_a_file_name_to_make(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["init"], ["user", "list"]):
        line = assert_one_line_error(invoke(":memory:", *argv), 2)
        assert "':memory:' would keep nothing" in line
    assert list(tmp_path.iterdir()) == []


def test_a_sqlite_url_naming_its_driver_still_names_a_protected_file(tmp_path):
    path = tmp_path / "d.db"
    url = f"sqlite+pysqlite:///{path}"
    assert "workflow init" in assert_one_line_error(invoke(url, "user", "list"), 1)
    assert not path.exists()
    assert invoke(url, "init", actor="admin").exit_code == 0
    before = path.read_bytes()
    line = assert_one_line_error(invoke(url, "audit", "export", "--format", "csv", "-o",
                                        str(path), "--force", actor="admin"), 2)
    assert "database's own file" in line
    assert path.read_bytes() == before


# -- a missing SQLite file ---------------------------------------------------------------------


@pytest.mark.parametrize("argv", [*ALL, ["db", "current"], ["db", "upgrade"]], ids=ids)
def test_missing_sqlite_file_asks_for_workflow_init_and_is_not_created(tmp_path, argv):
    path = tmp_path / "missing.db"
    line = assert_one_line_error(invoke(str(path), *argv), 1)
    assert "workflow init" in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [*ALL, ["db", "current"], ["db", "upgrade"]], ids=ids)
@pytest.mark.parametrize("kind", ["other-program", "empty"])
def test_a_file_that_is_not_a_workflow_database_is_left_exactly_as_it_was(tmp_path, argv, kind):
    path = tmp_path / "other.db"
    if kind == "empty":
        path.touch()
    else:
        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('kept')")
        conn.commit()
        conn.close()
    before = listing(tmp_path)
    result = invoke(str(path), *argv)
    if argv == ["db", "current"]:
        assert result.exit_code == 0 and "none" in result.stdout.lower(), result.stdout
    else:
        assert "workflow init" in assert_one_line_error(result, 1)
    assert listing(tmp_path) == before


@pytest.mark.parametrize("argv", [["init"], ["demo"]], ids=ids)
def test_init_refuses_a_file_holding_another_programs_tables(tmp_path, argv):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    before = listing(tmp_path)
    line = assert_one_line_error(invoke(str(path), *argv), 2)
    assert "already holds tables of another program (notes)" in line
    assert listing(tmp_path) == before


def test_missing_sqlite_file_via_the_console_script(tmp_path):
    path = tmp_path / "missing.db"
    line = assert_one_line_failure(run_cli(["--db", str(path), "--as", "admin", "request",
                                            "list"]))
    assert "workflow init" in line and str(path) in line, line
    assert list(tmp_path.iterdir()) == []


# -- a read-only SQLite file -------------------------------------------------------------------


def needs_unprivileged(path: Path) -> bool:
    """Whether commands must drop root's override to feel the permissions; skips the test when
    the read-only ``path`` stays writable whatever we do."""
    as_root = os.geteuid() == 0
    if as_root and shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: the file would stay writable")
    probe = [sys.executable, "-c", f"print('probe', flush=True); open({str(path)!r}, 'ab')"]
    tried = subprocess.run([*UNPRIVILEGED, *probe] if as_root else probe, capture_output=True,
                           timeout=30)
    if not (tried.stdout.startswith(b"probe") and b"PermissionError" in tried.stderr):
        pytest.skip(f"the read-only file is writable here anyway ({tried.stderr[-200:]!r})")
    return as_root


@pytest.fixture
def read_only(ready_db: str) -> Iterator[tuple[str, bool]]:
    """The ready database with the file and its directory made read-only; yields the path and
    whether commands must run without root's override (when the tests run as root)."""
    path = Path(ready_db)
    folder = path.parent
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        yield str(path), needs_unprivileged(path)
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)


@pytest.mark.parametrize("argv", [*WRITES, ["init"]], ids=ids)
def test_read_only_sqlite_refuses_writes_in_one_line_and_stays_as_it_was(read_only, argv):
    target, as_root = read_only
    folder = Path(target).parent
    before = listing(folder)
    line = assert_one_line_failure(run_cli(["--db", target, "--as", "admin", *argv],
                                           unprivileged=as_root))
    assert "read-only" in line, line
    assert listing(folder) == before


def test_read_only_sqlite_file_in_a_writable_folder_can_still_be_read(ready_db):
    path = Path(ready_db)
    path.chmod(0o444)
    try:
        as_root = needs_unprivileged(path)
        before = digest(path)
        shown = run_cli(["--db", ready_db, "--as", "aud", "request", "list"],
                        unprivileged=as_root)
        assert shown.returncode == 0, shown.stderr
        assert REF in shown.stdout
        line = assert_one_line_failure(run_cli(
            ["--db", ready_db, "--as", "dan", "advance", REF, "submit"], unprivileged=as_root))
        assert "read-only" in line, line
        assert digest(path) == before
    finally:
        path.chmod(0o644)
    with Workflow(ready_db) as wf:
        assert wf.get(REF)["state"] == "drafted"
        wf.verify()


# -- a locked SQLite file ----------------------------------------------------------------------


@pytest.fixture
def locked(ready_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Another connection holds an exclusive write lock; the busy timeout is made short."""
    monkeypatch.setattr(workflow.database, "BUSY_TIMEOUT_MS", 150)
    holder = sqlite3.connect(ready_db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        yield ready_db
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("argv", WRITES, ids=ids)
def test_locked_sqlite_gives_one_busy_line_and_changes_nothing(locked, argv):
    before = db_snapshot(locked)
    refusals = sqlite3.connect(locked).execute("SELECT count(*) FROM wf_refusal").fetchone()
    began = time.monotonic()
    line = assert_one_line_error(invoke(locked, *argv), 1)
    assert time.monotonic() - began < 10  # gives up after the (short) timeout and retries
    assert "busy" in line, line
    assert db_snapshot(locked) == before
    assert sqlite3.connect(locked).execute(
        "SELECT count(*) FROM wf_refusal").fetchone() == refusals


def test_init_again_on_a_locked_sqlite_says_nothing_changed(locked):
    """Initialised already: init reads that before it would lock anything."""
    before = db_snapshot(locked)
    result = invoke(locked, "init")
    assert result.exit_code == 0, result.stderr
    assert "already initialised; nothing changed" in result.stderr
    assert db_snapshot(locked) == before


@pytest.mark.parametrize("argv", READS, ids=ids)
def test_locked_sqlite_can_still_be_read(locked, argv):
    result = invoke(locked, *argv)
    assert result.exit_code == 0, result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_write_goes_through_once_the_lock_is_released(ready_db, monkeypatch):
    monkeypatch.setattr(workflow.database, "BUSY_TIMEOUT_MS", 150)
    holder = sqlite3.connect(ready_db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = WAL")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        assert "busy" in assert_one_line_error(invoke(ready_db, "advance", REF, "submit",
                                                      actor="dan"), 1)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    result = invoke(ready_db, "advance", REF, "submit", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "nsc_review\n"


# -- a corrupt SQLite file ---------------------------------------------------------------------


def _random_bytes(path: Path, seed: int) -> None:
    path.write_bytes(random.Random(seed).randbytes(16384))


def _damaged_pages(path: Path, seed: int) -> None:
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for offset in range(4096, len(data), 4096):  # every page but the first
        for _ in range(64):
            data[offset + rng.randrange(min(4096, len(data) - offset))] = rng.randrange(256)
    path.write_bytes(bytes(data))


def _truncated(path: Path, seed: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])


def _header_then_garbage(path: Path, seed: int) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:100] + random.Random(seed).randbytes(len(data) - 100))


CORRUPTIONS = {"random-bytes": _random_bytes, "damaged-pages": _damaged_pages,
               "truncated": _truncated, "header-then-garbage": _header_then_garbage}


@pytest.mark.parametrize("how", sorted(CORRUPTIONS))
@pytest.mark.parametrize("argv", [*ALL, ["init"]], ids=ids)
def test_corrupt_sqlite_file_is_one_line_exit_1_and_left_untouched(ready_db, how, argv):
    path = Path(ready_db)
    CORRUPTIONS[how](path, 7)
    before = listing(path.parent)
    line = assert_one_line_error(invoke(ready_db, *argv), 1)
    assert "corrupt" in line, line
    assert listing(path.parent) == before


def test_corrupt_sqlite_file_via_the_console_script(tmp_path):
    path = tmp_path / "garbage.db"
    _random_bytes(path, 3)
    before = digest(path)
    line = assert_one_line_failure(run_cli(["--db", str(path), "--as", "admin", "audit",
                                            "verify"]))
    assert "corrupt" in line, line
    assert digest(path) == before


@pytest.mark.parametrize("seed", range(8))
def test_one_damaged_page_never_gives_a_traceback(tmp_path, seed):
    """A single page overwritten somewhere: whatever breaks, every command answers within the
    contract (exit 0, or 1 with one line); a failed command leaves the file as it was."""
    path = Path(initialised(tmp_path / "workflow.db"))
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    page = rng.randrange(1, len(data) // 4096)
    data[page * 4096:(page + 1) * 4096] = rng.randbytes(4096)
    path.write_bytes(bytes(data))
    for argv in (["audit", "verify"], ["request", "list"], ["history", REF],
                 ["advance", REF, "submit"]):
        before = listing(tmp_path)
        result = invoke(str(path), *argv, actor="dan")
        assert "Traceback" not in result.output + result.stderr
        if result.exit_code != 0:
            line = assert_one_line_error(result, 1)
            assert not line.startswith("error: unexpected"), line
            assert listing(tmp_path) == before


# -- PostgreSQL that cannot be reached, and malformed database URLs -----------------------------


@pytest.mark.parametrize("argv", [*ALL, ["init"], ["db", "current"]], ids=ids)
def test_unreachable_postgresql_is_one_line_exit_1(argv):
    began = time.monotonic()
    line = assert_one_line_error(invoke("postgresql://postgres@127.0.0.1:1/x", *argv), 1)
    assert time.monotonic() - began < 20
    assert "cannot connect" in line, line
    assert "workflow init" not in line


def test_unreachable_postgresql_via_the_console_script():
    line = assert_one_line_failure(run_cli(["--db", "postgresql://postgres@127.0.0.1:1/x",
                                            "--as", "admin", "request", "list"]))
    assert "cannot connect" in line, line


@pytest.mark.parametrize("url", [
    "foo://bar",
    "postgresql://[::1",
    "postgresql://postgres@127.0.0.1:notaport/x",
    "nosuchdialect+driver://u@h/x",
])
def test_malformed_database_url_is_exit_2(url):
    line = assert_one_line_error(invoke(url, "request", "list"), 2)
    assert line.startswith("error: --db"), line


def _sibling_url(replace: str) -> str:
    base = _postgres_url()
    if not base:
        pytest.skip("WORKFLOW_TEST_POSTGRES_URL not set")
    from sqlalchemy.engine import make_url

    url = make_url(base)
    if replace == "database":
        url = url.set(database="wf_no_such_database_here")
    else:
        url = url.set(username="wf_no_such_role_here")
    return url.render_as_string(hide_password=False)


@pytest.mark.parametrize("what", ["database", "role"])
@pytest.mark.parametrize("argv", [["request", "list"], ["audit", "verify"], ["init"]], ids=ids)
def test_postgresql_database_or_role_that_does_not_exist_is_a_connection_failure(what, argv):
    """Not "not initialised; run `workflow init`": init cannot help; the connection failed."""
    line = assert_one_line_error(invoke(_sibling_url(what), *argv), 1)
    assert "cannot connect" in line, line
    assert "workflow init" not in line, line


@pytest.mark.parametrize("command", [["request", "list"], ["request", "show", "TR-2026-0001"],
                                     ["audit", "report"]])
def test_a_record_whose_stored_fields_are_not_json_is_named_not_a_crash(wf, run_ready, command):
    ref = wf.create(actor="dan", **PATRIOT)
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            conn.exec_driver_sql("UPDATE wf_record SET data = 'not json'")
        else:  # a JSON column: an array where the fields' object belongs
            conn.exec_driver_sql("UPDATE wf_record SET data = '[1, 2]'::json")
    result = run_ready(*command, actor="aud")
    if command == ["audit", "report"]:
        assert result.exit_code == 0, result.stderr  # it reads the history, not the fields
        assert ref in result.stdout
        return
    line = assert_one_line_error(result, 1)
    assert f"{ref}: its stored fields cannot be read" in line, line
