"""The fast path stores values exactly as the SQLModel tables read them back, on both databases."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from tests.conftest import PATRIOT, draft
from workflow.clock import as_utc, iso, sqlite_text
from workflow.errors import Busy, Conflict, InvalidInput, WorkflowError
from workflow.fastpath import Tx, encode_participants
from workflow.ledger import encode
from workflow.models import History, LogHead, Record, RefCounter


def test_a_created_record_reads_back_through_the_orm_unchanged(wf, clock):
    clock.set(datetime(2026, 11, 25, 9, 30, 15, 123456, tzinfo=UTC))
    ref = draft(wf, unit_value="12.50", currency="usd")
    with wf.db.read() as s:
        record = s.exec(select(Record).where(Record.ref == ref)).one()
        row = s.exec(select(History).where(History.ref == ref)).one()
    assert record.created_at == clock()
    assert record.data == {**PATRIOT, "unit_value": "12.50", "currency": "USD"}
    assert record.participants == {}
    assert row.at == clock()
    assert row.roles == ["drafter"]
    assert row.changes["quantity"] == [None, 16]


def test_a_whole_second_keeps_its_iso_form_in_the_leaf(wf, clock):
    clock.set(datetime(2026, 11, 25, 9, 30, 0, tzinfo=UTC))
    ref = draft(wf)
    assert wf.history(ref)[0]["at"] == "2026-11-25T09:30:00+00:00"
    assert wf.verify()["rows"] == 1


def test_dates_round_trip_and_feed_the_due_index(wf, clock):
    from tests.conftest import to_state

    ref = to_state(wf, "third_country_review")
    with wf.db.read() as s:
        record = s.exec(select(Record).where(Record.ref == ref)).one()
    assert record.due_on == date(2027, 1, 1)
    assert [r["ref"] for r in wf.due(date(2027, 1, 1))] == [ref]
    assert wf.due(date(2026, 12, 31)) == []


def test_records_of_an_import_are_inserted_with_reserved_ids_and_numbers(wf):
    """An import reserves its numbers and ids at once and sends its inserts with the history
    rows: each record has the id its history rows name, numbers follow in order, and the
    next record made one at a time takes the next id."""
    first = draft(wf)
    refs = wf.create_many([PATRIOT] * 3, actor="dan")
    last = draft(wf)
    assert [*refs, last] == [f"TR-2026-{n:04d}" for n in range(2, 6)]
    with wf.db.read() as s:
        ids = {r.ref: r.id for r in s.exec(select(Record))}
        named = {h.ref: h.record_id for h in s.exec(select(History))}
    assert named == ids
    assert len(set(ids.values())) == 5
    assert ids[first] < ids[refs[0]] < ids[refs[1]] < ids[refs[2]] < ids[last]
    assert wf.get(refs[1])["item"] == PATRIOT["item"]
    assert wf.verify()["rows"] == 5


def test_an_import_whose_insert_fails_keeps_nothing(wf, clock):
    """A deferred insert that the database refuses (here a reference already taken) fails the
    whole transaction: no record, no history row, no number used up."""
    draft(wf)
    before = wf.verify()["rows"]
    with wf.db.fast.transaction() as tx:  # the counter falls behind: the next number is taken
        tx.run("UPDATE wf_ref_counter SET last = 0")
    with pytest.raises(WorkflowError, match="the reference a new request would get is taken"):
        wf.create_many([PATRIOT] * 2, actor="dan")
    with wf.db.read() as s:
        assert len(s.exec(select(Record)).all()) == 1
        assert s.exec(select(RefCounter)).one().last == 0
    with wf.db.fast.transaction() as tx:
        tx.run("UPDATE wf_ref_counter SET last = 1")
    assert wf.verify()["rows"] == before


def test_a_record_inserted_and_updated_in_one_transaction_is_kept_updated(wf, clock):
    """Deferred inserts go before deferred updates on both databases, so an update may follow
    the record's own insert."""
    with wf.db.fast.transaction() as tx:
        tx.lock_head()
        first = tx.reserve_records("TR", 2026, 1)
        record = tx.insert_record(f"TR-2026-{first:04d}", "transfer", "drafted", {}, "dan",
                                  clock(), deferred=True)
        assert tx.update_record(record, "nsc_review", {}, {"submit": ["dan"]}, None,
                                deferred=True)
    with wf.db.read() as s:
        stored = s.exec(select(Record)).one()
    assert (stored.id, stored.state, stored.version) == (record.id, "nsc_review", 2)
    assert stored.participants == {"submit": ["dan"]}


