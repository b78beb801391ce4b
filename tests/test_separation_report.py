"""`audit report` says why each separation-of-duties breach is one: the earlier rows of the same
request in which the same person did what the process's rule excludes, and in words. Its notion
is the write path's: the rows it lists are those the rules refuse (and `audit verify --rules`
names), and a row the rules let through is none. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from states.transfer import PROCESS
from tests.conftest import draft, rewrite_history
from tests.test_rejudge import _broken_rule, _consulted, _forge
from workflow.errors import Refused
from workflow.process import SEPARATION_RULE, Context, PolicyView


def _refused_by_separation(wf, ref: str, event: str, actor: str) -> str:
    with pytest.raises(Refused) as refused:
        wf.fire(ref, event, actor=actor)
    assert refused.value.rule == SEPARATION_RULE
    return refused.value.reason


def _breaches(wf, run_ready) -> list[dict[str, Any]]:
    result = run_ready("audit", "report", "--json", actor="aud")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report == wf.report()  # the CLI prints the API's dictionaries
    return report["separation_of_duties"]


def test_the_separation_map_the_report_reads_is_what_the_rules_refuse():
    day = date(2026, 6, 1)
    assert all(event.done for event in PROCESS.events)  # every row can be told in words
    for event in PROCESS.events:
        rules = [rule for rule in event.rules if rule.name == SEPARATION_RULE]
        assert len(rules) == (event.name in PROCESS.separation), event.name
        for rule in rules:
            for earlier in ("create", *(e.name for e in PROCESS.events)):
                ctx = Context(
                    ref="TR-2026-0001", state=event.sources[0], fields={}, actor="kim",
                    roles=frozenset({"approver"}),
                    drafter="kim" if earlier == "create" else "dan",
                    participants={} if earlier == "create" else {earlier: ("kim",)},
                    today=day, policy=PolicyView([], day))
                refused = rule.check(ctx) is not None
                assert refused == (earlier in PROCESS.separation[event.name]), (event.name,
                                                                                  earlier)


def test_an_approval_by_its_drafter_who_resubmitted_after_a_return_names_every_such_row(
        wf, run_ready):
    ref = draft(wf, "duo")                                      # row 1
    wf.fire(ref, "submit", actor="duo")                         # row 2
    wf.fire(ref, "return", actor="rita", reason="fix the end user")  # row 3
    wf.fire(ref, "submit", actor="duo")                         # row 4
    assert _refused_by_separation(wf, ref, "approve_for_us", "duo") == (
        f"separation of duties: duo drafted {ref}")
    _forge(wf, ref, "approve_for_us", "approved_for_us", "duo", ["approver", "drafter"],
           acted_as=["approver"], consulted=_consulted(wf, US=[]))  # row 5
    assert _breaches(wf, run_ready) == [{
        "ref": ref, "seq": 5, "event": "approve_for_us", "actor": "duo",
        "rule": "separation-of-duties",
        "conflicts_with": [{"seq": 1, "event": "create"}, {"seq": 2, "event": "submit"},
                           {"seq": 4, "event": "submit"}],
        "why": f"duo approved {ref} for transfer to US (row 5), though duo drafted it (row 1), "
               "submitted it (row 2) and submitted it (row 4)"}]
    assert (f"row 5 ({ref}): approve_for_us breaks the rule separation-of-duties: separation "
            f"of duties: duo drafted {ref}") in _broken_rule(wf)


def test_an_approval_by_an_admin_who_resubmitted_after_a_return_is_a_breach_through_the_cli(
        wf, run_ready):
    wf.add_user("boss", ["admin", "approver"], actor="admin")
    ref = draft(wf, "dan")                                      # row 1
    wf.fire(ref, "submit", actor="dan")                         # row 2
    wf.fire(ref, "return", actor="ann", reason="fix the end user")  # row 3
    wf.fire(ref, "submit", actor="boss")                        # row 4, on dan's behalf
    assert _refused_by_separation(wf, ref, "approve_for_us", "boss") == (
        f"separation of duties: boss submitted {ref}")
    _forge(wf, ref, "approve_for_us", "approved_for_us", "boss", ["admin", "approver"],
           acted_as=["approver"], consulted=_consulted(wf, US=[]))  # row 5
    why = f"boss approved {ref} for transfer to US (row 5), though boss submitted it (row 4)"
    [breach] = _breaches(wf, run_ready)
    assert breach["conflicts_with"] == [{"seq": 4, "event": "submit"}]
    assert breach["why"] == why
    assert "boss submitted" in _broken_rule(wf)
    text = run_ready("audit", "report", actor="aud").stdout.splitlines()
    heading = text.index("Separation of duties: 1 breach(es)")
    assert text[heading + 1].split() == ["REF", "SEQ", "EVENT", "ACTOR"]
    assert text[heading + 2].split() == [ref, "5", "approve_for_us", "boss"]
    assert text[heading + 3] == f"  {why}"


def test_a_consent_by_whoever_recorded_the_third_country_request_is_explained(
        wf, run_ready, clock):
    ref = draft(wf, "dan")                                      # row 1
    wf.fire(ref, "submit", actor="dan")                         # row 2
    wf.fire(ref, "approve_for_us", actor="ann")                 # row 3
    wf.fire(ref, "request_third_country", actor="abe", country="PL")  # row 4
    clock.set(datetime(2027, 1, 1, 9, tzinfo=UTC))
    assert _refused_by_separation(wf, ref, "approve", "abe") == (
        "separation of duties: abe recorded the third-country request")
    _forge(wf, ref, "approve", "approved", "abe", ["approver"],
           consulted=_consulted(wf, PL=[]))                     # row 5
    why = (f"abe consented to passing {ref} on to PL (row 5), though abe recorded the request "
           "to pass it on to PL (row 4)")
    assert _breaches(wf, run_ready) == [{
        "ref": ref, "seq": 5, "event": "approve", "actor": "abe",
        "rule": "separation-of-duties",
        "conflicts_with": [{"seq": 4, "event": "request_third_country"}], "why": why}]
    assert ("approve breaks the rule separation-of-duties: separation of duties: abe recorded "
            "the third-country request") in _broken_rule(wf)
    text = run_ready("audit", "report", actor="aud").stdout
    assert "Separation of duties: 1 breach(es)" in text
    assert f"\n  {why}\n" in text


def test_decisions_the_rules_let_through_are_no_breach(wf, run_ready, clock):
    # whoever recorded the third-country request may still deny (deny excludes the drafter and
    # the submitter only), whoever returned or approved for the US may still decide, and a
    # drafter who recorded the request may not approve but someone else may
    denied = draft(wf, "dan")
    wf.fire(denied, "submit", actor="dan")
    wf.fire(denied, "approve_for_us", actor="ann")
    wf.fire(denied, "request_third_country", actor="abe", country="PL")
    wf.fire(denied, "deny", actor="abe", reason="not now")
    approved = draft(wf, "dora")
    wf.fire(approved, "submit", actor="dora")
    wf.fire(approved, "return", actor="ann", reason="fix the end user")
    wf.fire(approved, "submit", actor="dora")
    wf.fire(approved, "approve_for_us", actor="ann")
    wf.fire(approved, "request_third_country", actor="dora", country="PL")
    clock.set(datetime(2027, 1, 1, 9, tzinfo=UTC))
    wf.fire(approved, "approve", actor="ann")
    assert _breaches(wf, run_ready) == []
    assert wf.verify(rules=True)["rows"] == 12
    assert "Separation of duties: 0 breach(es)" in run_ready("audit", "report",
                                                            actor="aud").stdout


def test_a_decision_rewritten_to_the_drafters_name_is_explained_even_with_unreadable_changes(
        wf, run_ready):
    ref = draft(wf, "dan")                                      # row 1
    wf.fire(ref, "submit", actor="dan")                         # row 2
    wf.fire(ref, "approve_for_us", actor="ann")                 # row 3
    rewrite_history(wf, "UPDATE wf_history SET actor = 'dan' WHERE seq = 3")
    [breach] = _breaches(wf, run_ready)
    assert breach["why"] == (f"dan approved {ref} for transfer to US (row 3), though dan drafted "
                             "it (row 1) and submitted it (row 2)")
    # the fields the words name are read from the rows: unreadable there, they are said missing
    rewrite_history(wf, "UPDATE wf_history SET changes = '\"x\"' WHERE seq = 1")
    [breach] = _breaches(wf, run_ready)
    assert breach["conflicts_with"] == [{"seq": 1, "event": "create"},
                                        {"seq": 2, "event": "submit"}]
    assert breach["why"].startswith(f"dan approved {ref} for transfer to (no recipient) (row 3)")
