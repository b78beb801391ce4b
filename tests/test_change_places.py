"""User and policy changes keep their place in the history's order (revision 0012), and every
history row is held to the users and the policy as they stood at its place. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import USER_LOG, as_attacker, audit_failure, db_snapshot, draft
from workflow import Workflow, schema
from workflow.clock import iso
from workflow.ledger import GENESIS, chain_link, policy_change_row, user_change_row

USERS = ("SELECT seq, action, name, roles, active, actor, at, after_row, reason "
         "FROM wf_user_change ORDER BY seq")
POLICY = ("SELECT seq, entry_id, action, subject, kind, since, until, actor, at, reason, "
          "after_row FROM wf_policy_change ORDER BY seq")


def _moment(value: Any) -> str:
    return iso(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _day(value: Any) -> str | None:
    return None if value is None else str(value)


def _forge(wf: Workflow, table: str, *statements: str) -> None:
    """Run ``statements`` on a change log, then link it again from the start and set its head,
    as a thorough forger would."""
    as_attacker(wf, table, *statements)
    user_log = table == "wf_user_change"
    link, count = GENESIS, 0
    with wf.db.engine.begin() as conn:
        for row in conn.execute(text(USERS if user_log else POLICY)).all():
            if user_log:
                seq, action, name, roles, active, actor, at, place, reason = row
                roles = json.loads(roles) if isinstance(roles, str) else roles
                change = user_change_row(action, name, roles, bool(active), actor,
                                         _moment(at), place, reason)
            else:
                seq, entry, action, subject, kind, since, until, actor, at, reason, place = row
                change = policy_change_row(entry, action, subject, kind, _day(since),
                                           _day(until), actor, _moment(at), reason, place)
            link = chain_link(link, change)
            conn.execute(text(f"UPDATE {table} SET chain = :l WHERE seq = :s"),
                         {"l": link, "s": seq})
            count += 1
        log = "user" if user_log else "policy"
        conn.execute(text(f"UPDATE wf_log_head SET {log}_changes = :c, {log}_chain = :l"),
                     {"c": count, "l": link})


def test_each_change_keeps_how_many_rows_were_written_before_it(wf, run_ready):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    wf.add_user("newbie", ["reviewer"], actor="admin")
    wf.restrict("PL", "embargo", date(2026, 1, 1), reason="test", actor="admin")
    assert [c["after_row"] for c in wf.user_history()] == [0] * 8 + [2]
    assert [c["after_row"] for c in wf.policy_history()] == [0] * 4 + [2]
    shown = run_ready("user", "history", "--json", actor="aud")
    assert json.loads(shown.stdout)[-1]["after_row"] == 2
    lines = run_ready("policy", "history", actor="aud").stdout.splitlines()
    assert "AFTER_ROW" in lines[0]
    assert lines[-1].split()[2] == "2"
    assert wf.verify()["user_changes"] == 9


def test_a_row_by_a_user_disabled_before_it_fails_verify(wf):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    wf.disable_user("dan", actor="admin")  # after row 2
    assert wf.verify()["rows"] == 2
    _forge(wf, "wf_user_change",
           "UPDATE wf_user_change SET after_row = 1 WHERE action = 'disable'")
    assert "row 2 (TR-2026-0001): it is by dan, whom the user log disabled after row 1" in (
        audit_failure(wf))


def test_a_row_by_a_user_registered_after_it_fails_verify(wf):
    wf.add_user("late", ["drafter"], actor="admin")  # after row 0
    draft(wf, "late")
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET after_row = 1 WHERE name = 'late'")
    assert "row 1 (TR-2026-0001): it is by late, whom the user log registers only after row 1" in (
        audit_failure(wf))


def test_a_decision_that_saw_a_policy_the_log_never_held_fails_verify(wf):
    """The restriction on UA ended in the table alone while a consent request is recorded,
    then put back: the entries agree with the log again, but the row's consulted does not."""
    ref = draft(wf)
    for event, actor in (("submit", "dan"), ("approve_for_us", "ann")):
        wf.fire(ref, event, actor=actor)
    assert wf.verify()["rows"] == 3
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_policy_entry SET until = '2023-01-01' "
                          "WHERE subject = 'UA'"))
    wf.fire(ref, "request_third_country", actor="dan", country="UA")
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_policy_entry SET until = NULL WHERE subject = 'UA'"))
    failure = audit_failure(wf)
    assert "row 4 (TR-2026-0001): the restrictions on UA it says it consulted on" in failure
    assert ("are not those the policy log held at its place (after row 0: in-combat since "
            "2022-02-24 in force)") in failure


