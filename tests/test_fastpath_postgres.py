"""PostgreSQL writes open and close their own transactions: BEGIN goes in one query with the
log head's lock, and a firing's writes go as one statement with COMMIT behind it. Whatever
fails or interrupts, nothing is half kept, and no connection goes back to the pool or the ORM
in autocommit mode or inside a transaction."""

from __future__ import annotations

import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlmodel import select

from tests.conftest import draft
from workflow import Workflow, fastpath, merkle, prepared
from workflow.errors import Conflict, WorkflowError
from workflow.models import LogHead, Record, RefCounter

IDLE = psycopg.pq.TransactionStatus.IDLE


@pytest.fixture
def pg(wf: Workflow) -> Workflow:
    if wf.db.is_sqlite:
        pytest.skip("PostgreSQL's transactions")
    return wf


@pytest.fixture
def checked_in(pg: Workflow) -> Iterator[list[tuple[bool, Any]]]:
    """(autocommit, transaction status) of every connection as it goes back to the pool."""
    seen: list[tuple[bool, Any]] = []

    def checkin(dbapi_connection: Any, _record: Any) -> None:
        if dbapi_connection is not None:
            seen.append((dbapi_connection.autocommit, dbapi_connection.info.transaction_status))

    event.listen(pg.db.engine.pool, "checkin", checkin)
    yield seen
    event.remove(pg.db.engine.pool, "checkin", checkin)


def _plain(db_target: str) -> str:
    return db_target.replace("postgresql+psycopg://", "postgresql://")


def _round_trips(wf: Workflow, action: Callable[[], Any]) -> tuple[int, list[str]]:
    """How many times ``action`` waits for the server on the held connection (libpq's trace:
    one ReadyForQuery per round trip), and the queries it sent."""
    raw = wf.db.fast._held.driver_connection
    with tempfile.TemporaryFile("w+") as trace:
        raw.pgconn.trace(trace.fileno())
        raw.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            action()
        finally:
            raw.pgconn.untrace()
        trace.seek(0)
        lines = trace.read().splitlines()
    sent = [line.split("\t", 3)[3].strip() for line in lines
            if line.startswith("F\t") and "\tQuery\t" in line]
    return sum("\tReadyForQuery\t" in line for line in lines), sent


def _spelled(wf: Workflow, query: str) -> list[str]:
    """The statements of a query sent on the held connection, each prepared one as the SQL it
    stands for (values left out)."""
    known = prepared.on(wf.db.fast._held.driver_connection)
    names = {name: sql for sql, name in known.names.items()}
    statements = []
    for text in query.strip('"').split("; "):
        if text.startswith("EXECUTE "):
            text = names[text.removeprefix("EXECUTE ").split("(")[0]]
        statements.append(text)
    return statements


def _kept(wf: Workflow) -> tuple[int, int, list[tuple[str, int, int]]]:
    with wf.db.read() as s:
        return (len(s.exec(select(Record)).all()), s.exec(select(LogHead)).one().size,
                [(c.prefix, c.year, c.last) for c in s.exec(select(RefCounter)).all()])


def _clean(wf: Workflow) -> bool:
    held = wf.db.fast._held.driver_connection
    return held.autocommit is False and held.info.transaction_status == IDLE


def test_a_firing_begins_and_commits_within_its_two_round_trips(pg):
    """BEGIN goes with the first statements and COMMIT with the last: two waits for the server
    in all, where the driver on its own would add one for each."""
    first, second = draft(pg), draft(pg)
    pg.fire(first, "submit", actor="dan")  # the writer now holds its connection
    trips, sent = _round_trips(pg, lambda: pg.fire(second, "submit", actor="dan"))
    assert trips == 2
    assert sent[0].startswith('"BEGIN; EXECUTE ') and sent[-1].endswith('; COMMIT"')
    [writes] = _spelled(pg, sent[-1])[:-1]  # the writes: one statement, prepared by the first
    assert writes.startswith("WITH updated AS (UPDATE wf_record ")
    assert pg.get(second)["state"] == "nsc_review"
    assert pg.verify()["rows"] == 4
    assert _clean(pg)


def test_an_edit_and_a_draft_send_begin_and_commit_with_their_statements(pg):
    ref = draft(pg)
    trips, sent = _round_trips(pg, lambda: pg.edit(ref, actor="dan", end_user="US Navy"))
    assert trips == 2  # read as a firing reads, written as a firing writes
    for action in (lambda: pg.edit(ref, actor="dan", end_user="US Air Force"), lambda: draft(pg)):
        _, sent = _round_trips(pg, action)
        assert sent[0].startswith('"BEGIN; ')
        assert _spelled(pg, sent[0])[1] == fastpath.HEAD_SQL + " FOR UPDATE"
        assert sent[-1].endswith('; COMMIT"')
    assert pg.get(ref)["end_user"] == "US Air Force"
    assert pg.verify()["rows"] == 4


