"""Ctrl-C stops a command only while its change is not yet committed: an interrupt that comes
as the change commits, or after, lets the command finish and say what it did."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import PATRIOT, assert_one_line_error
from workflow import interrupts
from workflow.fastpath import Tx


def _drafts(tmp_path, count: int = 3):
    path = tmp_path / "drafts.csv"
    header = ",".join(PATRIOT)
    rows = [",".join(str(v) for v in PATRIOT.values())] * count
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _ctrl_c() -> None:
    os.kill(os.getpid(), signal.SIGINT)


# Ctrl-C, and SIGTERM (`timeout`, a service manager, `docker stop`) the same way
STOPS = pytest.mark.parametrize("signum, code, said", [
    (signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")])


@STOPS
def test_ctrl_c_as_the_change_commits_lets_the_command_finish(wf, run_ready, tmp_path,
                                                               monkeypatch, signum, code, said):
    real = interrupts.committing

    @contextmanager
    def interrupted() -> Iterator[None]:
        with real():
            os.kill(os.getpid(), signum)  # arrives while the commit is under way
            yield

    monkeypatch.setattr(interrupts, "committing", interrupted)
    result = run_ready("request", "import", str(_drafts(tmp_path)), actor="dan")
    assert result.exit_code == 0, result.stderr
    refs = result.stdout.split()
    assert refs == [r["ref"] for r in wf.list()] and len(refs) == 3
    assert f"{said} after the change was committed: it is applied" in result.stderr


@STOPS
def test_ctrl_c_before_the_commit_applies_nothing(wf, run_ready, tmp_path, monkeypatch, signum,
                                                  code, said):
    real = Tx.finish

    def interrupted(self: Tx) -> None:
        os.kill(os.getpid(), signum)
        real(self)

    monkeypatch.setattr(Tx, "finish", interrupted)
    result = run_ready("request", "import", str(_drafts(tmp_path)), actor="dan")
    assert assert_one_line_error(result, code) == f"error: {said}: nothing was changed"
    assert wf.list() == []


def test_a_held_interrupt_stops_the_next_transaction_before_it_begins(wf, monkeypatch):
    """A command of several transactions is still stopped: at the start of the next one."""
    real = interrupts.committing

    @contextmanager
    def interrupted() -> Iterator[None]:
        with real():
            _ctrl_c()
            yield

    monkeypatch.setattr(interrupts, "committing", interrupted)
    with interrupts.held() as held:
        first = wf.create(actor="dan", **PATRIOT)
        assert held.pressed and held.committed
        with pytest.raises(KeyboardInterrupt):
            wf.create(actor="dan", **PATRIOT)
    assert [r["ref"] for r in wf.list()] == [first]


def test_outside_a_held_command_the_library_leaves_signals_alone(wf):
    before = signal.getsignal(signal.SIGINT)
    wf.create(actor="dan", **PATRIOT)
    assert signal.getsignal(signal.SIGINT) is before
    with interrupts.held():
        assert signal.getsignal(signal.SIGINT) is not before
    assert signal.getsignal(signal.SIGINT) is before


def test_output_that_cannot_be_written_after_the_commit_says_the_change_is_applied(
        wf, tmp_path):
    import subprocess
    import sys

    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    code = ("import sys; from cli.main import main; sys.argv[0] = 'workflow'; main()")
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-c", code, "--db", wf.db.url if not wf.db.is_sqlite else
             str(wf.db.path), "--as", "dan", "request", "import", str(_drafts(tmp_path, 1))],
            stdout=full, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: No space left on device (after the change was "
                                   "committed: it is applied)")
    assert len(wf.list()) == 1


def test_output_whose_reader_went_away_after_the_commit_says_the_change_is_applied(
        wf, tmp_path):
    """`workflow request import big.csv | head -1`: the drafts are committed; exit 1 alone
    would read as a refusal, and a script trying again would draft them twice."""
    import subprocess
    import sys

    code = ("import sys; from cli.main import main; sys.argv[0] = 'workflow'; main()")
    reading = subprocess.Popen(
        [sys.executable, "-c", code, "--db", wf.db.url if not wf.db.is_sqlite else
         str(wf.db.path), "--as", "dan", "request", "import", str(_drafts(tmp_path, 1))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert reading.stdout is not None
    reading.stdout.close()  # the reader goes away before anything is written
    _, stderr = reading.communicate(timeout=120)
    assert reading.returncode == 1
    assert stderr.strip() == ("error: the output was closed before it was all written (after "
                              "the change was committed: it is applied)")
    assert len(wf.list()) == 1


def test_json_longer_than_a_pipe_holds_cut_off_by_its_reader_says_so(wf):
    """`workflow request list --json | head -1` on many requests: the document is written a
    pipe's buffer at a time, so the reader going away half way is an error, not a document
    cut short with exit 0."""
    import subprocess
    import sys

    wf.create_many([PATRIOT] * 1500, actor="dan")
    code = ("import sys; from cli.main import main; sys.argv[0] = 'workflow'; main()")
    reading = subprocess.Popen(
        [sys.executable, "-c", code, "--db", wf.db.url if not wf.db.is_sqlite else
         str(wf.db.path), "--as", "aud", "request", "list", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert reading.stdout is not None and reading.stderr is not None
    assert reading.stdout.read(100).startswith(b"[")
    reading.stdout.close()  # the reader goes away half way
    stderr = reading.stderr.read().decode()
    assert reading.wait(timeout=120) == 1
    assert stderr.strip() == "error: the output was closed before it was all written"


def test_ctrl_c_ignored_by_whoever_started_the_program_stays_ignored(wf):
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with interrupts.held():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            wf.create(actor="dan", **PATRIOT)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_write_that_changes_nothing_is_not_taken_for_a_committed_change(wf):
    """Disabling a user already disabled, or an edit to the same values, commits nothing: an
    interrupt then still stops the command."""
    wf.disable_user("dora", actor="admin")
    ref = wf.create(actor="dan", **PATRIOT)
    with interrupts.held() as held:
        held.committed = False
        wf.disable_user("dora", actor="admin")
        assert not held.committed
        assert wf.edit(ref, actor="dan", quantity=PATRIOT["quantity"]) == {}
        assert not held.committed
        wf.edit(ref, actor="dan", quantity=3)
        assert held.committed


def test_the_demo_once_begun_is_told_to_its_end(run, monkeypatch):
    """The story is many transactions: Ctrl-C after its first commit lets it finish, so a
    database is never left with half a story that a second demo would refuse."""
    real = interrupts.committing
    pressed: list[bool] = []

    @contextmanager
    def interrupted() -> Iterator[None]:
        with real():
            if not pressed:
                pressed.append(True)
                _ctrl_c()
            yield

    monkeypatch.setattr(interrupts, "committing", interrupted)
    result = run("demo", actor="aoki")
    assert result.exit_code == 0, result.stderr
    assert "The history of" in result.stdout
    assert "interrupted after the change was committed" in result.stderr


def test_a_program_ending_with_its_command_leaves_ctrl_c_ignored_as_it_winds_down(
        monkeypatch):
    monkeypatch.setattr(interrupts, "_ending", True)
    before = signal.getsignal(signal.SIGINT)
    try:
        with interrupts.held():
            pass
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)


def test_sigterm_is_handled_where_ctrl_c_is_ignored(wf):
    """A shell starts a background job (``cmd &``) with SIGINT ignored; SIGTERM must still stop
    it as it stops any command, not kill it with nothing said."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with interrupts.held():
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, signal.SIG_IGN)
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, term)


