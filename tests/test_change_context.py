"""What an auditor needs beside each change: the roles a user held before a change of roles,
and, for the restrictions in force on a day, whether each was recorded only after that day
(back-dated). Both read from the logs themselves; through the API and the CLI, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from tests.conftest import START, assert_one_line_error
from workflow import Workflow

USER_CHANGE_KEYS = {"seq", "action", "name", "roles", "active", "actor", "at", "reason",
                    "after_row"}
POLICY_KEYS = {"country", "kind", "since", "until", "reason"}
SEEDED = {"KP", "UA", "RU", "IL"}


def _json(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- roles before a change -------------------------------------------------------------------

def _roles_of_dan(wf: Workflow) -> None:
    """dan: drafter; then drafter and approver; then approver alone; disabled; enabled. Other
    users change in between, so the row before each of dan's is rarely dan's."""
    wf.set_user_roles("dan", ["drafter", "approver"], actor="admin")
    wf.set_user_roles("ann", ["approver", "reviewer"], actor="admin")
    wf.set_user_roles("dan", ["approver"], actor="admin", reason="moves to the NSC")
    wf.disable_user("dora", actor="admin")
    wf.disable_user("dan", actor="admin")
    wf.enable_user("dan", actor="admin")


def test_each_change_carries_the_roles_its_user_held_before_it(wf, run_ready):
    _roles_of_dan(wf)
    changes = wf.user_history()
    dan = [(c["action"], c["roles_before"], c["roles"]) for c in changes if c["name"] == "dan"]
    assert dan == [
        ("add", None, ["drafter"]),
        ("set_roles", ["drafter"], ["approver", "drafter"]),
        ("set_roles", ["approver", "drafter"], ["approver"]),
        ("disable", ["approver"], ["approver"]),
        ("enable", ["approver"], ["approver"]),
    ]
    ann = [c for c in changes if c["name"] == "ann"]
    assert ann[-1]["roles_before"] == ["approver"] != ann[-1]["roles"]
    assert all(set(c) == USER_CHANGE_KEYS | {"roles_before"} for c in changes)
    assert changes[0]["name"] == "admin" and changes[0]["roles_before"] is None
    assert _json(run_ready("user", "history", "--json", actor="aud")) == changes


def test_user_history_text_shows_before_and_after_only_where_roles_changed(wf, run_ready):
    _roles_of_dan(wf)
    shown = run_ready("user", "history", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    lines = [line.split() for line in shown.stdout.splitlines()[1:]]
    dan = [line[3:8] for line in lines if line[4] == "dan"]
    assert dan == [
        ["add", "dan", "drafter", "True", "admin"],
        ["set_roles", "dan", "drafter", "->", "approver,drafter"],
        ["set_roles", "dan", "approver,drafter", "->", "approver"],
        ["disable", "dan", "approver", "False", "admin"],
        ["enable", "dan", "approver", "True", "admin"],
    ]
    assert "->" not in shown.stdout.split("set_roles", 1)[0]  # no add shows an arrow


def test_user_history_name_lists_that_user_with_roles_before_from_the_whole_log(wf, run_ready):
    _roles_of_dan(wf)
    every = wf.user_history()
    assert wf.user_history("dan") == [c for c in every if c["name"] == "dan"]
    assert _json(run_ready("user", "history", "dan", "--json", actor="aud")) == [
        c for c in every if c["name"] == "dan"]
    text = run_ready("user", "history", "ann", actor="aud").stdout
    assert "approver -> approver,reviewer" in text and " dan " not in text
    unknown = run_ready("user", "history", "nobody", actor="aud")
    line = assert_one_line_error(unknown, 1)
    assert "unknown user 'nobody'" in line and "did you mean" not in line
    twin = assert_one_line_error(run_ready("user", "history", "DAN", actor="aud"), 1)
    assert twin.endswith("unknown user 'DAN': the user log has no change to them; did you mean "
                         "dan?")


# -- restrictions recorded after the day they are in force on ---------------------------------

def _backdated(wf: Workflow, clock: Any) -> None:
    """FR recorded on 2026-12-01 with a start in March: back-dated; DE recorded the same day
    with a start still to come."""
    clock.set(datetime(2026, 12, 1, 10, 0, tzinfo=UTC))
    wf.restrict("FR", "embargo", "2026-03-01", reason="found late", actor="admin")
    wf.restrict("DE", "embargo", "2026-12-05", reason="planned", actor="admin")


def test_as_of_says_when_each_restriction_was_recorded_and_marks_the_later_ones(wf, clock):
    _backdated(wf, clock)
    early = {r["country"]: r for r in wf.policy(as_of="2026-11-28")}
    assert sorted(early) == sorted(SEEDED | {"FR"})
    assert all(set(r) == POLICY_KEYS | {"recorded_at", "recorded_after"} for r in early.values())
    assert early["FR"]["recorded_at"] == "2026-12-01T10:00:00+00:00"
    assert early["FR"]["recorded_after"] is True
    assert {c for c, r in early.items() if r["recorded_after"]} == {"FR"}
    assert early["KP"]["recorded_at"] == START.isoformat()
    before_init = {r["country"]: r["recorded_after"] for r in wf.policy(as_of="2026-06-01")}
    assert before_init == dict.fromkeys(SEEDED | {"FR"}, True)
    later = wf.policy(as_of="2026-12-10")
    assert {r["country"] for r in later} == SEEDED | {"FR", "DE"}
    assert not any(r["recorded_after"] for r in later)
    assert all(set(r) == POLICY_KEYS for r in wf.policy())  # without a day: as before


def test_recorded_on_the_day_itself_is_not_after_it_and_next_midnight_is(wf, clock):
    clock.set(datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=UTC))
    wf.restrict("FR", "embargo", "2026-12-01", reason="last moment", actor="admin")
    clock.set(datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
    wf.restrict("DE", "embargo", "2026-12-01", reason="first moment after", actor="admin")
    marks = {r["country"]: r["recorded_after"] for r in wf.policy(as_of="2026-12-01")}
    assert (marks["FR"], marks["DE"]) == (False, True)
    assert {r["country"]: r["recorded_after"] for r in wf.policy(as_of="2026-12-02")}[
        "DE"] is False


def test_marks_follow_the_log_order_as_known_at_does(wf, clock, run_ready):
    """A change logged after one stamped later (its writer's clock behind) was not recorded by
    the end of a day the later stamp follows: marked, as --known-at of that day leaves it
    out."""
    clock.set(datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    wf.restrict("FR", "embargo", "2026-01-01", reason="first", actor="admin")
    clock.set(datetime(2026, 12, 1, 9, 0, tzinfo=UTC))  # a writer a few days behind
    wf.restrict("DE", "embargo", "2026-01-01", reason="second", actor="admin")
    for day in ("2026-11-24", "2026-11-30", "2026-12-01", "2026-12-02", "2026-12-03"):
        marked = {r["country"] for r in wf.policy(as_of=day) if r["recorded_after"]}
        known = {r["country"] for r in wf.policy(as_of=day, known_at=day)}
        assert marked == {r["country"] for r in wf.policy(as_of=day)} - known, day
    assert {r["country"]: r["recorded_after"] for r in wf.policy(as_of="2026-12-02")}[
        "DE"] is True
    text = run_ready("policy", "list", "--as-of", "2026-12-02", actor="aud").stdout
    de = next(line for line in text.splitlines() if line.startswith("DE"))
    assert "(recorded after that day by the log's order; stamped 2026-12-01)" in de


def test_policy_list_as_of_marks_back_dated_rows_and_points_at_known_at(wf, clock, run_ready):
    _backdated(wf, clock)
    shown = run_ready("policy", "list", "--as-of", "2026-11-28", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    rows = {line.split()[0]: line for line in shown.stdout.splitlines()[1:]}
    assert sorted(rows) == sorted(SEEDED | {"FR"})
    assert "2026-03-01 (recorded 2026-12-01, after that day)" in rows["FR"]
    assert not any("recorded" in rows[c] for c in SEEDED)
    assert shown.stderr.strip() == (
        "note: 1 restriction in force on 2026-11-28 by their dates was recorded after that "
        "day; `workflow policy list --as-of 2026-11-28 --known-at 2026-11-28` shows what was "
        "known on it")
    pointed = run_ready("policy", "list", "--as-of", "2026-11-28", "--known-at", "2026-11-28",
                        actor="aud")
    assert "FR" not in pointed.stdout and "recorded" not in pointed.stdout
    assert pointed.stderr == ""
    assert _json(run_ready("policy", "list", "--as-of", "2026-11-28", "--json",
                           actor="aud")) == wf.policy(as_of="2026-11-28")
    quiet = run_ready("policy", "list", "--as-of", "2026-12-10", actor="aud")
    assert "recorded" not in quiet.stdout and quiet.stderr == ""