def test_a_deferred_insert_without_a_reserved_id_is_a_programming_error(wf, clock):
    with pytest.raises(RuntimeError, match="reserve_records"), wf.db.fast.transaction() as tx:
        tx.insert_record("TR-2026-0001", "transfer", "drafted", {}, "dan", clock(), deferred=True)


def test_update_record_checks_the_version(wf):
    ref = draft(wf)
    with wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        assert record is not None
        assert tx.update_record(record, "drafted", record.data, {}, None)
        assert not tx.update_record(record, "drafted", record.data, {}, None)


def test_reference_numbers_come_from_one_upsert_per_year(wf, clock):
    with wf.db.fast.transaction() as tx:
        assert [tx.next_number("TR", 2026) for _ in range(3)] == [1, 2, 3]
        assert tx.next_number("TR", 2027) == 1
        assert tx.next_number("TR", 2026, 5) == 4
        assert tx.next_number("TR", 2026) == 9
        assert tx.next_number("XX", 2026, 3) == 1
        assert tx.next_number("XX", 2026) == 4
    with wf.db.read() as s:
        counters = {(c.prefix, c.year): c.last for c in s.exec(select(RefCounter))}
    assert counters == {("TR", 2026): 9, ("TR", 2027): 1, ("XX", 2026): 4}


def test_an_exception_rolls_the_whole_transaction_back(wf):
    ref = draft(wf)
    with pytest.raises(RuntimeError), wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        assert record is not None
        tx.update_record(record, "nsc_review", record.data, {}, None)
        raise RuntimeError("abandon")
    assert wf.get(ref)["state"] == "drafted"
    assert len(wf.history(ref)) == 1


def test_appends_number_rows_without_gaps_and_keep_the_head(wf):
    refs = [draft(wf) for _ in range(5)]
    wf.fire(refs[2], "submit", actor="dan")
    with wf.db.read() as s:
        seqs = [h.seq for h in s.exec(select(History).order_by(History.seq))]
        head = s.get(LogHead, 1)
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert head is not None and head.size == 6
    assert len(head.frontier) == bin(6).count("1")
    assert wf.verify()["rows"] == 6


def test_a_head_another_process_wrote_is_read_afresh(wf, db_target, clock):
    clock.set(datetime.now(UTC))  # the other process reads the system clock
    refs = [draft(wf) for _ in range(3)]
    wf.fire(refs[0], "submit", actor="dan")
    code = ("import sys; from workflow import Workflow; wf = Workflow(sys.argv[1]); "
            "wf.fire(sys.argv[2], 'submit', actor='dan'); wf.close()")
    subprocess.run([sys.executable, "-c", code, db_target, refs[1]], check=True,
                   cwd=Path(__file__).resolve().parent.parent)
    wf.fire(refs[2], "submit", actor="dan")
    with wf.db.read() as s:
        head = s.get(LogHead, 1)
        roots = [h.root_hash for h in s.exec(select(History).order_by(History.seq))]
    assert head is not None and head.size == 6
    assert len(set(roots)) == 6
    assert wf.verify()["rows"] == 6


def test_a_batch_is_all_or_nothing(wf):
    first, second = draft(wf), draft(wf)
    with pytest.raises(Exception, match="approve_for_us refused"):
        wf.fire_many([{"ref": first, "event": "submit"},
                      {"ref": second, "event": "approve_for_us"}], actor="dan")
    assert wf.get(first)["state"] == "drafted"
    assert wf.fire_many([{"ref": first, "event": "submit"},
                         {"ref": second, "event": "submit"}], actor="dan") == [
        "nsc_review", "nsc_review"]
    with pytest.raises(InvalidInput, match="firing 2: unknown event"):
        wf.fire_many([{"ref": first, "event": "return", "reason": "x"},
                       {"ref": second, "event": "nope"}], actor="rita")
    with pytest.raises(Conflict):
        wf.fire_many([{"ref": first, "event": "return", "reason": "x", "expected_version": 1}],
                     actor="rita")


def test_create_many_numbers_in_order_and_rolls_back_on_a_bad_record(wf):
    assert wf.create_many([PATRIOT, PATRIOT], actor="dan") == ["TR-2026-0001", "TR-2026-0002"]
    with pytest.raises(InvalidInput, match="record 2: quantity"):
        wf.create_many([PATRIOT, {**PATRIOT, "quantity": 0}], actor="dan")
    assert len(wf.list()) == 2


