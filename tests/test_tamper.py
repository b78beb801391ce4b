"""Tampering with the stored history is detected, on SQLite and PostgreSQL, via the API and the CLI.

Each attack goes around the application: raw SQL through a separate SQLAlchemy connection (or
sqlite3 / psycopg directly), after dropping the append-only trigger the way an attacker with
database rights would. The strongest attacker also re-seals the log (recomputes every leaf and
root and the log head) and rolls the requests back to match; only a checkpoint taken earlier
catches that one.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from tests.conftest import Cli, assert_one_line_error, draft, request_new_args, rewrite_history
from workflow import Refused, Workflow, merkle
from workflow.audit import AuditFailure
from workflow.ledger import row_leaf
from workflow.models import History, LogHead, Record
from workflow.views import history_dict

HISTORY = History.__table__  # type: ignore[attr-defined]
RECORD = Record.__table__  # type: ignore[attr-defined]
HEAD = LogHead.__table__  # type: ignore[attr-defined]


# -- the scenario and the attacker's tools ---------------------------------------------------------


def story(wf: Workflow) -> dict[str, str]:
    """Three requests with a few steps each, the clock moving an hour between steps.

    Rows: 1 A create, 2 B create, 3 A submit, 4 B submit, 5 A approve_for_us, 6 C create,
    7 A request_third_country, 8 C edit.
    """
    clock: Any = wf.clock
    a = draft(wf, "dan")
    clock.advance(hours=1)
    b = draft(wf, "dora", quantity=4)
    clock.advance(hours=1)
    wf.fire(a, "submit", actor="dan")
    clock.advance(hours=1)
    wf.fire(b, "submit", actor="dora")
    clock.advance(hours=1)
    wf.fire(a, "approve_for_us", actor="ann")
    clock.advance(hours=1)
    c = draft(wf, "dan", quantity=2)
    clock.advance(hours=1)
    wf.fire(a, "request_third_country", actor="dan", country="PL")
    clock.advance(hours=1)
    wf.edit(c, actor="dan", quantity=3)
    clock.advance(hours=1)
    return {"A": a, "B": b, "C": c}


def more(wf: Workflow, refs: dict[str, str]) -> None:
    """Rows appended after a checkpoint: 9 B approve_for_us, 10 C submit."""
    clock: Any = wf.clock
    wf.fire(refs["B"], "approve_for_us", actor="abe")
    clock.advance(hours=1)
    wf.fire(refs["C"], "submit", actor="dan")
    clock.advance(hours=1)


@pytest.fixture
def refs(wf: Workflow) -> dict[str, str]:
    refs = story(wf)
    assert wf.verify()["rows"] == 8
    return refs


@pytest.fixture
def engine(wf: Workflow) -> Engine:
    """The attacker's connection: plain SQLAlchemy Core, outside the application's sessions."""
    return wf.db.engine


def is_sqlite(wf: Workflow) -> bool:
    return wf.db.is_sqlite


def drop_history_trigger(wf: Workflow) -> None:
    with wf.db.engine.begin() as conn:
        if is_sqlite(wf):
            conn.exec_driver_sql("DROP TRIGGER wf_history_no_update")
            conn.exec_driver_sql("DROP TRIGGER wf_history_no_delete")
        else:
            conn.exec_driver_sql("DROP TRIGGER wf_history_append_only ON wf_history")


def row(wf: Workflow, seq: int) -> dict[str, Any]:
    with wf.db.engine.connect() as conn:
        found = conn.execute(select(HISTORY).where(HISTORY.c.seq == seq)).mappings().one()
        return dict(found)


def seq_of(wf: Workflow, ref: str, event: str) -> int:
    [found] = [r["seq"] for r in wf.log(ref=ref) if r["event"] == event]
    return found


def set_row(wf: Workflow, seq: int, **values: Any) -> None:
    with wf.db.engine.begin() as conn:
        conn.execute(update(HISTORY).where(HISTORY.c.seq == seq).values(**values))


def reseal(wf: Workflow) -> None:
    """Recompute every leaf hash, stored root and the log head from the rows as they now are."""
    with wf.db.engine.begin() as conn:
        rows = conn.execute(select(HISTORY).order_by(HISTORY.c.seq)).mappings().all()
        frontier = merkle.Frontier()
        for found in rows:
            leaf = row_leaf(history_dict(History(**dict(found))))
            frontier.append(leaf)
            conn.execute(update(HISTORY).where(HISTORY.c.seq == found["seq"]).values(
                leaf_hash=leaf.hex(), root_hash=frontier.root().hex()))
        conn.execute(update(HEAD).where(HEAD.c.id == 1).values(
            size=frontier.size, frontier=[n.hex() for n in frontier.nodes]))


def roll_records_back(wf: Workflow) -> None:
    """Make every request agree with whatever history rows are left of it."""
    with wf.db.engine.begin() as conn:
        rows = conn.execute(select(HISTORY).order_by(HISTORY.c.seq)).mappings().all()
        for found in rows:
            if found["event"] == "create":
                conn.execute(update(RECORD).where(RECORD.c.id == found["record_id"]).values(
                    created_by=found["actor"], created_at=found["at"]))
        replayed: dict[int, tuple[str, int, dict[str, Any], dict[str, list[str]]]] = {}
        for found in rows:
            state, version, data, joined = replayed.get(found["record_id"], ("", 0, {}, {}))
            data = {**data, **{k: new for k, (_old, new) in found["changes"].items()}}
            if found["event"] not in ("create", "edit"):
                actors = joined.get(found["event"], [])
                joined = {**joined, found["event"]: actors + [found["actor"]] * (
                    found["actor"] not in actors)}
            replayed[found["record_id"]] = (found["to_state"], version + 1, data, joined)
        for record_id, (state, version, data, joined) in replayed.items():
            due = data.get("decision_date")
            conn.execute(update(RECORD).where(RECORD.c.id == record_id).values(
                state=state, version=version, data=data, participants=joined,
                due_on=date.fromisoformat(due) if due else None))


def save_checkpoint(wf: Workflow, path: Path, **kwargs: Any) -> dict[str, Any]:
    cp = wf.checkpoint(**kwargs)
    path.write_text(json.dumps(cp))
    return cp


def failure(wf: Workflow, **kwargs: Any) -> AuditFailure:
    """The failure `verify` names, the same whether its work is split over workers or not."""
    with pytest.raises(AuditFailure) as caught:
        wf.verify(jobs=1, **kwargs)
    with pytest.raises(AuditFailure) as split:
        wf.verify(jobs=3, **kwargs)
    assert (split.value.message, split.value.seq, split.value.ref) == (
        caught.value.message, caught.value.seq, caught.value.ref)
    return caught.value


def cli_failure(run: Cli, *args: str) -> str:
    """`workflow audit verify ...` fails: exit 1, one error line."""
    return assert_one_line_error(run("audit", "verify", *args, actor="aud"), 1)


def assert_names(error: AuditFailure, line: str, seq: int, ref: str | None) -> None:
    assert error.seq == seq, str(error)
    assert error.ref == ref, str(error)
    expected = f"row {seq} ({ref}): " if ref else f"row {seq}: "
    assert expected in str(error)
    assert expected in line, line


# -- a history row altered ---------------------------------------------------------------------


def _shift(moment: Any) -> Any:
    return moment + timedelta(seconds=1)


EDITS = [
    pytest.param({"actor": "abe"}, id="actor"),
    pytest.param({"reason": "approved in person"}, id="reason"),
    pytest.param({"to_state": "approved"}, id="to_state"),
    pytest.param({"from_state": "drafted"}, id="from_state"),
    pytest.param({"roles": ["approver", "admin"]}, id="roles"),
    pytest.param({"process_version": "transfer-request/0"}, id="process_version"),
    pytest.param({"consulted": {}}, id="consulted"),
    pytest.param({"changes": {"quantity": [16, 1600]}}, id="changes"),
    pytest.param({"at": _shift}, id="at"),
    pytest.param({"ref": "TR-2026-0002"}, id="ref"),
]


@pytest.mark.parametrize("values", EDITS)
def test_an_edited_history_field_is_named_by_row_and_request(wf, refs, run_ready, values):
    seq = seq_of(wf, refs["A"], "approve_for_us")
    original = row(wf, seq)
    drop_history_trigger(wf)
    set_row(wf, seq, **{k: v(original[k]) if callable(v) else v for k, v in values.items()})
    ref = values.get("ref", refs["A"])  # the row now claims to be about another request
    error = failure(wf)
    assert "altered" in str(error)
    assert_names(error, cli_failure(run_ready), seq, ref)


def test_an_edited_row_with_a_recomputed_leaf_hash_breaks_the_stored_root(wf, refs, run_ready):
    seq = seq_of(wf, refs["B"], "submit")
    drop_history_trigger(wf)
    set_row(wf, seq, actor="admin")
    set_row(wf, seq, leaf_hash=row_leaf(history_dict(History(**row(wf, seq)))).hex())
    error = failure(wf)
    assert "tree root stored with it does not match" in str(error)
    assert_names(error, cli_failure(run_ready), seq, refs["B"])


@pytest.mark.parametrize("column", ["leaf_hash", "root_hash"])
def test_a_changed_stored_hash_is_detected(wf, refs, run_ready, column):
    seq = 6
    stored = row(wf, seq)[column]
    drop_history_trigger(wf)
    set_row(wf, seq, **{column: stored[:-1] + ("0" if stored[-1] != "0" else "1")})
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), seq, refs["C"])


def test_a_fully_resealed_rewrite_passes_alone_but_fails_against_an_older_checkpoint(
        wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    seq = seq_of(wf, refs["A"], "approve_for_us")
    drop_history_trigger(wf)
    set_row(wf, seq, actor="abe")
    with wf.db.engine.begin() as conn:  # and the record's participants to match
        joined = conn.execute(select(RECORD.c.participants).where(
            RECORD.c.ref == refs["A"])).scalar_one()
        conn.execute(update(RECORD).where(RECORD.c.ref == refs["A"]).values(
            participants={**joined, "approve_for_us": ["abe"]}))
    reseal(wf)
    # without a checkpoint the perfect forgery is internally consistent: that is what
    # checkpoints are for
    assert wf.verify()["rows"] == 8
    assert run_ready("audit", "verify", actor="aud").exit_code == 0
    error = failure(wf, since=checkpoint)
    assert "not consistent with the checkpoint of 8 rows" in str(error)
    line = cli_failure(run_ready, "--since", str(checkpoint))
    assert "rewritten" in line


# -- rows deleted, swapped, cut off ----------------------------------------------------------------


def test_a_deleted_middle_row_is_named_by_the_next_row(wf, refs, run_ready):
    drop_history_trigger(wf)
    with wf.db.engine.begin() as conn:
        conn.execute(delete(HISTORY).where(HISTORY.c.seq == 4))
    error = failure(wf)
    assert "expected row 4 next, found row 5" in str(error)
    assert_names(error, cli_failure(run_ready), 5, refs["A"])


def test_a_deleted_middle_row_is_detected_even_after_resealing_the_rest(wf, refs, run_ready):
    drop_history_trigger(wf)
    with wf.db.engine.begin() as conn:
        conn.execute(delete(HISTORY).where(HISTORY.c.seq == 4))
    reseal(wf)
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), 5, refs["A"])


def test_swapped_rows_are_named_at_the_first_swapped_position(wf, refs, run_ready):
    first, second = seq_of(wf, refs["A"], "submit"), seq_of(wf, refs["C"], "create")
    a, c = row(wf, first), row(wf, second)
    drop_history_trigger(wf)
    content = [k for k in a if k != "seq"]
    set_row(wf, first, **{k: c[k] for k in content})
    set_row(wf, second, **{k: a[k] for k in content})
    error = failure(wf)
    assert "altered" in str(error)
    # row 3 now holds C's create, leaf hash and all: the row, and the request it now names
    assert_names(error, cli_failure(run_ready), first, refs["C"])


def test_swapped_rows_resealed_fail_against_an_older_checkpoint(wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    a, b = row(wf, 3), row(wf, 4)  # A submit, B submit: swapping keeps every request valid
    drop_history_trigger(wf)
    content = [k for k in a if k not in ("seq", "leaf_hash", "root_hash")]
    set_row(wf, 3, **{k: b[k] for k in content})
    set_row(wf, 4, **{k: a[k] for k in content})
    reseal(wf)
    assert wf.verify()["rows"] == 8
    assert "rewritten" in str(failure(wf, since=checkpoint))
    assert "rewritten" in cli_failure(run_ready, "--since", str(checkpoint))


def _cut_tail(wf: Workflow, keep: int) -> None:
    with wf.db.engine.begin() as conn:
        conn.execute(delete(HISTORY).where(HISTORY.c.seq > keep))


def test_a_cut_tail_is_detected_by_the_log_head(wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    drop_history_trigger(wf)
    _cut_tail(wf, 6)
    error = failure(wf)
    assert "cut off" in str(error)
    assert error.seq == 7
    assert "row 7" in cli_failure(run_ready)
    assert "row 7" in cli_failure(run_ready, "--since", str(checkpoint))


def test_a_cut_tail_with_a_rewritten_head_is_named_by_the_request_it_leaves_behind(
        wf, refs, run_ready):
    drop_history_trigger(wf)
    _cut_tail(wf, 7)  # drops C's edit
    reseal(wf)
    error = failure(wf)
    assert "version 2 but has 1 history rows" in str(error)
    assert_names(error, cli_failure(run_ready), 6, refs["C"])


def test_a_cut_tail_with_head_and_requests_rewritten_fails_only_against_the_checkpoint(
        wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    drop_history_trigger(wf)
    _cut_tail(wf, 6)
    reseal(wf)
    roll_records_back(wf)
    assert wf.verify()["rows"] == 6
    error = failure(wf, since=checkpoint)
    assert "the log has 6 rows but the checkpoint saw 8" in str(error)
    assert error.seq == 7
    line = cli_failure(run_ready, "--since", str(checkpoint))
    assert "row 7" in line
    assert "cut off" in line


def test_a_cut_tail_regrown_past_the_checkpoint_is_not_consistent_with_it(
        wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    drop_history_trigger(wf)
    _cut_tail(wf, 6)
    reseal(wf)
    roll_records_back(wf)
    more(wf, refs)  # new rows 7 and 8 take the places of the removed ones
    more_rows = wf.verify()
    assert more_rows["rows"] == 8
    assert "rewritten" in str(failure(wf, since=checkpoint))
    assert "rewritten" in cli_failure(run_ready, "--since", str(checkpoint))


# -- the requests table changed without a history row ----------------------------------------------


@pytest.mark.parametrize(("values", "needle"), [
    pytest.param({"state": "approved"}, "is approved but its last history row says nsc_review",
                 id="state"),
    pytest.param({"state": "approved_for_us", "version": 3}, "is approved_for_us but",
                 id="state-and-version"),
    pytest.param({"version": 5}, "is at version 5 but has 2 history rows", id="version"),
])
def test_a_request_changed_behind_the_history_is_named(wf, refs, run_ready, values, needle):
    with wf.db.engine.begin() as conn:
        conn.execute(update(RECORD).where(RECORD.c.ref == refs["B"]).values(**values))
    error = failure(wf)
    assert needle in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, refs["B"], "submit"), refs["B"])


def test_a_request_field_changed_behind_the_history_is_named(wf, refs, run_ready):
    with wf.db.engine.connect() as conn:
        data = conn.execute(select(RECORD.c.data).where(RECORD.c.ref == refs["C"])).scalar_one()
    with wf.db.engine.begin() as conn:
        conn.execute(update(RECORD).where(RECORD.c.ref == refs["C"]).values(
            data={**data, "quantity": 300, "note": "added later"}))
    error = failure(wf)
    assert "fields note, quantity differ" in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, refs["C"], "edit"), refs["C"])


@pytest.mark.parametrize("value", [1.0, True, "1"], ids=["float", "boolean", "text"])
def test_a_request_field_changed_in_type_only_is_named(wf, refs, run_ready, value):
    """1, 1.0 and true are equal to Python but not to anyone reading the request."""
    ref = draft(wf, quantity=1)
    with wf.db.engine.connect() as conn:
        data = conn.execute(select(RECORD.c.data).where(RECORD.c.ref == ref)).scalar_one()
    assert data["quantity"] == 1
    with wf.db.engine.begin() as conn:
        conn.execute(update(RECORD).where(RECORD.c.ref == ref).values(
            data={**data, "quantity": value}))
    error = failure(wf)
    assert "fields quantity differ" in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, ref, "create"), ref)


@pytest.mark.parametrize(("values", "needle", "event"), [
    pytest.param({"created_by": "dora"}, "says it was drafted by dora at", "create",
                 id="drafter"),
    pytest.param({"created_at": datetime(2026, 1, 1, tzinfo=UTC)},
                 "drafted by dan at 2026-01-01T00:00:00+00:00; its history says dan at",
                 "create", id="drafting-time"),
    pytest.param({"participants": {}}, "participants differ from who its history says",
                 "request_third_country", id="participants-emptied"),
    pytest.param({"participants": {"submit": ["dan"], "approve_for_us": ["abe"],
                                   "request_third_country": ["dan"]}},
                 "participants differ", "request_third_country", id="participant-swapped"),
    pytest.param({"due_on": date(2030, 1, 1)}, "is due on 2030-01-01 but its history says",
                 "request_third_country", id="due-date"),
    pytest.param({"due_on": None}, "has no due date but its history says 20",
                 "request_third_country", id="due-date-cleared"),
])
def test_who_drafted_who_took_part_and_when_it_is_due_are_checked(wf, refs, run_ready, values,
                                                                   needle, event):
    """The columns the separation-of-duties rules and `due` read must agree with the history."""
    with wf.db.engine.begin() as conn:
        conn.execute(update(RECORD).where(RECORD.c.ref == refs["A"]).values(**values))
    error = failure(wf)
    assert needle in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, refs["A"], event), refs["A"])


def test_a_drafter_rewritten_to_dodge_separation_of_duties_is_caught(wf, run_ready):
    wf.add_user("both", ["drafter", "approver"], actor="admin")
    ref = draft(wf, actor="both")
    wf.fire(ref, "submit", actor="both")
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "approve_for_us", actor="both")
    assert refused.value.rule == "separation-of-duties"
    with wf.db.engine.begin() as conn:
        conn.execute(update(RECORD).where(RECORD.c.ref == ref).values(
            created_by="dan", participants={}))
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), seq_of(wf, ref, "create"), ref)


def test_a_request_inserted_without_history_is_named(wf, refs, run_ready, clock):
    with wf.db.engine.begin() as conn:
        conn.execute(RECORD.insert().values(
            ref="TR-2026-0099", process="transfer-request", state="approved", version=1,
            data={}, participants={}, created_by="dan", created_at=clock()))
    error = failure(wf)
    assert error.ref == "TR-2026-0099"
    assert "has no history row at all" in str(error)
    line = cli_failure(run_ready)
    assert "TR-2026-0099 has no history row" in line


def test_a_forged_row_appended_by_hand_is_detected(wf, refs, run_ready):
    forged = row(wf, 8)
    forged.update(seq=9, event="approve", to_state="approved", actor="ann")
    with wf.db.engine.begin() as conn:  # inserting is allowed by the triggers
        conn.execute(HISTORY.insert().values(**forged))
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), 9, refs["C"])


@pytest.mark.parametrize("numbers", [[0], [-1, 0]])
def test_rows_slipped_in_below_the_first_are_named(wf, refs, run_ready, numbers):
    """Rows numbered 0 or below lie outside every check by sequence: the first is named, the
    same with the work split over workers, and by `verify --since` too."""
    forged = row(wf, 5)  # A's approve_for_us, forged as if its drafter had given it
    with wf.db.engine.begin() as conn:
        for seq in numbers:
            conn.execute(HISTORY.insert().values(**{**forged, "seq": seq, "actor": "dan"}))
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), numbers[0], refs["A"])
    assert "numbered below 1" in error.message


def test_a_log_head_count_that_is_no_count_is_named_not_a_crash(wf, refs, run_ready):
    with wf.db.engine.begin() as conn:
        if is_sqlite(wf):  # SQLite keeps text in an integer column as it is
            conn.exec_driver_sql("UPDATE wf_log_head SET size = 'abc' WHERE id = 1")
        else:
            conn.exec_driver_sql("UPDATE wf_log_head SET refusals = -1 WHERE id = 1")
    line = cli_failure(run_ready)
    assert "the log head's count of" in line and "it was altered" in line, line


@pytest.mark.parametrize("spelling", ["2026-11-25T13:00:00", "2026-11-25 22:00:00+09:00",
                                      "2026-11-25 13:00:00", "2026-11-25T13:00:00+00:00"],
                         ids=["naive", "offset", "no-fraction", "as-hashed"])
def test_a_time_spelt_otherwise_on_sqlite_is_an_altered_row(wf, refs, run_ready, spelling):
    """SQLite keeps times as text and the filters compare that text: the same instant spelt
    otherwise would move the row in every --since, --until and --as-of answer."""
    if not is_sqlite(wf):
        pytest.skip("PostgreSQL keeps times as timestamps")
    assert wf.get_as_of(refs["A"], "2026-11-25T13:00:00Z")["state"] == "approved_for_us"
    rewrite_history(wf, f"UPDATE wf_history SET at = '{spelling}' WHERE seq = 5")
    error = failure(wf)
    assert_names(error, cli_failure(run_ready), 5, refs["A"])


@pytest.mark.parametrize("spelling", ["2026-11-25T09:00:00", "garbage"])
def test_a_refusal_time_spelt_otherwise_or_unreadable_breaks_its_chain(wf, run_ready, spelling):
    if not is_sqlite(wf):
        pytest.skip("PostgreSQL keeps times as timestamps")
    ref = draft(wf)
    with pytest.raises(Refused):
        wf.fire(ref, "approve_for_us", actor="ann")
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER wf_refusal_no_update")
        conn.exec_driver_sql(f"UPDATE wf_refusal SET at = '{spelling}'")
    line = cli_failure(run_ready)
    assert "refusal 1 does not follow" in line, line


# each table's moments, spelt as the ISO 8601 text the program hashes and chains (so no hash or
# link changes): the same instant, which SQLite's text comparisons would misplace
RESPELT = [
    ("wf_history", "at", "seq = 5", "row 5 ("),
    ("wf_record", "created_at", "id = (SELECT min(id) FROM wf_record)",
     "drafting time is not stored as the program stores moments"),
    ("wf_user", "created_at", "name = 'dan'", "user dan differs from what the user changes say"),
    ("wf_user_change", "at", "name = 'dan'", "does not follow from the changes before it"),
    ("wf_policy_change", "at", "seq = 1", "policy change 1 does not follow"),
    ("wf_refusal", "at", "seq = 1", "refusal 1 does not follow"),
]


@pytest.mark.parametrize(("table", "column", "where", "named"), RESPELT,
                         ids=[f"{t}.{c}" for t, c, _, _ in RESPELT])
def test_a_moment_respelt_as_the_text_hashed_is_altered(wf, refs, run_ready, table, column,
                                                       where, named):
    if not is_sqlite(wf):
        pytest.skip("PostgreSQL keeps times as timestamps")
    with pytest.raises(Refused):
        wf.fire(refs["B"], "approve_for_us", actor="dora")  # a refusal, to re-spell
    wf.restrict("SY", "in-combat", "2026-01-01", actor="admin", reason="a change to re-spell")
    with wf.db.engine.begin() as conn:
        stored = conn.exec_driver_sql(f"SELECT {column} FROM {table} WHERE {where}").scalar()
        assert stored.endswith(".000000")  # whole seconds: the ISO text hashed has no fraction
        for trigger in ("no_update", "no_delete"):
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_{trigger}")
        conn.exec_driver_sql(f"UPDATE {table} SET {column} = replace(substr({column}, 1, 19), "
                             f"' ', 'T') || '+00:00' WHERE {where}")
        assert conn.exec_driver_sql(f"SELECT {column} FROM {table} WHERE {where}").scalar(
            ).endswith("+00:00")
    assert named in cli_failure(run_ready)


# -- checkpoints and consistency -----------------------------------------------------------------


def test_only_appending_after_a_checkpoint_keeps_the_log_consistent_with_it(
        wf, refs, run_ready, tmp_path):
    checkpoint = tmp_path / "cp.json"
    cp = save_checkpoint(wf, checkpoint)
    assert cp["size"] == 8
    more(wf, refs)
    result = wf.verify(since=checkpoint)
    assert result["rows"] == 10
    assert result["consistency"]["checkpoint_size"] == 8
    assert result["consistency"]["size"] == 10
    assert result["consistency"]["proof"]
    out = run_ready("audit", "verify", "--since", str(checkpoint), actor="aud")
    assert out.exit_code == 0, out.stderr
    assert "ok: 10 rows, 3 requests" in out.stdout
    assert "ok: consistent with the checkpoint of 8 rows" in out.stdout


def test_a_rewrite_after_the_checkpoint_is_outside_what_the_checkpoint_covers(
        wf, refs, tmp_path):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    more(wf, refs)
    drop_history_trigger(wf)
    set_row(wf, 10, reason="a note added later")
    assert "altered" in str(failure(wf))  # the plain verify still sees it
    reseal(wf)
    # resealed, the rewrite of row 10 is beyond the 8 rows the checkpoint vouches for
    assert wf.verify(since=checkpoint)["consistency"]["checkpoint_size"] == 8


@pytest.mark.parametrize("target_seq", [1, 4, 8])
def test_any_resealed_rewrite_up_to_the_checkpoint_breaks_consistency(
        wf, refs, run_ready, tmp_path, target_seq):
    checkpoint = tmp_path / "cp.json"
    save_checkpoint(wf, checkpoint)
    more(wf, refs)
    drop_history_trigger(wf)
    set_row(wf, target_seq, reason="rewritten")
    reseal(wf)
    assert wf.verify()["rows"] == 10
    assert "rewritten" in str(failure(wf, since=checkpoint))
    assert "rewritten" in cli_failure(run_ready, "--since", str(checkpoint))


def test_a_checkpoint_of_the_empty_log_is_consistent_with_any_later_log(
        db_target, clock, tmp_path):
    with Workflow(db_target, clock=clock, create=True) as fresh:
        fresh.init("admin", direct_schema=True)
        fresh.add_user("dan", ["drafter"], actor="admin")
        checkpoint = tmp_path / "empty.json"
        cp = save_checkpoint(fresh, checkpoint)
        assert cp["size"] == 0
        assert cp["root"] == merkle.EMPTY_ROOT.hex()
        draft(fresh)
        assert fresh.verify(since=checkpoint)["consistency"]["checkpoint_size"] == 0
        cp["root"] = "00" * 32
        checkpoint.write_text(json.dumps(cp))
        assert "rewritten" in str(failure(fresh, since=checkpoint))


def test_a_checkpoint_states_size_root_origin_time_and_the_chained_logs(wf, refs, clock):
    cp = wf.checkpoint()
    with wf.db.engine.connect() as conn:
        policy_chain, user_chain = conn.execute(
            select(HEAD.c.policy_chain, HEAD.c.user_chain)).one()
    assert cp == {"origin": "transfer-workflow", "size": 8, "root": row(wf, 8)["root_hash"],
                  "at": clock().isoformat(), "refusals": 0, "refusal_chain": "0" * 64,
                  "policy_changes": 4, "policy_chain": policy_chain, "user_changes": 8,
                  "user_chain": user_chain}
    assert "0" * 64 not in (policy_chain, user_chain)


# -- signed checkpoints ----------------------------------------------------------------------------


@pytest.fixture
def keys(run_ready, tmp_path) -> Iterator[tuple[Path, Path]]:
    key = tmp_path / "audit.key"
    made = run_ready("audit", "keygen", "-o", str(key), actor="aud")
    assert made.exit_code == 0, made.stderr
    yield key, tmp_path / "audit.key.pub"


def _signed_checkpoint(run: Cli, key: Path, path: Path) -> dict[str, Any]:
    result = run("audit", "checkpoint", "--sign", str(key), "-o", str(path), actor="aud")
    assert result.exit_code == 0, result.stderr
    return json.loads(path.read_text())


def test_keygen_writes_a_private_key_for_the_owner_only_and_never_overwrites(run_ready, keys):
    key, pub = keys
    assert key.stat().st_mode & 0o777 == 0o600
    assert b"PRIVATE KEY" in key.read_bytes()
    assert b"PUBLIC KEY" in pub.read_bytes()
    before = key.read_bytes()
    line = assert_one_line_error(run_ready("audit", "keygen", "-o", str(key), actor="aud"), 2)
    assert "already exists" in line
    assert key.read_bytes() == before


def test_a_signed_checkpoint_verifies_with_its_public_key(wf, refs, run_ready, keys, tmp_path):
    key, pub = keys
    cp = _signed_checkpoint(run_ready, key, tmp_path / "cp.json")
    assert cp["size"] == 8
    assert cp["signature"]
    more(wf, refs)
    result = run_ready("audit", "verify", "--since", str(tmp_path / "cp.json"), "--pubkey",
                       str(pub), actor="aud")
    assert result.exit_code == 0, result.stderr
    assert "consistent with the checkpoint of 8 rows" in result.stdout
    assert wf.verify(since=tmp_path / "cp.json", pubkey=pub)["consistency"]["size"] == 10


@pytest.mark.parametrize("field", ["size", "root", "at", "origin", "signature"])
def test_a_signed_checkpoint_with_a_changed_byte_fails_to_verify(
        wf, refs, run_ready, keys, tmp_path, field):
    key, pub = keys
    path = tmp_path / "cp.json"
    cp = _signed_checkpoint(run_ready, key, path)
    if field == "size":
        cp["size"] = 7
    elif field == "signature":
        raw = bytearray(base64.b64decode(cp["signature"]))
        raw[0] ^= 0x01
        cp["signature"] = base64.b64encode(bytes(raw)).decode()
    else:
        text = cp[field]
        cp[field] = text[:-1] + ("0" if text[-1] != "0" else "1")
    path.write_text(json.dumps(cp))
    with pytest.raises(AuditFailure, match="signature does not verify"):
        wf.verify(since=path, pubkey=pub)
    line = cli_failure(run_ready, "--since", str(path), "--pubkey", str(pub))
    assert "signature does not verify with that public key" in line


def test_a_signed_checkpoint_fails_with_another_key(wf, refs, run_ready, keys, tmp_path):
    key, _pub = keys
    path = tmp_path / "cp.json"
    _signed_checkpoint(run_ready, key, path)
    other = tmp_path / "other.key"
    assert run_ready("audit", "keygen", "-o", str(other), actor="aud").exit_code == 0
    with pytest.raises(AuditFailure, match="signature does not verify"):
        wf.verify(since=path, pubkey=tmp_path / "other.key.pub")
    line = cli_failure(run_ready, "--since", str(path), "--pubkey",
                       str(tmp_path / "other.key.pub"))
    assert "does not verify" in line


def test_an_unsigned_checkpoint_fails_when_a_public_key_is_required(
        wf, refs, run_ready, keys, tmp_path):
    _key, pub = keys
    path = tmp_path / "cp.json"
    save_checkpoint(wf, path)
    line = cli_failure(run_ready, "--since", str(path), "--pubkey", str(pub))
    assert "not signed" in line


def test_a_signed_checkpoint_still_catches_a_resealed_rewrite(wf, refs, run_ready, keys, tmp_path):
    key, pub = keys
    path = tmp_path / "cp.json"
    _signed_checkpoint(run_ready, key, path)
    drop_history_trigger(wf)
    set_row(wf, 2, reason="added afterwards")  # nothing else holds a reason to compare
    reseal(wf)
    roll_records_back(wf)
    line = cli_failure(run_ready, "--since", str(path), "--pubkey", str(pub))
    assert "rewritten" in line


# -- the append-only triggers ----------------------------------------------------------------------


@pytest.fixture
def with_refusal(wf: Workflow, refs: dict[str, str]) -> dict[str, str]:
    with pytest.raises(Refused, match="refused"):
        wf.fire(refs["B"], "approve_for_us", actor="rita")
    assert len(wf.refusals()) == 1
    return refs


def _snapshot(wf: Workflow) -> tuple[list[Any], list[Any]]:
    with wf.db.engine.connect() as conn:
        history = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT * FROM wf_history ORDER BY seq")]
        refusals = [tuple(r) for r in conn.exec_driver_sql(
            "SELECT * FROM wf_refusal ORDER BY seq")]
    return history, refusals


STATEMENTS = [
    pytest.param("wf_history", "UPDATE wf_history SET actor = 'mallory' WHERE seq = 1",
                 "UPDATE", id="history-update"),
    pytest.param("wf_history", "UPDATE wf_history SET reason = 'x'", "UPDATE",
                 id="history-update-all"),
    pytest.param("wf_history", "DELETE FROM wf_history WHERE seq = 8", "DELETE",
                 id="history-delete"),
    pytest.param("wf_history", "DELETE FROM wf_history", "DELETE", id="history-delete-all"),
    pytest.param("wf_refusal", "UPDATE wf_refusal SET message = 'nothing happened'", "UPDATE",
                 id="refusal-update"),
    pytest.param("wf_refusal", "DELETE FROM wf_refusal", "DELETE", id="refusal-delete"),
]


@pytest.mark.parametrize(("table", "statement", "op"), STATEMENTS)
def test_triggers_refuse_raw_sql_through_sqlalchemy(wf, with_refusal, table, statement, op):
    before = _snapshot(wf)
    with pytest.raises(DBAPIError, match=f"{table} is append-only: {op} refused"), \
            wf.db.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert _snapshot(wf) == before
    wf.verify()


@pytest.mark.parametrize(("table", "statement", "op"), STATEMENTS)
def test_triggers_refuse_raw_sql_through_the_driver(wf, db_target, with_refusal, table,
                                                      statement, op):
    before = _snapshot(wf)
    message = f"{table} is append-only: {op} refused"
    if is_sqlite(wf):
        conn = sqlite3.connect(db_target)
        try:
            with pytest.raises(sqlite3.DatabaseError, match=message):
                conn.execute(statement)
            conn.commit()
        finally:
            conn.close()
    else:
        import psycopg

        with psycopg.connect(db_target, autocommit=True) as pg, \
                pytest.raises(psycopg.Error, match=message):
            pg.execute(statement)
    assert _snapshot(wf) == before
    wf.verify()


@pytest.mark.parametrize("table", ["wf_history", "wf_refusal"])
def test_truncate_is_refused_on_postgresql(wf, db_target, with_refusal, table):
    if is_sqlite(wf):
        pytest.skip("SQLite has no TRUNCATE")
    import psycopg

    before = _snapshot(wf)
    with psycopg.connect(db_target, autocommit=True) as pg, \
            pytest.raises(psycopg.Error, match=f"{table} is append-only: TRUNCATE refused"):
        pg.execute(f"TRUNCATE {table}")
    with pytest.raises(DBAPIError, match="append-only: TRUNCATE refused"), \
            wf.db.engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {table}")
    assert _snapshot(wf) == before


def test_triggers_allow_appending_through_the_application(wf, with_refusal):
    # the triggers stop rewriting, not the workflow itself: rows and refusals still append
    more(wf, with_refusal)
    with pytest.raises(Refused, match="refused"):
        wf.fire(with_refusal["A"], "approve", actor="dan")
    assert wf.verify()["rows"] == 10
    assert len(wf.refusals()) == 2


def test_triggers_installed_by_workflow_init_refuse_rewrites(run, clock):
    # a database made the production way (`workflow init`, i.e. the migrations), not the
    # direct create_all the other tests use
    made = run("init", "--admin", "admin")
    assert made.exit_code == 0, made.stderr
    assert run("user", "add", "dan", "--role", "drafter").exit_code == 0
    with Workflow(run.target, clock=clock) as flow:
        draft(flow)
        with pytest.raises(Refused):
            flow.fire("TR-2026-0001", "approve_for_us", actor="dan")
        for table in ("wf_history", "wf_refusal"):
            for op, statement in (("UPDATE", f"UPDATE {table} SET actor = 'x'"),
                                  ("DELETE", f"DELETE FROM {table}")):
                with pytest.raises(DBAPIError, match=f"{table} is append-only: {op} refused"), \
                        flow.db.engine.begin() as conn:
                    conn.exec_driver_sql(statement)
        assert flow.verify()["rows"] == 1
        assert len(flow.refusals()) == 1


# -- what a reader of the stored JSON would see otherwise -------------------------------------


def _set_json_text(wf: Workflow, table: str, column: str, text: str, where: str,
                   key: Any) -> None:
    """Store ``text`` as it is (SQLAlchemy's JSON type would encode it again)."""
    drop_history_trigger(wf)
    with wf.db.engine.begin() as conn:
        if is_sqlite(wf):
            conn.exec_driver_sql(f"UPDATE {table} SET {column} = ? WHERE {where} = ?",
                                 (text, key))
        else:  # json keeps the text as written, a key given twice too
            conn.exec_driver_sql(f"UPDATE {table} SET {column} = %s::json WHERE {where} = %s",
                                 (text, key))


def test_a_history_row_given_a_key_twice_is_altered_though_it_decodes_to_the_same(
        wf, refs, run_ready):
    """A second copy of a key in front of the real one: SQLite's JSON functions read the first,
    a decoder the last; the row's canonical bytes would still come out the same."""
    _set_json_text(wf, "wf_history", "changes", '{"quantity":[2,300],"quantity":[2,3]}',
                   "seq", 8)
    error = failure(wf)
    assert "does not match its leaf hash" in str(error)
    assert_names(error, cli_failure(run_ready), 8, refs["C"])


def test_a_request_given_a_field_twice_is_named(wf, refs, run_ready):
    with wf.db.engine.connect() as conn:
        data = conn.execute(select(RECORD.c.data).where(RECORD.c.ref == refs["C"])).scalar_one()
    _set_json_text(wf, "wf_record", "data", '{"quantity":300,' + json.dumps(data)[1:], "ref",
                   refs["C"])
    error = failure(wf)
    assert f"{refs['C']}'s stored fields are not readable" in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, refs["C"], "edit"), refs["C"])


