"""What the CLI prints: the --json shapes, data on stdout and messages on stderr, idempotent init,
the policy commands, and per-user previews of what may be fired."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from states import PROCESS
from tests.conftest import PATRIOT, START, assert_one_line_error, db_snapshot, request_new_args

FIELD_NAMES = [spec.name for spec in PROCESS.fields]
EVENT_NAMES = [event.name for event in PROCESS.events]
REF = re.compile(r"^TR-\d{4}-\d{4}$")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
POLICY_KEYS = {"country", "kind", "since", "until", "reason"}
AS_OF_KEYS = POLICY_KEYS | {"recorded_at", "recorded_after"}  # in force on a day: recorded when
HISTORY_KEYS = {"event", "from", "to", "actor", "roles", "at", "reason", "changes"}
SEEDED = [
    ("KP", "embargo", "2006-10-14"),
    ("UA", "in-combat", "2022-02-24"),
    ("RU", "in-combat", "2022-02-24"),
    ("IL", "in-combat", "2023-10-07"),
]
PRICED = {"unit_value": "1250000.50", "currency": "jpy", "note": "first batch"}


def _data(result: Any) -> Any:
    """The parsed JSON of a successful command: the whole of stdout is one JSON document."""
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return json.loads(result.stdout)


def _ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.exit_code, result.stderr)
    return result


def _utc(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0), text
    return moment


def _new(run, actor: str = "dan", **overrides: Any) -> str:
    return _data(run(*request_new_args(**overrides), "--json", actor=actor))["ref"]


def _to_third_country(run, clock, **overrides: Any) -> str:
    """A request of dan's, by the CLI, one clock hour per step, into third_country_review."""
    ref = _new(run, **overrides)
    for event, actor, extra in [
        ("submit", "dan", []),
        ("approve_for_us", "ann", ["--reason", "NSC approved the export"]),
        ("request_third_country", "dan", ["--country", "pl"]),
    ]:
        clock.advance(hours=1)
        _ok(run("advance", ref, event, *extra, actor=actor))
    return ref


# -- request new / show / list -----------------------------------------------------------------

def test_request_new_json_is_only_the_ref(run_ready):
    created = _data(run_ready(*request_new_args(), "--json", actor="dan"))
    assert set(created) == {"ref"}
    assert REF.match(created["ref"])
    assert created["ref"] == "TR-2026-0001"  # the year of the (fake) clock
    assert _new(run_ready) == "TR-2026-0002"


def test_request_show_json_has_state_every_field_and_events(run_ready, clock):
    ref = _to_third_country(run_ready, clock, **PRICED)
    shown = _data(run_ready("request", "show", ref, "--json", actor="aud"))
    assert shown["ref"] == ref
    assert shown["state"] == "third_country_review"
    assert set(FIELD_NAMES) <= set(shown)
    assert shown["item"] == PATRIOT["item"]
    assert shown["quantity"] == 16
    assert type(shown["quantity"]) is int
    assert shown["recipient"] == "US"
    assert shown["end_user"] == "US Army"
    assert shown["manufacturer"] == PATRIOT["manufacturer"]
    assert shown["licensor"] == PATRIOT["licensor"]
    assert shown["licensor_country"] == "US"
    assert shown["consent_instrument"] == PATRIOT["consent_instrument"]
    assert shown["note"] == "first batch"
    assert shown["third_country"] == "PL"
    assert shown["decision_date"] == "2027-01-01"
    assert shown["unit_value"] == "1250000.50"  # a decimal string, never a float
    assert shown["currency"] == "JPY"
    assert [e["event"] for e in shown["events"]] == EVENT_NAMES
    for entry in shown["events"]:
        assert type(entry["allowed"]) is bool
        if entry["allowed"]:
            assert entry["reason"] is None
        else:
            assert isinstance(entry["reason"], str) and entry["reason"]


def test_request_show_event_entries_are_exactly_event_allowed_reason(run_ready):
    ref = _new(run_ready)
    shown = _data(run_ready("request", "show", ref, "--json", actor="dan"))
    for entry in shown["events"]:
        assert set(entry) == {"event", "allowed", "reason"}, entry