def test_a_locked_sqlite_database_is_reported_as_busy(tmp_path, clock, monkeypatch):
    import sqlite3

    from workflow import Workflow, database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    path = str(tmp_path / "w.db")
    wf = Workflow(path, clock=clock, create=True)
    wf.init("admin", direct_schema=True)
    wf.add_user("dan", ["drafter"], actor="admin")
    wf.close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(Busy, match="busy"):
            Workflow(path, clock=clock).create(actor="dan", **PATRIOT)
    finally:
        locker.execute("ROLLBACK")
        locker.close()


def test_the_cli_says_it_is_waiting_for_a_busy_database(tmp_path, clock, monkeypatch):
    import sqlite3

    from click.testing import CliRunner

    from cli import output
    from cli.main import cli
    from tests.conftest import request_new_args
    from workflow import Workflow, database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    monkeypatch.setattr(output, "on_terminal", lambda: True)  # said to a person, not a script
    path = str(tmp_path / "w.db")
    wf = Workflow(path, clock=clock, create=True)
    wf.init("admin", direct_schema=True)
    wf.add_user("dan", ["drafter"], actor="admin")
    wf.close()
    locker = sqlite3.connect(path, isolation_level=None)
    locker.execute("BEGIN EXCLUSIVE")
    try:
        result = CliRunner().invoke(cli, ["--db", path, "--as", "dan", *request_new_args()])
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "the database is busy with another writer; waiting again (try 2 of 3)",
        "the database is busy with another writer; waiting again (try 3 of 3)",
        "error: the database is busy (locked by another connection); try again"]


def test_tx_placeholders_follow_the_driver(wf):
    with wf.db.fast.transaction() as tx:
        assert isinstance(tx, Tx)
        assert tx.run("SELECT count(*) FROM wf_user WHERE name = ?", ("admin",)).fetchone()[0] == 1


def test_a_record_created_with_a_due_date_is_indexed_by_it_at_once(wf, clock):
    with wf.db.fast.transaction() as tx:
        tx.lock_head()
        created = tx.insert_record("TR-2026-0900", "transfer", "drafted", {}, "dan", clock(),
                                   date(2027, 1, 1))
    with wf.db.read() as s:
        record = s.exec(select(Record).where(Record.id == created.id)).one()
    assert record.due_on == date(2027, 1, 1)


def test_a_deferred_update_that_finds_another_version_fails_the_transaction(wf):
    """The version-checked update travels with the history rows; a miss is a Conflict when
    they are sent, naming the record, and nothing of the transaction is kept."""
    from dataclasses import replace

    ref = draft(wf)
    before = wf.get(ref)
    with pytest.raises(Conflict, match=ref), wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        assert record is not None
        stale = replace(record, version=record.version + 5)
        assert tx.update_record(stale, "nsc_review", record.data, {}, None, deferred=True)
    assert wf.get(ref) == before


def test_a_missed_version_among_many_deferred_updates_names_its_record(wf):
    """Deferred updates of one shape go out together; the one that misses is named, and none
    of them is kept."""
    from dataclasses import replace

    refs = [draft(wf) for _ in range(4)]
    before = [wf.get(ref) for ref in refs]
    with pytest.raises(Conflict, match=refs[2]), wf.db.fast.transaction() as tx:
        for ref in refs:
            record = tx.record(ref)
            assert record is not None
            if ref == refs[2]:
                record = replace(record, version=record.version + 5)
            assert tx.update_record(record, "nsc_review", record.data, {}, None, deferred=True)
    assert [wf.get(ref) for ref in refs] == before


def test_deferred_updates_of_one_record_apply_in_the_order_made(wf):
    ref = draft(wf)
    with wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        assert record is not None
        assert tx.update_record(record, "nsc_review", record.data, {}, None, deferred=True)
        again = tx.record(ref)
        assert again is not None and again.version == record.version + 1
        assert tx.update_record(again, "nsc_review", {**record.data, "note": "x"}, {}, None,
                                deferred=True)
        assert tx.update_record(tx.record(ref), "drafted", record.data, {}, None,  # type: ignore[arg-type]
                                deferred=True)
    shown = wf.get(ref)
    assert (shown["state"], shown["version"], shown["note"]) == ("drafted", 4, None)


