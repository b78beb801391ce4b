"""PostgreSQL's fast path prepares each of its statements once per connection, in the query
that first needs it, and never executes a name the server may not hold."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import draft
from workflow import Workflow, prepared
from workflow.errors import Conflict, Replan
from workflow.fastpath import Tx


def test_placeholders_are_numbered_for_prepare():
    assert prepared.numbered("SELECT a FROM t WHERE b = ? AND c = ?") == (
        "SELECT a FROM t WHERE b = $1 AND c = $2")
    assert prepared.numbered("SELECT 1") == "SELECT 1"


def test_the_first_query_that_needs_a_statement_prepares_it():
    known = prepared.Prepared()
    query, leading = known.query([("BEGIN", ()), ("SELECT a FROM t WHERE b = ?", (1,)),
                                  ("SELECT 1", ())])
    assert leading == 2
    assert query == ("PREPARE wf_0 AS SELECT a FROM t WHERE b = $1; PREPARE wf_1 AS SELECT 1; "
                     "BEGIN; EXECUTE wf_0(%s); EXECUTE wf_1")
    assert known.query([("SELECT a FROM t WHERE b = ?", (2,)), ("COMMIT", ())]) == (
        "EXECUTE wf_0(%s); COMMIT", 0)


def test_a_long_batch_is_sent_as_it_is():
    known = prepared.Prepared()
    statements = [("INSERT INTO t VALUES (?)", (n,)) for n in range(prepared.SHORT + 1)]
    assert known.query(statements) == (
        "; ".join(["INSERT INTO t VALUES (%s)"] * (prepared.SHORT + 1)), 0)
    assert not known.names


def test_no_more_statements_are_kept_than_the_limit():
    known = prepared.Prepared()
    for n in range(prepared.LIMIT + 3):
        known.query([(f"SELECT {n}", ())])
    assert len(known.names) == prepared.LIMIT
    assert known.query([(f"SELECT {prepared.LIMIT + 1}", ())]) == (
        f"SELECT {prepared.LIMIT + 1}", 0)
    assert known.query([("SELECT 0", ())]) == ("EXECUTE wf_0", 0)


def test_after_a_failed_query_the_next_clears_the_server_and_prepares_afresh():
    known = prepared.Prepared()
    known.query([("SELECT 1", ())])
    known.failed()
    assert known.query([("SELECT 2", ()), ("SELECT 1", ())]) == (
        "DEALLOCATE ALL; PREPARE wf_0 AS SELECT 2; PREPARE wf_1 AS SELECT 1; "
        "EXECUTE wf_0; EXECUTE wf_1", 3)
    assert known.query([("SELECT 1", ())]) == ("EXECUTE wf_1", 0)


# -- on the server ------------------------------------------------------------------------


@pytest.fixture
def raw(db_target: str) -> Iterator[psycopg.Connection]:
    if not db_target.startswith("postgresql"):
        pytest.skip("PostgreSQL's prepared statements")
    url = db_target.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True, prepare_threshold=None) as connection:
        yield connection


def _on_server(connection: psycopg.Connection) -> set[str]:
    return {row[0] for row in connection.execute(
        "SELECT name FROM pg_prepared_statements WHERE name LIKE 'wf\\_%'").fetchall()}


def test_statements_run_prepared_and_the_server_holds_what_the_connection_knows(raw):
    for n in (1, 2):
        assert Tx(raw, False)._together([("SELECT ? + 1", (n,)), ("SELECT 5", ())]) == [
            (1, [(n + 1,)]), (1, [(5,)])]
    assert _on_server(raw) == set(prepared.on(raw).names.values()) == {"wf_0", "wf_1"}


def test_a_prepare_that_failed_is_never_executed_unprepared(raw):
    """The query prepared one statement and failed on the next: the server keeps the first,
    not the second. The same statements again fail for their own reason, not for a missing
    name; the server never holds more than one set of them; the connection goes on working."""
    statements = [("SELECT 1", ()), ("SELECT nope FROM pg_class", ())]
    for _ in range(20):
        with pytest.raises(psycopg.errors.UndefinedColumn, match="nope"):
            Tx(raw, False)._together(statements)
    assert len(_on_server(raw)) == 1
    assert Tx(raw, False)._together([("SELECT 1", ())]) == [(1, [(1,)])]


def test_a_query_interrupted_before_it_is_sent_leaves_nothing_unprepared(raw):
    class Interrupted:
        def execute(self, *_: object) -> None:
            raise KeyboardInterrupt

    tx = Tx(raw, False)
    tx.__dict__["_client_cursor"] = Interrupted()
    with pytest.raises(KeyboardInterrupt):
        tx._together([("SELECT 7", ())])
    assert Tx(raw, False)._together([("SELECT 7", ())]) == [(1, [(7,)])]


def test_statements_the_server_lost_are_prepared_again(raw):
    Tx(raw, False)._together([("SELECT 1", ())])
    raw.execute("DEALLOCATE ALL")  # someone else's doing
    with pytest.raises(Replan):  # inside a transaction begun before: to be tried again
        Tx(raw, False)._together([("SELECT 1", ())])
    assert Tx(raw, False)._together([("SELECT 1", ())]) == [(1, [(1,)])]


def test_a_transaction_opened_on_statements_the_server_lost_goes_through(raw):
    """Its first query did nothing yet: it is rolled back and sent again, prepared afresh."""
    Tx(raw, False, opens=True)._together([("SELECT 1", ())])
    raw.execute("ROLLBACK")
    raw.execute("DEALLOCATE ALL")
    tx = Tx(raw, False, opens=True)
    assert tx._together([("SELECT 1", ())]) == [(1, [(1,)])]
    assert raw.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    raw.execute("ROLLBACK")


def test_a_column_changing_type_under_an_open_workflow_does_not_stop_its_writes(
        wf: Workflow, db_target: str):
    """A prepared statement whose result changes type (a migration widening a column, say)
    is prepared again, as an unprepared one would simply be run."""
    if wf.db.is_sqlite:
        pytest.skip("PostgreSQL's prepared statements")
    wf.fire(draft(wf), "submit", actor="dan")
    url = db_target.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("ALTER TABLE wf_log_head ALTER COLUMN size TYPE bigint")
    ref = draft(wf)
    assert wf.fire(ref, "submit", actor="dan") == "nsc_review"
    assert wf.verify()["rows"] == 4


def test_a_statement_lost_after_the_first_query_has_its_write_tried_again(
        wf: Workflow, db_target: str):
    """A draft reads its reference counter in its second query: when that statement's result
    has changed type, the transaction is rolled back and the draft tried again, once."""
    if wf.db.is_sqlite:
        pytest.skip("PostgreSQL's prepared statements")
    draft(wf)
    url = db_target.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as other:
        other.execute("ALTER TABLE wf_ref_counter ALTER COLUMN last TYPE bigint")
    waits: list[str] = []
    wf.waiting = waits.append
    assert draft(wf) == "TR-2026-0002"
    assert waits == []  # nothing was busy: nobody is told to wait
    assert wf.verify()["rows"] == 2


def test_a_conflict_in_the_query_that_prepares_the_writes_leaves_the_writer_working(
        wf: Workflow, db_target: str):
    """A missed version fails the writes' query after its PREPAREs ran: later firings on the
    same connection prepare afresh and go through."""
    if wf.db.is_sqlite:
        pytest.skip("PostgreSQL's prepared statements")
    first, second = draft(wf), draft(wf)
    held = wf.db.fast._held.driver_connection
    with pytest.raises(Conflict, match=first), wf.db.fast.transaction() as tx:
        tx.prefetch("dan", first)
        record = tx.record(first)
        assert record is not None
        url = db_target.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, autocommit=True) as other:
            other.execute("UPDATE wf_record SET version = version + 1 WHERE ref = %s", (first,))
        assert tx.update_record(record, "nsc_review", record.data, {"submit": ["dan"]}, None,
                                deferred=True)
        tx.append_history(record, {
            "ref": first, "event": "submit", "from": "drafted", "to": "nsc_review",
            "actor": "dan", "roles": ["drafter"], "at": "2026-11-25T00:00:00+00:00",
            "reason": None, "changes": {}, "consulted": {},
            "process_version": wf.process.version}, wf.clock())
    assert prepared.on(held).stale
    assert wf.fire(second, "submit", actor="dan") == "nsc_review"
    assert wf.fire(first, "submit", actor="dan") == "nsc_review"
    assert [len(wf.history(ref)) for ref in (first, second)] == [2, 2]