def test_request_show_json_of_a_fresh_draft(run_ready):
    ref = _new(run_ready, consent_instrument=None)
    shown = _data(run_ready("request", "show", ref, "--json", actor="dan"))
    assert shown["state"] == "drafted"
    for name in ("third_country", "decision_date", "unit_value", "currency", "note",
                 "consent_instrument"):
        assert shown[name] is None
    allowed = {e["event"]: (e["allowed"], e["reason"]) for e in shown["events"]}
    assert allowed["withdraw"] == (True, None)
    assert allowed["submit"][0] is False
    assert "consent_instrument" in allowed["submit"][1]  # required before submit
    assert [name for name, (ok, _) in allowed.items() if ok] == ["withdraw"]
    _ok(run_ready("request", "edit", ref, "--consent-instrument", "MDAA", actor="dan"))
    shown = _data(run_ready("request", "show", ref, "--json", actor="dan"))
    assert [e["event"] for e in shown["events"] if e["allowed"]] == ["submit", "withdraw"]


@pytest.mark.parametrize("amount", ["0.10", "12345678901234.567891", "7", "100.000"])
def test_unit_value_keeps_its_decimal_digits(run_ready, amount):
    ref = _new(run_ready, unit_value=amount, currency="USD")
    shown = _data(run_ready("request", "show", ref, "--json", actor="dan"))
    assert shown["unit_value"] == amount


def test_request_list_json_is_show_without_events(run_ready, clock):
    first = _new(run_ready, **PRICED)
    second = _to_third_country(run_ready, clock)
    rows = _data(run_ready("request", "list", "--json", actor="aud"))
    assert [r["ref"] for r in rows] == [first, second]  # oldest first
    for row in rows:
        shown = _data(run_ready("request", "show", row["ref"], "--json", actor="aud"))
        assert "events" not in row
        assert row == {k: v for k, v in shown.items() if k != "events"}
    assert type(rows[0]["quantity"]) is int
    assert rows[0]["unit_value"] == "1250000.50"
    assert rows[1]["decision_date"] == "2027-01-01"


def test_request_list_json_filters_by_state(run_ready, clock):
    drafted = _new(run_ready)
    reviewed = _to_third_country(run_ready, clock)
    only = _data(run_ready("request", "list", "--state", "drafted", "--json", actor="aud"))
    assert [r["ref"] for r in only] == [drafted]
    only = _data(run_ready("request", "list", "--state", "third_country_review", "--json",
                           actor="aud"))
    assert [r["ref"] for r in only] == [reviewed]
    assert _data(run_ready("request", "list", "--state", "approved", "--json", actor="aud")) == []


def test_request_list_json_when_empty_is_an_empty_list(run_ready):
    result = _ok(run_ready("request", "list", "--json", actor="aud"))
    assert json.loads(result.stdout) == []


def test_request_edit_json_reports_the_changes(run_ready):
    ref = _new(run_ready)
    edited = _data(run_ready("request", "edit", ref, "--quantity", "12", "--note", "n", "--json",
                             actor="dan"))
    assert edited["changes"] == {"quantity": [16, 12], "note": [None, "n"]}


# -- advance, history, due ----------------------------------------------------------------------

def test_advance_json_gives_the_new_state(run_ready):
    ref = _new(run_ready)
    moved = _data(run_ready("advance", ref, "submit", "--json", actor="dan"))
    assert moved["ref"] == ref
    assert moved["state"] == "nsc_review"
    assert _data(run_ready("request", "show", ref, "--json", actor="dan"))["state"] == "nsc_review"


