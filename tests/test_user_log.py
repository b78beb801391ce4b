"""Who may act is on record too: every user added or disabled is a chained change, and the users
must be exactly what those changes made of them. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import DBAPIError

from tests.conftest import CAST, as_attacker, assert_one_line_error, audit_failure
from workflow import Refused, Workflow

REGISTERED = 1 + len(CAST)  # the first admin, then the cast


def _sql(wf: Workflow, *statements: str) -> None:
    as_attacker(wf, "wf_user_change", *statements)


_failure = audit_failure


def test_every_user_added_or_disabled_is_a_change_with_who_and_when(wf, run_ready, clock):
    clock.advance(hours=1)
    wf.disable_user("dora", actor="admin")
    changes = wf.user_history()
    assert len(changes) == REGISTERED + 1
    assert (changes[0]["action"], changes[0]["name"], changes[0]["actor"]) == (
        "add", "admin", "admin")
    last = changes[-1]
    assert (last["action"], last["name"], last["roles"], last["active"], last["actor"],
            last["at"]) == ("disable", "dora", ["drafter"], False, "admin",
                            clock.now.isoformat())
    assert wf.verify()["user_changes"] == REGISTERED + 1
    shown = run_ready("user", "history", "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == changes
    text = run_ready("user", "history", actor="aud")
    assert "disable  dora" in text.stdout


def test_what_changes_nothing_or_is_refused_records_no_change(wf):
    wf.disable_user("dora", actor="admin")
    wf.disable_user("dora", actor="admin")  # already disabled
    with pytest.raises(Refused):
        wf.add_user("eve", ["approver"], actor="dan")  # not an admin
    assert len(wf.user_history()) == REGISTERED + 1


@pytest.mark.parametrize("statement", [
    "UPDATE wf_user_change SET roles = '[\"admin\"]' WHERE seq = 2",
    "DELETE FROM wf_user_change WHERE seq = 2",
])
def test_user_changes_are_append_only_in_the_database(wf, statement):
    with pytest.raises(DBAPIError, match="append-only"), wf.db.engine.begin() as conn:
        conn.exec_driver_sql(statement)
    assert wf.verify()["user_changes"] == REGISTERED


@pytest.mark.parametrize(("statement", "needle"), [
    ("UPDATE wf_user SET roles = '[\"approver\", \"drafter\"]' WHERE name = 'dan'",
     "user dan differs from what the user changes say"),
    ("UPDATE wf_user SET active = {true} WHERE name = 'dora'",
     "user dora differs from what the user changes say"),
    ("INSERT INTO wf_user (name, roles, active, created_by, created_at) VALUES ('mallory', "
     "'[\"approver\"]', {true}, 'admin', '2026-11-25 09:00:00.000000')",
     "user mallory differs from what the user changes say"),
    ("UPDATE wf_user SET created_by = 'dan' WHERE name = 'ann'",
     "user ann differs from what the user changes say"),
])
def test_users_changed_behind_the_log_are_named(wf, run_ready, statement, needle):
    wf.disable_user("dora", actor="admin")
    true = "1" if wf.db.is_sqlite else "true"
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql(statement.replace("{true}", true))
    assert needle in _failure(wf)
    assert needle in assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)


@pytest.mark.parametrize(("statements", "needle"), [
    (["UPDATE wf_user_change SET roles = '[\"admin\"]' WHERE seq = 3"],
     "user change 3 does not follow from the changes before it"),
    (["DELETE FROM wf_user_change WHERE seq = 3"],
     "user change 4 does not follow from the changes before it"),
    (["DELETE FROM wf_user_change WHERE seq = (SELECT max(seq) FROM wf_user_change)"],
     "the user log holds 7 chained changes but its head records 8"),
])
def test_the_user_log_altered_cut_or_reordered_is_named(wf, statements, needle):
    _sql(wf, *statements)
    assert needle in _failure(wf)


def test_a_cut_user_log_with_the_head_rewound_fails_against_an_older_checkpoint(
        wf, run_ready, tmp_path):
    """The attacker removes a user and the change that added them, and rewinds the head to
    match: only a checkpoint kept from before tells."""
    cp = tmp_path / "cp.json"
    assert run_ready("audit", "checkpoint", "-o", str(cp), actor="aud").exit_code == 0
    changes = wf.user_history()
    last = changes[-1]
    with wf.db.engine.connect() as conn:
        link = conn.exec_driver_sql(
            f"SELECT chain FROM wf_user_change WHERE seq = {changes[-2]['seq']}").scalar()
    _sql(wf, f"DELETE FROM wf_user_change WHERE seq = {last['seq']}",
         f"DELETE FROM wf_user WHERE name = '{last['name']}'",
         f"UPDATE wf_log_head SET user_changes = {len(changes) - 1}, user_chain = '{link}'")
    assert wf.verify()["user_changes"] == len(changes) - 1  # whole by itself
    line = assert_one_line_error(run_ready("audit", "verify", "--since", str(cp), actor="aud"),
                                 1)
    assert f"the user log holds {len(changes) - 1} user changes but the checkpoint saw " \
           f"{len(changes)}" in line


def test_a_checkpoint_vouches_for_the_user_log_and_signs_it(wf, run_ready, tmp_path):
    key = tmp_path / "k"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    cp = tmp_path / "cp.json"
    made = run_ready("audit", "checkpoint", "--sign", str(key), "-o", str(cp), actor="aud")
    assert made.exit_code == 0, made.stderr
    data = json.loads(cp.read_text())
    assert data["user_changes"] == REGISTERED
    wf.add_user("newbie", ["reviewer"], actor="admin")
    checked = run_ready("audit", "verify", "--since", str(cp), "--pubkey", f"{key}.pub",
                        "--json", actor="aud")
    assert checked.exit_code == 0, checked.stderr
    assert json.loads(checked.stdout)["consistency"]["checkpoint_user_changes"] == REGISTERED
    data["user_changes"] = REGISTERED - 1  # the count is signed
    cp.write_text(json.dumps(data))
    forged = run_ready("audit", "verify", "--since", str(cp), "--pubkey", f"{key}.pub",
                       actor="aud")
    assert "signature" in assert_one_line_error(forged, 1)