def test_a_change_whose_old_value_was_never_there_is_named(wf, refs, run_ready):
    """The edit made quantity 2 into 3; resealed to say it was 5 before, the row is hashed
    right, but the rows before it leave 2."""
    drop_history_trigger(wf)
    set_row(wf, 8, changes={"quantity": [5, 3]})
    reseal(wf)
    error = failure(wf)
    assert "it says quantity was 5, but the rows before it leave 2" in str(error)
    assert_names(error, cli_failure(run_ready), 8, refs["C"])


def test_a_record_id_that_is_no_number_is_named_not_a_crash(wf, refs, run_ready, db_target):
    if not is_sqlite(wf):
        pytest.skip("PostgreSQL keeps only integers in an integer column")
    drop_history_trigger(wf)
    with sqlite3.connect(db_target) as conn:  # the attacker's own: no foreign keys enforced
        conn.execute("UPDATE wf_history SET record_id = 'abc' WHERE ref = ?", (refs["C"],))
    error = failure(wf)
    assert f"{refs['C']} has no history row at all" in str(error)
    assert "TypeError" not in cli_failure(run_ready)


@pytest.mark.parametrize("stored", [20270101, b"\x00", "2027-01-01 "],
                         ids=["number", "bytes", "spaced"])
def test_a_due_date_that_is_no_date_is_named_not_a_crash(wf, refs, run_ready, stored):
    if not is_sqlite(wf):
        pytest.skip("PostgreSQL keeps only dates in a date column")
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_record SET due_on = ? WHERE ref = ?",
                             (stored, refs["A"]))
    error = failure(wf)
    assert f"is due on {stored!r} but its history says 2027-01-01" in str(error)
    assert_names(error, cli_failure(run_ready), seq_of(wf, refs["A"], "request_third_country"),
                 refs["A"])


