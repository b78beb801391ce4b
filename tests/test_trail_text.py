"""The text trail says what a row consulted and under which process version, as the JSON
does: an auditor reading it needs neither."""

from __future__ import annotations

from datetime import date

from tests.conftest import to_state


def test_the_trail_names_the_restrictions_consulted_and_the_process(wf, run_ready, clock):
    wf.restrict("PL", "embargo", date(2020, 1, 1), reason="test", actor="admin")
    wf.end_restriction("PL", date(2021, 1, 1), reason="lifted", actor="admin")
    ref = to_state(wf, "third_country_review")
    lines = run_ready("history", ref, actor="aud").stdout.splitlines()
    assert lines[1:].count("      process: transfer-request/1") == 1  # once, under the first row
    consulted = [line.strip() for line in lines if line.strip().startswith("consulted:")]
    day = clock.now.date().isoformat()
    assert consulted == [
        f"consulted: as of {day}: US none",
        f"consulted: as of {day}: US none",
        f"consulted: as of {day}: PL embargo since 2020-01-01 until 2021-01-01 (not in force)",
    ]
    text = run_ready("audit", "log", "--event", "request_third_country", actor="aud").stdout
    assert "(not in force)" in text


def test_due_on_a_past_day_says_what_it_lists_and_where_the_past_is(wf, run_ready, clock):
    to_state(wf, "third_country_review")
    past = run_ready("due", "--on", "2020-01-01", actor="aud")
    assert past.exit_code == 0
    assert ("note: these are the reviews pending now; what was pending on 2020-01-01: "
            "`request list --as-of 2020-01-01 --state third_country_review`") in past.stderr
    coming = run_ready("due", "--on", "2099-01-01", actor="aud")
    assert "note:" not in coming.stderr and "TR-2026-0001" in coming.stdout


def test_the_report_text_gives_stays_in_days_and_hours(wf, run_ready, clock):
    ref = to_state(wf, "drafted")
    clock.advance(days=2, hours=3, minutes=4, seconds=5.5)
    wf.fire(ref, "submit", actor="dan")
    clock.advance(minutes=90)
    text = run_ready("audit", "report", actor="aud").stdout
    assert "drafted 2d 03:04:05, nsc_review 01:30:00 so far" in text
    assert "stays still going counted so far" in text
    assert any(line.split()[:4] == ["drafted", "1", "2d", "03:04:05"]
               for line in text.splitlines())