def test_a_policy_change_placed_elsewhere_judges_the_rows_by_the_policy_there(wf):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")  # consulted US: no entry
    wf.restrict("US", "embargo", date(2020, 1, 1), reason="test", actor="admin")  # after row 2
    assert wf.verify()["policy_changes"] == 5
    _forge(wf, "wf_policy_change", "UPDATE wf_policy_change SET after_row = 1 WHERE seq = 5")
    assert ("row 2 (TR-2026-0001): the restrictions on US it says it consulted on "
            in audit_failure(wf))


@pytest.mark.parametrize(("statement", "needle"), [
    pytest.param("UPDATE wf_user_change SET after_row = 3 WHERE seq = 8",
                 "user change 9 comes after history row 2, before the change ahead of it "
                 "(after row 3): the log is out of order", id="out-of-order"),
    pytest.param("UPDATE wf_user_change SET after_row = 7 WHERE seq = 9",
                 "user change 9 comes after history row 7, but the log holds 3 rows",
                 id="past-the-log"),
    pytest.param("UPDATE wf_user_change SET after_row = NULL WHERE seq = 2",
                 "user change 2 does not keep its place in the history's order, as every "
                 "change before it does", id="place-dropped"),
])
def test_places_out_of_order_fail_verify(wf, statement, needle):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    wf.add_user("second", ["approver"], actor="admin")  # change 9, after row 2
    draft(wf)
    _forge(wf, "wf_user_change", statement)
    assert needle in audit_failure(wf)


def test_a_user_whose_roles_were_altered_is_named_not_a_row_of_theirs(wf):
    draft(wf)
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_user SET roles = '[\"admin\", \"drafter\"]' "
                          "WHERE name = 'dan'"))
    assert "user dan differs from what the user changes say" in audit_failure(wf)


def test_changes_before_0012_keep_no_place_and_later_ones_do(db_target, clock, monkeypatch):
    with monkeypatch.context() as patched:
        patched.setattr("workflow.people.after_row", lambda head: None)
        patched.setattr("workflow.policy.after_row", lambda head: None)
        wf = Workflow(db_target, clock=clock, create=True)
        wf.init("admin")
        wf.add_user("dan", ["drafter"], actor="admin")
        ref = draft(wf)
    schema.downgrade(wf.db.engine, "0011")
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0011", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    upgraded.fire(ref, "submit", actor="dan")
    upgraded.add_user("ann", ["approver"], actor="admin")
    upgraded.fire(ref, "approve_for_us", actor="ann")
    assert [c["after_row"] for c in upgraded.user_history()] == [None, None, 2]
    assert {c["after_row"] for c in upgraded.policy_history()} == {None}
    assert upgraded.verify()["rows"] == 3
    before = db_snapshot(db_target, USER_LOG)
    with pytest.raises(RuntimeError, match="1 change"):
        schema.downgrade(upgraded.db.engine, "0011")
    assert db_snapshot(db_target, USER_LOG) == before
    upgraded.close()


def test_a_user_change_keeps_the_reason_given(wf, run_ready):
    wf.add_user("kato", ["approver"], actor="admin", reason="joins the NSC secretariat")
    shown = run_ready("user", "disable", "kato", "--reason", "  left the ministry ",
                      actor="admin")
    assert shown.exit_code == 0, shown.stderr
    changes = wf.user_history()
    assert [c["reason"] for c in changes[-2:]] == ["joins the NSC secretariat",
                                                   "left the ministry"]
    assert changes[0]["reason"] is None  # none given
    assert wf.verify()["user_changes"] == len(changes)
    text = run_ready("user", "history", actor="aud").stdout.splitlines()
    assert "REASON" in text[0] and text[-1].endswith("left the ministry")
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET reason = ' padded' "
           "WHERE name = 'kato' AND action = 'add'")
    assert "gives a reason the program does not write (' padded')" in audit_failure(wf)


def test_a_user_change_reason_on_several_lines_is_refused(wf, run_ready):
    refused = run_ready("user", "add", "kato", "--role", "approver", "--reason", "a\nb",
                        actor="admin")
    assert refused.exit_code == 2
    assert "kato" not in [u["name"] for u in wf.users()]

