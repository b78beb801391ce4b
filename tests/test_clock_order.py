"""The log's times follow its order: a write whose clock is more than a day behind the log's
last write is refused (and the refusal recorded), and `audit verify` names a row stamped more
than a day before the one the log holds before it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import (
    PATRIOT,
    USER_LOG,
    assert_one_line_error,
    audit_failure,
    db_snapshot,
    draft,
    reseal_from_text,
    rewrite_history,
)
from workflow import Refused

BEHIND = "more than a day before the log's last write"


@pytest.mark.parametrize("write", ["create", "edit", "fire", "batch", "import", "user add",
                                   "policy add"])
def test_a_clock_more_than_a_day_behind_the_last_write_is_refused(wf, clock, db_target, write):
    ref, other = draft(wf), draft(wf)
    clock.advance(days=1, seconds=1)
    wf.fire(ref, "submit", actor="dan")  # the log's last write: a day and a second later
    clock.advance(days=-1, seconds=-2)
    before = db_snapshot(db_target, USER_LOG)
    attempts = {
        "create": lambda: wf.create(actor="dan", **PATRIOT),
        "edit": lambda: wf.edit(other, actor="dan", quantity=3),
        "fire": lambda: wf.fire(ref, "approve_for_us", actor="ann"),
        "batch": lambda: wf.fire_many([{"ref": ref, "event": "approve_for_us"}] * 2,
                                      actor="ann"),
        "import": lambda: wf.create_many([PATRIOT, PATRIOT], actor="dan"),
        "user add": lambda: wf.add_user("late", ["reviewer"], actor="admin"),
        "policy add": lambda: wf.restrict("PL", "embargo", date(2026, 1, 1), reason="x",
                                          actor="admin"),
    }
    with pytest.raises(Refused, match=BEHIND) as refused:
        attempts[write]()
    assert refused.value.rule == "clock-behind"
    assert wf.refusals()[-1]["rule"] == "clock-behind"
    after = db_snapshot(db_target, USER_LOG)
    assert {k: v for k, v in after.items() if k not in ("wf_refusal", "wf_log_head")} == {
        k: v for k, v in before.items() if k not in ("wf_refusal", "wf_log_head")}


def test_a_clock_less_than_a_day_behind_still_writes_and_verifies(wf, clock):
    ref = draft(wf)
    clock.advance(hours=23)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(hours=-22)
    wf.fire(ref, "approve_for_us", actor="ann")
    assert wf.verify()["rows"] == 3


def test_the_cli_refuses_in_one_line(wf, clock, run_ready):
    ref = draft(wf)
    clock.advance(days=3)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(days=-3)
    line = assert_one_line_error(run_ready("advance", ref, "approve_for_us", actor="ann"), 1)
    assert BEHIND in line and "[rule: clock-behind]" in line


def test_a_row_back_dated_more_than_a_day_fails_verify(wf, clock):
    ref = draft(wf)
    clock.advance(days=2)
    wf.fire(ref, "submit", actor="dan")
    wf.fire(ref, "approve_for_us", actor="ann")
    assert wf.verify()["rows"] == 3
    rewrite_history(wf, "UPDATE wf_history SET at = '2026-01-01 00:00:00' WHERE seq = 3")
    reseal_from_text(wf)
    failure = audit_failure(wf)
    assert "row 3 (TR-2026-0001): it is stamped 2026-01-01" in failure
    assert "more than a day before row 2 (2026-11-27T09:00:00+00:00)" in failure


def test_a_row_back_dated_less_than_a_day_passes(wf, clock):
    ref = draft(wf)
    clock.set(clock.now.replace(hour=23))
    wf.fire(ref, "submit", actor="dan")
    wf.fire(ref, "approve_for_us", actor="ann")
    stamp = clock.now.replace(hour=1).strftime("%Y-%m-%d %H:%M:%S")  # the same day
    rewrite_history(wf, f"UPDATE wf_history SET at = '{stamp}' WHERE seq = 3")
    reseal_from_text(wf)
    assert wf.verify()["rows"] == 3
