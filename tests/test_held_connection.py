"""Firings reuse one connection and, on SQLite, what it last read while nobody else wrote:
every change another connection commits is still seen by the next firing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import draft, to_state
from workflow import Workflow
from workflow.errors import NotFound, Refused


@pytest.fixture
def second(db_target: str, clock: Any, wf: Workflow) -> Iterator[Workflow]:
    """Another Workflow on the same database: another person, another connection."""
    other = Workflow(db_target, clock=clock)
    yield other
    other.close()


def _statements(wf: Workflow) -> list[str]:
    """Start tracing the SQL the held SQLite connection runs; the list fills as it runs."""
    seen: list[str] = []
    wf.db.fast._held.driver_connection.set_trace_callback(seen.append)
    return seen


def test_a_user_disabled_by_another_connection_is_refused_at_once(wf, second):
    first, then = draft(wf), draft(wf)
    wf.fire(first, "submit", actor="dan")
    second.disable_user("dan", actor="admin")
    with pytest.raises(Refused, match="disabled") as refused:
        wf.fire(then, "submit", actor="dan")
    assert refused.value.rule == "active-user"
    assert wf.get(then)["state"] == "drafted"


def test_a_restriction_added_by_another_connection_is_consulted_at_once(wf, second):
    before, after = to_state(wf, "nsc_review"), to_state(wf, "nsc_review")
    wf.fire(before, "approve_for_us", actor="ann")
    assert wf.history(before)[-1]["consulted"]["restrictions"] == {"US": []}
    second.restrict("US", "embargo", date(2026, 11, 1), reason="test", actor="admin")
    with pytest.raises(Refused) as refused:
        wf.fire(after, "approve_for_us", actor="ann")
    assert "embargo" in str(refused.value)


def test_writers_taking_turns_keep_one_gapless_log(wf, second):
    refs = [draft(wf) for _ in range(6)]
    for index, ref in enumerate(refs):
        (wf if index % 3 else second).fire(ref, "submit", actor="dan")
    seqs = [row["seq"] for ref in refs for row in wf.history(ref)]
    assert sorted(seqs) == list(range(1, 13))
    assert wf.verify()["rows"] == 12
    assert second.verify()["rows"] == 12


def test_firings_with_nobody_else_writing_read_neither_user_policy_nor_head(wf, db_target):
    if not db_target.endswith(".db"):
        pytest.skip("PostgreSQL reads them in the same round trip as the record")
    first, then = draft(wf), draft(wf)
    wf.fire(first, "submit", actor="dan")
    statements = _statements(wf)
    wf.fire(then, "submit", actor="dan")
    read = " ".join(statements)
    assert "FROM wf_record" in read
    for table in ("wf_user", "wf_policy_entry", "wf_log_head WHERE"):
        assert f"FROM {table}" not in read
    statements.clear()
    wf.add_user("eve", ["drafter"], actor="admin")  # another connection writes: read again
    wf.fire(draft(wf), "submit", actor="dan")
    read = " ".join(statements)
    assert "FROM wf_user" in read and "FROM wf_policy_entry" in read
    assert wf.verify()["rows"] == 6


def test_a_batch_rolled_back_after_its_appends_leaves_no_trace_in_later_firings(wf):
    first, second = draft(wf), draft(wf)
    wf.fire(first, "submit", actor="dan")
    with pytest.raises(NotFound):
        wf.fire_many([{"ref": second, "event": "submit"},
                       {"ref": "TR-2026-9999", "event": "submit"}], actor="dan")
    with pytest.raises(Refused):
        wf.fire(first, "submit", actor="dan")
    assert wf.fire(second, "submit", actor="dan") == "nsc_review"
    assert [row["seq"] for row in wf.history(second)] == [2, 4]
    assert wf.verify()["rows"] == 4


def test_another_thread_fires_on_a_connection_of_its_own(wf):
    refs = [draft(wf) for _ in range(4)]
    wf.fire(refs[0], "submit", actor="dan")
    outcome: list[Any] = []
    worker = threading.Thread(target=lambda: outcome.append(
        [wf.fire(ref, "submit", actor="dan") for ref in refs[1:3]]))
    worker.start()
    worker.join(timeout=60)
    assert outcome == [["nsc_review", "nsc_review"]]
    wf.fire(refs[3], "submit", actor="dan")
    assert wf.verify()["rows"] == 8


def test_closing_gives_every_connection_back(db_target, clock, wf):
    wf.fire(draft(wf), "submit", actor="dan")
    pool: Any = wf.db.engine.pool
    wf.db.fast.close()
    assert pool.checkedout() == 0
    wf.fire(draft(wf), "submit", actor="dan")  # a later firing takes one again
    assert wf.verify()["rows"] == 4


@contextmanager
def _in_memory(url: str, clock: Any) -> Iterator[Workflow]:
    """An initialised in-memory database (one connection for everything), the cast in it."""
    from tests.samples import CAST

    with Workflow(url, clock=clock, create=True) as wf:
        wf.init("admin", direct_schema=True)
        for name, roles in CAST.items():
            wf.add_user(name, roles, actor="admin")
        yield wf


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_sees_its_own_admin_changes_at_once(url, clock):
    with _in_memory(url, clock) as wf:
        first, then = draft(wf), draft(wf)
        wf.fire(first, "submit", actor="dan")
        wf.disable_user("dan", actor="admin")  # on the one connection the firings use too
        with pytest.raises(Refused) as refused:
            wf.fire(then, "submit", actor="dan")
        assert refused.value.rule == "active-user"


def test_an_interruption_as_the_commit_returns_leaves_the_log_head_right(wf, monkeypatch):
    from workflow import writer

    first, then = draft(wf), draft(wf)
    real = writer.Seen.of

    def interrupted(*args: Any) -> Any:  # Ctrl-C handled the moment the commit returns
        monkeypatch.setattr(writer.Seen, "of", real)
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.Seen, "of", interrupted)
    if wf.db.is_sqlite:
        with pytest.raises(KeyboardInterrupt):
            wf.fire(first, "submit", actor="dan")
    else:  # no cache to fill on PostgreSQL: the firing completes
        wf.fire(first, "submit", actor="dan")
    assert wf.get(first)["state"] == "nsc_review"
    assert wf.edit(then, actor="dan", quantity=16) == {}  # writes nothing, the head included
    assert wf.fire(then, "submit", actor="dan") == "nsc_review"
    assert wf.verify()["rows"] == 4


def test_an_interruption_right_after_begin_leaves_no_transaction_open(wf, db_target,
                                                                       monkeypatch):
    if not db_target.endswith(".db"):
        pytest.skip("the cache and its priming are SQLite's")
    import sqlite3
    from contextlib import closing

    from workflow import writer

    first, then = draft(wf), draft(wf)
    wf.fire(first, "submit", actor="dan")

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(writer.Seen, "prime", interrupted)
    with pytest.raises(KeyboardInterrupt):
        wf.fire(then, "submit", actor="dan")
    assert not wf.db.fast._held.driver_connection.in_transaction
    with closing(sqlite3.connect(db_target, timeout=0, isolation_level=None)) as probe:
        probe.execute("BEGIN IMMEDIATE")  # another writer gets the lock at once
        probe.rollback()
    monkeypatch.undo()
    assert wf.fire(then, "submit", actor="dan") == "nsc_review"
    assert wf.verify()["rows"] == 4


def test_a_session_the_server_ended_is_told_in_one_line_and_the_next_firing_reconnects(
        wf, caplog):
    """The held connection's session ended by the server: the firing fails with one error,
    nothing is logged on the way (a dead connection is discarded, not reset), and the next
    firing takes a fresh connection."""
    if wf.db.is_sqlite:
        pytest.skip("a SQLite connection has no server session to end")
    import psycopg

    from workflow.errors import WorkflowError

    first, then = draft(wf), draft(wf)
    wf.fire(first, "submit", actor="dan")
    pid = wf.db.fast._held.driver_connection.info.backend_pid
    with psycopg.connect(wf.db.engine.url.render_as_string(hide_password=False).replace(
            "postgresql+psycopg", "postgresql").split("?", 1)[0], autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    with caplog.at_level("DEBUG", logger="sqlalchemy.pool"), pytest.raises(WorkflowError):
        wf.fire(then, "submit", actor="dan")
    assert [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")] == []
    assert wf.fire(then, "submit", actor="dan") == "nsc_review"
    assert wf.verify()["rows"] == 4


def test_a_restriction_added_through_the_same_program_is_consulted_at_once(wf):
    """What a firing consulted is kept per policy read and day: a change the program makes
    itself is read afresh, so the next firing's row holds the new entry."""
    before, after = to_state(wf, "nsc_review"), to_state(wf, "nsc_review")
    wf.fire(before, "approve_for_us", actor="ann")
    wf.restrict("US", "embargo", date(2027, 6, 1), reason="test", actor="admin")
    wf.fire(after, "approve_for_us", actor="ann")
    [entry] = wf.history(after)[-1]["consulted"]["restrictions"]["US"]
    assert (entry["kind"], entry["since"], entry["in_force"]) == ("embargo", "2027-06-01", False)
    assert wf.history(before)[-1]["consulted"]["restrictions"] == {"US": []}


