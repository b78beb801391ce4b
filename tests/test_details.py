"""Details an administrator or auditor would trip over: each pinned by a test."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from tests.conftest import PATRIOT, assert_one_line_error, draft, to_state
from workflow import Refused
from workflow.clock import iso


def test_report_applies_each_decisions_own_separation_rule(wf, clock):
    wf.add_user("boss", ["admin", "approver"], actor="admin")
    ref = draft(wf)
    wf.fire(ref, "submit", actor="boss")             # an admin submits on the drafter's behalf
    wf.fire(ref, "approve_for_us", actor="ann")
    wf.fire(ref, "request_third_country", actor="abe", country="PL")
    wf.fire(ref, "defer", actor="ann", reason="facts", decision_date=date(2027, 2, 1))
    clock.set(datetime(2027, 2, 1, 9, tzinfo=UTC))
    wf.fire(ref, "approve", actor="boss")            # allowed: approve excludes drafter/recorder
    report = wf.report()
    assert report["separation_of_duties"] == []
    assert report["decisions"]["ann"] == {"approve_for_us": 1, "defer": 1}
    assert report["decisions"]["boss"] == {"approve": 1}


def test_report_flags_an_approval_by_whoever_recorded_the_third_country_request(wf, clock):
    ref = to_state(wf, "third_country_review")      # request recorded by dan, the drafter
    with pytest.raises(Refused):
        wf.fire(ref, "approve", actor="duo")
    with wf.db.fast.transaction() as tx:             # a forged decision, appended by hand
        record = tx.record(ref)
        tx.append_history(record, {
            "ref": ref, "event": "approve", "from": "third_country_review", "to": "approved",
            "actor": "dan", "roles": ["drafter"], "at": iso(clock()), "reason": None,
            "changes": {}, "consulted": {}, "process_version": "transfer-request/1"}, clock())
    breaches = wf.report()["separation_of_duties"]
    assert [(b["ref"], b["event"], b["actor"]) for b in breaches] == [(ref, "approve", "dan")]


def test_import_refuses_a_row_with_more_values_than_columns(run_ready, tmp_path, wf):
    source = tmp_path / "d.csv"
    source.write_text(",".join(PATRIOT) + "\n" + ",".join(map(str, PATRIOT.values())) + ",x\n")
    assert "more values than the header" in assert_one_line_error(
        run_ready("request", "import", str(source), actor="dan"), 2)
    assert wf.list() == []


def test_batch_refusals_are_logged_under_their_own_event(run_ready, tmp_path, wf):
    ref = draft(wf)
    source = tmp_path / "f.csv"
    source.write_text(f"{ref},submit\n{ref},approve_for_us\n")
    assert "firing 2 of 2" in assert_one_line_error(
        run_ready("advance", "--from", str(source), actor="dan"), 1)
    assert wf.refusals()[-1]["event"] == "approve_for_us"
    source.write_text(f"{ref},submit\nTR-2026-0099,submit\n")
    assert "firing 2 of 2" in assert_one_line_error(
        run_ready("advance", "--from", str(source), actor="dan"), 1)
    assert wf.get(ref)["state"] == "drafted"


def test_verify_says_when_a_signature_was_not_checked(run_ready, tmp_path):
    key = tmp_path / "k"
    assert run_ready("audit", "keygen", "-o", str(key)).exit_code == 0
    cp = tmp_path / "cp.json"
    assert run_ready("audit", "checkpoint", "--sign", str(key), "-o", str(cp)).exit_code == 0
    unchecked = run_ready("audit", "verify", "--since", str(cp), actor="aud")
    assert unchecked.exit_code == 0
    assert "signature was not checked" in unchecked.stderr
    checked = run_ready("audit", "verify", "--since", str(cp), "--pubkey", f"{key}.pub")
    assert checked.exit_code == 0 and "not checked" not in checked.stderr
    assert "give --since too" in assert_one_line_error(
        run_ready("audit", "verify", "--pubkey", f"{key}.pub"), 2)


def test_bare_workflow_prints_its_help():
    from click.testing import CliRunner

    from cli.main import cli

    for args in ([], ["request"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.stderr
        assert "Commands:" in result.stdout and "\n" in result.stdout.strip()


def test_malformed_filters_and_arguments_come_before_any_lookup(run, run_ready):
    assert "unknown event 'zzz'" in assert_one_line_error(
        run_ready("audit", "log", "--event", "zzz", actor="ghost"), 2)
    message = assert_one_line_error(
        run("advance", "TR-2026-0001", "withdraw", "--country", "PL", actor="ghost"), 2)
    assert "withdraw does not take --country" in message


def test_reversed_time_range_is_malformed(run_ready):
    assert "is after --until" in assert_one_line_error(
        run_ready("audit", "log", "--since", "2027-01-01", "--until", "2026-01-01"), 2)


def test_a_future_restriction_can_be_ended_before_it_starts(wf, run_ready):
    assert run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2030-01-01",
                     "--reason", "planned").exit_code == 0
    ended = run_ready("policy", "end", "FR", "--on", "2029-01-01", "--reason", "cancelled",
                      "--json")
    assert ended.exit_code == 0, ended.stderr
    assert json.loads(ended.stdout)[0]["until"] == "2029-01-01"
    assert wf.policy(as_of=date(2030, 6, 1)) == [
        e for e in wf.policy(as_of=date(2030, 6, 1)) if e["country"] != "FR"]


def test_a_currency_without_a_unit_value_is_refused_at_submit(wf):
    ref = draft(wf, currency="USD")
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "submit", actor="dan")
    assert (refused.value.rule, refused.value.reason) == (
        "required-fields", "a currency needs a unit value")


def test_an_optional_field_can_be_cleared_and_the_change_is_recorded(wf, run_ready):
    ref = draft(wf, note="draft note")
    result = run_ready("request", "edit", ref, "--clear", "note", "--json", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["changes"] == {"note": ["draft note", None]}
    assert wf.get(ref)["note"] is None
    assert wf.history(ref)[-1]["changes"] == {"note": ["draft note", None]}
    assert wf.verify()["rows"] == 2
    assert "'item' is not one of" in assert_one_line_error(
        run_ready("request", "edit", ref, "--clear", "item", actor="dan"), 2)
    assert "nothing changed" in run_ready("request", "edit", ref, "--clear", "note",
                                          actor="dan").stderr
    twice = run_ready("request", "edit", ref, "--clear", "note", "--clear", "note", actor="dan")
    assert twice.exit_code == 0 and "nothing changed" in twice.stderr  # cleared once