def test_history_json_rows_oldest_first_with_who_when_why_what(run_ready, clock):
    ref = _new(run_ready, **PRICED)
    clock.advance(minutes=30)
    _ok(run_ready("request", "edit", ref, "--quantity", "12", actor="dan"))
    clock.advance(minutes=30)
    _ok(run_ready("advance", ref, "submit", actor="dan"))
    clock.advance(hours=1)
    _ok(run_ready("advance", ref, "approve_for_us", "--reason", "NSC approved", actor="duo"))
    clock.advance(hours=1)
    _ok(run_ready("advance", ref, "request_third_country", "--country", "PL", actor="dan"))
    clock.advance(hours=1)
    _ok(run_ready("advance", ref, "defer", "--reason", "wait", "--decision-date", "2028-03-01",
                  actor="ann"))

    rows = _data(run_ready("history", ref, "--json", actor="aud"))
    for row in rows:
        assert set(row) >= HISTORY_KEYS, row
        assert isinstance(row["roles"], list) and all(isinstance(r, str) for r in row["roles"])
        assert isinstance(row["changes"], dict)
    assert [(r["event"], r["from"], r["to"], r["actor"]) for r in rows] == [
        ("create", None, "drafted", "dan"),
        ("edit", "drafted", "drafted", "dan"),
        ("submit", "drafted", "nsc_review", "dan"),
        ("approve_for_us", "nsc_review", "approved_for_us", "duo"),
        ("request_third_country", "approved_for_us", "third_country_review", "dan"),
        ("defer", "third_country_review", "third_country_review", "ann"),
    ]
    assert [_utc(r["at"]) for r in rows] == [
        START + timedelta(minutes=m) for m in (0, 30, 60, 120, 180, 240)
    ]
    assert rows[0]["roles"] == ["drafter"]
    assert sorted(rows[3]["roles"]) == ["approver", "drafter"]
    assert [r["reason"] for r in rows] == [None, None, None, "NSC approved", None, "wait"]
    given = {**PATRIOT, **PRICED}
    assert rows[0]["changes"] == {
        k: [None, 16 if k == "quantity" else ("JPY" if k == "currency" else v)]
        for k, v in given.items()
    }
    assert rows[1]["changes"] == {"quantity": [16, 12]}
    assert rows[2]["changes"] == {}
    assert rows[3]["changes"] == {}
    assert rows[4]["changes"] == {"third_country": [None, "PL"],
                                  "decision_date": [None, "2027-01-01"]}
    assert rows[5]["changes"] == {"decision_date": ["2027-01-01", "2028-03-01"]}


def test_history_at_is_iso_8601_utc(run_ready, clock):
    clock.set(datetime(2026, 12, 31, 23, 59, 30, 123456, tzinfo=UTC))
    ref = _new(run_ready)
    (row,) = _data(run_ready("history", ref, "--json", actor="dan"))
    assert _utc(row["at"]) == clock.now
    assert re.match(r"^2026-12-31T23:59:30(\.\d+)?(\+00:00|Z)$", row["at"]), row["at"]


