"""The log's times follow its order, as far as writers' clocks agree: `audit verify` warns of a
row or a user or policy change stamped more than a day before an entry the log holds before it
(a clock set back, or an entry back-dated), as answers `--as-of` around it may be off. On SQLite
and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from tests.conftest import draft, reseal_from_text, rewrite_history


def test_a_clock_set_back_more_than_a_day_is_warned_of(wf, clock, run_ready):
    ref = draft(wf)
    clock.advance(days=3)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(days=-2)  # set back: the write goes through, stamped as the clock reads
    wf.fire(ref, "approve_for_us", actor="ann")
    result = wf.verify()
    assert result["stamped_behind"] == {
        "entry": "row 3", "seq": 3, "at": "2026-11-26T09:00:00+00:00",
        "after": "row 2", "after_seq": 2, "after_at": "2026-11-28T09:00:00+00:00"}
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert ("warning: row 3 is stamped 2026-11-26T09:00:00+00:00, more than a day before row 2 "
            "(2026-11-28T09:00:00+00:00), which the log holds before it: a writer's clock was "
            "behind at row 3 (or it was back-dated), or ahead at row 2") in shown.stdout


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_row_back_dated_more_than_a_day_is_warned_of(wf, clock, jobs):
    """An edit (a decision would also say it was judged on another day than it was made)."""
    ref = draft(wf)
    clock.advance(days=2)
    wf.edit(ref, actor="dan", quantity=3)
    wf.edit(ref, actor="dan", quantity=4)
    assert wf.verify()["stamped_behind"] is None
    rewrite_history(wf, "UPDATE wf_history SET at = '2026-01-01 00:00:00.000000' WHERE seq = 3")
    reseal_from_text(wf)
    behind = wf.verify(jobs=jobs)["stamped_behind"]
    assert (behind["seq"], behind["after_seq"]) == (3, 2)
    assert behind["at"].startswith("2026-01-01")


def test_a_clock_less_than_a_day_behind_is_not_warned_of(wf, clock):
    ref = draft(wf)
    clock.advance(hours=23)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(hours=-22)
    wf.fire(ref, "approve_for_us", actor="ann")
    assert wf.verify()["stamped_behind"] is None


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_decision_stamped_before_a_restriction_it_came_after_is_warned_of(
        wf, clock, run_ready, jobs):
    """A clock set back past a restriction added earlier: the decision is judged as of the day
    the clock reads, when the restriction was not yet in force, so the log's order tells."""
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(days=3)
    wf.restrict("US", "embargo", clock.now.date(), reason="new facts", actor="admin")
    clock.advance(days=-2)
    assert wf.fire(ref, "approve_for_us", actor="ann") == "approved_for_us"
    added = wf.policy_history()[-1]["seq"]
    assert wf.verify(jobs=jobs)["stamped_behind"] == {
        "entry": "row 3", "seq": 3, "at": "2026-11-26T09:00:00+00:00",
        "after": f"policy change {added}", "after_seq": None,
        "after_at": "2026-11-28T09:00:00+00:00"}
    shown = run_ready("audit", "verify", "--rules", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert (f"warning: row 3 is stamped 2026-11-26T09:00:00+00:00, more than a day before policy "
            f"change {added} (2026-11-28T09:00:00+00:00)") in shown.stdout


def test_a_change_stamped_before_the_row_at_its_place_is_warned_of(wf, clock):
    ref = draft(wf)
    clock.advance(days=3)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(days=-2)
    wf.add_user("eve", ["reviewer"], actor="admin")
    behind = wf.verify()["stamped_behind"]
    assert (behind["entry"], behind["seq"], behind["after"], behind["after_seq"]) == (
        f"user change {_last_user_change(wf)}", None, "row 2", 2)


def test_a_change_stamped_before_the_change_before_it_is_warned_of(wf, clock):
    clock.advance(days=3)
    wf.add_user("eve", ["reviewer"], actor="admin")
    clock.advance(days=-2)
    wf.disable_user("eve", actor="admin")
    last = _last_user_change(wf)
    behind = wf.verify()["stamped_behind"]
    assert (behind["entry"], behind["after"]) == (f"user change {last}",
                                                  f"user change {last - 1}")


def test_a_clock_less_than_a_day_behind_a_change_is_not_warned_of(wf, clock):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(hours=23)
    wf.restrict("FR", "embargo", clock.now.date(), reason="new facts", actor="admin")
    clock.advance(hours=-22)
    wf.fire(ref, "approve_for_us", actor="ann")
    wf.add_user("eve", ["reviewer"], actor="admin")
    assert wf.verify()["stamped_behind"] is None


def _last_user_change(wf) -> int:
    return max(change["seq"] for change in wf.user_history())


def test_as_of_a_row_stamped_days_ahead_cuts_the_rebuild_there(wf, clock, run_ready):
    """A row stamped three days ahead (its writer's clock was), then one written after it at the
    right time: as of a moment between them, the log stood before the first, so the request is
    as it was then, not in a state it never stood in (the later row applied, the first not)."""
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(hours=1)
    wf.fire(ref, "approve_for_us", actor="ann")
    clock.advance(days=3)
    wf.fire(ref, "request_third_country", actor="dan", country="PL", reason="US request")
    clock.advance(days=-3, hours=1)
    wf.fire(ref, "defer", actor="ann", reason="wait", decision_date="2027-05-01")
    moment = clock().replace(minute=30)
    then = wf.get_as_of(ref, moment)
    assert (then["state"], then["version"], then["decision_date"]) == (
        "approved_for_us", 3, None)
    listed = run_ready("request", "list", "--as-of", moment.isoformat(), "--json", actor="aud")
    assert [(r["state"], r["third_country"], r["decision_date"])
            for r in json.loads(listed.stdout)] == [("approved_for_us", None, None)]
    assert wf.get_as_of(ref, moment.replace(day=moment.day + 4))["state"] == \
        "third_country_review"


def test_verify_holds_at_the_ends_of_the_calendar(wf, clock, run_ready):
    """Entries stamped on the calendar's first day, and a verifier whose clock reads its last:
    warnings as for any clock, not an overflow."""
    from datetime import UTC, datetime

    start = clock()
    clock.set(datetime(1, 1, 1, 0, 30, tzinfo=UTC))  # a writer's clock far behind
    ref = draft(wf)
    clock.set(start)
    wf.fire(ref, "submit", actor="dan")  # after an entry stamped on the calendar's first day
    assert wf.verify()["stamped_behind"]["at"].startswith("0001-01-01")
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert "warning: row 1 is stamped 0001-01-01" in shown.stdout
    clock.set(datetime(9999, 12, 31, 12, tzinfo=UTC))
    assert wf.verify()["stamped_ahead"] is None
