"""The policy cannot be rewritten unnoticed: its changes are append-only and chained, and the
entries must be what the changes made of them."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import date, datetime

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import as_attacker, assert_one_line_error, audit_failure
from workflow import Workflow, schema
from workflow.audit import AuditFailure
from workflow.clock import iso
from workflow.ledger import GENESIS, chain_link, policy_change_row

SEEDED = 4  # KP, UA, RU, IL


def _sql(wf: Workflow, *statements: str) -> None:
    as_attacker(wf, "wf_policy_change", *statements)


_failure = audit_failure


@pytest.fixture
def changed(wf: Workflow) -> Workflow:
    """The seeded policy, one entry ended and one added: seven chained changes."""
    wf.end_restriction("UA", date(2026, 6, 1), reason="ceasefire", actor="admin")
    wf.restrict("PL", "embargo", date(2026, 1, 1), reason="test", actor="admin")
    return wf


def test_every_change_is_chained_and_counted(changed, run_ready):
    assert changed.verify()["policy_changes"] == SEEDED + 2
    result = run_ready("audit", "verify", "--json", actor="aud")
    assert result.exit_code == 0, result.output
    assert '"policy_changes": 6' in result.stdout


@pytest.mark.parametrize("statement", [
    "UPDATE wf_policy_change SET reason = 'other' WHERE seq = 1",
    "DELETE FROM wf_policy_change WHERE seq = 1",
])
def test_changes_are_append_only_in_the_database(changed, statement):
    with pytest.raises(DBAPIError, match="append-only"), changed.db.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert changed.verify()["policy_changes"] == SEEDED + 2


@pytest.mark.parametrize(("statements", "needle"), [
    pytest.param(["DELETE FROM wf_policy_change WHERE subject = 'IL'",
                  "DELETE FROM wf_policy_entry WHERE subject = 'IL'"],
                 "policy change 5 does not follow", id="entry-and-its-change-deleted"),
    pytest.param(["UPDATE wf_policy_entry SET until = NULL WHERE subject = 'UA'"],
                 "(UA) differs", id="entry-end-undone"),
    pytest.param(["UPDATE wf_policy_entry SET since = '2023-01-01' WHERE subject = 'KP'"],
                 "(KP) differs", id="entry-redated"),
    pytest.param(["INSERT INTO wf_policy_entry (subject, kind, since, reason) "
                  "VALUES ('FR', 'embargo', '2020-01-01', 'slipped in')"],
                 "(FR) differs", id="entry-slipped-in"),
    pytest.param(["UPDATE wf_policy_change SET actor = 'mallory' WHERE seq = 5"],
                 "policy change 5 does not follow", id="change-altered"),
    pytest.param(["DELETE FROM wf_policy_change WHERE seq = 6",
                  "DELETE FROM wf_policy_entry WHERE subject = 'PL'"],
                 "holds 5 chained changes but its head records 6", id="last-change-removed"),
    pytest.param(["DELETE FROM wf_policy_change WHERE seq = 2"],
                 "policy change 3 does not follow", id="middle-change-removed"),
])
def test_verify_names_a_rewritten_policy(changed, run_ready, statements, needle):
    _sql(changed, *statements)
    assert needle in _failure(changed)
    line = assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)
    assert needle in line


def test_a_cut_log_with_the_head_rewound_still_leaves_the_entry_unexplained(changed):
    _sql(changed, "DELETE FROM wf_policy_change WHERE seq = 6",
         "UPDATE wf_log_head SET policy_changes = 5, policy_chain = "
         "(SELECT chain FROM wf_policy_change WHERE seq = 5)")
    assert "policy entry 5 (PL) differs" in _failure(changed)


def test_migration_links_the_changes_recorded_before_it(unplaced_changes, db_target, clock):
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init("admin")
    schema.downgrade(wf.db.engine, "0006")
    columns = {c["name"] for c in inspect(wf.db.engine).get_columns("wf_policy_change")}
    assert "chain" not in columns
    with wf.db.engine.begin() as conn:  # a change recorded by the previous version
        conn.execute(text("UPDATE wf_policy_entry SET until = '2026-06-01' WHERE id = 2"))
        conn.execute(text(
            "INSERT INTO wf_policy_change (entry_id, action, subject, kind, since, until, actor, "
            "at, reason) SELECT id, 'end', subject, kind, since, until, 'admin', "
            "'2026-11-25 10:00:00.000000', 'ceasefire' FROM wf_policy_entry WHERE id = 2"))
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0006", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    try:
        assert upgraded.verify()["policy_changes"] == SEEDED + 1
        upgraded.restrict("PL", "embargo", date(2026, 1, 1), reason="test", actor="admin")
        assert upgraded.verify()["policy_changes"] == SEEDED + 2
    finally:
        upgraded.close()


def _relink(wf: Workflow) -> None:
    """Recompute every policy change's link and the head, as a thorough forger would."""
    link, count = GENESIS, 0
    with wf.db.engine.begin() as conn:
        rows = conn.execute(text(
            "SELECT seq, entry_id, action, subject, kind, since, until, actor, at, reason, "
            "after_row FROM wf_policy_change ORDER BY seq")).all()
        for seq, entry_id, action, subject, kind, since, until, actor, at, reason, place in rows:
            link = chain_link(link, policy_change_row(
                entry_id, action, subject, kind, str(since), until and str(until), actor,
                iso(at if isinstance(at, datetime) else datetime.fromisoformat(at)), reason,
                place))
            conn.execute(text("UPDATE wf_policy_change SET chain = :l WHERE seq = :s"),
                         {"l": link, "s": seq})
            count += 1
        conn.execute(text("UPDATE wf_log_head SET policy_changes = :c, policy_chain = :l"),
                     {"c": count, "l": link})