def test_a_version_missed_in_the_last_round_trip_commits_nothing(pg, db_target):
    """The update travels with COMMIT, so a missed version must stop the query inside the
    server: the history, the head and the record stay as they were."""
    ref = draft(pg)
    before, rows = pg.get(ref), len(pg.history(ref))
    with pytest.raises(Conflict, match=ref), pg.db.fast.transaction() as tx:
        tx.prefetch("dan", ref)
        record = tx.record(ref)
        assert record is not None
        with psycopg.connect(_plain(db_target), autocommit=True) as other:  # ignoring the lock
            other.execute("UPDATE wf_record SET version = version + 1 WHERE ref = %s", (ref,))
        assert tx.update_record(record, "nsc_review", record.data, {}, None, deferred=True)
        tx.append_history(record, {
            "ref": ref, "event": "submit", "from": "drafted", "to": "nsc_review", "actor": "dan",
            "roles": ["drafter"], "at": "2026-11-25T00:00:00+00:00", "reason": None,
            "changes": {}, "consulted": {}, "process_version": pg.process.version}, pg.clock())
    after = pg.get(ref)
    assert (after["state"], after["version"]) == (before["state"], before["version"] + 1)
    assert len(pg.history(ref)) == rows
    assert _kept(pg)[1] == rows
    assert _clean(pg)
    assert pg.fire(ref, "submit", actor="dan") == "nsc_review"  # the connection is usable


def test_a_draft_whose_last_query_fails_keeps_nothing(pg, clock):
    """A create has no update to check: its history rows and head go with COMMIT, and an error
    there (here a row numbered twice) keeps neither the record nor its reference number."""
    draft(pg)
    before = _kept(pg)
    with pytest.raises(WorkflowError, match="database error"), pg.db.fast.transaction() as tx:
        tx.lock_head()
        tx.next_number("TR", 2026)
        record = tx.insert_record("TR-2026-0777", "transfer", "drafted", {}, "dan", clock())
        tx.frontier = merkle.Frontier()  # numbers the next row 1 again
        tx.append_history(record, {
            "ref": record.ref, "event": "create", "from": None, "to": "drafted", "actor": "dan",
            "roles": ["drafter"], "at": "x", "reason": None, "changes": {}, "consulted": {},
            "process_version": "p"}, clock())
    assert _kept(pg) == before
    assert draft(pg) == "TR-2026-0002"


