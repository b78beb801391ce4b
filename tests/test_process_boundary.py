"""The program at its process boundary: started with a standard stream closed, writing to an
output that cannot hold every character, stopped by SIGTERM, its verification workers
outliving it; each ends in one line and an exit code, a committed change said to be applied."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import PATRIOT, assert_one_line_error, draft
from workflow import interrupts

CODE = "import sys; from cli.entry import main; sys.argv[0] = 'workflow'; main()"


def _target(wf) -> str:
    return wf.db.url if not wf.db.is_sqlite else str(wf.db.path)


def _workflow(wf, actor: str, *args: str, closing: int | None = None,
              env: dict[str, str] | None = None, stdin: int | None = None
              ) -> subprocess.CompletedProcess[str]:
    """The program in a process of its own; ``closing``: the standard stream (0, 1, 2) it is
    started without."""
    return subprocess.run(
        [sys.executable, "-c", CODE, "--db", _target(wf), "--as", actor, *args],
        capture_output=True, text=True, timeout=120, stdin=stdin,
        env={**os.environ, **(env or {})},
        preexec_fn=None if closing is None else (lambda: os.close(closing)))


def _drafts(tmp_path: Path, count: int = 3) -> Path:
    path = tmp_path / "drafts.csv"
    rows = [",".join(str(v) for v in PATRIOT.values())] * count
    path.write_text("\n".join([",".join(PATRIOT), *rows]) + "\n")
    return path


# -- standard streams ----------------------------------------------------------------------


def test_a_read_with_standard_output_closed_fails_saying_so(wf):
    draft(wf)
    done = _workflow(wf, "aud", "request", "list", closing=1)
    assert (done.returncode, done.stderr) == (1, "error: standard output is closed\n")


def test_a_write_with_standard_output_closed_says_the_change_is_applied(wf):
    """`workflow request new ... >&-`: the request is drafted; exit 0 with its reference lost
    would leave a script believing nothing needs saying."""
    args = [f"--{k.replace('_', '-')}={v}" for k, v in PATRIOT.items()]
    done = _workflow(wf, "dan", "request", "new", *args, closing=1)
    assert done.returncode == 1
    assert done.stderr == ("error: standard output is closed (after the change was committed: "
                           "it is applied)\n")
    assert len(wf.list()) == 1


def test_with_standard_error_closed_the_command_still_works(wf):
    ref = draft(wf)
    done = _workflow(wf, "aud", "request", "list", closing=2)
    assert done.returncode == 0
    assert ref in done.stdout


def test_a_file_read_from_standard_input_when_it_is_closed_is_one_line(wf):
    done = _workflow(wf, "dan", "request", "import", "-", closing=0)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == "error: cannot read standard input: it is closed\n"
    assert wf.list() == []


def test_output_in_an_encoding_short_of_utf8_escapes_what_it_cannot_hold(wf):
    """A committed edit is printed, not reported as an unexpected error: JSON as ASCII (which
    reads back as the same text), text with escapes."""
    ref = draft(wf)
    latin = {"PYTHONIOENCODING": "latin-1"}
    done = _workflow(wf, "dan", "request", "edit", ref, "--note", "日本語 é", "--json",
                     env=latin)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["changes"]["note"] == [None, "日本語 é"]
    assert wf.get(ref)["note"] == "日本語 é"
    shown = subprocess.run(
        [sys.executable, "-c", CODE, "--db", _target(wf), "--as", "aud", "request", "show",
         ref], capture_output=True, timeout=120, env={**os.environ, **latin})
    assert shown.returncode == 0
    assert "note                \\u65e5\\u672c\\u8a9e \xe9".encode("latin-1") in shown.stdout


def test_output_in_ascii_alone_is_taken_for_a_utf8_terminal_and_json_stays_ascii(wf):
    """As click takes ASCII alone: text in UTF-8, JSON ASCII (README says so)."""
    ref = draft(wf, note="日本語 é")
    ascii_only = {**os.environ, "PYTHONIOENCODING": "ascii"}
    shown = subprocess.run(
        [sys.executable, "-c", CODE, "--db", _target(wf), "--as", "aud", "request", "show",
         ref], capture_output=True, timeout=120, env=ascii_only)
    assert shown.returncode == 0, shown.stderr
    assert "日本語 é".encode() in shown.stdout
    as_json = subprocess.run(
        [sys.executable, "-c", CODE, "--db", _target(wf), "--as", "aud", "request", "show",
         ref, "--json"], capture_output=True, timeout=120, env=ascii_only)
    assert as_json.returncode == 0, as_json.stderr
    assert as_json.stdout.isascii() and json.loads(as_json.stdout)["note"] == "日本語 é"


# -- SIGTERM, as Ctrl-C (see also test_interrupts.py) -------------------------------------------


def test_a_sigterm_handler_of_the_host_program_is_left_alone(wf):
    def host(signum: int, frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, host)
    try:
        with interrupts.held():
            assert signal.getsignal(signal.SIGTERM) is host
            assert signal.getsignal(signal.SIGINT) is not signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) is host
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_real_sigterm_during_a_long_import_leaves_all_or_nothing(wf, tmp_path):
    """A real signal, whenever it comes: exit 143 with nothing drafted, or exit 0 with every
    draft and its reference printed."""
    path = _drafts(tmp_path, 20_000)
    importing = subprocess.Popen(
        [sys.executable, "-c", CODE, "--db", _target(wf), "--as", "dan", "request", "import",
         str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    importing.send_signal(signal.SIGTERM)
    stdout, stderr = importing.communicate(timeout=120)
    drafted = len(wf.list())
    if importing.returncode == 143:
        assert (stderr, drafted) == ("error: terminated: nothing was changed\n", 0)
    else:
        assert importing.returncode == 0, stderr
        assert drafted == len(stdout.split()) == 20_000
    assert wf.verify()["rows"] == drafted


# -- verification workers ------------------------------------------------------------------


@contextmanager
def _history_locked(wf) -> Iterator[None]:
    """Every read of the history kept waiting, as behind another session's lock."""
    if wf.db.is_sqlite:
        wf.close()  # an exclusive lock is only had with no other connection open
        holder = sqlite3.connect(str(wf.db.path), isolation_level=None)
        holder.execute("PRAGMA locking_mode = EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO wf_setting (key, value) VALUES ('held', 'x')")
    else:
        import psycopg

        holder = psycopg.connect(wf.db.url.replace("+psycopg", ""))
        holder.execute("LOCK TABLE wf_history IN ACCESS EXCLUSIVE MODE")
    try:
        yield
    finally:
        holder.rollback()
        holder.close()


