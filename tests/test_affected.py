"""`workflow policy affected` (API ``Workflow.affected``): the decisions a restriction in force
touches, granted ones to reassess and pending ones its rules will refuse. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date

import pytest

from tests.conftest import assert_one_line_error, db_snapshot, to_state
from workflow import InvalidInput

STATES = ("drafted", "nsc_review", "approved_for_us", "third_country_review", "approved",
          "denied", "withdrawn")


def _found(rows: list[dict]) -> set[tuple[str, str, str, str]]:
    return {(r["ref"], r["standing"], r["event"], r["rule"]) for r in rows}


@pytest.fixture
def requests(wf) -> dict[str, str]:
    """One request in each state (the approved one moves the clock to the next year)."""
    return {state: to_state(wf, state) for state in STATES}


def test_a_restriction_on_the_recipient_touches_grants_and_pending_decisions(wf, requests):
    day = date(wf.clock.now.year, 6, 1)
    assert wf.affected(on=day) == []
    wf.restrict("US", "embargo", day, reason="new facts", actor="admin")
    assert wf.affected(on=date(day.year, 5, 31)) == []  # not in force yet
    rows = wf.affected(on=day)
    rule = "recipient-unrestricted"
    assert _found(rows) == {
        (requests["drafted"], "pending", "submit", rule),
        (requests["nsc_review"], "pending", "approve_for_us", rule),
        (requests["approved_for_us"], "granted", "approve_for_us", rule),
        (requests["third_country_review"], "granted", "approve_for_us", rule),
        (requests["approved"], "granted", "approve_for_us", rule),
    }
    granted = next(r for r in rows if r["ref"] == requests["approved_for_us"])
    fired = [h for h in wf.history(granted["ref"]) if h["event"] == "approve_for_us"]
    assert (granted["granted_by"], granted["granted_at"]) == ("ann", fired[-1]["at"])
    assert granted["state"] == "approved_for_us"
    assert granted["reason"] == f"US is restricted (embargo since {day.isoformat()})"
    assert granted["restrictions"] == [{"country": "US", "kind": "embargo",
                                        "since": day.isoformat(), "until": None,
                                        "reason": "new facts"}]
    pending = next(r for r in rows if r["ref"] == requests["drafted"])
    assert (pending["granted_by"], pending["granted_at"]) == (None, None)


def test_a_restriction_on_the_third_country_touches_its_review_and_its_consent(wf, requests):
    wf.restrict("PL", "in-combat", date(2020, 1, 1), reason="new facts", actor="admin")
    rows = wf.affected()
    rule = "third-country-unrestricted"
    assert _found(rows) == {
        (requests["third_country_review"], "pending", "approve", rule),
        (requests["approved"], "granted", "approve", rule),
    }
    assert next(r for r in rows if r["standing"] == "granted")["granted_by"] == "abe"
    # a third country still to be named is an argument: not judged in advance
    assert requests["approved_for_us"] not in {r["ref"] for r in rows}


def test_a_grant_stands_after_a_later_denial(wf, clock):
    ref = to_state(wf, "third_country_review")
    wf.fire(ref, "deny", actor="abe", reason="no consent")
    wf.restrict("US", "embargo", clock.now.date(), reason="new facts", actor="admin")
    assert _found(wf.affected()) == {(ref, "granted", "approve_for_us",
                                      "recipient-unrestricted")}


def test_only_restrictions_in_force_on_the_day_count(wf, run_ready, requests, clock):
    today = clock.now.date()
    wf.restrict("PL", "in-combat", date(2020, 1, 1), reason="for a while", actor="admin")
    wf.end_restriction("PL", date(2021, 1, 1), reason="over", actor="admin")
    assert wf.affected() == []
    assert wf.affected(on="2019-12-31") == []
    assert len(wf.affected(on="2020-01-01")) == 2
    assert len(wf.affected(on=date(2020, 12, 31))) == 2
    assert wf.affected(on="2021-01-01") == []
    assert wf.affected(on=today.isoformat()) == []
    shown = run_ready("policy", "affected", "--on", "2020-06-01", actor="aud")
    assert shown.stdout.count("PL (in-combat since 2020-01-01 until 2021-01-01)") == 2


def test_the_countries_asked_about_narrow_the_list(wf, requests):
    wf.restrict("PL", "in-combat", date(2020, 1, 1), reason="new facts", actor="admin")
    wf.restrict("US", "embargo", date(2020, 1, 1), reason="new facts", actor="admin")
    everything = wf.affected()
    assert len(everything) == 7
    polish = wf.affected(subjects=["pl"])
    assert {r["rule"] for r in polish} == {"third-country-unrestricted"}
    assert polish == [r for r in everything if r["rule"] == "third-country-unrestricted"]
    assert wf.affected(subjects=["FR"]) == []
    with pytest.raises(InvalidInput, match="not an assigned ISO 3166-1"):
        wf.affected(subjects=["XX"])
    with pytest.raises(InvalidInput, match="on"):
        wf.affected(on="2026-13-01")


def test_records_are_read_a_chunk_at_a_time_and_all_of_them(wf):
    refs = [to_state(wf, "drafted") for _ in range(5)]
    with wf.db.fast.reading() as tx:
        assert [r.ref for r in tx.each_record(chunk=2)] == refs
        assert [r.ref for r in tx.each_record(chunk=5)] == refs


def test_the_command_prints_a_table_or_the_api_json(wf, run_ready, requests):
    wf.restrict("PL", "in-combat", date(2020, 1, 1), reason="new facts", actor="admin")
    shown = run_ready("policy", "affected", "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == wf.affected()
    text = run_ready("policy", "affected", "--country", "pl", actor="aud")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["REF", "STATE", "STANDING", "EVENT", "GRANTED_BY", "GRANTED_AT",
                                "RULE", "RESTRICTED"]
    assert len(lines) == 3
    assert "PL (in-combat since 2020-01-01)" in text.stdout
    quiet = run_ready("policy", "affected", "--country", "FR", actor="aud")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, "", "no decision is touched\n")
    ahead = run_ready("policy", "affected", "--on", "2019-12-31", "--json", actor="aud")
    assert json.loads(ahead.stdout) == []


@pytest.mark.parametrize("args, code, names", [
    (["--country", "XX"], 2, "--country"),
    (["--on", "someday"], 2, "--on"),
])
def test_bad_input_is_one_line_and_changes_nothing(run_ready, db_target, args, code, names):
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready("policy", "affected", *args, actor="aud"), code)
    assert names in line
    assert db_snapshot(db_target) == before


def test_someone_unregistered_is_refused_and_the_attempt_recorded(wf, run_ready):
    line = assert_one_line_error(run_ready("policy", "affected", actor="mallory"), 1)
    assert "mallory" in line
    assert [r["actor"] for r in wf.refusals()] == ["mallory"]


def test_policy_add_says_how_many_decisions_the_restriction_touches(wf, run_ready, requests,
                                                                   clock):
    later = date(clock.now.year + 2, 3, 1)
    added = run_ready("policy", "add", "us", "--kind", "embargo", "--since", later.isoformat(),
                      "--reason", "new facts")
    assert added.exit_code == 0, added.stderr
    assert added.stderr.splitlines() == [
        f"US restricted (embargo) since {later.isoformat()}",
        "note: it touches 5 granted or pending events; see `workflow policy affected --country "
        f"US --on {later.isoformat()}`"]
    assert len(wf.affected(later, ["US"])) == 5
    assert wf.touched("us", later.isoformat()) == (later, 5)
    assert wf.touched("US", "2020-01-01") == (clock.now.date(), 0)  # judged from today on
    assert len(wf.affected(later, "US")) == 5  # one subject, not its letters
    quiet = run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2020-01-01",
                      "--reason", "nothing of ours goes there", "--json")
    assert quiet.exit_code == 0, quiet.stderr
    assert quiet.stderr == ""
    assert json.loads(quiet.stdout)["country"] == "FR"


def test_a_restriction_added_stands_when_what_it_touches_cannot_be_read(wf, run_ready,
                                                                        db_target):
    if "postgresql" in db_target:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    to_state(wf, "nsc_review")
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_record SET data = 'not json'")
    added = run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2020-01-01",
                      "--reason", "new facts")
    assert added.exit_code == 0, added.stderr
    assert added.stderr.splitlines()[1].startswith(
        "note: what it touches could not be read: TR-2026-0001: its stored fields cannot be "
        "read")
    assert "FR" in {r["country"] for r in wf.policy()}
    line = assert_one_line_error(run_ready("policy", "affected", actor="aud"), 1)
    assert "its stored fields cannot be read" in line


def test_findings_come_one_at_a_time_and_the_day_is_checked_at_once(wf, requests):
    wf.restrict("US", "embargo", date(2020, 1, 1), reason="new facts", actor="admin")
    rows = wf.affected_rows(subjects=["US"])
    assert next(rows)["ref"] == requests["drafted"]
    assert len(list(rows)) == 4
    with pytest.raises(InvalidInput, match="on"):
        wf.affected_rows(on="someday")