def test_an_interrupt_during_the_last_query_keeps_nothing(pg, db_target):
    """Ctrl-C while the writes and COMMIT are with the server: the query is cancelled, the
    firing is not kept, and the connection is left clean for the next one."""
    ref = draft(pg)
    with psycopg.connect(_plain(db_target), autocommit=True) as admin:
        admin.execute("CREATE FUNCTION wf_test_slow() RETURNS trigger LANGUAGE plpgsql AS "
                      "$$ BEGIN PERFORM pg_sleep(3); RETURN NEW; END $$")
        admin.execute("CREATE TRIGGER wf_test_slow BEFORE UPDATE ON wf_log_head FOR EACH ROW "
                      "EXECUTE FUNCTION wf_test_slow()")
    timer = threading.Timer(1.0, lambda: signal.raise_signal(signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            pg.fire(ref, "submit", actor="dan")
    finally:
        timer.cancel()
        with psycopg.connect(_plain(db_target), autocommit=True) as admin:
            admin.execute("DROP TRIGGER wf_test_slow ON wf_log_head")
    assert pg.get(ref)["state"] == "drafted"
    assert _clean(pg)
    assert pg.fire(ref, "submit", actor="dan") == "nsc_review"
    assert pg.verify()["rows"] == 2


def test_an_interrupt_after_the_last_query_returned_finds_the_firing_kept(pg, monkeypatch):
    """The one moment an interrupted firing is kept: COMMIT already done when Ctrl-C lands, as
    with any database. The history says so, and the log is whole."""
    ref = draft(pg)
    sent = fastpath.Tx._together

    def then_interrupted(self: fastpath.Tx, statements: list[Any]) -> Any:
        results = sent(self, statements)
        if statements[-1][0] == "COMMIT":
            raise KeyboardInterrupt
        return results

    monkeypatch.setattr(fastpath.Tx, "_together", then_interrupted)
    with pytest.raises(KeyboardInterrupt):
        pg.fire(ref, "submit", actor="dan")
    monkeypatch.undo()
    assert pg.get(ref)["state"] == "nsc_review"
    assert _clean(pg)
    assert pg.verify()["rows"] == 2


def test_connections_go_back_to_the_pool_out_of_autocommit(pg, clock, checked_in):
    """After a driver error on the held connection (dropped, back to the pool) and on a pooled
    one (a transaction opened inside another), as after a success."""
    ref = draft(pg)
    with pytest.raises(WorkflowError, match="is taken already"), pg.db.fast.transaction() as tx:
        tx.lock_head()
        tx.insert_record(ref, "transfer", "drafted", {}, "dan", clock())  # the ref is taken
    assert pg.db.fast._held is None
    assert pg.fire(ref, "submit", actor="dan") == "nsc_review"
    with pg.db.fast.transaction() as outer:
        outer.lock_head()
        with pytest.raises(WorkflowError), pg.db.fast.transaction() as inner:
            inner.run("SELECT 1 / 0")
    with pg.db.fast.transaction() as outer, pg.db.fast.transaction() as inner:
        inner.run("SELECT 1")
    assert len(checked_in) >= 3
    assert all(state == (False, IDLE) for state in checked_in), checked_in


def test_threads_never_take_an_autocommit_connection_from_the_pool(pg):
    taken: list[tuple[bool, Any]] = []

    def checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        taken.append((dbapi_connection.autocommit, dbapi_connection.info.transaction_status))

    event.listen(pg.db.engine.pool, "checkout", checkout)
    refs = [draft(pg) for _ in range(4)]

    def work(n: int) -> None:
        for i in range(8):
            ref = refs[(n + i) % len(refs)]
            # refused once submitted, or a conflict: not what is looked at here
            with suppress(WorkflowError):
                pg.fire(ref, "submit", actor="dan")
            with suppress(WorkflowError):
                pg.edit(ref, actor="dan", end_user=f"unit {n}-{i}")
            pg.list()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    event.remove(pg.db.engine.pool, "checkout", checkout)
    assert taken and all(state == (False, IDLE) for state in taken), taken
    assert pg.verify()["rows"] >= 8


def test_the_program_keeps_its_session_settings_whatever_the_server_defaults_to(
        db_target, clock):
    """A server (or database, or role) defaulting to serializable transactions and another
    DateStyle: writers still queue on the log head instead of failing, and times still read."""
    if not db_target.startswith("postgresql"):
        pytest.skip("PostgreSQL's session settings")
    from tests.samples import PATRIOT

    strict = db_target + "%20-cdefault_transaction_isolation%3Dserializable%20-cDateStyle%3DSQL,DMY"
    setup = Workflow(strict, clock=clock, create=True)
    setup.init("admin", direct_schema=True)
    setup.add_user("dan", ["drafter"], actor="admin")
    setup.close()
    failures: list[BaseException] = []

    def drafts() -> None:
        wf = Workflow(strict, clock=clock)
        try:
            for _ in range(5):
                refs = wf.create_many([PATRIOT] * 20, actor="dan")
                wf.fire(refs[0], "submit", actor="dan")
        except BaseException as error:
            failures.append(error)
        finally:
            wf.close()

    threads = [threading.Thread(target=drafts) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    wf = Workflow(strict, clock=clock)
    assert len(wf.list()) == 400
    assert wf.history(wf.list()[0]["ref"])[0]["at"] == clock.now.isoformat()
    assert wf.verify()["rows"] == 420
    wf.close()


def test_a_lock_timeout_is_a_busy_database_tried_again(db_target, clock, wf):
    """A server set to give up waiting for locks: the firing is tried again, then told the
    database is busy, and nothing is half done."""
    if not db_target.startswith("postgresql"):
        pytest.skip("PostgreSQL's lock_timeout")
    from workflow.errors import Busy

    ref = draft(wf)
    impatient = Workflow(db_target + "%20-clock_timeout%3D100", clock=clock)
    with psycopg.connect(db_target.replace("+psycopg", "")) as holder:
        holder.execute("SELECT 1 FROM wf_log_head FOR UPDATE")
        with pytest.raises(Busy, match="busy"):
            impatient.fire(ref, "submit", actor="dan")
    assert impatient.fire(ref, "submit", actor="dan") == "nsc_review"
    assert [r["rule"] for r in impatient.refusals()] == []
    impatient.close()


def test_pgoptions_still_choose_the_schema(db_target, clock, monkeypatch):
    """The program's own session settings are made after connecting, so a schema chosen with
    PGOPTIONS (or a service file) is the one used."""
    if not db_target.startswith("postgresql"):
        pytest.skip("libpq's PGOPTIONS")
    base, schema = db_target.split("?", 1)[0], db_target.rsplit("%3D", 1)[1]
    monkeypatch.setenv("PGOPTIONS", f"-c search_path={schema}")
    wf = Workflow(base, clock=clock, create=True)
    wf.init("admin", direct_schema=True)
    wf.close()
    with psycopg.connect(base) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = %s AND "
                            "tablename = 'wf_log_head'", (schema,)).fetchone()[0] == 1
