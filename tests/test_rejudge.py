"""`audit verify --rules` judges every history row again by its process's rules, in the context
it was written in: a row that reached the log past them (appended by hand, or written by the
program over a request changed behind its back) is named with the rule it breaks. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import Cli, assert_one_line_error, draft, to_state
from workflow import Workflow
from workflow.audit import AuditFailure
from workflow.clock import iso

NEXT_YEAR = "2027-01-01"


def _forge(wf: Workflow, ref: str, event: str, dest: str, actor: str, roles: list[str], *,
           reason: str | None = None, changes: dict[str, list[Any]] | None = None,
           consulted: dict[str, Any] | None = None, acted_as: list[str] | None = None) -> None:
    """A history row appended by hand, the request updated to agree with it, as a login with
    write rights could."""
    changes = changes or {}
    now = wf.clock()
    with wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        assert record is not None
        data = {**record.data, **{name: new for name, (_old, new) in changes.items()}}
        participants = {k: list(v) for k, v in record.participants.items()}
        if event != "edit" and actor not in participants.setdefault(event, []):
            participants[event].append(actor)
        due = data.get("decision_date")
        tx.update_record(record, dest, data, participants,
                         date.fromisoformat(due) if due else None, deferred=True)
        tx.append_history(record, {
            "ref": ref, "event": event, "from": record.state, "to": dest, "actor": actor,
            "roles": sorted(roles), "acted_as": sorted(acted_as or roles), "at": iso(now),
            "reason": reason, "changes": changes,
            "consulted": {} if consulted is None else consulted,
            "process_version": wf.process.version, "version": record.version + 1}, now)


def _consulted(wf: Workflow, **listed: list[dict[str, Any]]) -> dict[str, Any]:
    return {"as_of": wf.clock().date().isoformat(), "restrictions": listed}


def _broken_rule(wf: Workflow) -> str:
    assert wf.verify()["rows"]  # the other checks pass: only the rules are broken
    with pytest.raises(AuditFailure) as caught:
        wf.verify(rules=True)
    return str(caught.value)


def test_a_history_down_every_path_is_one_its_rules_allow(wf, run_ready, clock):
    refs = [to_state(wf, state) for state in ("denied", "withdrawn", "approved")]
    returned = draft(wf)
    wf.fire(returned, "submit", actor="dan")
    wf.fire(returned, "return", actor="rita", reason="fix the end user")
    wf.edit(returned, actor="dan", end_user="US Navy")
    wf.fire(returned, "submit", actor="dan")
    deferred = to_state(wf, "third_country_review")
    wf.fire(deferred, "defer", actor="ann", reason="more facts",
            decision_date=date(clock.now.year + 2, 1, 1))
    result = wf.verify(rules=True)
    rows = sum(len(wf.history(ref)) for ref in [*refs, returned, deferred])
    assert result["rules_judged"] == result["rows"] == rows
    shown = run_ready("audit", "verify", "--rules", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert f"ok: {rows} rows judged again by the process's rules" in shown.stdout
    as_json = json.loads(run_ready("audit", "verify", "--rules", "--json", actor="aud").stdout)
    assert as_json["rules_judged"] == rows
    assert "rules_judged" not in json.loads(
        run_ready("audit", "verify", "--json", actor="aud").stdout)


def test_a_decision_made_over_a_request_changed_behind_the_programs_back(wf, db_target):
    """A login that may update requests moves the decision date back, lets the approval
    through, and puts the date back: the request agrees with its history again."""
    ref = to_state(wf, "third_country_review")
    json_in = "CAST(:d AS json)" if "postgresql" in db_target else ":d"

    def decision_date(day: str) -> None:
        with wf.db.engine.begin() as conn:
            stored = conn.execute(text(f"SELECT data{'::text' if json_in != ':d' else ''} "
                                       "FROM wf_record WHERE ref = :r"), {"r": ref}).scalar()
            data = {**json.loads(stored), "decision_date": day}
            conn.execute(text(f"UPDATE wf_record SET data = {json_in}, due_on = :day "
                              "WHERE ref = :r"),
                         {"d": json.dumps(data), "day": date.fromisoformat(day), "r": ref})

    decision_date("2026-01-01")
    wf.fire(ref, "approve", actor="ann")
    decision_date(NEXT_YEAR)
    assert ("approve breaks the rule decision-date-reached: the decision is scheduled for "
            f"{NEXT_YEAR}") in _broken_rule(wf)


def test_a_forged_decision_by_the_drafter_breaks_separation_of_duties(wf):
    ref = draft(wf, "duo")
    wf.fire(ref, "submit", actor="duo")
    _forge(wf, ref, "approve_for_us", "approved_for_us", "duo", ["approver", "drafter"],
           acted_as=["approver"], consulted=_consulted(wf, US=[]))
    assert ("row 3 (TR-2026-0001): approve_for_us breaks the rule separation-of-duties: "
            "separation of duties: duo drafted TR-2026-0001") in _broken_rule(wf)


def test_a_forged_withdrawal_without_a_reason_breaks_reason_required(wf):
    ref = draft(wf)
    _forge(wf, ref, "withdraw", "withdrawn", "dan", ["drafter"])
    assert "withdraw breaks the rule reason-required: a reason is required" in _broken_rule(wf)


def test_a_forged_request_naming_japan_breaks_third_country_named(wf):
    ref = to_state(wf, "approved_for_us")
    _forge(wf, ref, "request_third_country", "third_country_review", "dan", ["drafter"],
           changes={"third_country": [None, "JP"], "decision_date": [None, NEXT_YEAR]},
           consulted=_consulted(wf, JP=[]))
    assert ("request_third_country breaks the rule third-country-named: JP is Japan, the "
            "exporting country, not a third country") in _broken_rule(wf)


def test_a_forged_deferral_to_an_earlier_date_breaks_decision_date_later(wf):
    ref = to_state(wf, "third_country_review")
    _forge(wf, ref, "defer", "third_country_review", "ann", ["approver"], reason="sooner",
           changes={"decision_date": [NEXT_YEAR, "2026-12-01"]})
    assert ("defer breaks the rule decision-date-later: the new decision date 2026-12-01 is not "
            f"later than the current one ({NEXT_YEAR})") in _broken_rule(wf)


def test_a_forged_edit_setting_a_value_the_program_refuses(wf):
    ref = draft(wf)
    _forge(wf, ref, "edit", "drafted", "dan", ["drafter"], changes={"quantity": [16, -5]})
    assert ("row 2 (TR-2026-0001): it sets a value the program does not take (quantity:"
            in _broken_rule(wf))


def test_a_row_must_list_exactly_the_restrictions_its_rules_read(wf, run_ready):
    """A submission that says it looked at PL's restrictions: the recipient's, US, are what its
    rule reads."""
    ref = draft(wf)
    _forge(wf, ref, "submit", "nsc_review", "dan", ["drafter"], consulted=_consulted(wf, PL=[]))
    assert ("it says it consulted the restrictions on PL, but its rules read those on US"
            in _broken_rule(wf))
    line = assert_one_line_error(run_ready("audit", "verify", "--rules", actor="aud"), 1)
    assert "audit failed: row 2 (TR-2026-0001)" in line


def test_rows_are_judged_on_their_own_day(wf, clock):
    """The day a row was written is the day its rules are judged on: an approval written on
    the decision date passes; one that says it was judged the day before fails verify."""
    ref = to_state(wf, "third_country_review")
    clock.set(datetime.fromisoformat(f"{NEXT_YEAR}T00:00:00+00:00"))
    _forge(wf, ref, "approve", "approved", "ann", ["approver"],
           consulted=_consulted(wf, PL=[]))
    assert wf.verify(rules=True)["rules_judged"] == 5
    early = to_state(wf, "third_country_review")
    _forge(wf, early, "approve", "approved", "ann", ["approver"],
           consulted={"as_of": "2026-12-31", "restrictions": {"PL": []}})
    with pytest.raises(AuditFailure, match="it was judged as of 2026-12-31, but made on "
                                           f"{NEXT_YEAR}"):
        wf.verify()


def test_rows_older_programs_wrote_are_replayed_not_judged(db_target, clock, monkeypatch):
    """Before the first change that keeps its place, rows were written by older versions of
    the program, whose rules may have been other: only the rows after it are judged."""
    with monkeypatch.context() as older:
        older.setattr("workflow.people.after_row", lambda head: None)
        older.setattr("workflow.policy.after_row", lambda head: None)
        wf = Workflow(db_target, clock=clock, create=True)
        wf.init("admin", direct_schema=True)
        for name, roles in (("dan", ["drafter"]), ("ann", ["approver"])):
            wf.add_user(name, roles, actor="admin")
        old = draft(wf)
        _forge(wf, old, "withdraw", "withdrawn", "dan", ["drafter"])  # no reason: judged now
    assert wf.verify(rules=True)["rules_judged"] == 0
    wf.add_user("rita", ["reviewer"], actor="admin")  # after row 2: rows from 3 on are judged
    new = draft(wf)
    wf.fire(new, "submit", actor="dan")
    assert wf.verify(rules=True)["rules_judged"] == 2
    wf.add_user("aud", ["auditor"], actor="admin")
    shown = Cli(db_target, clock)("audit", "verify", "--rules", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert ("ok: 2 rows judged again by the process's rules: each one they allow\n"
            "note: 2 rows replayed, not judged: written by an earlier version of the process, "
            "or before user and policy changes kept their place in the log") in shown.stdout
    wf.close()
