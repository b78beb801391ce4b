"""`workflow todo` (API ``Workflow.actionable``): the requests a user may act on now, with the
events their roles and the rules allow. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.conftest import assert_one_line_error, db_snapshot, draft, to_state
from workflow import InvalidInput, UnknownUser


def _events(rows: list[dict]) -> dict[str, list[str]]:
    return {r["ref"]: r["events"] for r in rows}


@pytest.fixture
def requests(wf) -> dict[str, str]:
    made = {state: to_state(wf, state) for state in (
        "drafted", "nsc_review", "approved_for_us", "third_country_review", "denied",
        "withdrawn")}
    made["doras"] = draft(wf, "dora")
    made["duos"] = to_state(wf, "nsc_review", drafter="duo")
    return made


def test_each_role_sees_what_it_may_fire(wf, requests):
    assert _events(wf.actionable("dan")) == {
        requests["drafted"]: ["submit", "withdraw"],
        requests["nsc_review"]: ["withdraw"],
        requests["approved_for_us"]: ["request_third_country"],
    }
    assert _events(wf.actionable("rita")) == {requests["nsc_review"]: ["return"],
                                               requests["duos"]: ["return"]}
    # the decision date has not come: approve waits, deny and defer do not
    assert _events(wf.actionable("ann")) == {
        requests["nsc_review"]: ["return", "approve_for_us", "deny"],
        requests["approved_for_us"]: ["request_third_country"],
        requests["third_country_review"]: ["deny", "defer"],
        requests["duos"]: ["return", "approve_for_us", "deny"],
    }
    assert wf.actionable("aud") == []
    assert wf.actionable("admin")  # an admin may submit and withdraw on a drafter's behalf


def test_separation_of_duties_keeps_a_drafter_from_deciding_their_own(wf, requests):
    mine = _events(wf.actionable("duo"))
    assert mine[requests["duos"]] == ["return", "withdraw"]  # neither approve nor deny
    assert mine[requests["nsc_review"]] == ["return", "approve_for_us", "deny"]


def test_the_policy_and_the_decision_date_decide_too(wf, requests, clock):
    wf.restrict("US", "embargo", clock.now.date(), reason="new facts", actor="admin")
    assert _events(wf.actionable("ann"))[requests["nsc_review"]] == ["return", "deny"]
    clock.set(clock.now.replace(year=clock.now.year + 1, month=1, day=2))
    assert _events(wf.actionable("ann"))[requests["third_country_review"]] == [
        "deny", "defer", "approve"]
    assert _events(wf.actionable("abe", "approve")) == {
        requests["third_country_review"]: ["approve"]}


def test_defer_is_not_offered_where_no_later_date_exists(wf, run_ready, requests):
    last = to_state(wf, "approved_for_us")
    wf.fire(last, "request_third_country", actor="dan", country="PL", decision_date="9999-12-31")
    assert _events(wf.actionable("ann"))[last] == ["deny"]
    assert _events(wf.actionable("ann"))[requests["third_country_review"]] == ["deny", "defer"]
    shown = run_ready("todo", "--json", "--event", "defer", actor="ann")
    assert shown.exit_code == 0, shown.stderr
    assert [row["ref"] for row in json.loads(shown.stdout)] == [
        requests["third_country_review"]]


def test_rows_carry_the_record_as_request_list_does(wf, requests):
    rows = wf.actionable("ann", "approve_for_us")
    listed = {r["ref"]: r for r in wf.list(state="nsc_review")}
    assert [r["ref"] for r in rows] == sorted(listed, key=lambda ref: ref)
    for row in rows:
        assert {k: v for k, v in row.items() if k != "events"} == listed[row["ref"]]
        assert row["events"] == ["approve_for_us"]


def test_the_command_prints_a_table_or_the_api_json(wf, run_ready, requests):
    shown = run_ready("todo", "--json", actor="ann")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == wf.actionable("ann")
    text = run_ready("todo", "--event", "deny", actor="ann")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:3] == ["REF", "STATE", "EVENTS"]
    assert len(lines) == 1 + 3
    assert f"{requests['nsc_review']}  nsc_review" in text.stdout
    quiet = run_ready("todo", actor="aud")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "nothing awaits you\n")


def test_bad_input_and_unknown_users_are_one_line_and_change_nothing(wf, run_ready,
                                                                      db_target):
    before = db_snapshot(db_target)
    assert "--event" in assert_one_line_error(run_ready("todo", "--event", "launch",
                                                        actor="ann"), 2)
    assert db_snapshot(db_target) == before
    assert "mallory" in assert_one_line_error(run_ready("todo", actor="mallory"), 1)
    assert [r["actor"] for r in wf.refusals()] == ["mallory"]
    wf.disable_user("rita", actor="admin", reason="left")
    assert "disabled" in assert_one_line_error(run_ready("todo", actor="rita"), 1)


def test_a_restriction_started_later_does_not_hide_a_decision_today(wf, requests, clock):
    later = date(clock.now.year + 1, 6, 1)
    wf.restrict("US", "embargo", later, reason="announced", actor="admin")
    assert "approve_for_us" in _events(wf.actionable("ann"))[requests["nsc_review"]]


def test_an_unknown_event_is_refused_before_anyone_is_looked_up(wf):
    with pytest.raises(InvalidInput, match="unknown event 'launch'"):
        wf.actionable("nobody", "launch")
    assert wf.refusals() == []


def test_rows_come_one_at_a_time_and_who_asks_is_checked_at_once(wf, requests):
    rows = wf.actionable_rows("ann")
    assert next(rows)["ref"] == requests["nsc_review"]
    assert [r["ref"] for r in rows] == [r["ref"] for r in wf.actionable("ann")][1:]
    with pytest.raises(UnknownUser):
        wf.actionable_rows("mallory")  # no row asked for yet
    assert [r["actor"] for r in wf.refusals()] == ["mallory"]