def test_a_miss_is_named_even_when_an_earlier_record_of_its_run_is_updated_again(wf):
    """The record named is the one whose update missed, not one that a later run of updates
    (not yet sent) would have moved on."""
    from dataclasses import replace

    first, missed = draft(wf), draft(wf)
    with pytest.raises(Conflict, match=missed), wf.db.fast.transaction() as tx:
        a, b = tx.record(first), tx.record(missed)
        assert a is not None and b is not None
        assert tx.update_record(a, "nsc_review", a.data, {}, None, deferred=True)
        stale = replace(b, version=b.version + 5)
        assert tx.update_record(stale, "nsc_review", b.data, {}, None, deferred=True)
        again = tx.record(first)
        assert again is not None
        assert tx.update_record(again, "nsc_review", {**again.data, "note": "x"}, {}, None,
                                deferred=True)


def test_interleaved_shapes_of_one_record_apply_in_order(wf):
    """Updates of one shape are sent together only while consecutive: S, T, S is three runs."""
    ref = draft(wf)
    with wf.db.fast.transaction() as tx:
        for state, note in (("nsc_review", None), ("nsc_review", "x"), ("drafted", None)):
            record = tx.record(ref)
            assert record is not None
            data = {**record.data, "note": note} if note else record.data
            assert tx.update_record(record, state, data, {}, None, deferred=True)
    shown = wf.get(ref)
    assert (shown["state"], shown["version"], shown["note"]) == ("drafted", 4, "x")


def test_each_firing_of_a_batch_keeps_its_own_consulted_subjects(wf):
    """The policy text consulted is encoded once per set of subjects, not once per batch."""
    a, b = draft(wf), draft(wf)
    wf.fire_many([{"ref": a, "event": "submit"},
                  {"ref": b, "event": "withdraw", "reason": "not needed"}], actor="dan")
    consulted = {ref: wf.history(ref)[-1]["consulted"] for ref in (a, b)}
    assert list(consulted[a]["restrictions"]) == ["US"]
    assert consulted[b]["restrictions"] == {}
    wf.verify()  # raises on a row whose bytes do not hash to its leaf


def test_batches_pause_the_cyclic_collector_and_restore_it(wf):
    import gc

    from workflow import writes

    seen = []
    original = wf.db.fast.transaction

    def watching():
        seen.append(gc.isenabled())
        return original()

    wf.db.fast.transaction = watching
    refs = wf.create_many([PATRIOT, PATRIOT], actor="dan")
    wf.fire_many([{"ref": r, "event": "submit"} for r in refs], actor="dan")
    with pytest.raises(InvalidInput):
        wf.fire_many([{"ref": refs[0], "event": "no-such-event"}], actor="dan")
    assert seen == [False, False] and gc.isenabled()
    gc.disable()
    try:
        with writes.collector_paused():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


@pytest.mark.parametrize("direct", [True, False], ids=["from-models", "by-migrations"])
def test_a_new_sqlite_database_has_small_pages_and_wal(tmp_path, direct):
    import sqlite3
    from contextlib import closing

    from workflow import Workflow
    from workflow.database import SQLITE_PAGE_SIZE

    path = tmp_path / "new.db"
    with Workflow(str(path), create=True) as wf:
        wf.init("admin", direct_schema=direct)
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == SQLITE_PAGE_SIZE < 4096
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


names = st.text(max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(names, st.lists(names, max_size=3), max_size=4))
def test_participants_are_stored_in_the_canonical_encoding(participants):
    assert encode_participants(participants) == encode(participants)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), None])))
def test_moments_are_spelled_alike_whatever_their_zone(moment):
    """The texts of a moment already in UTC are those of the same moment taken through
    as_utc: stored (SQLite's DATETIME) and shown (ISO 8601)."""
    utc = as_utc(moment)
    assert sqlite_text(moment) == utc.replace(tzinfo=None).isoformat(" ", "microseconds")
    assert iso(moment) == utc.isoformat()


def test_a_damaged_drafting_time_is_named_when_the_record_is_read(wf):
    if not wf.db.is_sqlite:
        pytest.skip("PostgreSQL keeps a moment as a timestamp: no text to damage")
    ref = draft(wf)
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_record SET created_at = 'yesterday'")
    with pytest.raises(WorkflowError, match=f"{ref}: its stored fields cannot be read"):
        wf.fire(ref, "submit", actor="dan")