def test_due_json_lists_reviews_whose_decision_date_has_come(run_ready, clock):
    _new(run_ready)
    ref = _to_third_country(run_ready, clock)
    assert _data(run_ready("due", "--json", actor="aud")) == []
    assert _data(run_ready("due", "--on", "2026-12-31", "--json", actor="aud")) == []
    rows = _data(run_ready("due", "--on", "2027-01-01", "--json", actor="aud"))
    listed = _data(run_ready("request", "list", "--state", "third_country_review", "--json",
                             actor="aud"))
    assert rows == listed
    assert [r["ref"] for r in rows] == [ref]
    assert "events" not in rows[0]
    clock.set(datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    assert [r["ref"] for r in _data(run_ready("due", "--json", actor="aud"))] == [ref]


# -- policy -------------------------------------------------------------------------------------

def test_policy_list_json_is_the_seeded_restrictions(run_ready):
    rows = _data(run_ready("policy", "list", "--json", actor="aud"))
    for row in rows:
        assert set(row) == POLICY_KEYS
        assert isinstance(row["reason"], str) and row["reason"]
    assert [(r["country"], r["kind"], r["since"], r["until"]) for r in rows] == [
        (*seed, None) for seed in SEEDED
    ]


def test_policy_add_and_end_show_in_policy_list_as_of(run_ready):
    added = _data(run_ready("policy", "add", "fr", "--kind", "embargo", "--since", "2026-03-01",
                            "--reason", "test embargo", "--json"))
    assert added == {"country": "FR", "kind": "embargo", "since": "2026-03-01", "until": None,
                     "reason": "test embargo"}
    ended = _data(run_ready("policy", "end", "UA", "--on", "2026-06-01", "--reason", "ceasefire",
                            "--json"))
    assert [(e["country"], e["until"]) for e in ended] == [("UA", "2026-06-01")]

    def countries(as_of: str | None) -> list[str]:
        extra = ["--as-of", as_of] if as_of else []
        rows = _data(run_ready("policy", "list", *extra, "--json", actor="aud"))
        assert all(set(r) == (AS_OF_KEYS if as_of else POLICY_KEYS) for r in rows)
        return sorted(r["country"] for r in rows)

    assert countries("2026-02-28") == ["IL", "KP", "RU", "UA"]
    assert countries("2026-03-01") == ["FR", "IL", "KP", "RU", "UA"]
    assert countries("2026-05-31") == ["FR", "IL", "KP", "RU", "UA"]
    assert countries("2026-06-01") == ["FR", "IL", "KP", "RU"]
    assert countries("2023-10-06") == ["KP", "RU", "UA"]
    assert countries("2006-10-13") == []
    everything = _data(run_ready("policy", "list", "--json", actor="aud"))
    assert {r["country"]: r["until"] for r in everything}["UA"] == "2026-06-01"
    assert countries(None) == ["FR", "IL", "KP", "RU", "UA"]


def test_policy_list_known_at_shows_the_policy_as_recorded_then(run_ready, wf, clock):
    clock.advance(days=1)
    _ok(run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2026-03-01",
                  "--reason", "test embargo"))
    added_at = clock.now
    clock.advance(days=1)
    _ok(run_ready("policy", "end", "UA", "--on", "2026-06-01", "--reason", "ceasefire"))

    def known(when: str, *more: str) -> dict[str, Any]:
        rows = _data(run_ready("policy", "list", "--known-at", when, *more, "--json",
                               actor="aud"))
        assert all(set(r) == (AS_OF_KEYS if more else POLICY_KEYS) for r in rows)
        return {r["country"]: (r["until"], r["reason"]) for r in rows}

    assert known("2026-11-24") == {}  # before init: nothing was recorded
    seeded = known(START.isoformat())
    assert sorted(seeded) == ["IL", "KP", "RU", "UA"] and seeded["UA"][0] is None
    assert sorted(known((added_at - timedelta(microseconds=1)).isoformat())) == sorted(seeded)
    assert "FR" in known(added_at.isoformat())
    day_of_end = known((added_at + timedelta(days=1)).date().isoformat())  # a day: as it ended
    assert day_of_end["UA"] == ("2026-06-01", seeded["UA"][1])  # the end keeps the reason
    assert day_of_end == known("2030-01-01") == {
        r["country"]: (r["until"], r["reason"]) for r in wf.policy()}
    # in force on 2026-07-01 as recorded on the day FR was added: UA had no end yet
    assert sorted(known(added_at.date().isoformat(), "--as-of", "2026-07-01")) == [
        "FR", "IL", "KP", "RU", "UA"]
    assert sorted(known("2030-01-01", "--as-of", "2026-07-01")) == ["FR", "IL", "KP", "RU"]
    assert wf.policy(as_of="2026-07-01", known_at=added_at) == _data(run_ready(
        "policy", "list", "--as-of", "2026-07-01", "--known-at", added_at.isoformat(),
        "--json", actor="aud"))