def test_the_consulted_policy_is_dated_the_day_of_each_firing(wf, clock):
    first, second = to_state(wf, "nsc_review"), to_state(wf, "nsc_review")
    wf.fire(first, "approve_for_us", actor="ann")
    clock.set(clock() + timedelta(days=1))
    wf.fire(second, "approve_for_us", actor="ann")
    days = [wf.history(ref)[-1]["consulted"]["as_of"] for ref in (first, second)]
    assert date.fromisoformat(days[1]) - date.fromisoformat(days[0]) == timedelta(days=1)


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_answers_every_question_of_the_log(url, clock):
    with _in_memory(url, clock) as wf:
        ref = draft(wf)
        wf.fire(ref, "submit", actor="dan")
        assert wf.report()["requests"] == [{"ref": ref, "state": "nsc_review",
                                            "seconds_in_state": {"drafted": 0.0,
                                                                 "nsc_review": 0.0}}]
        assert [r["state"] for r in wf.list_as_of(clock.now)] == ["nsc_review"]
        assert wf.get_as_of(ref, clock.now)["state"] == "nsc_review"
        assert [r["ref"] for r in wf.actionable("ann")] == [ref]
        assert wf.affected() == [] and wf.touched("US", clock.now.date()) == (
            clock.now.date(), 0)
        assert len(wf.log()) == 2 and wf.refusals() == [] and len(wf.list()) == 1
