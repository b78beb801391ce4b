"""A transfer request's record: creation, references, edits, history, reading, validation, users."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from states import PROCESS
from tests.conftest import PATRIOT, START, draft, to_state
from workflow import InvalidInput, NotFound, Refused, Workflow

JST = timezone(timedelta(hours=9))
EST = timezone(timedelta(hours=-5))


def snapshot(wf: Workflow, ref: str) -> tuple[str, int, int, dict[str, Any]]:
    record = wf.get(ref)
    return record["state"], record["version"], len(wf.history(ref)), record


def events_for(wf: Workflow, ref: str, actor: str) -> dict[str, dict[str, Any]]:
    return {e["event"]: e for e in wf.get(ref, actor=actor)["events"]}


# -- creation --------------------------------------------------------------------------------------


def test_create_writes_a_create_history_row_with_the_given_fields(wf):
    ref = draft(wf, "dan", note="replenishment")
    [row] = wf.history(ref)
    assert row["event"] == "create"
    assert row["from"] is None
    assert row["to"] == "drafted"
    assert row["actor"] == "dan"
    assert row["roles"] == ["drafter"]
    assert row["reason"] is None
    assert row["process_version"] == PROCESS.version == "transfer-request/1"
    assert row["changes"] == {
        **{name: [None, value] for name, value in PATRIOT.items()},
        "note": [None, "replenishment"],
    }
    assert row["at"] == START.isoformat()


def test_create_records_all_roles_of_the_actor(wf):
    ref = draft(wf, "duo")
    assert wf.history(ref)[0]["roles"] == ["approver", "drafter"]


def test_create_stores_canonical_values_and_who_drafted_it_when(wf):
    ref = draft(wf, "dan", recipient="us", licensor_country=" us ", quantity="16",
                unit_value="3.50", currency="usd", item="  PAC-3 MSE interceptor ")
    record = wf.get(ref)
    assert record["state"] == "drafted"
    assert record["version"] == 1
    assert record["recipient"] == record["licensor_country"] == "US"
    assert record["quantity"] == 16
    assert record["currency"] == "USD"
    assert record["unit_value"] == "3.50"
    assert record["item"] == "PAC-3 MSE interceptor"
    assert record["third_country"] is None
    assert record["decision_date"] is None
    assert record["drafted_by"] == "dan"
    assert record["drafted_at"] == START.isoformat()


def test_omitted_optional_fields_are_not_in_the_create_changes(wf):
    ref = draft(wf, "dan", consent_instrument=None)
    changes = wf.history(ref)[0]["changes"]
    assert "consent_instrument" not in changes
    assert "note" not in changes
    assert wf.get(ref)["consent_instrument"] is None


@pytest.mark.parametrize("actor", ["rita", "ann", "aud", "admin"])
def test_only_drafters_create_requests(wf, actor):
    with pytest.raises(Refused) as info:
        draft(wf, actor)
    assert info.value.rule == "role"
    assert actor in info.value.reason
    assert wf.list() == []


def test_missing_required_field_at_creation_is_invalid(wf):
    fields = {k: v for k, v in PATRIOT.items() if k != "end_user"}
    with pytest.raises(InvalidInput, match="end_user"):
        wf.create(actor="dan", **fields)
    assert wf.list() == []


# -- references ------------------------------------------------------------------------------------


def test_references_count_up_within_the_clocks_year(wf):
    assert [draft(wf) for _ in range(3)] == ["TR-2026-0001", "TR-2026-0002", "TR-2026-0003"]


def test_references_restart_numbering_in_a_new_year(wf, clock):
    assert draft(wf) == "TR-2026-0001"
    assert draft(wf) == "TR-2026-0002"
    clock.set(datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    assert draft(wf) == "TR-2027-0001"
    assert draft(wf) == "TR-2027-0002"


def test_reference_year_is_the_utc_year_for_a_clock_ahead_of_utc(wf, clock):
    clock.set(datetime(2027, 1, 1, 8, 0, tzinfo=JST))  # 2026-12-31 23:00 UTC
    assert draft(wf) == "TR-2026-0001"


def test_reference_year_is_the_utc_year_for_a_clock_behind_utc(wf, clock):
    clock.set(datetime(2026, 12, 31, 20, 0, tzinfo=EST))  # 2027-01-01 01:00 UTC
    assert draft(wf) == "TR-2027-0001"


def test_references_are_found_case_insensitively(wf):
    ref = draft(wf)
    assert wf.get(ref.lower())["ref"] == ref


# -- edits -----------------------------------------------------------------------------------------


def test_edit_by_own_drafter_records_old_and_new_values(wf, clock):
    ref = draft(wf, "dan")
    clock.advance(hours=1)
    changes = wf.edit(ref, actor="dan", quantity=20, note="revised")
    assert changes == {"quantity": [16, 20], "note": [None, "revised"]}
    record = wf.get(ref)
    assert (record["quantity"], record["note"], record["version"]) == (20, "revised", 2)
    row = wf.history(ref)[-1]
    assert (row["event"], row["from"], row["to"], row["actor"]) == (
        "edit", "drafted", "drafted", "dan")
    assert row["changes"] == {"quantity": [16, 20], "note": [None, "revised"]}
    assert row["at"] == (START + timedelta(hours=1)).isoformat()
    assert row["process_version"] == PROCESS.version


def test_edit_records_only_the_fields_that_changed(wf):
    ref = draft(wf, "dan")
    changes = wf.edit(ref, actor="dan", quantity=16, end_user="US Navy")
    assert changes == {"end_user": ["US Army", "US Navy"]}
    assert wf.history(ref)[-1]["changes"] == changes


def test_edit_giving_the_same_values_writes_nothing(wf):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    assert wf.edit(ref, actor="dan", quantity="16", recipient="us", item=PATRIOT["item"]) == {}
    assert snapshot(wf, ref) == before


@pytest.mark.parametrize("actor", ["dora", "duo", "ann", "rita", "admin", "aud"])
def test_edit_is_refused_to_anyone_but_the_requests_drafter(wf, actor):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    with pytest.raises(Refused) as info:
        wf.edit(ref, actor=actor, quantity=99)
    assert info.value.rule == "role"
    assert "its drafter (dan)" in info.value.reason
    assert snapshot(wf, ref) == before


@pytest.mark.parametrize("state", ["nsc_review", "approved_for_us", "third_country_review",
                                   "approved", "denied", "withdrawn"])
def test_edit_is_refused_once_the_request_left_drafted(wf, state):
    ref = to_state(wf, state)
    before = snapshot(wf, ref)
    with pytest.raises(Refused) as info:
        wf.edit(ref, actor="dan", quantity=99)
    assert info.value.rule == "state"
    assert state in info.value.reason and "drafted" in info.value.reason
    assert snapshot(wf, ref) == before


def test_edit_is_allowed_again_after_a_return(wf):
    ref = to_state(wf, "nsc_review")
    wf.fire(ref, "return", actor="rita", reason="fix quantity")
    assert wf.edit(ref, actor="dan", quantity=8) == {"quantity": [16, 8]}


@pytest.mark.parametrize("field", ["third_country", "decision_date"])
def test_fields_set_by_events_cannot_be_edited_by_hand(wf, field):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    with pytest.raises(InvalidInput, match=field):
        wf.edit(ref, actor="dan", **{field: "PL" if field == "third_country" else "2027-01-01"})
    assert snapshot(wf, ref) == before


def test_edit_with_nothing_to_change_is_invalid(wf):
    ref = draft(wf, "dan")
    with pytest.raises(InvalidInput):
        wf.edit(ref, actor="dan")


# -- history rows written by events ---------------------------------------------------------------


def test_request_third_country_records_third_country_and_decision_date(wf):
    ref = to_state(wf, "approved_for_us")
    wf.fire(ref, "request_third_country", actor="dan", country="PL", reason="US asks")
    row = wf.history(ref)[-1]
    assert row["event"] == "request_third_country"
    assert row["reason"] == "US asks"
    assert row["changes"] == {"third_country": [None, "PL"],
                              "decision_date": [None, "2027-01-01"]}
    assert row["consulted"]["restrictions"] == {"PL": []}


def test_decision_history_keeps_every_restriction_consulted_and_whether_in_force(wf, clock):
    ref = to_state(wf, "nsc_review")
    wf.restrict("US", "embargo", date(2026, 11, 1), reason="test", actor="admin")
    wf.end_restriction("US", date(2026, 11, 20), reason="lifted", actor="admin")
    wf.fire(ref, "approve_for_us", actor="ann")
    row = wf.history(ref)[-1]
    assert row["consulted"] == {"as_of": "2026-11-25", "restrictions": {"US": [
        {"kind": "embargo", "since": "2026-11-01", "until": "2026-11-20", "in_force": False}]}}
    assert row["changes"] == {}


def test_history_at_is_iso_8601_utc_and_follows_the_clock(wf, clock):
    ref = draft(wf, "dan")
    clock.set(datetime(2026, 11, 26, 17, 30, 5, tzinfo=JST))
    wf.fire(ref, "submit", actor="dan")
    rows = wf.history(ref)
    for row in rows:
        moment = datetime.fromisoformat(row["at"])
        assert moment.utcoffset() == timedelta(0)
    assert rows[0]["at"] == "2026-11-25T09:00:00+00:00"
    assert rows[1]["at"] == "2026-11-26T08:30:05+00:00"
    assert [r["seq"] for r in rows] == sorted(r["seq"] for r in rows)


def test_history_of_an_unknown_reference_is_not_found(wf):
    with pytest.raises(NotFound):
        wf.history("TR-2026-0099")


# -- get with an actor: what may they do? ----------------------------------------------------------


def test_get_without_actor_has_no_events(wf):
    assert "events" not in wf.get(draft(wf))


def test_get_lists_every_event_with_allowed_and_reason(wf):
    ref = draft(wf, "dan")
    events = events_for(wf, ref, "dan")
    assert list(events) == [e.name for e in PROCESS.events]
    assert events["submit"] == {"event": "submit", "allowed": True, "reason": None}
    assert events["return"]["allowed"] is False
    assert events["return"]["reason"].endswith("[rule: state]")
    assert ref in events["return"]["reason"]
    for event in events.values():
        assert (event["reason"] is None) == event["allowed"]


def test_get_allowed_ignores_rules_that_depend_on_arguments(wf):
    ref = draft(wf, "dan")
    assert events_for(wf, ref, "dan")["withdraw"]["allowed"] is True  # reason not known yet
    ref = to_state(wf, "approved_for_us")
    assert events_for(wf, ref, "dan")["request_third_country"]["allowed"] is True
    ref = to_state(wf, "third_country_review")
    ann = events_for(wf, ref, "ann")
    assert ann["defer"]["allowed"] is True
    assert ann["deny"]["allowed"] is True


def test_get_reports_role_and_argument_free_rule_refusals(wf):
    ref = draft(wf, "dan")
    dora = events_for(wf, ref, "dora")
    assert dora["submit"]["allowed"] is False
    assert dora["submit"]["reason"].endswith("[rule: role]")
    assert "dora" in dora["submit"]["reason"]
    ref = to_state(wf, "nsc_review", drafter="duo")
    duo = events_for(wf, ref, "duo")
    assert duo["approve_for_us"]["reason"].endswith("[rule: separation-of-duties]")
    ref = to_state(wf, "third_country_review")
    approve = events_for(wf, ref, "abe")["approve"]
    assert approve["allowed"] is False
    assert approve["reason"].endswith("[rule: decision-date-reached]")
    assert "2027-01-01" in approve["reason"]


def test_get_preview_follows_the_clock(wf, clock):
    ref = to_state(wf, "third_country_review")
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert events_for(wf, ref, "abe")["approve"] == {
        "event": "approve", "allowed": True, "reason": None}


def test_auditor_may_read_but_do_nothing(wf):
    ref = to_state(wf, "nsc_review")
    events = events_for(wf, ref, "aud")
    assert not any(e["allowed"] for e in events.values())
    assert wf.get(ref, actor="aud")["ref"] == ref


# -- due and list ----------------------------------------------------------------------------------


def test_due_lists_only_third_country_reviews_whose_decision_date_has_come(wf, clock):
    soon = to_state(wf, "third_country_review")
    later = to_state(wf, "approved_for_us")
    wf.fire(later, "request_third_country", actor="dan", country="PL",
            decision_date="2027-06-01")
    denied = to_state(wf, "third_country_review")
    wf.fire(denied, "deny", actor="ann", reason="no")
    to_state(wf, "approved_for_us")
    to_state(wf, "nsc_review")
    done = to_state(wf, "approved")  # moves the clock to 2027-01-01
    assert wf.get(done)["decision_date"] == "2027-01-01"

    def refs(rows: list[dict[str, Any]]) -> list[str]:
        return [r["ref"] for r in rows]

    assert refs(wf.due(date(2026, 12, 31))) == []
    assert refs(wf.due(date(2027, 1, 1))) == [soon]
    assert refs(wf.due()) == [soon]
    assert refs(wf.due(date(2027, 5, 31))) == [soon]
    assert refs(wf.due(date(2027, 6, 1))) == [soon, later]


def test_due_follows_a_deferred_decision_date(wf):
    ref = to_state(wf, "third_country_review")
    wf.fire(ref, "defer", actor="ann", reason="summit", decision_date="2027-04-01")
    assert wf.due(date(2027, 1, 1)) == []
    assert [r["ref"] for r in wf.due(date(2027, 4, 1))] == [ref]


def test_list_filters_by_state(wf):
    drafted = draft(wf)
    review = to_state(wf, "nsc_review")
    withdrawn = to_state(wf, "withdrawn")
    assert [r["ref"] for r in wf.list()] == [drafted, review, withdrawn]
    assert [r["ref"] for r in wf.list(state="drafted")] == [drafted]
    assert [r["ref"] for r in wf.list(state="nsc_review")] == [review]
    assert [r["ref"] for r in wf.list(state="withdrawn")] == [withdrawn]
    assert wf.list(state="approved") == []


# -- invalid input ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "value"), [
    ("recipient", "XX"),
    ("recipient", "USA"),
    ("recipient", "U1"),
    ("licensor_country", ""),
    ("quantity", 0),
    ("quantity", -3),
    ("quantity", "many"),
    ("quantity", 2.5),
    ("quantity", True),
    ("currency", "ABC"),
    ("currency", "US"),
    ("unit_value", "-1"),
    ("unit_value", "lots"),
    ("item", "   "),
    ("item", "x" * 2001),
    ("no_such_field", "x"),
])
def test_invalid_field_values_at_creation_raise_invalid_input(wf, field, value):
    with pytest.raises(InvalidInput):
        draft(wf, "dan", **{field: value})
    assert wf.list() == []


@pytest.mark.parametrize(("field", "value"), [
    ("recipient", "ZZ"), ("quantity", 0), ("currency", "EURO"),
])
def test_invalid_field_values_in_an_edit_raise_invalid_input(wf, field, value):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    with pytest.raises(InvalidInput):
        wf.edit(ref, actor="dan", **{field: value})
    assert snapshot(wf, ref) == before


@pytest.mark.parametrize("kwargs", [
    {"country": "XX"},
    {"country": "Poland"},
    {"country": "PL", "decision_date": "2027-13-01"},
    {"country": "PL", "decision_date": "next year"},
    {"country": "PL", "unexpected": "x"},
    {"country": "PL", "reason": "x" * 2001},
])
def test_invalid_event_arguments_raise_invalid_input(wf, kwargs):
    ref = to_state(wf, "approved_for_us")
    before = snapshot(wf, ref)
    with pytest.raises(InvalidInput):
        wf.fire(ref, "request_third_country", actor="dan", **kwargs)
    assert snapshot(wf, ref) == before


def test_reason_of_exactly_2000_characters_is_accepted(wf):
    ref = draft(wf, "dan")
    wf.fire(ref, "withdraw", actor="dan", reason="x" * 2000)
    assert wf.history(ref)[-1]["reason"] == "x" * 2000


def test_unknown_event_name_raises_invalid_input(wf):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    with pytest.raises(InvalidInput, match="unknown event"):
        wf.fire(ref, "ship", actor="dan")
    assert snapshot(wf, ref) == before


def test_unknown_state_raises_invalid_input(wf):
    with pytest.raises(InvalidInput, match="unknown state"):
        wf.list(state="shipped")


def test_unknown_reference_is_not_found(wf):
    with pytest.raises(NotFound):
        wf.get("TR-2026-0042")
    with pytest.raises(NotFound):
        wf.fire("TR-2026-0042", "submit", actor="dan")
    with pytest.raises(NotFound):
        wf.edit("TR-2026-0042", actor="dan", quantity=1)


def test_unknown_user_is_not_found(wf):
    ref = draft(wf, "dan")
    before = snapshot(wf, ref)
    with pytest.raises(NotFound, match="nobody"):
        wf.fire(ref, "submit", actor="nobody")
    with pytest.raises(NotFound):
        wf.create(actor="nobody", **PATRIOT)
    with pytest.raises(NotFound):
        wf.get(ref, actor="nobody")
    assert snapshot(wf, ref) == before
    assert len(wf.list()) == 1


# -- users and policy ------------------------------------------------------------------------------


def test_disabled_user_is_refused(wf):
    ref = draft(wf, "dan")
    wf.disable_user("dan", actor="admin")
    before = snapshot(wf, ref)
    for attempt in (
        lambda: wf.fire(ref, "submit", actor="dan"),
        lambda: wf.edit(ref, actor="dan", quantity=2),
        lambda: draft(wf, "dan"),
    ):
        with pytest.raises(Refused) as info:
            attempt()
        assert info.value.rule == "active-user"
        assert "dan" in info.value.reason
    assert snapshot(wf, ref) == before
    assert len(wf.list()) == 1
    # the admin may still act on the disabled drafter's behalf
    assert wf.fire(ref, "submit", actor="admin") == "nsc_review"


@pytest.mark.parametrize("actor", ["dan", "rita", "ann", "aud", "duo"])
def test_non_admins_cannot_add_users(wf, actor):
    names = [u["name"] for u in wf.users()]
    with pytest.raises(Refused) as info:
        wf.add_user("eve", ["approver"], actor=actor)
    assert info.value.rule == "role"
    assert "only an admin" in info.value.reason
    assert [u["name"] for u in wf.users()] == names


def test_admin_adds_a_user_with_roles(wf):
    added = wf.add_user("eve", ["reviewer", "auditor"], actor="admin")
    assert added["roles"] == ["auditor", "reviewer"]
    assert added["created_by"] == "admin"


def test_unknown_role_is_invalid(wf):
    with pytest.raises(InvalidInput, match="unknown role"):
        wf.add_user("eve", ["king"], actor="admin")


@pytest.mark.parametrize("actor", ["dan", "rita", "ann", "aud"])
def test_non_admins_cannot_change_the_policy(wf, actor):
    before, changes = wf.policy(), wf.policy_history()
    with pytest.raises(Refused) as info:
        wf.restrict("PL", "in-combat", START.date(), reason="test", actor=actor)
    assert info.value.rule == "role"
    with pytest.raises(Refused) as info:
        wf.end_restriction("UA", START.date(), reason="test", actor=actor)
    assert info.value.rule == "role"
    assert wf.policy() == before
    assert wf.policy_history() == changes


def test_policy_changes_need_a_reason_and_are_recorded(wf):
    with pytest.raises(Refused) as info:
        wf.restrict("PL", "in-combat", START.date(), reason=" ", actor="admin")
    assert info.value.rule == "reason-required"
    wf.restrict("PL", "in-combat", START.date(), reason="test", actor="admin")
    last = wf.policy_history()[-1]
    assert (last["action"], last["country"], last["actor"], last["reason"]) == (
        "add", "PL", "admin", "test")
    assert [e["country"] for e in wf.policy(as_of=START.date())] == ["KP", "UA", "RU", "IL", "PL"]
    assert [e["country"] for e in wf.policy(as_of=date(2020, 1, 1))] == ["KP"]