def test_policy_known_at_goes_by_the_log_order_when_clocks_disagree(wf, clock):
    """A change stamped earlier than one logged before it (its writer's clock was behind) was
    not yet recorded when the earlier-logged one was made: the replay stops at the first
    change made later than the moment asked about."""
    clock.advance(days=2)
    wf.restrict("FR", "embargo", "2026-03-01", reason="first", actor="admin")
    clock.advance(days=-1)  # a writer whose clock is a day behind
    wf.restrict("DE", "embargo", "2026-03-01", reason="second", actor="admin")
    halfway = START + timedelta(days=1, hours=12)
    assert [r["country"] for r in wf.policy(known_at=halfway)] == ["KP", "UA", "RU", "IL"]
    assert [r["country"] for r in wf.policy(known_at=START + timedelta(days=3))][-2:] == [
        "FR", "DE"]


def test_policy_list_known_at_refuses_what_is_not_a_moment(run_ready, db_target):
    before = db_snapshot(db_target)
    result = run_ready("policy", "list", "--known-at", "yesterday", actor="aud")
    assert "--known-at" in assert_one_line_error(result, 2)
    assert db_snapshot(db_target) == before


def test_ended_restriction_no_longer_refuses_a_third_country(run_ready, clock):
    ref = _new(run_ready)
    _ok(run_ready("advance", ref, "submit", actor="dan"))
    _ok(run_ready("advance", ref, "approve_for_us", actor="ann"))
    refused = run_ready("advance", ref, "request_third_country", "--country", "UA", actor="dan")
    assert refused.exit_code == 1
    _ok(run_ready("policy", "end", "UA", "--on", "2026-11-01", "--reason", "ceasefire"))
    moved = _ok(run_ready("advance", ref, "request_third_country", "--country", "UA",
                          actor="dan"))
    assert moved.stdout == "third_country_review\n"


def test_policy_history_lists_seeds_by_init_admin_then_changes(run, clock):
    _ok(run("init", "--admin", "chief", actor="whoever"))
    clock.advance(days=1)
    _ok(run("policy", "add", "FR", "--kind", "embargo", "--since", "2026-03-01", "--reason",
            "test embargo", actor="chief"))
    _ok(run("user", "add", "deputy", "--role", "admin", actor="chief"))
    clock.advance(days=1)
    _ok(run("policy", "end", "UA", "--on", "2026-06-01", "--reason", "ceasefire",
            actor="deputy"))
    rows = _data(run("policy", "history", "--json", actor="chief"))
    for row in rows:
        assert {"country", "actor", "reason", "at"} <= set(row), row
        assert isinstance(row["reason"], str) and row["reason"]
        _utc(row["at"])
    assert len(rows) == 6
    seeds, changes = rows[:4], rows[4:]
    assert [(r["country"], r["kind"], r["since"], r["actor"]) for r in seeds] == [
        (country, kind, since, "chief") for country, kind, since in SEEDED
    ]
    assert [_utc(r["at"]) for r in seeds] == [START] * 4
    assert [(r["country"], r["actor"], r["reason"]) for r in changes] == [
        ("FR", "chief", "test embargo"),
        ("UA", "deputy", "ceasefire"),
    ]
    assert [_utc(r["at"]) for r in changes] == [START + timedelta(days=1),
                                                 START + timedelta(days=2)]
    assert changes[1]["until"] == "2026-06-01"
    # each change names its entry: an end names the restriction it ends
    assert [r["entry_id"] for r in rows[:5]] == sorted({r["entry_id"] for r in rows[:5]})
    assert changes[1]["entry_id"] == next(r["entry_id"] for r in seeds if r["country"] == "UA")


# -- users, init --------------------------------------------------------------------------------

def test_user_list_json(run_ready):
    _ok(run_ready("user", "disable", "dora"))
    rows = _data(run_ready("user", "list", "--json", actor="aud"))
    by_name = {r["name"]: r for r in rows}
    assert set(by_name) == {"admin", "dan", "dora", "rita", "ann", "abe", "aud", "duo"}
    for row in rows:
        assert isinstance(row["roles"], list)
        assert type(row["active"]) is bool
    assert by_name["duo"]["roles"] == ["approver", "drafter"]
    assert by_name["admin"]["roles"] == ["admin"]
    assert by_name["dora"]["active"] is False
    assert by_name["dan"]["active"] is True