@pytest.mark.parametrize(("statements", "needle"), [
    pytest.param(["DELETE FROM wf_policy_change WHERE seq = 6",
                  "DELETE FROM wf_policy_entry WHERE subject = 'PL'"],
                 "the policy log holds 5 policy changes but the checkpoint saw 6",
                 id="last-change-cut"),
    pytest.param(["UPDATE wf_policy_change SET reason = 'rewritten' WHERE seq = 5"],
                 "not consistent with the checkpoint of 6 policy changes", id="change-reworded"),
])
def test_a_relinked_rewrite_passes_alone_but_not_against_a_checkpoint(
        changed, run_ready, tmp_path, statements, needle):
    path = tmp_path / "cp.json"
    made = run_ready("audit", "checkpoint", "-o", str(path), actor="aud")
    assert made.exit_code == 0, made.output
    assert json.loads(path.read_text())["policy_changes"] == SEEDED + 2
    _sql(changed, *statements)
    _relink(changed)
    assert changed.verify()["policy_changes"] == SEEDED + 2 - ("holds" in needle)
    with pytest.raises(AuditFailure, match=needle):
        changed.verify(since=path)
    line = assert_one_line_error(run_ready("audit", "verify", "--since", str(path), actor="aud"),
                                 1)
    assert needle in line


def test_verify_since_reports_the_policy_changes_the_checkpoint_vouches_for(changed, run_ready,
                                                                            tmp_path):
    path = tmp_path / "cp.json"
    assert run_ready("audit", "checkpoint", "-o", str(path), actor="aud").exit_code == 0
    changed.restrict("FR", "embargo", date(2026, 2, 1), reason="later", actor="admin")
    result = run_ready("audit", "verify", "--since", str(path), actor="aud")
    assert result.exit_code == 0, result.output
    assert "ok: 7 policy changes, chain unbroken" in result.stdout
    assert ("consistent with the checkpoint of 0 rows, 0 refusals, 6 policy changes and 8 user "
            "changes" in result.stdout)


@pytest.mark.parametrize(("values", "needle"), [
    pytest.param("1, 'end', 'UA', 'in-combat', '2022-02-24', '2026-06-01'",
                 "policy change 7 ends entry 1 (KP embargo since 2006-10-14) but names UA",
                 id="end-naming-another-restriction"),
    pytest.param("99, 'end', 'KP', 'embargo', '2006-10-14', '2026-06-01'",
                 "policy change 7 ends entry 99, which no change opened", id="end-of-nothing"),
    pytest.param("1, 'add', 'KP', 'embargo', '2006-10-14', NULL",
                 "policy change 7 opens entry 1 again", id="add-over-an-entry"),
    pytest.param("1, 'erase', 'KP', 'embargo', '2006-10-14', NULL",
                 "policy change 7 is not a change the program makes ('erase')",
                 id="unknown-action"),
])
def test_a_linked_change_the_program_would_not_make_is_named(changed, values, needle):
    """Appended with the chain and head recomputed: only the replay can tell."""
    insert = ("INSERT INTO wf_policy_change (entry_id, action, subject, kind, since, until, "
              f"actor, at, reason) VALUES ({values}, 'admin', '2026-11-25 12:00:00.000000', 'x')")
    if changed.db.is_sqlite:  # a plain connection: foreign keys are not enforced there
        assert changed.db.path is not None
        with closing(sqlite3.connect(changed.db.path)) as conn, conn:
            conn.execute(insert)
        _sql(changed)  # the triggers dropped, for the relinking
    else:
        _sql(changed, "ALTER TABLE wf_policy_change DROP CONSTRAINT "
                      "wf_policy_change_entry_id_fkey", insert)
    _relink(changed)
    assert needle in _failure(changed)