def test_a_field_changed_by_an_event_that_sets_none_is_named(wf, refs, run_ready):
    """Resealed, with the request made to match: the row is hashed right and its old value is
    the one before, but approve_for_us sets no field."""
    quantity = wf.get(refs["A"])["quantity"]
    drop_history_trigger(wf)
    set_row(wf, 5, changes={"quantity": [quantity, 1600]})
    reseal(wf)
    roll_records_back(wf)
    error = failure(wf)
    assert "it changes quantity, which approve_for_us does not set" in str(error)
    assert_names(error, cli_failure(run_ready), 5, refs["A"])


def test_prove_and_checkpoint_name_an_unreadable_hash_not_a_crash(wf, refs, run_ready,
                                                                   tmp_path):
    path = tmp_path / "cp.json"
    save_checkpoint(wf, path)
    drop_history_trigger(wf)
    set_row(wf, 2, leaf_hash="zz")
    proved = run_ready("audit", "prove", refs["A"], "--checkpoint", str(path), "-o",
                       str(tmp_path / "proof.json"), actor="aud")
    assert "a stored leaf hash is not readable" in assert_one_line_error(proved, 1)
    with wf.db.engine.begin() as conn:
        conn.execute(update(HEAD).where(HEAD.c.id == 1).values(frontier=["zz"]))
    made = run_ready("audit", "checkpoint", actor="aud")
    assert "the log head's tree is not readable" in assert_one_line_error(made, 1)