@pytest.fixture
def ctrl_c_ignored() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    term = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, term)


def test_sigterm_before_the_commit_of_a_background_job_applies_nothing(
        wf, run_ready, tmp_path, monkeypatch, ctrl_c_ignored):
    real = Tx.finish

    def terminated(self: Tx) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        real(self)

    monkeypatch.setattr(Tx, "finish", terminated)
    result = run_ready("request", "import", str(_drafts(tmp_path)), actor="dan")
    assert assert_one_line_error(result, 143) == "error: terminated: nothing was changed"
    assert wf.list() == []


def test_sigterm_as_a_background_job_commits_lets_it_finish(wf, run_ready, tmp_path,
                                                            monkeypatch, ctrl_c_ignored):
    real = interrupts.committing

    @contextmanager
    def terminated() -> Iterator[None]:
        with real():
            os.kill(os.getpid(), signal.SIGTERM)
            yield

    monkeypatch.setattr(interrupts, "committing", terminated)
    result = run_ready("request", "import", str(_drafts(tmp_path)), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [r["ref"] for r in wf.list()]
    assert "terminated after the change was committed: it is applied" in result.stderr


def test_ctrl_c_during_start_up_is_one_line_and_exit_130():
    import subprocess
    import sys

    code = ("import sys\n"
            "class Stop:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'cli.main':\n"
            "            raise KeyboardInterrupt  # as if Ctrl-C came while it loads\n"
            "sys.meta_path.insert(0, Stop())\n"
            "from cli.entry import main\n"
            "main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stderr, done.stdout) == (
        130, "error: interrupted: nothing was changed\n", "")


def test_ctrl_c_while_the_server_writes_a_big_batch_applies_nothing(wf, run_ready, tmp_path,
                                                                    monkeypatch):
    """On PostgreSQL a batch's writes are sent without their COMMIT: Ctrl-C while the server
    still works on them cancels the batch (only a small write's query carries its COMMIT)."""
    if wf.db.is_sqlite:
        pytest.skip("SQLite writes in the program's own process, before its COMMIT")
    real = Tx._send

    def interrupted(self: Tx, statements: list, values: tuple) -> int:
        if len(statements) > 40:
            _ctrl_c()  # arrives while the batch's query is with the server
        return real(self, statements, values)

    monkeypatch.setattr(Tx, "_send", interrupted)
    result = run_ready("request", "import", str(_drafts(tmp_path, 50)), actor="dan")
    assert assert_one_line_error(result, 130) == "error: interrupted: nothing was changed"
    assert wf.list() == []
    assert wf.verify()["rows"] == 0


def test_an_interrupt_after_a_commit_says_what_was_committed_stays(run_ready, monkeypatch):
    """A command of several transactions stopped before its second: the first stays."""
    from tests.samples import PATRIOT
    from workflow import Workflow

    def commits_then_interrupted(self: Workflow, *_args: object) -> None:
        self.create(actor="dan", **PATRIOT)
        raise KeyboardInterrupt

    monkeypatch.setattr(Workflow, "users", commits_then_interrupted)
    result = run_ready("user", "list")
    assert assert_one_line_error(result, 130) == (
        "error: interrupted: what was committed before it stays, the rest was not done")
    assert len(run_ready("request", "list", "--json").stdout.strip()) > 2

