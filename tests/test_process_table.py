"""The process table of DOMAIN.md, row by row, through the public API.

Every allowed transition, every refusal (with its rule and the facts its reason names), and after
every refusal: the request's state, version and history are exactly as they were.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.conftest import START, draft, to_state
from tests.samples import DOMAIN_TABLE
from workflow import Refused, Workflow

STATES = ("drafted", "nsc_review", "approved_for_us", "third_country_review", "approved",
          "denied", "withdrawn")
FINALS = ("approved", "denied", "withdrawn")

TABLE = DOMAIN_TABLE

# a permitted actor and well-formed arguments for each event (on a request drafted by dan)
VALID_CALL: dict[str, tuple[str, dict[str, Any]]] = {
    "submit": ("dan", {}),
    "return": ("rita", {"reason": "incomplete"}),
    "approve_for_us": ("ann", {}),
    "deny": ("ann", {"reason": "not in the national interest"}),
    "withdraw": ("dan", {"reason": "no longer needed"}),
    "request_third_country": ("dan", {"country": "PL"}),
    "defer": ("ann", {"reason": "more time", "decision_date": date(2030, 6, 1)}),
    "approve": ("abe", {}),
}

NEXT_NEW_YEAR = datetime(START.year + 1, 1, 1, tzinfo=UTC)


def snapshot(wf: Workflow, ref: str) -> tuple[str, int, int]:
    record = wf.get(ref)
    return record["state"], record["version"], len(wf.history(ref))


def refused(wf: Workflow, ref: str, event: str, actor: str, rule: str, *facts: str,
            **kwargs: Any) -> Refused:
    """Fire and expect a refusal by ``rule`` whose reason names ``facts``; nothing may change."""
    before = snapshot(wf, ref)
    with pytest.raises(Refused) as info:
        wf.fire(ref, event, actor=actor, **kwargs)
    assert info.value.event == event
    assert info.value.rule == rule, info.value.reason
    for fact in facts:
        assert fact in info.value.reason, (fact, info.value.reason)
    assert f"[rule: {rule}]" in str(info.value)
    assert snapshot(wf, ref) == before
    return info.value


def fired(wf: Workflow, ref: str, event: str, actor: str, expected: str,
          **kwargs: Any) -> dict[str, Any]:
    """Fire and expect ``expected``; returns the history row the firing wrote."""
    state, version, rows = snapshot(wf, ref)
    assert wf.fire(ref, event, actor=actor, **kwargs) == expected
    assert snapshot(wf, ref) == (expected, version + 1, rows + 1)
    last = wf.history(ref)[-1]
    assert (last["event"], last["from"], last["to"], last["actor"]) == (
        event, state, expected, actor)
    return last


def _wrong_state_cases() -> list[tuple[str, str]]:
    return [(event, state) for event, (sources, _) in TABLE.items()
            for state in STATES if state not in sources]


# -- state: every event refused from every state it does not apply to ----------------------------


@pytest.mark.parametrize(("event", "state"), _wrong_state_cases())
def test_event_is_refused_from_a_state_it_does_not_apply_to(wf, event, state):
    ref = to_state(wf, state)
    actor, kwargs = VALID_CALL[event]
    sources = TABLE[event][0]
    error = refused(wf, ref, event, actor, "state", ref, state, *sources, **kwargs)
    assert error.reason == f"{ref} is {state}; {event} applies only from {' or '.join(sources)}"


@pytest.mark.parametrize("final", FINALS)
def test_final_state_allows_no_event_to_anyone(wf, final):
    ref = to_state(wf, final)
    for event in TABLE:
        for actor in ("admin", "dan", "rita", "ann", "abe", "duo"):
            _, kwargs = VALID_CALL[event]
            refused(wf, ref, event, actor, "state", final, **kwargs)
    assert not any(e["allowed"] for e in wf.get(ref, actor="ann")["events"])


# -- submit ----------------------------------------------------------------------------------------


def test_submit_by_own_drafter_moves_drafted_to_nsc_review(wf):
    ref = draft(wf, "dan")
    row = fired(wf, ref, "submit", "dan", "nsc_review")
    assert row["roles"] == ["drafter"]


def test_admin_may_submit_on_the_drafters_behalf(wf):
    ref = draft(wf, "dan")
    row = fired(wf, ref, "submit", "admin", "nsc_review")
    assert row["roles"] == ["admin"]


@pytest.mark.parametrize(("actor", "held"), [
    ("dora", "drafter"), ("duo", "approver, drafter"), ("rita", "reviewer"),
    ("ann", "approver"), ("aud", "auditor"),
])
def test_submit_is_refused_to_anyone_but_its_drafter_or_an_admin(wf, actor, held):
    ref = draft(wf, "dan")
    refused(wf, ref, "submit", actor, "role", "its drafter (dan)", "an admin",
            f"{actor} holds {held}")


def test_submit_is_refused_while_a_required_field_is_missing(wf):
    ref = draft(wf, "dan", consent_instrument=None)
    refused(wf, ref, "submit", "dan", "required-fields", "required fields missing",
            "consent_instrument")


def test_submit_is_refused_for_a_unit_value_without_currency(wf):
    ref = draft(wf, "dan", unit_value="1000000")
    refused(wf, ref, "submit", "dan", "required-fields", "unit value", "currency")
    wf.edit(ref, actor="dan", currency="USD")
    fired(wf, ref, "submit", "dan", "nsc_review")


def test_submit_is_refused_when_the_recipient_is_not_the_licensor_country(wf):
    ref = draft(wf, "dan", recipient="GB")
    refused(wf, ref, "submit", "dan", "recipient-is-licensor-country",
            "recipient (GB)", "licensor country (US)")


def test_submit_is_refused_for_a_restricted_recipient(wf):
    ref = draft(wf, "dan", recipient="IL", licensor_country="IL")
    refused(wf, ref, "submit", "dan", "recipient-unrestricted", "IL is restricted",
            "in-combat since 2023-10-07")


def test_admin_submitting_is_held_to_the_same_rules(wf):
    ref = draft(wf, "dan", recipient="GB")
    refused(wf, ref, "submit", "admin", "recipient-is-licensor-country", "GB", "US")


def test_submit_is_refused_once_a_restriction_on_the_recipient_is_added(wf):
    ref = draft(wf, "dan")
    wf.restrict("US", "embargo", START.date(), reason="test embargo", actor="admin")
    refused(wf, ref, "submit", "dan", "recipient-unrestricted", "US is restricted",
            f"embargo since {START.date().isoformat()}")


# -- return ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["rita", "ann"])
def test_reviewer_or_approver_returns_a_request_to_drafted_with_a_reason(wf, actor):
    ref = to_state(wf, "nsc_review")
    row = fired(wf, ref, "return", actor, "drafted", reason="end user missing")
    assert row["reason"] == "end user missing"


def test_returned_request_can_be_fixed_and_resubmitted(wf):
    ref = to_state(wf, "nsc_review")
    fired(wf, ref, "return", "rita", "drafted", reason="fix the note")
    wf.edit(ref, actor="dan", note="fixed")
    fired(wf, ref, "submit", "dan", "nsc_review")


@pytest.mark.parametrize(("actor", "held"), [
    ("dan", "drafter"), ("dora", "drafter"), ("admin", "admin"), ("aud", "auditor"),
])
def test_return_is_refused_to_non_reviewers_and_non_approvers(wf, actor, held):
    ref = to_state(wf, "nsc_review")
    refused(wf, ref, "return", actor, "role", "a reviewer", "an approver",
            f"{actor} holds {held}", reason="why not")


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_return_needs_a_reason(wf, reason):
    ref = to_state(wf, "nsc_review")
    refused(wf, ref, "return", "rita", "reason-required", "reason", reason=reason)


# -- approve_for_us --------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["ann", "abe", "duo"])
def test_an_approver_who_neither_drafted_nor_submitted_approves_for_us(wf, actor):
    ref = to_state(wf, "nsc_review")
    row = fired(wf, ref, "approve_for_us", actor, "approved_for_us")
    assert "approver" in row["roles"]


@pytest.mark.parametrize(("actor", "held"), [
    ("dan", "drafter"), ("dora", "drafter"), ("rita", "reviewer"), ("admin", "admin"),
    ("aud", "auditor"),
])
def test_approve_for_us_is_refused_to_non_approvers_including_admin(wf, actor, held):
    ref = to_state(wf, "nsc_review")
    refused(wf, ref, "approve_for_us", actor, "role", "an approver", f"{actor} holds {held}")


def test_drafter_holding_approver_cannot_approve_own_request_for_us(wf):
    ref = to_state(wf, "nsc_review", drafter="duo")
    refused(wf, ref, "approve_for_us", "duo", "separation-of-duties", "duo", "drafted", ref)


def test_submitter_holding_approver_cannot_approve_for_us(wf):
    wf.add_user("boss", ["admin", "approver"], actor="admin")
    ref = draft(wf, "dan")
    fired(wf, ref, "submit", "boss", "nsc_review")
    refused(wf, ref, "approve_for_us", "boss", "separation-of-duties", "boss", "submitted", ref)
    fired(wf, ref, "approve_for_us", "ann", "approved_for_us")


def test_restriction_added_after_submit_blocks_approve_for_us(wf):
    ref = to_state(wf, "nsc_review")
    wf.restrict("US", "embargo", START.date(), reason="test embargo", actor="admin")
    refused(wf, ref, "approve_for_us", "ann", "recipient-unrestricted", "US is restricted",
            f"embargo since {START.date().isoformat()}")


def test_ended_restriction_stops_blocking_from_its_end_date(wf, clock):
    ref = to_state(wf, "nsc_review")
    wf.restrict("US", "embargo", START.date(), reason="test embargo", actor="admin")
    end = date(2026, 12, 1)
    wf.end_restriction("US", end, reason="lifted", actor="admin")
    refused(wf, ref, "approve_for_us", "ann", "recipient-unrestricted", "US",
            f"until {end.isoformat()}")
    clock.set(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    refused(wf, ref, "approve_for_us", "ann", "recipient-unrestricted", "US")
    clock.set(datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    fired(wf, ref, "approve_for_us", "ann", "approved_for_us")


def test_restriction_with_future_since_blocks_only_once_the_clock_reaches_it(wf, clock):
    today, eve, late = (to_state(wf, "nsc_review") for _ in range(3))
    since = date(2026, 12, 10)
    wf.restrict("US", "embargo", since, reason="announced embargo", actor="admin")
    fired(wf, today, "approve_for_us", "ann", "approved_for_us")
    clock.set(datetime(2026, 12, 9, 23, 59, tzinfo=UTC))
    fired(wf, eve, "approve_for_us", "ann", "approved_for_us")
    clock.set(datetime(2026, 12, 10, 0, 0, tzinfo=UTC))
    refused(wf, late, "approve_for_us", "ann", "recipient-unrestricted", "US is restricted",
            "embargo since 2026-12-10")


# -- deny ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["nsc_review", "third_country_review"])
def test_approver_denies_from_review_states_with_a_reason(wf, source):
    ref = to_state(wf, source)
    row = fired(wf, ref, "deny", "abe", "denied", reason="not in the national interest")
    assert row["reason"] == "not in the national interest"


@pytest.mark.parametrize("source", ["nsc_review", "third_country_review"])
@pytest.mark.parametrize(("actor", "held"), [
    ("dan", "drafter"), ("rita", "reviewer"), ("admin", "admin"), ("aud", "auditor"),
])
def test_deny_is_refused_to_non_approvers_including_admin(wf, source, actor, held):
    ref = to_state(wf, source)
    refused(wf, ref, "deny", actor, "role", "an approver", f"{actor} holds {held}",
            reason="no")


@pytest.mark.parametrize("source", ["nsc_review", "third_country_review"])
@pytest.mark.parametrize("reason", [None, "  "])
def test_deny_needs_a_reason(wf, source, reason):
    ref = to_state(wf, source)
    refused(wf, ref, "deny", "ann", "reason-required", "reason", reason=reason)


@pytest.mark.parametrize("source", ["nsc_review", "third_country_review"])
def test_drafter_holding_approver_cannot_deny_own_request(wf, source):
    ref = to_state(wf, source, drafter="duo")
    refused(wf, ref, "deny", "duo", "separation-of-duties", "duo", "drafted", ref,
            reason="my own")


def test_submitter_holding_approver_cannot_deny(wf):
    wf.add_user("boss", ["admin", "approver"], actor="admin")
    ref = draft(wf, "dan")
    fired(wf, ref, "submit", "boss", "nsc_review")
    refused(wf, ref, "deny", "boss", "separation-of-duties", "boss", "submitted",
            reason="changed my mind")


# -- withdraw --------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["drafted", "nsc_review"])
@pytest.mark.parametrize("actor", ["dan", "admin"])
def test_drafter_or_admin_withdraws_with_a_reason(wf, source, actor):
    ref = to_state(wf, source)
    row = fired(wf, ref, "withdraw", actor, "withdrawn", reason="no longer needed")
    assert row["reason"] == "no longer needed"


@pytest.mark.parametrize("source", ["drafted", "nsc_review"])
@pytest.mark.parametrize(("actor", "held"), [
    ("dora", "drafter"), ("duo", "approver, drafter"), ("rita", "reviewer"), ("ann", "approver"),
    ("aud", "auditor"),
])
def test_withdraw_is_refused_to_others(wf, source, actor, held):
    ref = to_state(wf, source)
    refused(wf, ref, "withdraw", actor, "role", "its drafter (dan)", "an admin",
            f"{actor} holds {held}", reason="not mine")


@pytest.mark.parametrize(("event", "source", "kwargs"), [
    ("submit", "drafted", {}), ("withdraw", "drafted", {"reason": "not needed"}),
    ("request_third_country", "approved_for_us", {"country": "PL"})])
def test_a_drafter_who_lost_the_drafter_role_is_refused_and_told_why(wf, event, source, kwargs):
    """"Its drafter" means the person while holding the role (DOMAIN: the drafter role
    submits and withdraws its own requests): the refusal names both, not the person alone."""
    ref = to_state(wf, source)
    wf.set_user_roles("dan", ["reviewer"], actor="admin")
    refused(wf, ref, event, "dan", "role", "only its drafter (dan) holding the drafter role or",
            "dan holds reviewer", **kwargs)


@pytest.mark.parametrize("source", ["drafted", "nsc_review"])
@pytest.mark.parametrize("actor", ["dan", "admin"])
def test_withdraw_needs_a_reason(wf, source, actor):
    ref = to_state(wf, source)
    refused(wf, ref, "withdraw", actor, "reason-required", "reason")


# -- request_third_country -------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["dan", "ann", "admin"])
def test_drafter_approver_or_admin_records_a_third_country_request(wf, actor):
    ref = to_state(wf, "approved_for_us")
    row = fired(wf, ref, "request_third_country", actor, "third_country_review", country="PL",
                reason="US request for consent")
    record = wf.get(ref)
    assert record["third_country"] == "PL"
    assert row["changes"]["third_country"] == [None, "PL"]


@pytest.mark.parametrize(("actor", "held"), [
    ("dora", "drafter"), ("rita", "reviewer"), ("aud", "auditor"),
])
def test_request_third_country_is_refused_to_others(wf, actor, held):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", actor, "role", "its drafter (dan)",
            "an approver", "an admin", f"{actor} holds {held}", country="PL")


def test_default_decision_date_is_first_of_january_next_year(wf):
    ref = to_state(wf, "approved_for_us")
    fired(wf, ref, "request_third_country", "dan", "third_country_review", country="pl")
    assert wf.get(ref)["decision_date"] == NEXT_NEW_YEAR.date().isoformat()
    assert wf.get(ref)["third_country"] == "PL"


def test_default_decision_date_on_new_years_eve_is_the_next_day(wf, clock):
    ref = to_state(wf, "approved_for_us")
    clock.set(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    fired(wf, ref, "request_third_country", "dan", "third_country_review", country="PL")
    assert wf.get(ref)["decision_date"] == "2027-01-01"


def test_explicit_decision_date_in_a_later_year_is_kept(wf):
    ref = to_state(wf, "approved_for_us")
    fired(wf, ref, "request_third_country", "dan", "third_country_review", country="PL",
          decision_date="2028-03-15")
    assert wf.get(ref)["decision_date"] == "2028-03-15"


def test_request_third_country_without_a_country_is_refused(wf):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", "dan", "third-country-named",
            "third country is required")


def test_request_third_country_naming_the_recipient_is_refused(wf):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", "dan", "third-country-named", "US",
            "recipient", country="us")


def test_request_third_country_naming_japan_is_refused(wf):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", "dan", "third-country-named", "JP", "Japan",
            country="JP")


@pytest.mark.parametrize(("country", "facts"), [
    ("UA", "in-combat since 2022-02-24"),
    ("RU", "in-combat since 2022-02-24"),
    ("IL", "in-combat since 2023-10-07"),
    ("KP", "embargo since 2006-10-14"),
])
def test_request_third_country_naming_a_restricted_country_is_refused(wf, country, facts):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", "dan", "third-country-unrestricted",
            f"{country} is restricted", facts, country=country)


def test_request_third_country_for_a_country_restricted_later_today_is_refused(wf):
    ref = to_state(wf, "approved_for_us")
    wf.restrict("PL", "in-combat", START.date(), reason="test", actor="admin")
    refused(wf, ref, "request_third_country", "dan", "third-country-unrestricted",
            "PL is restricted", country="PL")


def test_ended_restriction_on_a_third_country_stops_blocking_from_its_end_date(wf, clock):
    ref = to_state(wf, "approved_for_us")
    wf.end_restriction("UA", date(2026, 12, 1), reason="ceasefire", actor="admin")
    refused(wf, ref, "request_third_country", "dan", "third-country-unrestricted", "UA",
            "until 2026-12-01", country="UA")
    clock.set(datetime(2026, 12, 1, tzinfo=UTC))
    fired(wf, ref, "request_third_country", "dan", "third_country_review", country="UA")


@pytest.mark.parametrize("decision", [
    date(2026, 12, 31), START.date(), date(2026, 1, 1), date(2025, 6, 1),
])
def test_decision_date_not_in_a_later_calendar_year_is_refused(wf, decision):
    ref = to_state(wf, "approved_for_us")
    refused(wf, ref, "request_third_country", "dan", "decision-in-later-year",
            decision.isoformat(), START.date().isoformat(), "later calendar year",
            country="PL", decision_date=decision)


@pytest.mark.parametrize("decision", [None, date(9999, 12, 31)])
def test_in_the_last_year_a_date_can_have_no_decision_date_is_later(wf, clock, decision):
    """No calendar year follows 9999: the request is refused by the rule, and recorded, whether
    the decision date is left to its default or given."""
    ref = to_state(wf, "approved_for_us")
    clock.set(datetime(9999, 6, 1, tzinfo=UTC))
    given = {} if decision is None else {"decision_date": decision}
    refused(wf, ref, "request_third_country", "dan", "decision-in-later-year", "9999",
            country="PL", **given)
    assert wf.refusals(ref=ref)[-1]["rule"] == "decision-in-later-year"


# -- defer -----------------------------------------------------------------------------------------


def test_approver_defers_to_a_later_decision_date(wf):
    ref = to_state(wf, "third_country_review")
    row = fired(wf, ref, "defer", "ann", "third_country_review", reason="await the summit",
                decision_date="2027-03-01")
    assert wf.get(ref)["decision_date"] == "2027-03-01"
    assert row["changes"] == {"decision_date": ["2027-01-01", "2027-03-01"]}


@pytest.mark.parametrize(("actor", "held"), [
    ("dan", "drafter"), ("rita", "reviewer"), ("admin", "admin"), ("aud", "auditor"),
])
def test_defer_is_refused_to_non_approvers(wf, actor, held):
    ref = to_state(wf, "third_country_review")
    refused(wf, ref, "defer", actor, "role", "an approver", f"{actor} holds {held}",
            reason="later", decision_date="2027-03-01")


def test_defer_needs_a_reason(wf):
    ref = to_state(wf, "third_country_review")
    refused(wf, ref, "defer", "ann", "reason-required", "reason", decision_date="2027-03-01")


@pytest.mark.parametrize("decision", ["2027-01-01", "2026-12-31"])
def test_defer_to_a_date_not_later_than_the_current_one_is_refused(wf, decision):
    ref = to_state(wf, "third_country_review")
    refused(wf, ref, "defer", "ann", "decision-date-later", decision, "2027-01-01",
            "not later", reason="later", decision_date=decision)


def test_defer_from_the_calendars_last_day_is_refused_whatever_the_date(wf):
    ref = to_state(wf, "approved_for_us")
    wf.fire(ref, "request_third_country", actor="dan", country="PL", decision_date="9999-12-31")
    refused(wf, ref, "defer", "ann", "later-date-exists", "9999-12-31", "no later date exists",
            reason="later", decision_date="9999-12-31")


def test_defer_without_a_new_decision_date_is_refused(wf):
    ref = to_state(wf, "third_country_review")
    refused(wf, ref, "defer", "ann", "decision-date-later", "decision date is required",
            reason="later")


# -- approve ---------------------------------------------------------------------------------------


def test_approve_is_refused_before_the_decision_date(wf, clock):
    ref = to_state(wf, "third_country_review")
    clock.set(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    refused(wf, ref, "approve", "abe", "decision-date-reached", "scheduled for 2027-01-01")


def test_approve_is_allowed_on_the_decision_date(wf, clock):
    ref = to_state(wf, "third_country_review")
    clock.set(NEXT_NEW_YEAR)
    fired(wf, ref, "approve", "abe", "approved")


def test_approve_is_allowed_after_the_decision_date(wf, clock):
    ref = to_state(wf, "third_country_review")
    clock.set(datetime(2027, 8, 15, 12, 0, tzinfo=UTC))
    fired(wf, ref, "approve", "abe", "approved")


def test_decision_date_is_judged_by_the_utc_date_of_a_non_utc_clock(wf, clock):
    ref = to_state(wf, "third_country_review")
    tokyo = timezone(timedelta(hours=9))
    clock.set(datetime(2027, 1, 1, 8, 0, tzinfo=tokyo))  # still 2026-12-31 in UTC
    refused(wf, ref, "approve", "abe", "decision-date-reached", "scheduled for 2027-01-01")


def test_approve_waits_for_a_deferred_decision_date(wf, clock):
    ref = to_state(wf, "third_country_review")
    wf.fire(ref, "defer", actor="ann", reason="summit", decision_date="2027-03-01")
    clock.set(datetime(2027, 2, 28, 23, 0, tzinfo=UTC))
    refused(wf, ref, "approve", "abe", "decision-date-reached", "2027-03-01")
    clock.set(datetime(2027, 3, 1, tzinfo=UTC))
    fired(wf, ref, "approve", "abe", "approved")


@pytest.mark.parametrize(("actor", "held"), [
    ("dan", "drafter"), ("rita", "reviewer"), ("admin", "admin"), ("aud", "auditor"),
])
def test_approve_is_refused_to_non_approvers_including_admin(wf, clock, actor, held):
    ref = to_state(wf, "third_country_review")
    clock.set(NEXT_NEW_YEAR)
    refused(wf, ref, "approve", actor, "role", "an approver", f"{actor} holds {held}")


def test_approve_is_refused_to_whoever_recorded_the_third_country_request(wf, clock):
    ref = to_state(wf, "approved_for_us")
    wf.fire(ref, "request_third_country", actor="abe", country="PL")
    clock.set(NEXT_NEW_YEAR)
    refused(wf, ref, "approve", "abe", "separation-of-duties", "abe",
            "recorded the third-country request")
    fired(wf, ref, "approve", "ann", "approved")


def test_drafter_holding_approver_cannot_approve_own_third_country_request(wf, clock):
    ref = to_state(wf, "third_country_review", drafter="duo")
    clock.set(NEXT_NEW_YEAR)
    refused(wf, ref, "approve", "duo", "separation-of-duties", "duo", "drafted", ref)


def test_approver_who_approved_for_us_may_also_approve_the_third_country(wf, clock):
    ref = to_state(wf, "third_country_review")  # ann approved it for the US
    clock.set(NEXT_NEW_YEAR)
    fired(wf, ref, "approve", "ann", "approved")


def test_third_country_restricted_after_the_request_blocks_approve(wf, clock):
    ref = to_state(wf, "third_country_review")
    wf.restrict("PL", "in-combat", date(2026, 12, 15), reason="war", actor="admin")
    clock.set(NEXT_NEW_YEAR)
    refused(wf, ref, "approve", "abe", "third-country-unrestricted", "PL is restricted",
            "in-combat since 2026-12-15")


def test_third_country_restriction_ended_before_the_decision_no_longer_blocks(wf, clock):
    ref = to_state(wf, "third_country_review")
    wf.restrict("PL", "in-combat", date(2026, 12, 15), reason="war", actor="admin")
    wf.end_restriction("PL", date(2027, 1, 2), reason="peace", actor="admin")
    clock.set(NEXT_NEW_YEAR)
    refused(wf, ref, "approve", "abe", "third-country-unrestricted", "PL")
    clock.set(datetime(2027, 1, 2, tzinfo=UTC))
    fired(wf, ref, "approve", "abe", "approved")


# -- the whole main path --------------------------------------------------------------------------


def test_main_path_from_drafted_to_approved(wf, clock):
    ref = draft(wf, "dan")
    fired(wf, ref, "submit", "dan", "nsc_review")
    fired(wf, ref, "approve_for_us", "ann", "approved_for_us")
    fired(wf, ref, "request_third_country", "dan", "third_country_review", country="PL",
          reason="US asks consent")
    fired(wf, ref, "defer", "ann", "third_country_review", reason="await review",
          decision_date="2027-02-01")
    clock.set(datetime(2027, 2, 1, 10, 0, tzinfo=UTC))
    fired(wf, ref, "approve", "abe", "approved")
    assert [h["event"] for h in wf.history(ref)] == [
        "create", "submit", "approve_for_us", "request_third_country", "defer", "approve"]
