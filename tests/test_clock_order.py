"""The log's times follow its order, as far as writers' clocks agree: `audit verify` warns of a
row stamped more than a day before the row the log holds before it (a clock set back, or a row
back-dated), as answers `--as-of` around it may be off. On SQLite and PostgreSQL."""

from __future__ import annotations

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
        "seq": 3, "at": "2026-11-26T09:00:00+00:00",
        "after_seq": 2, "after_at": "2026-11-28T09:00:00+00:00"}
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert ("warning: row 3 is stamped 2026-11-26T09:00:00+00:00, more than a day before row 2 "
            "(2026-11-28T09:00:00+00:00), which the log holds before it") in shown.stdout


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
