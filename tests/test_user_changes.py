"""Users given other roles and enabled again: through the CLI and the API, kept in the chained
user log, and every history row held to the roles its actor held at its place. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.conftest import assert_one_line_error, audit_failure, db_snapshot, draft
from tests.test_change_places import _forge
from workflow import NotFound, Refused


def test_set_roles_changes_what_a_user_may_do_from_then_on(wf, run_ready):
    ref = draft(wf)  # dan, as a drafter
    done = run_ready("user", "set-roles", "dan", "--role", "approver", "--role", "drafter",
                     "--reason", "joins the approvers", actor="admin")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == "dan now holds approver, drafter (held drafter)\n"
    [dan] = [u for u in wf.users() if u["name"] == "dan"]
    assert dan["roles"] == ["approver", "drafter"]
    last = wf.user_history()[-1]
    assert (last["action"], last["name"], last["roles"], last["reason"], last["after_row"]) == (
        "set_roles", "dan", ["approver", "drafter"], "joins the approvers", 1)
    wf.fire(ref, "submit", actor="dan")
    other = to_nsc_review(wf, "dora")
    assert wf.fire(other, "approve_for_us", actor="dan") == "approved_for_us"  # a new right
    with pytest.raises(Refused) as refused:  # separation of duties still holds for the person
        wf.fire(ref, "approve_for_us", actor="dan")
    assert refused.value.rule == "separation-of-duties"
    rows = wf.history(ref)
    assert [r["roles"] for r in rows] == [["drafter"], ["approver", "drafter"]]
    assert wf.verify()["user_changes"] == len(wf.user_history())
    assert wf.verify(rules=True)["rows"] == 5


def to_nsc_review(wf, drafter: str) -> str:
    ref = draft(wf, drafter)
    wf.fire(ref, "submit", actor=drafter)
    return ref


def test_set_roles_json_gives_the_user_and_the_roles_before(wf, run_ready):
    done = run_ready("user", "set-roles", "rita", "--role", "auditor", "--json", actor="admin")
    assert done.exit_code == 0, done.stderr
    shown = json.loads(done.stdout)
    assert (shown["name"], shown["roles"], shown["roles_before"], shown["active"]) == (
        "rita", ["auditor"], ["reviewer"], True)


def test_the_same_roles_again_change_nothing(wf, run_ready, db_target):
    before = db_snapshot(db_target)
    done = run_ready("user", "set-roles", "duo", "--role", "drafter", "--role", "approver",
                     actor="admin")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == "duo already holds approver, drafter; nothing changed\n"
    assert db_snapshot(db_target) == before


@pytest.mark.parametrize(("args", "code", "needle"), [
    (["user", "set-roles", "nobody", "--role", "drafter"], 1, "unknown user 'nobody'"),
    (["user", "set-roles", "dan", "--role", "boss"], 2, "boss"),
    (["user", "set-roles", "dan"], 2, "--role"),
    (["user", "set-roles", "dan", "--role", "drafter", "--reason", "a\nb"], 2, "reason"),
    (["user", "enable", "nobody"], 1, "unknown user 'nobody'"),
    (["user", "enable", "bad name"], 2, "user name"),
])
def test_bad_input_is_one_line_and_changes_nothing(wf, run_ready, db_target, args, code, needle):
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready(*args, actor="admin"), code)
    assert needle in line
    assert db_snapshot(db_target) == before


@pytest.mark.parametrize("args", [["user", "set-roles", "dan", "--role", "approver"],
                                  ["user", "enable", "dan"]])
def test_only_an_admin_may_change_users_and_the_refusal_is_recorded(wf, run_ready, db_target,
                                                                   args):
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready(*args, actor="ann"), 1)
    assert "[rule: role]" in line
    assert db_snapshot(db_target) == before
    assert wf.refusals()[-1]["event"] == f"user {args[1]}"


def test_the_last_active_admin_keeps_admin(wf, run_ready, db_target):
    before = db_snapshot(db_target)
    line = assert_one_line_error(
        run_ready("user", "set-roles", "admin", "--role", "approver", actor="admin"), 1)
    assert "admin is the last active admin and would hold admin no more [rule: last-admin]" in (
        line)
    assert db_snapshot(db_target) == before
    assert wf.refusals()[-1]["rule"] == "last-admin"
    wf.add_user("boss", ["admin"], actor="admin")
    changed = wf.set_user_roles("admin", ["approver"], actor="admin")  # another admin is left
    assert changed["roles"] == ["approver"]
    with pytest.raises(Refused) as refused:
        wf.add_user("late", ["drafter"], actor="admin")  # no longer an admin
    assert refused.value.rule == "role"
    assert wf.verify()["user_changes"] == len(wf.user_history())


def test_a_disabled_user_enabled_again_acts_with_the_roles_held(wf, run_ready):
    ref = draft(wf)
    wf.disable_user("dan", actor="admin", reason="on leave")
    with pytest.raises(Refused):
        wf.fire(ref, "submit", actor="dan")
    done = run_ready("user", "enable", "dan", "--reason", "back from leave", actor="admin")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == "enabled dan as drafter\n"
    assert wf.fire(ref, "submit", actor="dan") == "nsc_review"
    last = wf.user_history()[-1]
    assert (last["action"], last["active"], last["reason"]) == ("enable", True,
                                                               "back from leave")
    again = run_ready("user", "enable", "dan", "--json", actor="admin")
    assert json.loads(again.stdout)["active"] is True
    assert run_ready("user", "enable", "dan", actor="admin").stderr == (
        "dan is already enabled; nothing changed\n")
    assert len(wf.user_history()) == len(set(c["seq"] for c in wf.user_history()))
    assert wf.user_history()[-1]["action"] == "enable"
    result = wf.verify()
    assert result["rows"] == 2 and result["user_changes"] == len(wf.user_history())
    shown = run_ready("user", "history", actor="aud").stdout.splitlines()
    assert shown[-1].split()[3:6] == ["enable", "dan", "drafter"]


def test_a_disabled_user_can_be_given_other_roles_and_stays_disabled(wf):
    wf.disable_user("rita", actor="admin")
    changed = wf.set_user_roles("rita", ["approver"], actor="admin")
    assert (changed["roles"], changed["active"]) == (["approver"], False)
    enabled = wf.enable_user("rita", actor="admin")
    assert enabled["roles"] == ["approver"]
    assert wf.verify()["user_changes"] == len(wf.user_history())


def test_enabling_or_setting_roles_of_an_unknown_user_is_not_found(wf):
    with pytest.raises(NotFound):
        wf.enable_user("ghost", actor="admin")
    with pytest.raises(NotFound):
        wf.set_user_roles("ghost", ["drafter"], actor="admin")


# -- verification: each row by the roles its actor held at its place ---------------------------


def _promoted_between_rows(wf) -> str:
    """dan drafts (row 1) as a drafter, becomes an approver and drafter (after row 1), and
    submits (row 2) with both."""
    ref = draft(wf)
    wf.set_user_roles("dan", ["approver", "drafter"], actor="admin")
    wf.fire(ref, "submit", actor="dan")
    assert wf.verify()["rows"] == 2
    return ref


def test_a_row_before_a_role_change_placed_after_it_fails_verify(wf):
    _promoted_between_rows(wf)
    _forge(wf, "wf_user_change",
           "UPDATE wf_user_change SET after_row = 2 WHERE action = 'set_roles'")
    assert ("row 2 (TR-2026-0001): it says dan held approver, drafter, but the user log gives "
            "dan drafter after row 0") in audit_failure(wf)


def test_a_row_after_a_role_change_placed_before_it_fails_verify(wf):
    _promoted_between_rows(wf)
    _forge(wf, "wf_user_change",
           "UPDATE wf_user_change SET after_row = 0 WHERE action = 'set_roles'")
    assert ("row 1 (TR-2026-0001): it says dan held drafter, but the user log gives dan "
            "approver, drafter after row 0") in audit_failure(wf)


def test_roles_no_change_gave_fail_verify_even_without_places(wf, unplaced_changes):
    """Where the changes keep no place, a row's roles must still be roles the user log gave."""
    draft(wf)
    wf.set_user_roles("dan", ["approver", "drafter"], actor="admin")
    assert "gives dan other roles without keeping its place in the history's order" in (
        audit_failure(wf))