def test_user_add_json(run_ready):
    added = _data(run_ready("user", "add", "newbie", "--role", "reviewer", "--role", "auditor",
                            "--json"))
    assert added["name"] == "newbie"
    assert sorted(added["roles"]) == ["auditor", "reviewer"]
    assert added["active"] is True


def test_user_disable_json_is_the_user_as_listed(run_ready):
    disabled = _data(run_ready("user", "disable", "dora", "--json"))
    listed = {r["name"]: r for r in _data(run_ready("user", "list", "--json", actor="aud"))}
    assert disabled == listed["dora"]
    assert disabled["active"] is False
    assert _data(run_ready("user", "disable", "dora", "--json")) == disabled  # nothing changes


@pytest.mark.parametrize("name", ["", " "])
def test_init_with_an_empty_admin_name_is_bad_input_not_the_acting_user(run, name):
    line = assert_one_line_error(run("init", "--admin", name, actor="whoever"), 2)
    assert "user name" in line
    assert not db_snapshot(run.target)


def test_init_is_idempotent(run):
    _ok(run("init", "--admin", "chief", actor="whoever"))
    before = db_snapshot(run.target)
    assert before and before["wf_user"]
    again = _ok(run("init", "--admin", "other", actor="whoever"))
    assert again.stdout == ""
    assert "already" in again.stderr
    assert "'other' was not made an admin" in again.stderr
    assert db_snapshot(run.target) == before
    _ok(run("init", actor="chief"))
    assert db_snapshot(run.target) == before
    names = [u["name"] for u in _data(run("user", "list", "--json", actor="chief"))]
    assert names == ["chief"]
    assert run("user", "list", actor="other").exit_code == 1


def test_init_json(run):
    first = _data(run("init", "--admin", "chief", "--json", actor="whoever"))
    second = _data(run("init", "--admin", "chief", "--json", actor="whoever"))
    assert isinstance(first, dict) and isinstance(second, dict)
    assert first != second  # the first created, the second changed nothing


def test_init_on_a_database_initialised_by_the_api_changes_nothing(run_ready):
    _new(run_ready)
    before = db_snapshot(run_ready.target)
    _ok(run_ready("init", "--admin", "someone"))
    assert db_snapshot(run_ready.target) == before


# -- human output: data to stdout, messages to stderr -------------------------------------------

def test_human_request_new_prints_only_the_ref(run_ready):
    result = _ok(run_ready(*request_new_args(), actor="dan"))
    assert result.stdout == "TR-2026-0001\n"
    assert result.stderr == ""


def test_human_advance_prints_the_state_and_a_message(run_ready):
    ref = _new(run_ready)
    result = _ok(run_ready("advance", ref, "submit", actor="dan"))
    assert result.stdout == "nsc_review\n"
    assert "submit" in result.stderr