def test_a_verification_worker_ends_when_its_caller_is_gone(wf):
    """Killed, the caller cannot stop its workers: each ends when its stdin closes, rather than
    go on checking (and holding a read open) for nobody."""
    from workflow import verify_jobs

    draft(wf)
    task = {"job": "rows", "target": _target(wf), "start": 1, "last": 1, "size": 1}
    with _history_locked(wf), open(os.devnull, "wb") as errors:
        worker = verify_jobs._start(task, errors)  # type: ignore[arg-type]
        started = time.monotonic()
        time.sleep(0.5)
        assert worker.poll() is None  # waiting for the lock
        assert worker.stdin is not None
        worker.stdin.close()  # as when the caller dies
        assert worker.wait(timeout=20) == 1
        assert time.monotonic() - started < 20
        assert worker.stdout is not None
        assert worker.stdout.read() == ""  # no verdict: nobody waits for one
        worker.stdout.close()


# -- database paths and file names ---------------------------------------------------------


def test_a_sqlite_url_in_a_missing_directory_is_named_as_a_plain_path_is(run):
    for target in ("sqlite:///no-such-directory/x.db", "no-such-directory/x.db"):
        result = run.__class__(target, run.clock)("init")
        assert assert_one_line_error(result, 2) == (
            "error: --db: directory no-such-directory does not exist")


def test_a_file_that_is_no_database_and_cannot_be_one_is_one_line(run):
    if not os.path.isfile("/proc/version"):
        pytest.skip("no /proc/version here")
    result = run.__class__("/proc/version", run.clock)("init")
    assert assert_one_line_error(result, 1).startswith("error: cannot open the database file")


@pytest.mark.parametrize("args", [("request", "import", ""), ("advance", "--from", "")])
def test_an_empty_file_name_to_read_is_refused_as_empty(run_ready, args):
    """(Files written to: see test_an_empty_output_name_is_bad_input.)"""
    assert assert_one_line_error(run_ready(*args), 2).endswith(": an empty file name")


def test_a_file_name_written_to_is_said_with_its_controls_escaped(run_ready, tmp_path):
    out = tmp_path / "a\nb\u202e.jsonl"
    result = run_ready("audit", "export", "--format", "jsonl", "-o", str(out), actor="aud")
    assert result.exit_code == 0, result.stderr
    assert out.exists()
    assert result.stderr.count("\n") == 1 and "\u202e" not in result.stderr
    assert repr(str(out)) in result.stderr


def test_a_start_past_the_last_moment_is_said_to_be_out_of_range(run_ready):
    result = run_ready("audit", "log", "--since", "9999-12-31T23:59:59.9999999", actor="aud")
    assert assert_one_line_error(result, 2).endswith(
        "'9999-12-31T23:59:59.9999999' falls outside the years 1 to 9999 in UTC")


# -- PostgreSQL's lock waits -------------------------------------------------------------------


def test_a_postgres_session_waits_for_a_lock_as_long_as_sqlite_does(wf, db_target):
    """Unbounded, a write behind a session left open would wait for good, saying nothing;
    bounded, it is tried again and at last refused as busy. A bound the login or the URL sets
    is kept (see test_a_lock_timeout_is_a_busy_database_tried_again)."""
    if wf.db.is_sqlite:
        pytest.skip("PostgreSQL's lock_timeout")
    from workflow import Workflow

    with wf.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "30s"
    impatient = Workflow(db_target + "%20-clock_timeout%3D250")
    with impatient.db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW lock_timeout").scalar() == "250ms"
    impatient.close()