def test_a_role_change_the_program_refuses_fails_verify(wf):
    wf.set_user_roles("dan", ["approver"], actor="admin")  # made the last admin's, in the log
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET name = 'admin' "
           "WHERE action = 'set_roles'",
           "UPDATE wf_user SET roles = '[\"approver\"]' WHERE name = 'admin'",
           "UPDATE wf_user SET roles = '[\"drafter\"]' WHERE name = 'dan'")
    assert "takes admin from admin, the last active admin" in audit_failure(wf)


def test_an_enabling_by_no_admin_fails_verify(wf):
    wf.disable_user("dan", actor="admin")
    wf.enable_user("dan", actor="admin")
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET actor = 'ann' "
           "WHERE action = 'enable'")
    assert "enables dan by ann, who is no active admin then" in audit_failure(wf)


def test_roles_changed_in_the_users_table_alone_fail_verify(wf):
    wf.set_user_roles("dan", ["approver", "drafter"], actor="admin")
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_user SET roles = '[\"drafter\"]' WHERE name = 'dan'"))
    assert "user dan differs from what the user changes say" in audit_failure(wf)


def test_a_row_while_disabled_between_a_disabling_and_an_enabling_fails_verify(wf):
    ref = draft(wf)
    wf.disable_user("dan", actor="admin")  # after row 1
    wf.enable_user("dan", actor="admin")  # after row 1
    wf.fire(ref, "submit", actor="dan")  # row 2
    assert wf.verify()["rows"] == 2
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET after_row = 2 "
           "WHERE action = 'enable'")
    assert "row 2 (TR-2026-0001): it is by dan, whom the user log disabled after row 1" in (
        audit_failure(wf))