@pytest.mark.parametrize("argv", [
    pytest.param(["user", "add", "newbie", "--role", "drafter"], id="user-add"),
    pytest.param(["user", "disable", "dora"], id="user-disable"),
    pytest.param(["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                  "--reason", "r"], id="policy-add"),
    pytest.param(["policy", "end", "UA", "--on", "2026-06-01", "--reason", "r"], id="policy-end"),
    pytest.param(["init"], id="init-again"),
])
def test_human_changes_without_data_print_messages_to_stderr_only(run_ready, argv):
    result = _ok(run_ready(*argv))
    assert result.stdout == ""
    assert result.stderr.strip()
    assert not result.stderr.startswith("error")


def test_human_init_message_goes_to_stderr(run):
    result = _ok(run("init", "--admin", "chief"))
    assert result.stdout == ""
    assert "chief" in result.stderr


@pytest.mark.parametrize("argv", [
    pytest.param(["request", "list"], id="request-list"),
    pytest.param(["request", "list", "--state", "nsc_review"], id="request-list-state"),
    pytest.param(["request", "show", "{ref}"], id="request-show"),
    pytest.param(["history", "{ref}"], id="history"),
    pytest.param(["policy", "list"], id="policy-list"),
    # a day the seeded restrictions were recorded on: a day before it gets a note on stderr
    pytest.param(["policy", "list", "--as-of", "2026-11-25"], id="policy-list-as-of"),
    pytest.param(["policy", "history"], id="policy-history"),
    pytest.param(["user", "list"], id="user-list"),
])
def test_human_listings_print_data_to_stdout_only(run_ready, argv):
    ref = _new(run_ready)
    _ok(run_ready("advance", ref, "submit", actor="dan"))
    result = _ok(run_ready(*[a.format(ref=ref) for a in argv], actor="aud"))
    assert result.stderr == ""
    assert result.stdout.strip()
    expected = {"request": ref, "history": "submit", "policy": "KP", "user": "dan"}[argv[0]]
    assert expected in result.stdout


def test_human_request_show_lists_every_event_with_yes_or_no(run_ready):
    ref = _new(run_ready)
    result = _ok(run_ready("request", "show", ref, actor="dan"))
    for name in EVENT_NAMES:
        assert name in result.stdout
    assert "drafted" in result.stdout
    assert "PAC-3 MSE interceptor" in result.stdout


@pytest.mark.parametrize("argv", [
    pytest.param(["request", "list"], id="request-list"),
    pytest.param(["due"], id="due"),
    pytest.param(["policy", "list", "--as-of", "2000-01-01"], id="policy-list"),
])
def test_human_empty_listing_says_so_on_stderr(run_ready, argv):
    result = _ok(run_ready(*argv, actor="aud"))
    assert result.stdout == ""
    assert result.stderr.strip()


# -- what each user may do now -----------------------------------------------------------------

def _allowed(run, ref: str, actor: str) -> dict[str, tuple[bool, str | None]]:
    shown = _data(run("request", "show", ref, "--json", actor=actor))
    return {e["event"]: (e["allowed"], e["reason"]) for e in shown["events"]}


def test_request_show_differs_by_caller_on_nsc_review(run_ready):
    ref = _new(run_ready)
    _ok(run_ready("advance", ref, "submit", actor="dan"))

    approver = _allowed(run_ready, ref, "ann")
    drafter = _allowed(run_ready, ref, "dan")
    reviewer = _allowed(run_ready, ref, "rita")
    admin = _allowed(run_ready, ref, "admin")
    auditor = _allowed(run_ready, ref, "aud")

    assert approver["approve_for_us"] == (True, None)
    assert approver["deny"] == (True, None)
    assert approver["return"] == (True, None)
    assert approver["withdraw"][0] is False

    allowed, why = drafter["approve_for_us"]
    assert allowed is False and "approver" in why
    assert drafter["withdraw"] == (True, None)
    assert drafter["deny"][0] is False

    assert reviewer["return"] == (True, None)
    assert reviewer["approve_for_us"][0] is False

    assert admin["withdraw"] == (True, None)
    assert admin["approve_for_us"][0] is False

    assert not any(allowed for allowed, _ in auditor.values())
    for name in ("submit", "request_third_country", "defer", "approve"):
        assert all(view[name][0] is False for view in (approver, drafter, reviewer, admin))
        assert "nsc_review" in approver[name][1]


def test_request_show_reports_separation_of_duties_for_an_approving_drafter(run_ready):
    ref = _new(run_ready, actor="duo")
    _ok(run_ready("advance", ref, "submit", actor="duo"))
    allowed, why = _allowed(run_ready, ref, "duo")["approve_for_us"]
    assert allowed is False
    assert "separation of duties" in why
    assert _allowed(run_ready, ref, "ann")["approve_for_us"] == (True, None)


def test_request_show_follows_the_clock_to_the_decision_date(run_ready, clock):
    ref = _to_third_country(run_ready, clock)
    allowed, why = _allowed(run_ready, ref, "abe")["approve"]
    assert allowed is False and "2027-01-01" in why
    clock.set(datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    assert _allowed(run_ready, ref, "abe")["approve"] == (True, None)
    allowed, why = _allowed(run_ready, ref, "dan")["approve"]
    assert allowed is False and "approver" in why