def test_a_reference_counter_set_back_is_named_and_new_requests_say_why(wf, refs, run_ready):
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_ref_counter SET last = 1")
    error = failure(wf)
    assert str(error) == (
        "audit failed: the reference counter of TR-2026 stands at 1, behind TR-2026-0003: it "
        "would give out references taken (altered or removed)")
    assert "the reference counter of TR-2026 stands at 1" in cli_failure(run_ready)
    drafted = run_ready(*request_new_args(), actor="dan")
    assert "the reference counter stands behind the requests" in assert_one_line_error(
        drafted, 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_record_moved_to_another_process_is_named(wf, refs, run_ready, jobs):
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_record SET process = 'other' WHERE id = 2")
    ref = wf.list()[1]["ref"]
    line = assert_one_line_error(run_ready("audit", "verify", "--jobs", str(jobs),
                                           actor="aud"), 1)
    assert line.endswith(f"({ref}): {ref} says it is a request of the other process, but its "
                         "history is transfer-request/1's"), line


# -- tampering that makes the database unreadable, said as such --------------------------------


def test_a_table_dropped_is_named_not_taken_for_an_uninitialised_database(wf, refs, run_ready):
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE wf_refusal" + ("" if is_sqlite(wf) else " CASCADE"))
    line = cli_failure(run_ready)
    assert line == ("error: the database has no table wf_refusal: it is not initialised (run "
                    "`workflow init`), or the table was dropped behind the program")


def test_a_column_dropped_is_named_as_a_schema_not_the_programs(wf, refs, run_ready):
    with wf.db.engine.begin() as conn:
        if is_sqlite(wf):
            conn.exec_driver_sql("DROP TRIGGER wf_refusal_no_update")
            conn.exec_driver_sql("DROP TRIGGER wf_refusal_no_delete")
        conn.exec_driver_sql("ALTER TABLE wf_refusal DROP COLUMN chain")
    line = cli_failure(run_ready)
    assert line.startswith("error: the database's tables are not as this program's schema "
                           "makes them (")
    assert line.endswith("): altered behind the program, or another program's")


@pytest.mark.parametrize("value", ["infinity", "-infinity"])
def test_a_time_no_program_can_hold_is_out_of_range_not_a_database_error(wf, refs, run_ready,
                                                                        value):
    if is_sqlite(wf):
        pytest.skip("SQLite keeps times as text: see the re-spelt times above")
    drop_history_trigger(wf)
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE wf_history SET at = '{value}' WHERE seq = 3")
    line = cli_failure(run_ready)
    assert line.startswith("error: a date or time stored in the database is out of range (")
    assert line.endswith("): it was changed behind the program")