def test_user_list_known_at_gives_the_users_as_the_log_had_them(wf, run_ready, clock):
    from datetime import timedelta

    start = clock.now
    clock.now += timedelta(days=1)
    wf.set_user_roles("dan", ["approver", "drafter"], actor="admin")
    clock.now += timedelta(days=1)
    wf.disable_user("dan", actor="admin")
    wf.add_user("newbie", ["reviewer"], actor="admin")

    def dan(at: str) -> dict | None:
        shown = run_ready("user", "list", "--known-at", at, "--json", actor="aud")
        assert shown.exit_code == 0, shown.stderr
        return next((u for u in json.loads(shown.stdout) if u["name"] == "dan"), None)

    day = start.date()
    assert (dan(day.isoformat())["roles"], dan(day.isoformat())["active"]) == (["drafter"], True)
    assert dan((day + timedelta(days=1)).isoformat())["roles"] == ["approver", "drafter"]
    assert dan((day + timedelta(days=2)).isoformat())["active"] is False
    assert dan((day - timedelta(days=1)).isoformat()) is None  # not registered yet
    earlier = wf.users(day)
    assert "newbie" not in [u["name"] for u in earlier]
    assert [u["name"] for u in wf.users(day + timedelta(days=2))] == [
        u["name"] for u in wf.users()]
    assert wf.users(day + timedelta(days=2)) == wf.users()  # today's is the table's
    text = run_ready("user", "list", "--known-at", day.isoformat(), actor="aud").stdout
    assert "newbie" not in text and "dan" in text


def test_user_list_known_at_replays_the_log_up_to_the_first_change_made_later(
        wf, run_ready, clock):
    """A writer's clock a few hours behind (within the day writers may disagree by): the
    users then are those before the first change stamped later, a set that really stood, as
    `policy list --known-at` rebuilds the policy."""
    before = {u["name"] for u in wf.users()}
    clock.advance(hours=2)
    wf.add_user("later", ["reviewer"], actor="admin")
    clock.advance(hours=-6)
    wf.add_user("behind", ["drafter"], actor="admin")  # stamped before "later"
    moment = (clock.now + timedelta(hours=5)).isoformat()  # after "behind", before "later"
    shown = run_ready("user", "list", "--known-at", moment, "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert {u["name"] for u in json.loads(shown.stdout)} == before


def test_user_list_known_at_that_is_no_moment_is_refused(wf, run_ready):
    line = assert_one_line_error(run_ready("user", "list", "--known-at", "yesterday",
                                           actor="aud"), 2)
    assert "--known-at" in line


def test_a_policy_change_by_a_user_no_admin_at_its_place_fails_verify(wf):
    """The policy log is held to the user log at its place: a change forged in the name of an
    admin demoted before it, or made one only after it, fails."""
    wf.add_user("boss", ["admin"], actor="admin")
    draft(wf)
    wf.set_user_roles("boss", ["approver"], actor="admin")  # after row 1
    draft(wf)
    wf.set_user_roles("dan", ["admin", "drafter"], actor="admin")  # after row 2
    wf.restrict("CN", "embargo", "2026-01-01", reason="test", actor="admin")  # after row 2
    draft(wf, "dora")
    assert wf.verify()["policy_changes"] == 5
    for forged, needle in (("boss", "boss, who is no active admin at its place (after row 2)"),
                           ("dan", None)):
        _forge(wf, "wf_policy_change", f"UPDATE wf_policy_change SET actor = '{forged}' "
               "WHERE subject = 'CN'")
        if needle is None:  # made an admin at that very place: the two logs are not ordered
            assert wf.verify()["policy_changes"] == 5
        else:
            assert f"policy change 5 is made by {needle}" in audit_failure(wf)
    _forge(wf, "wf_policy_change", "UPDATE wf_policy_change SET actor = 'dan', after_row = 1 "
           "WHERE subject = 'CN'")
    assert "policy change 5 is made by dan, who is no active admin at its place (after row 1)" in (
        audit_failure(wf))


def test_a_row_by_a_user_disabled_before_changes_kept_places_fails_verify(
        unplaced_changes, wf, monkeypatch):
    from tests.conftest import reseal_from_text, rewrite_history

    draft(wf, "dora")  # row 1, by dora while enabled
    wf.disable_user("dora", actor="admin")  # of unknown place
    monkeypatch.undo()  # from here on, the program of revision 0012
    ref = draft(wf)  # row 2
    wf.add_user("newbie", ["reviewer"], actor="admin")  # the first placed change: after row 2
    wf.fire(ref, "submit", actor="dan")  # row 3
    assert wf.verify()["rows"] == 3
    rewrite_history(wf, "UPDATE wf_history SET actor = 'dora' WHERE seq = 3")
    reseal_from_text(wf)
    assert ("row 3 (TR-2026-0002): it is by dora, whom the user log disabled by row 2, before "
            "its changes kept their places") in audit_failure(wf)
