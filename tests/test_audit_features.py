"""What auditors ask of the workflow: refusals, what was true then, filtered trails, the report,
exports, inclusion proofs and the marked process graph. API and CLI, SQLite and PostgreSQL.

Time only moves when the test moves the FakeClock.
"""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import START, Cli, assert_one_line_error, db_snapshot, draft
from workflow import Conflict, InvalidInput, NotFound, Refused, Workflow, ledger, values
from workflow.audit import AuditFailure

EST = timezone(timedelta(hours=-5))
JST = timezone(timedelta(hours=9))


def at(**delta: float) -> datetime:
    return START + timedelta(**delta)


def iso(moment: datetime) -> str:
    return moment.isoformat()


def snapshot(wf: Workflow, ref: str) -> tuple[Any, ...]:
    record = wf.get(ref)
    return record["state"], record["version"], len(wf.history(ref)), record


def cli_json(run: Cli, *args: str, actor: str = "aud") -> Any:
    result = run(*args, "--json", actor=actor)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# -- the refusal log -------------------------------------------------------------------------------


def _refused(wf: Workflow, ref: str | None, attempt: Any,
             error: type[Exception] = Refused) -> dict[str, Any]:
    """Run a refused attempt; the request must be unchanged; return the refusal logged for it."""
    before = snapshot(wf, ref) if ref else None
    count = len(wf.refusals())
    with pytest.raises(error) as caught:
        attempt()
    if ref:
        assert snapshot(wf, ref) == before
    logged = wf.refusals()
    assert len(logged) == count + 1
    entry = logged[-1]
    assert entry["message"] == str(caught.value)
    assert entry["at"] == iso(wf.clock())
    return entry


def test_a_wrong_state_attempt_is_logged_with_who_what_and_why(wf, clock):
    ref = draft(wf)
    clock.advance(minutes=5)
    entry = _refused(wf, ref, lambda: wf.fire(ref, "approve", actor="ann"))
    assert entry == {
        "seq": 1, "at": iso(at(minutes=5)), "actor": "ann", "ref": ref, "event": "approve",
        "state": "drafted", "rule": "state",
        "message": f"approve refused: {ref} is drafted; approve applies only from "
                   "third_country_review [rule: state]",
    }


def test_a_missing_role_is_logged(wf):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    entry = _refused(wf, ref, lambda: wf.fire(ref, "approve_for_us", actor="rita"))
    assert (entry["actor"], entry["ref"], entry["event"], entry["state"], entry["rule"]) == \
        ("rita", ref, "approve_for_us", "nsc_review", "role")
    assert "rita holds reviewer" in entry["message"]


def test_a_separation_of_duties_breach_attempt_is_logged(wf):
    ref = draft(wf, "duo")
    wf.fire(ref, "submit", actor="duo")
    entry = _refused(wf, ref, lambda: wf.fire(ref, "approve_for_us", actor="duo"))
    assert (entry["actor"], entry["event"], entry["rule"]) == \
        ("duo", "approve_for_us", "separation-of-duties")
    assert f"duo drafted {ref}" in entry["message"]


@pytest.mark.parametrize(("fields", "event", "kwargs", "rule"), [
    pytest.param({"recipient": "GB"}, "submit", {}, "recipient-is-licensor-country",
                 id="recipient-not-licensor"),
    pytest.param({"consent_instrument": None}, "submit", {}, "required-fields",
                 id="required-fields"),
    pytest.param({}, "withdraw", {}, "reason-required", id="reason-required"),
])
def test_a_failed_rule_is_logged_with_its_name(wf, fields, event, kwargs, rule):
    ref = draft(wf, **fields)
    entry = _refused(wf, ref, lambda: wf.fire(ref, event, actor="dan", **kwargs))
    assert (entry["actor"], entry["ref"], entry["event"], entry["rule"]) == \
        ("dan", ref, event, rule)


def test_a_restricted_third_country_is_logged_with_the_restriction(wf):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    wf.fire(ref, "approve_for_us", actor="ann")
    entry = _refused(wf, ref, lambda: wf.fire(ref, "request_third_country", actor="dan",
                                              country="UA"))
    assert entry["rule"] == "third-country-unrestricted"
    assert "UA is restricted (in-combat since 2022-02-24)" in entry["message"]


def test_a_concurrency_conflict_is_logged(wf, clock):
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="v2")  # version 2 now
    clock.advance(seconds=30)
    entry = _refused(wf, ref, lambda: wf.fire(ref, "submit", actor="dan", expected_version=1),
                     Conflict)
    assert (entry["actor"], entry["ref"], entry["event"], entry["state"], entry["rule"]) == \
        ("dan", ref, "submit", "drafted", "conflict")
    assert entry["message"] == (f"{ref} is at version 2, not 1 as expected: it was changed since "
                                "it was read; reload and retry [rule: conflict]")
    entry = _refused(wf, ref, lambda: wf.edit(ref, actor="dan", expected_version=1, note="x"),
                     Conflict)
    assert (entry["event"], entry["rule"]) == ("edit", "conflict")


def test_refused_creates_and_edits_are_logged(wf):
    entry = _refused(wf, None, lambda: draft(wf, "rita"))
    assert (entry["actor"], entry["ref"], entry["event"], entry["state"], entry["rule"]) == \
        ("rita", None, "create", None, "role")
    assert wf.list() == []
    ref = draft(wf, "dan")
    entry = _refused(wf, ref, lambda: wf.edit(ref, actor="dora", note="mine now"))
    assert (entry["actor"], entry["ref"], entry["event"], entry["rule"]) == \
        ("dora", ref, "edit", "role")
    wf.fire(ref, "submit", actor="dan")
    entry = _refused(wf, ref, lambda: wf.edit(ref, actor="dan", note="too late"))
    assert (entry["state"], entry["rule"]) == ("nsc_review", "state")


def test_refusals_leave_the_log_verifiable(wf):
    ref = draft(wf)
    for attempt in (lambda: wf.fire(ref, "approve", actor="ann"),
                    lambda: wf.fire(ref, "withdraw", actor="dora", reason="x")):
        with pytest.raises(Refused):
            attempt()
    assert wf.verify() == {**wf.verify(), "rows": 1, "records": 1}
    assert len(wf.refusals()) == 2


@pytest.fixture
def refusals(wf, clock) -> dict[str, Any]:
    """Three refusals by two people at 09:00, 10:00 and 11:00."""
    ref = draft(wf)
    moments = []
    for actor, event in (("ann", "approve"), ("rita", "submit"), ("ann", "approve_for_us")):
        moments.append(clock())
        with pytest.raises(Refused):
            wf.fire(ref, event, actor=actor)
        clock.advance(hours=1)
    return {"ref": ref, "moments": moments}


def test_refusals_cli_lists_every_field_and_filters_by_actor_and_since(wf, run_ready, refusals):
    ref, moments = refusals["ref"], refusals["moments"]
    rows = cli_json(run_ready, "audit", "refusals")
    assert rows == wf.refusals()
    assert [(r["actor"], r["event"], r["rule"]) for r in rows] == [
        ("ann", "approve", "state"), ("rita", "submit", "role"), ("ann", "approve_for_us", "state")]
    assert all(r["ref"] == ref and r["state"] == "drafted" and r["message"] for r in rows)
    assert [r["at"] for r in rows] == [iso(m) for m in moments]
    by_ann = cli_json(run_ready, "audit", "refusals", "--actor", "ann")
    assert [r["seq"] for r in by_ann] == [1, 3]
    assert by_ann == wf.refusals(actor="ann")
    since = cli_json(run_ready, "audit", "refusals", "--since", iso(moments[1]))
    assert [r["seq"] for r in since] == [2, 3]
    assert since == wf.refusals(since=moments[1])
    both = cli_json(run_ready, "audit", "refusals", "--actor", "ann", "--since", iso(moments[1]))
    assert [r["seq"] for r in both] == [3]
    assert cli_json(run_ready, "audit", "refusals", "--since", "2026-11-26") == []
    assert [r["seq"] for r in wf.refusals(ref=ref)] == [1, 2, 3]


def test_refusals_cli_table_and_the_refusal_from_the_cli_itself(run_ready, wf):
    ref = draft(wf)
    refused = run_ready("advance", ref, "approve_for_us", actor="ann")
    assert refused.exit_code == 1
    [entry] = wf.refusals()
    assert (entry["actor"], entry["event"], entry["rule"]) == ("ann", "approve_for_us", "state")
    table = run_ready("audit", "refusals", actor="aud")
    assert table.exit_code == 0, table.stderr
    header, line = table.stdout.splitlines()
    assert header.split() == ["SEQ", "AT", "ACTOR", "REF", "EVENT", "STATE", "RULE", "MESSAGE"]
    assert line.split()[:7] == ["1", iso(START), "ann", ref, "approve_for_us", "drafted", "state"]


def test_refusals_with_a_non_utc_since_match_the_same_utc_moment(wf, refusals):
    moment = refusals["moments"][1]
    assert wf.refusals(since=moment.astimezone(EST)) == wf.refusals(since=moment)
    assert wf.refusals(since=moment.astimezone(JST)) == wf.refusals(since=moment)


# -- what was true then (--as-of) ----------------------------------------------------------------


@pytest.fixture
def timeline(wf, clock) -> dict[str, Any]:
    """A and B moving through time; ``seen`` holds what `get` said right after each step."""
    seen: dict[str, list[tuple[datetime, dict[str, Any]]]] = {"A": [], "B": []}
    refs: dict[str, str] = {}

    def step(name: str, action: Any, hours: float = 1) -> None:
        clock.advance(hours=hours)
        action()
        seen[name].append((clock(), wf.get(refs[name])))

    clock.advance(hours=1)
    refs["A"] = draft(wf, "dan", quantity=10, note="first")
    seen["A"].append((clock(), wf.get(refs["A"])))
    step("A", lambda: wf.edit(refs["A"], actor="dan", quantity=12, unit_value="3.5",
                              currency="USD"))
    clock.advance(hours=1)
    refs["B"] = draft(wf, "dora", quantity=4)
    seen["B"].append((clock(), wf.get(refs["B"])))
    step("A", lambda: wf.fire(refs["A"], "submit", actor="dan"))
    step("A", lambda: wf.fire(refs["A"], "approve_for_us", actor="ann"), hours=24)
    step("B", lambda: wf.fire(refs["B"], "withdraw", actor="dora", reason="not needed"))
    step("A", lambda: wf.fire(refs["A"], "request_third_country", actor="dan", country="PL"))
    step("A", lambda: wf.fire(refs["A"], "defer", actor="abe", reason="wait",
                              decision_date="2027-03-01"), hours=2)
    clock.advance(hours=5)
    return {"refs": refs, "seen": seen}


def _without_as_of(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != "as_of"}


def test_get_as_of_equals_what_get_said_at_each_moment(wf, timeline):
    for name, steps in timeline["seen"].items():
        ref = timeline["refs"][name]
        for index, (moment, recorded) in enumerate(steps):
            later = steps[index + 1][0] if index + 1 < len(steps) else moment + timedelta(days=9)
            for probe in (moment, moment + (later - moment) / 2, later - timedelta(seconds=1)):
                found = wf.get_as_of(ref, probe)
                assert _without_as_of(found) == recorded, (name, index, probe)
                assert found["as_of"] == iso(probe)


def test_get_as_of_before_creation_is_not_found(wf, timeline):
    ref = timeline["refs"]["B"]
    created = timeline["seen"]["B"][0][0]
    with pytest.raises(NotFound, match="did not exist yet"):
        wf.get_as_of(ref, created - timedelta(microseconds=1))


def test_get_as_of_a_record_its_log_order_hides_says_the_clocks_disagreed(wf, clock):
    clock.set(datetime(2026, 1, 2, 0, 30, tzinfo=UTC))
    draft(wf, "dan")
    clock.set(datetime(2026, 1, 1, 23, 30, tzinfo=UTC))  # a writer an hour behind
    late = draft(wf, "dora")
    with pytest.raises(NotFound) as hidden:
        wf.get_as_of(late, "2026-01-01T23:45Z")
    assert str(hidden.value) == (
        f"{late} did not exist yet at 2026-01-01T23:45:59.999999+00:00 by the log's order, "
        "though its first row is stamped 2026-01-01T23:30:00+00:00: a row logged before it "
        "carries a later time (the writers' clocks disagreed)")
    with pytest.raises(NotFound) as before:  # before its own stamp: nothing more to say
        wf.get_as_of(late, "2026-01-01T23:00Z")
    assert str(before.value).endswith("did not exist yet at 2026-01-01T23:00:59.999999+00:00")


def test_get_as_of_now_equals_the_record(wf, timeline, clock):
    for ref in timeline["refs"].values():
        live = wf.get(ref)
        assert _without_as_of(wf.get_as_of(ref, clock())) == live


def test_list_as_of_lists_what_existed_then_in_the_states_of_then(wf, timeline):
    seen, refs = timeline["seen"], timeline["refs"]
    a_created, b_created = seen["A"][0][0], seen["B"][0][0]
    assert wf.list_as_of(a_created - timedelta(seconds=1)) == []
    only_a = wf.list_as_of(b_created - timedelta(seconds=1))
    assert [_without_as_of(r) for r in only_a] == [seen["A"][1][1]]
    moment, recorded_a = seen["A"][3]  # approved_for_us, before B's withdrawal
    both = wf.list_as_of(moment)
    assert [_without_as_of(r) for r in both] == [recorded_a, seen["B"][0][1]]
    assert [r["ref"] for r in wf.list_as_of(moment, state="drafted")] == [refs["B"]]
    assert wf.list_as_of(moment, state="withdrawn") == []
    assert [r["ref"] for r in wf.list_as_of(seen["B"][1][0], state="withdrawn")] == [refs["B"]]


def test_as_of_with_a_non_utc_moment_equals_the_same_utc_moment(wf, timeline):
    ref = timeline["refs"]["A"]
    for moment, _recorded in timeline["seen"]["A"]:
        for zone in (EST, JST):
            local = moment.astimezone(zone)
            assert _without_as_of(wf.get_as_of(ref, local)) == \
                _without_as_of(wf.get_as_of(ref, moment)), (zone, moment)
            assert [_without_as_of(r) for r in wf.list_as_of(local)] == \
                [_without_as_of(r) for r in wf.list_as_of(moment)], (zone, moment)


def test_as_of_the_calendars_last_day_is_the_log_as_it_stands(wf, timeline, run_ready):
    """Within a day of the end of year 9999 no later row is looked for beyond it."""
    live = [_without_as_of(wf.get(ref)) for ref in timeline["refs"].values()]
    assert [_without_as_of(r) for r in wf.list_as_of("9999-12-31")] == live
    last = datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert _without_as_of(wf.get_as_of(timeline["refs"]["A"], last)) == live[0]
    listed = cli_json(run_ready, "request", "list", "--as-of", "9999-12-31")
    assert [r["ref"] for r in listed] == list(timeline["refs"].values())


def test_request_show_and_list_as_of_on_the_cli(run_ready, timeline):
    seen, refs = timeline["seen"], timeline["refs"]
    moment, recorded = seen["A"][2]  # nsc_review
    shown = cli_json(run_ready, "request", "show", refs["A"], "--as-of", iso(moment))
    assert _without_as_of(shown) == recorded
    assert "events" not in shown
    zulu = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _without_as_of(cli_json(run_ready, "request", "show", refs["A"], "--as-of", zulu)) \
        == recorded
    tokyo = moment.astimezone(JST).isoformat()
    assert _without_as_of(cli_json(run_ready, "request", "show", refs["A"], "--as-of", tokyo)) \
        == recorded
    listed = cli_json(run_ready, "request", "list", "--as-of", iso(moment))
    assert [_without_as_of(r) for r in listed] == [recorded, seen["B"][0][1]]
    pending = cli_json(run_ready, "request", "list", "--as-of", iso(moment), "--state",
                       "nsc_review")
    assert [r["ref"] for r in pending] == [refs["A"]]


def test_as_of_a_bare_date_means_the_end_of_that_day(run_ready, timeline):
    seen, refs = timeline["seen"], timeline["refs"]
    # the first day (2026-11-25) ends with A submitted, before its approval the next day
    first_day = [(m, r) for m, r in seen["A"] if m.date() == START.date()]
    shown = cli_json(run_ready, "request", "show", refs["A"], "--as-of", "2026-11-25")
    assert _without_as_of(shown) == first_day[-1][1]
    assert shown["state"] == "nsc_review"
    assert shown["as_of"] == "2026-11-25T23:59:59.999999+00:00"
    before = run_ready("request", "show", refs["A"], "--as-of", "2026-11-24", actor="aud")
    assert "did not exist yet" in assert_one_line_error(before, 1)


# -- history and audit log filters ---------------------------------------------------------------


@pytest.fixture
def trail(wf, clock) -> dict[str, str]:
    """Rows at 09:00 (1) .. 16:00 (8), one an hour:
    1 A create dan, 2 A edit dan, 3 B create dora, 4 A submit dan, 5 B submit dora,
    6 A return rita, 7 B approve_for_us ann, 8 A submit dan (next day, 2026-11-26 09:00)."""
    a = draft(wf, "dan")
    clock.advance(hours=1)
    wf.edit(a, actor="dan", note="fixed")
    clock.advance(hours=1)
    b = draft(wf, "dora")
    clock.advance(hours=1)
    wf.fire(a, "submit", actor="dan")
    clock.advance(hours=1)
    wf.fire(b, "submit", actor="dora")
    clock.advance(hours=1)
    wf.fire(a, "return", actor="rita", reason="consent instrument unclear")
    clock.advance(hours=1)
    wf.fire(b, "approve_for_us", actor="ann")
    clock.set(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    wf.fire(a, "submit", actor="dan")
    return {"A": a, "B": b}


def seqs(rows: list[dict[str, Any]]) -> list[int]:
    return [r["seq"] for r in rows]


LOG_FILTERS = [
    pytest.param([], [1, 2, 3, 4, 5, 6, 7, 8], id="none"),
    pytest.param(["--actor", "dan"], [1, 2, 4, 8], id="actor"),
    pytest.param(["--event", "submit"], [4, 5, 8], id="event"),
    pytest.param(["--event", "create"], [1, 3], id="event-create"),
    pytest.param(["--event", "edit"], [2], id="event-edit"),
    pytest.param(["--event", "return", "--event", "approve_for_us"], [6, 7], id="events"),
    pytest.param(["--event", "create", "--event", "submit", "--event", "create"], [1, 3, 4, 5, 8],
                 id="events-repeated"),
    pytest.param(["--event", "submit", "--event", "return", "--actor", "dan"], [4, 8],
                 id="events-and-actor"),
    pytest.param(["--state", "nsc_review"], [4, 5, 6, 7, 8], id="state-entered-or-left"),
    pytest.param(["--state", "drafted"], [1, 2, 3, 4, 5, 6, 8], id="state-drafted"),
    pytest.param(["--state", "approved"], [], id="state-never"),
    pytest.param(["--since", "2026-11-25T12:00:00Z"], [4, 5, 6, 7, 8], id="since"),
    pytest.param(["--until", "2026-11-25T12:00:00Z"], [1, 2, 3, 4], id="until"),
    pytest.param(["--until", "2026-11-25"], [1, 2, 3, 4, 5, 6, 7], id="until-bare-date"),
    pytest.param(["--until", "20261125"], [1, 2, 3, 4, 5, 6, 7], id="until-basic-date"),
    pytest.param(["--since", "2026-11-26"], [8], id="since-bare-date"),
    pytest.param(["--since", "2026-11-25T10:00:00Z", "--until", "2026-11-25T13:00:00Z",
                  "--actor", "dora"], [3, 5], id="combined"),
    pytest.param(["--since", "2026-11-25T19:00:00+09:00"], [2, 3, 4, 5, 6, 7, 8],
                 id="since-with-offset"),
    pytest.param(["--since", "0999-01-01"], [1, 2, 3, 4, 5, 6, 7, 8], id="since-year-999"),
    pytest.param(["--until", "0999-01-01"], [], id="until-year-999"),
    pytest.param(["--until", "0001-01-01"], [], id="until-year-1"),
]


@pytest.mark.parametrize(("args", "expected"), LOG_FILTERS)
def test_audit_log_filters(run_ready, trail, args, expected):
    assert seqs(cli_json(run_ready, "audit", "log", *args)) == expected


@pytest.mark.parametrize(("args", "expected"), LOG_FILTERS)
def test_history_filters_keep_to_the_request(run_ready, trail, args, expected):
    rows = cli_json(run_ready, "history", trail["A"], *args)
    a_rows = {1, 2, 4, 6, 8}
    assert seqs(rows) == [s for s in expected if s in a_rows]
    assert all(r["ref"] == trail["A"] for r in rows)


@pytest.mark.parametrize("argv", [
    ["audit", "log", "--since", "9999-12-31T23:00:00-05:00"],
    ["audit", "log", "--until", "0001-01-01T00:00:00+05:00"],
    ["audit", "refusals", "--since", "9999-12-31T23:00:00-05:00"],
    ["request", "list", "--as-of", "0001-01-01T00:00:00+05:00"],
], ids=["log-since", "log-until", "refusals-since", "list-as-of"])
def test_a_moment_past_the_calendar_in_utc_is_bad_input(run_ready, trail, argv):
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 2)
    assert "outside the years 1 to 9999 in UTC" in line


@pytest.mark.parametrize("week", ["2026-W48", "2026W48"])
def test_a_week_is_not_a_day_to_filter_by(run_ready, trail, week):
    line = assert_one_line_error(run_ready("audit", "log", "--until", week, actor="aud"), 2)
    assert week in line


def test_log_api_filters_match_the_cli(wf, run_ready, trail):
    assert wf.log(actor="rita") == cli_json(run_ready, "audit", "log", "--actor", "rita")
    [row] = wf.log(actor="rita")
    assert (row["event"], row["from"], row["to"], row["reason"]) == \
        ("return", "nsc_review", "drafted", "consent instrument unclear")
    assert seqs(wf.log(ref=trail["B"].lower())) == [3, 5, 7]
    assert seqs(wf.log(since=at(hours=2), until=at(hours=4))) == [3, 4, 5]


def test_log_api_takes_one_event_or_several(wf, run_ready, trail):
    assert seqs(wf.log(event=["return", "approve_for_us"])) == [6, 7]
    assert wf.log(event=("submit", " create ")) == cli_json(
        run_ready, "audit", "log", "--event", "submit", "--event", "create")
    assert seqs(wf.log(ref=trail["A"], event={"edit", "return"})) == [2, 6]
    assert wf.log(event=["submit"]) == wf.log(event="submit")
    for bad, needle in (([], "name at least one event"), (["submit", "approve_all"],
                        "unknown event 'approve_all'"), (7, "expected an event name or a list"),
                        ([7], "event: expected text")):
        with pytest.raises(InvalidInput, match=needle):
            wf.log(event=bad)


def test_log_api_filters_with_non_utc_moments_match_utc(wf, trail):
    since, until = at(hours=2), at(hours=4)
    expected = seqs(wf.log(since=since, until=until))
    assert seqs(wf.log(since=since.astimezone(EST), until=until.astimezone(EST))) == expected
    assert seqs(wf.log(since=since.astimezone(JST), until=until.astimezone(JST))) == expected


def test_history_text_output_names_who_when_and_why(run_ready, trail):
    result = run_ready("history", trail["A"], "--event", "return", actor="aud")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "#6  2026-11-25 14:00:00Z  return: nsc_review -> drafted  by rita as reviewer",
        "      reason: consent instrument unclear",
        "      process: transfer-request/1",
    ]
    logged = run_ready("audit", "log", "--actor", "ann", actor="aud")
    assert logged.stdout.splitlines() == [
        f"#7  2026-11-25 15:00:00Z  {trail['B']}  approve_for_us: nsc_review -> approved_for_us"
        "  by ann as approver",
        "      consulted: as of 2026-11-25: US none",
        "      process: transfer-request/1",
    ]


def test_log_filter_with_an_unknown_event_or_state_is_exit_2(run_ready, trail):
    assert_one_line_error(run_ready("audit", "log", "--event", "approve_all", actor="aud"), 2)
    line = assert_one_line_error(run_ready("history", trail["A"], "--event", "submit", "--event",
                                           "approve_all", actor="aud"), 2)
    assert "approve_all" in line
    assert_one_line_error(run_ready("history", trail["A"], "--state", "limbo", actor="aud"), 2)


# -- the report ------------------------------------------------------------------------------------


@pytest.fixture
def reported(wf, clock) -> dict[str, str]:
    """A: drafted 2h, nsc_review 3h, approved_for_us since 14:00. B: drafted 3h, nsc_review 4h,
    denied (final). C: drafted since 18:00 with an edit at 18:15. The report runs at 18:30."""
    a = draft(wf, "dan")
    clock.set(at(hours=1))
    b = draft(wf, "dora")
    clock.set(at(hours=2))
    wf.fire(a, "submit", actor="dan")
    clock.set(at(hours=4))
    wf.fire(b, "submit", actor="dora")
    clock.set(at(hours=5))
    wf.fire(a, "approve_for_us", actor="ann")
    clock.set(at(hours=8))
    wf.fire(b, "deny", actor="abe", reason="not now")
    clock.set(at(hours=9))
    c = draft(wf, "dan")
    clock.set(at(hours=9, minutes=15))
    wf.edit(c, actor="dan", note="n")
    clock.set(at(hours=9, minutes=30))
    return {"A": a, "B": b, "C": c}


def test_report_times_in_state_per_request_and_per_state(run_ready, reported):
    report = cli_json(run_ready, "audit", "report")
    assert report["at"] == iso(at(hours=9, minutes=30))
    assert report["requests"] == [
        {"ref": reported["A"], "state": "approved_for_us",
         "seconds_in_state": {"drafted": 7200.0, "nsc_review": 10800.0,
                              "approved_for_us": 16200.0}},
        {"ref": reported["B"], "state": "denied",
         "seconds_in_state": {"drafted": 10800.0, "nsc_review": 14400.0}},
        {"ref": reported["C"], "state": "drafted", "seconds_in_state": {"drafted": 1800.0}},
    ]
    assert report["states"] == {
        "drafted": {"requests": 3, "median_seconds": 7200.0, "max_seconds": 10800.0},
        "nsc_review": {"requests": 2, "median_seconds": 12600.0, "max_seconds": 14400.0},
        "approved_for_us": {"requests": 1, "median_seconds": 16200.0, "max_seconds": 16200.0},
    }


def test_report_text_writes_long_times_in_days_and_the_json_to_the_microsecond(
        run_ready, reported, clock):
    clock.set(at(days=20, hours=9, seconds=7, microseconds=500000))  # C was drafted at 9h
    result = run_ready("audit", "report", actor="aud")
    assert result.exit_code == 0, result.stderr
    line = next(ln for ln in result.stdout.splitlines() if reported["C"] in ln)
    assert "drafted 20d 00:00:07 so far" in line  # not 1.72801e+06 seconds
    report = cli_json(run_ready, "audit", "report")
    [stays] = [r["seconds_in_state"] for r in report["requests"] if r["ref"] == reported["C"]]
    assert stays == {"drafted": 1728007.5}


def test_report_counts_decisions_per_actor_and_finds_no_breach_in_a_clean_run(
        wf, run_ready, reported, clock):
    # one more decision by ann on a third-country approval, a year later
    clock.set(at(hours=9, minutes=45))
    wf.fire(reported["A"], "request_third_country", actor="dan", country="PL")
    clock.set(datetime(2027, 1, 1, 9, 0, tzinfo=UTC))
    wf.fire(reported["A"], "approve", actor="ann")
    report = cli_json(run_ready, "audit", "report")
    assert report["decisions"] == {"ann": {"approve_for_us": 1, "approve": 1},
                                   "abe": {"deny": 1}}
    assert report["separation_of_duties"] == []
    assert report == wf.report()
    text = run_ready("audit", "report", actor="aud").stdout
    assert "Separation of duties: 0 breach(es)" in text
    assert "ann    approve_for_us 1, approve 1" in text.splitlines()
    assert "abe    deny 1" in text.splitlines()


def test_report_lists_a_forged_self_approval_as_a_separation_of_duties_breach(
        wf, run_ready, reported, clock):
    # someone with database access appends, through the ledger itself, a decision by the
    # request's own drafter: the log stays well-formed, the report must still flag it
    ref = reported["C"]
    with wf.db.fast.transaction() as tx:
        record = tx.record(ref)
        tx.append_history(record, {
            "ref": ref, "event": "approve_for_us", "from": "nsc_review",
            "to": "approved_for_us", "actor": "dan", "roles": ["drafter"], "at": iso(clock()),
            "reason": None, "changes": {}, "consulted": {},
            "process_version": "transfer-request/1"}, clock())
    report = cli_json(run_ready, "audit", "report")
    assert report["separation_of_duties"] == [
        {"ref": ref, "seq": 9, "event": "approve_for_us", "actor": "dan",
         "rule": "separation-of-duties", "conflicts_with": [{"seq": 7, "event": "create"}],
         "why": f"dan approved {ref} for transfer to US (row 9), though dan drafted it (row 7)"}]
    assert report["decisions"]["dan"] == {"approve_for_us": 1}
    text = run_ready("audit", "report", actor="aud").stdout
    assert "Separation of duties: 1 breach(es)" in text
    assert (f"\n  dan approved {ref} for transfer to US (row 9), though dan drafted it "
            "(row 7)\n") in text
    # the forged row hashes correctly, but the request does not match it: verify names it
    with pytest.raises(AuditFailure) as caught:
        wf.verify()
    assert (caught.value.seq, caught.value.ref) == (9, ref)


def test_report_as_of_a_moment_is_the_report_the_log_gave_then(wf, run_ready, reported):
    # at 6:00: A approved for the US an hour before, B in review for two hours, C not drafted
    six = at(hours=6).isoformat(timespec="microseconds")  # to the microsecond: that instant
    report = cli_json(run_ready, "audit", "report", "--as-of", six)
    assert report["at"] == iso(at(hours=6))
    assert report["requests"] == [
        {"ref": reported["A"], "state": "approved_for_us",
         "seconds_in_state": {"drafted": 7200.0, "nsc_review": 10800.0,
                              "approved_for_us": 3600.0}},
        {"ref": reported["B"], "state": "nsc_review",
         "seconds_in_state": {"drafted": 10800.0, "nsc_review": 7200.0}},
    ]
    assert report["decisions"] == {"ann": {"approve_for_us": 1}}
    assert report == wf.report(as_of=at(hours=6))
    text = run_ready("audit", "report", "--as-of", six, actor="aud").stdout
    assert f"marked 'so far', until {iso(at(hours=6))}" in text
    assert reported["C"] not in text
    # before anything was drafted: an empty report; a moment still to come: as of now
    assert cli_json(run_ready, "audit", "report", "--as-of", "2026-11-24")["requests"] == []
    assert cli_json(run_ready, "audit", "report", "--as-of", "2030-01-01") == wf.report()


def test_report_as_of_what_is_not_a_moment_is_exit_2(run_ready, db_target, reported):
    before = db_snapshot(db_target)
    result = run_ready("audit", "report", "--as-of", "noon", actor="aud")
    assert "--as-of" in assert_one_line_error(result, 2)
    assert db_snapshot(db_target) == before


def test_report_on_an_empty_log(run_ready, clock):
    report = cli_json(run_ready, "audit", "report")
    assert report == {"at": iso(clock()), "requests": [], "states": {}, "decisions": {},
                      "separation_of_duties": []}


# -- exports ---------------------------------------------------------------------------------------


def _export(run: Cli, path: Path, fmt: str, *extra: str) -> dict[str, Any]:
    return cli_json(run, "audit", "export", "--format", fmt, "-o", str(path), *extra)


def _check(run: Cli, path: Path) -> Any:
    return run("audit", "check-export", str(path), actor="aud")


def _manifest(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    with path.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    for row in rows:
        row["seq"], row["version"] = int(row["seq"]), int(row["version"])
        for name in ("roles", "changes", "consulted", "acted_as"):
            row[name] = json.loads(row[name])
        for name in ("from", "reason"):
            row[name] = row[name] or None
    return rows


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips_through_check_export(wf, run_ready, trail, tmp_path, fmt):
    path = tmp_path / f"history.{fmt}"
    manifest = _export(run_ready, path, fmt)
    assert manifest["rows"] == 8
    assert (manifest["first_seq"], manifest["last_seq"]) == (1, 8)
    assert manifest["format"] == fmt
    assert json.loads(_manifest(path).read_text()) == manifest
    assert {k: v for k, v in manifest["checkpoint"].items() if k != "at"} == \
        {k: v for k, v in wf.checkpoint().items() if k != "at"}
    expected = wf.log()
    if fmt == "jsonl":
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [json.loads(line) for line in lines] == expected
        assert lines == [ledger.canonical(r).decode() for r in expected]
    else:
        assert _csv_rows(path) == expected
    checked = _check(run_ready, path)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.strip() == "ok: 8 rows match the manifest and the log"
    # rows appended later do not invalidate an earlier export
    wf.fire(trail["B"], "request_third_country", actor="dora", country="PL")
    assert _check(run_ready, path).exit_code == 0
    assert wf.check_export(path) == {"file": str(path), "rows": 8, "checkpoint_size": 8,
                                     "checkpoint_root": manifest["checkpoint"]["root"],
                                     "checked_against": "database", "signed": False,
                                     "signature_checked": False}


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_changed_byte_in_an_export_fails_check_export(run_ready, trail, tmp_path, fmt):
    path = tmp_path / f"history.{fmt}"
    _export(run_ready, path, fmt)
    data = bytearray(path.read_bytes())
    position = data.index(b"rita") + 1
    data[position] ^= 0x01  # rita -> rhta
    path.write_bytes(bytes(data))
    line = assert_one_line_error(_check(run_ready, path), 1)
    assert "does not match the SHA-256 in its manifest" in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_an_edited_export_with_a_recomputed_digest_is_named_by_row(run_ready, trail, tmp_path,
                                                                     fmt):
    import hashlib

    path = tmp_path / f"history.{fmt}"
    _export(run_ready, path, fmt)
    text = path.read_text(encoding="utf-8").replace("consent instrument unclear", "no reason")
    path.write_text(text, encoding="utf-8")
    manifest = json.loads(_manifest(path).read_text())
    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _manifest(path).write_text(json.dumps(manifest))
    line = assert_one_line_error(_check(run_ready, path), 1)
    number = 7 if fmt == "csv" else 6  # the CSV header is line 1
    assert f"row 6 ({trail['A']}): line {number} differs from the log" in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_manifest_with_a_changed_row_count_fails_check_export(run_ready, trail, tmp_path,
                                                                  fmt):
    path = tmp_path / f"history.{fmt}"
    _export(run_ready, path, fmt)
    manifest = json.loads(_manifest(path).read_text())
    manifest["rows"] = 7
    _manifest(path).write_text(json.dumps(manifest))
    line = assert_one_line_error(_check(run_ready, path), 1)
    assert f"{path.name} has 8 rows; its manifest says 7" in line


def test_an_export_with_a_dropped_line_fails_even_with_its_manifest_rewritten(
        run_ready, trail, tmp_path):
    import hashlib

    path = tmp_path / "history.jsonl"
    _export(run_ready, path, "jsonl")
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[:5] + lines[6:]), encoding="utf-8")  # row 6 removed
    manifest = json.loads(_manifest(path).read_text())
    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _manifest(path).write_text(json.dumps(manifest))
    line = assert_one_line_error(_check(run_ready, path), 1)
    assert "7 rows; its manifest says 8" in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_since_and_until_limit_the_rows(wf, run_ready, trail, tmp_path, fmt):
    path = tmp_path / f"window.{fmt}"
    manifest = _export(run_ready, path, fmt, "--since", "2026-11-25T11:00:00Z", "--until",
                       "2026-11-25")
    assert (manifest["rows"], manifest["first_seq"], manifest["last_seq"]) == (5, 3, 7)
    assert manifest["since"] == "2026-11-25T11:00:00+00:00"
    assert manifest["until"] == "2026-11-25T23:59:59.999999+00:00"
    if fmt == "jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        rows = _csv_rows(path)
    assert seqs(rows) == [3, 4, 5, 6, 7]
    assert rows == wf.log(since=at(hours=2), until=datetime(2026, 11, 25, 23, 59, 59,
                                                            tzinfo=UTC))
    assert _check(run_ready, path).exit_code == 0
    only_since = _export(run_ready, tmp_path / f"late.{fmt}", fmt, "--since", "2026-11-26")
    assert (only_since["rows"], only_since["first_seq"]) == (1, 8)
    empty = _export(run_ready, tmp_path / f"none.{fmt}", fmt, "--until", "2026-11-24")
    assert (empty["rows"], empty["first_seq"], empty["last_seq"]) == (0, None, None)
    assert _check(run_ready, tmp_path / f"none.{fmt}").exit_code == 0


def test_an_export_checked_against_a_rewritten_database_fails(wf, run_ready, trail, tmp_path):
    path = tmp_path / "history.jsonl"
    _export(run_ready, path, "jsonl")
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER wf_history_no_update")
        else:
            conn.exec_driver_sql("DROP TRIGGER wf_history_append_only ON wf_history")
        conn.exec_driver_sql("UPDATE wf_history SET leaf_hash = root_hash WHERE seq = 2")
    line = assert_one_line_error(_check(run_ready, path), 1)
    assert "checkpoint does not match this database's log" in line


# -- inclusion proofs ------------------------------------------------------------------------------


def _checkpoint(run: Cli, path: Path, *extra: str) -> dict[str, Any]:
    result = run("audit", "checkpoint", "-o", str(path), *extra, actor="aud")
    assert result.exit_code == 0, result.stderr
    return json.loads(path.read_text())


def _prove(run: Cli, ref: str, checkpoint: Path, out: Path) -> dict[str, Any]:
    result = run("audit", "prove", ref, "--checkpoint", str(checkpoint), "-o", str(out),
                 actor="aud")
    assert result.exit_code == 0, result.stderr
    return json.loads(out.read_text())


def check_proof(path: Path, *extra: str) -> Any:
    """`workflow audit check-proof` with no usable database at all."""
    return CliRunner().invoke(cli, ["--db", "/nonexistent/dir/x.db", "--as", "nobody",
                                    "audit", "check-proof", str(path), *extra],
                              catch_exceptions=False)


@pytest.fixture
def proven(wf, run_ready, trail, tmp_path) -> dict[str, Any]:
    cp = _checkpoint(run_ready, tmp_path / "cp.json")
    bundle = _prove(run_ready, trail["A"], tmp_path / "cp.json", tmp_path / "proof.json")
    return {"cp": cp, "bundle": bundle, "path": tmp_path / "proof.json", "ref": trail["A"]}


def test_prove_and_check_proof_round_trip_without_the_database(wf, proven):
    bundle, ref = proven["bundle"], proven["ref"]
    assert bundle["ref"] == ref
    assert bundle["checkpoint"] == proven["cp"]
    assert [e["row"] for e in bundle["rows"]] == wf.history(ref)
    assert [e["index"] for e in bundle["rows"]] == [0, 1, 3, 5, 7]
    result = check_proof(proven["path"])
    assert result.exit_code == 0, result.stderr
    last = bundle["rows"][-1]["row"]
    assert result.stdout.splitlines() == [
        f"ok: 5 rows of {ref} are in the log of 8 rows, from its drafting on, none left out "
        "between them",
        f"it ends at row 8 (submit, {last['at']}), leaving {ref} nsc_review: rows after its "
        "last cannot show"]
    expected = {"ref": ref, "rows": 5, "checkpoint_size": 8, "signed": False,
                "signature_checked": False, "counted": True,
                "last": {"seq": 8, "version": 5, "event": "submit", "state": "nsc_review",
                         "at": last["at"]}}
    assert json.loads(check_proof(proven["path"], "--json").stdout) == expected
    assert wf.check_proof(bundle) == expected


def test_a_proof_cut_short_says_where_it_ends(wf, proven):
    """Rows after a proof's last cannot show: a proof with its last rows cut off still checks,
    and says which row it ends at, so the reader sees how far it goes."""
    bundle = json.loads(proven["path"].read_text())
    bundle["rows"] = bundle["rows"][:3]  # create, edit, submit: the return and resubmit cut
    proven["path"].write_text(json.dumps(bundle))
    result = check_proof(proven["path"])
    assert result.exit_code == 0, result.stderr
    at = bundle["rows"][-1]["row"]["at"]
    assert result.stdout.splitlines()[1] == (
        f"it ends at row 4 (submit, {at}), leaving {proven['ref']} nsc_review: rows after its "
        "last cannot show")
    assert wf.check_proof(bundle)["last"] == {"seq": 4, "version": 3, "event": "submit",
                                              "state": "nsc_review", "at": at}


def test_check_proof_prints_a_forged_file_s_text_escaped(proven):
    """An unsigned proof file is self-consistent whatever it says: its text reaches the
    terminal escaped, never as control characters."""
    from workflow.ledger import row_leaf

    bundle = json.loads(proven["path"].read_text())
    ref = "TR-\x1b[2J"
    row = {**bundle["rows"][0]["row"], "ref": ref, "seq": 1, "to": "drafted\x1b[31m"}
    leaf = row_leaf(row)
    bundle = {"ref": ref, "checkpoint": {**bundle["checkpoint"], "size": 1, "root": leaf.hex()},
              "rows": [{"row": row, "index": 0, "proof": []}]}
    proven["path"].write_text(json.dumps(bundle))
    result = check_proof(proven["path"])
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert "TR-\\u001B[2J" in result.stdout and "drafted\\u001B[31m" in result.stdout


def test_a_proof_stays_valid_after_rows_are_appended(wf, run_ready, proven, trail, tmp_path):
    wf.fire(trail["B"], "request_third_country", actor="dora", country="PL")
    again = _prove(run_ready, trail["A"], tmp_path / "cp.json", tmp_path / "again.json")
    assert again == proven["bundle"]
    assert check_proof(proven["path"]).exit_code == 0


def _flip_first_proof_element(entry: dict[str, Any]) -> None:
    element = entry["proof"][0]
    entry["proof"][0] = ("1" if element[0] == "0" else "0") + element[1:]


FORGERIES = [
    pytest.param(lambda b: b["rows"][2]["row"].update(actor="abe"), "inclusion proof",
                 id="row-actor"),
    pytest.param(lambda b: b["rows"][4]["row"].update(at="2026-11-26T09:00:01+00:00"),
                 "inclusion proof", id="row-time"),
    pytest.param(lambda b: b["rows"][3]["row"]["changes"].update(note=[None, "x"]),
                 "inclusion proof", id="row-changes"),
    pytest.param(lambda b: b["rows"][1]["row"].update(reason="because"), "inclusion proof",
                 id="row-reason"),
    pytest.param(lambda b: _flip_first_proof_element(b["rows"][0]), "inclusion proof",
                 id="proof-element"),
    pytest.param(lambda b: b["rows"][0]["proof"].pop(), "inclusion proof", id="proof-truncated"),
    pytest.param(lambda b: b["rows"][0]["proof"].append("00" * 32), "inclusion proof",
                 id="proof-extended"),
    pytest.param(lambda b: b["checkpoint"].update(size=9), "inclusion proof",
                 id="checkpoint-size"),
    pytest.param(lambda b: b["checkpoint"].update(root="ab" * 32), "inclusion proof",
                 id="checkpoint-root"),
    pytest.param(lambda b: b["rows"][1].update(index=2), "is not", id="index"),
    pytest.param(lambda b: b["rows"][0]["row"].update(seq=True), "row 1 (TR-2026-0001): the "
                 "row is not", id="seq-not-a-number"),
    pytest.param(lambda b: b["rows"][1]["row"].update(ref="TR-2026-0002"), "is not",
                 id="row-of-another-request"),
]


@pytest.mark.parametrize(("forge", "needle"), FORGERIES)
def test_a_forged_proof_file_fails_check_proof(wf, proven, forge, needle):
    bundle = json.loads(proven["path"].read_text())
    forge(bundle)
    proven["path"].write_text(json.dumps(bundle))
    line = assert_one_line_error(check_proof(proven["path"]), 1)
    assert needle in line
    assert proven["ref"] in line
    with pytest.raises(AuditFailure):
        wf.check_proof(bundle)


LEFT_OUT = [
    pytest.param(lambda rows: rows[:2] + rows[3:], "row 6", "rows between them were left out",
                 id="a-decision-between"),
    pytest.param(lambda rows: rows[1:], "row 2", "drafting, with which its proof begins",
                 id="the-drafting"),
    pytest.param(lambda rows: [], None, "holds none of", id="every-row"),
    pytest.param(lambda rows: [rows[0], rows[2], rows[1], *rows[3:]], "row 4",
                 "row 3, but the proof's row 2", id="reordered"),
    # rows that leave the state as they found it, or a cycle that ends where it began: each
    # row counts its place in the request's history
    pytest.param(lambda rows: [rows[0], *rows[2:]], "row 4",
                 "row 3, but the proof's row 2: 1 row before it left out", id="an-edit"),
    pytest.param(lambda rows: rows[:2] + rows[4:], "row 8",
                 "row 5, but the proof's row 3: 2 rows before it left out",
                 id="a-return-and-resubmission"),
]


@pytest.mark.parametrize(("cut", "where", "needle"), LEFT_OUT)
def test_a_proof_with_rows_left_out_fails_check_proof(wf, proven, cut, where, needle):
    """Every row left holds its inclusion proof, but the request's history no longer runs
    from its drafting, each row leaving the state the one before entered."""
    bundle = json.loads(proven["path"].read_text())
    assert [e["row"]["event"] for e in bundle["rows"]] == [
        "create", "edit", "submit", "return", "submit"]
    bundle["rows"] = cut(bundle["rows"])
    proven["path"].write_text(json.dumps(bundle))
    line = assert_one_line_error(check_proof(proven["path"]), 1)
    assert needle in line and proven["ref"] in line
    if where is not None:
        assert where in line
    with pytest.raises(AuditFailure, match=needle):
        wf.check_proof(bundle)


def test_prove_refuses_a_request_drafted_after_the_checkpoint(run_ready, trail, tmp_path, wf):
    _checkpoint(run_ready, tmp_path / "cp.json")
    later = draft(wf)
    result = run_ready("audit", "prove", later, "--checkpoint", str(tmp_path / "cp.json"),
                       "-o", str(tmp_path / "p.json"), actor="aud")
    assert "drafted after it" in assert_one_line_error(result, 1)
    assert not (tmp_path / "p.json").exists()


def test_a_proof_against_a_signed_checkpoint_checks_with_its_key(run_ready, trail, tmp_path):
    key = tmp_path / "k"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    assert run_ready("audit", "keygen", "-o", str(tmp_path / "other"), actor="aud").exit_code == 0
    _checkpoint(run_ready, tmp_path / "cp.json", "--sign", str(key))
    _prove(run_ready, trail["B"], tmp_path / "cp.json", tmp_path / "proof.json")
    checked = check_proof(tmp_path / "proof.json", "--pubkey", f"{key}.pub", "--json")
    assert json.loads(checked.stdout)["signature_checked"] is True
    unchecked = json.loads(check_proof(tmp_path / "proof.json", "--json").stdout)
    assert (unchecked["signed"], unchecked["signature_checked"]) == (True, False)
    line = assert_one_line_error(
        check_proof(tmp_path / "proof.json", "--pubkey", str(tmp_path / "other.pub")), 1)
    assert "does not verify" in line
    bundle = json.loads((tmp_path / "proof.json").read_text())
    bundle["checkpoint"]["at"] = "2030-01-01T00:00:00+00:00"
    (tmp_path / "proof.json").write_text(json.dumps(bundle))
    assert check_proof(tmp_path / "proof.json").exit_code == 0  # unsigned check: time not bound
    assert_one_line_error(check_proof(tmp_path / "proof.json", "--pubkey", f"{key}.pub"), 1)


def test_prove_refuses_a_checkpoint_of_another_log(run_ready, trail, tmp_path):
    cp = _checkpoint(run_ready, tmp_path / "cp.json")
    cp["root"] = "cd" * 32
    (tmp_path / "cp.json").write_text(json.dumps(cp))
    result = run_ready("audit", "prove", trail["A"], "--checkpoint", str(tmp_path / "cp.json"),
                       "-o", str(tmp_path / "p.json"), actor="aud")
    assert "does not match this database's log" in assert_one_line_error(result, 1)
    assert not (tmp_path / "p.json").exists()


def test_a_proof_only_covers_rows_up_to_its_checkpoint(wf, run_ready, proven, tmp_path):
    wf.fire(proven["ref"], "approve_for_us", actor="ann")  # row 9, after the checkpoint
    bundle = _prove(run_ready, proven["ref"], tmp_path / "cp.json", tmp_path / "p.json")
    assert [e["row"]["seq"] for e in bundle["rows"]] == [1, 2, 4, 6, 8]
    later = _checkpoint(run_ready, tmp_path / "later.json")
    assert later["size"] == 9
    bundle = _prove(run_ready, proven["ref"], tmp_path / "later.json", tmp_path / "p9.json")
    assert [e["row"]["seq"] for e in bundle["rows"]] == [1, 2, 4, 6, 8, 9]
    assert check_proof(tmp_path / "p9.json").exit_code == 0


# -- the marked graph ------------------------------------------------------------------------------


def test_graph_marks_the_path_taken_with_who_and_when(run_ready, trail):
    result = run_ready("graph", trail["A"], actor="aud")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert "    drafted --> nsc_review: submit ✔ 1. dan 2026-11-25, 3. dan 2026-11-26" in lines
    assert "    nsc_review --> drafted: return ✔ 2. rita 2026-11-25" in lines
    assert "    nsc_review --> approved_for_us: approve_for_us" in lines  # not taken by A
    assert "    class nsc_review current" in lines
    assert "    class drafted visited" in lines
    assert not any("approved_for_us visited" in line for line in lines)
    assert sum("✔" in line for line in lines) == 2


def test_graph_dot_marks_the_path_taken_with_who_and_when(run_ready, trail):
    result = run_ready("graph", trail["B"], "--format", "dot", actor="aud")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert ('    drafted -> nsc_review [label="submit\\n1. dora 2026-11-25", color="#1d4ed8", '
            "penwidth=2];") in text
    assert ('    nsc_review -> approved_for_us [label="approve_for_us\\n2. ann 2026-11-25", '
            'color="#1d4ed8", penwidth=2];') in text
    assert '    nsc_review -> denied [label="deny"];' in text
    assert '    approved_for_us [style="rounded,filled", fillcolor="#fde68a", penwidth=3];' in text
    assert '    nsc_review [style="rounded,filled", fillcolor="#dbeafe"];' in text


def test_graph_without_a_reference_marks_nothing(run_ready):
    result = run_ready("graph", actor="aud")
    assert result.exit_code == 0
    assert "✔" not in result.stdout
    assert "class" not in result.stdout


def test_keygen_and_prove_tell_a_script_what_they_wrote(run_ready, trail, tmp_path):
    key = tmp_path / "k"
    made = run_ready("audit", "keygen", "-o", str(key), "--json", actor="aud")
    assert made.exit_code == 0, made.stderr
    assert json.loads(made.stdout) == {"private_key": str(key), "public_key": f"{key}.pub"}
    assert key.exists() and Path(f"{key}.pub").exists()
    _checkpoint(run_ready, tmp_path / "cp.json", "--sign", str(key))
    out = tmp_path / "proof.json"
    proved = run_ready("audit", "prove", trail["A"], "--checkpoint", str(tmp_path / "cp.json"),
                       "-o", str(out), "--json", actor="aud")
    assert proved.exit_code == 0, proved.stderr
    bundle = json.loads(out.read_text())
    assert json.loads(proved.stdout) == {"ref": trail["A"], "rows": len(bundle["rows"]),
                                         "checkpoint_size": bundle["checkpoint"]["size"],
                                         "output": str(out)}


def test_the_report_text_is_whole_on_stdout_even_where_a_part_is_empty(run_ready, clock):
    """Redirected to a file, the report keeps its 'none' lines under their headings, and says
    when it was taken."""
    result = run_ready("audit", "report", actor="admin")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    heading = lines.index("Time in each state, per request (days and hh:mm:ss; the current "
                          f"state, marked 'so far', until {iso(clock())}):")
    assert lines[heading + 1] == "  none"
    assert "  none: no decision was taken by someone the separation of duties excludes" in lines
    assert result.stderr == ""


@pytest.mark.parametrize("day", ["2026-11-25", "20261125", "2026-W48-3", "2026-329", "2026329"])
def test_every_iso_form_of_a_day_names_the_same_day(run_ready, trail, day):
    expected = cli_json(run_ready, "audit", "log", "--until", "2026-11-25")
    assert expected and expected != cli_json(run_ready, "audit", "log", "--until", "2026-11-24")
    assert cli_json(run_ready, "audit", "log", "--until", day) == expected
    assert values.iso_date("day", day) == date(2026, 11, 25)


def test_an_ordinal_date_with_a_time_of_day_is_that_moment(wf, trail):
    assert values.moment("since", "2026-329T14:00Z") == datetime(2026, 11, 25, 14, tzinfo=UTC)
    assert seqs(wf.log(since="2026-329T14:00", until="2026329 15:00")) == \
        seqs(wf.log(since="2026-11-25T14:00", until="2026-11-25 15:00"))


@pytest.mark.parametrize("day", ["2026-366", "2026-000", "0000-001", "9999-366", "2026-33"])
def test_an_ordinal_date_past_its_year_is_bad_input(run_ready, trail, day):
    line = assert_one_line_error(run_ready("audit", "log", "--until", day, actor="aud"), 2)
    assert day in line
    with pytest.raises(InvalidInput, match=day):
        values.iso_date("day", day)


@pytest.mark.parametrize("day", ["2026-11-25+09:00", "20261125-0500"])
def test_a_day_with_an_offset_but_no_time_says_the_offset_needs_one(run_ready, trail, day):
    line = assert_one_line_error(run_ready("audit", "log", "--since", day, actor="aud"), 2)
    assert f"'{day}' gives an offset without a time of day; an offset needs one" in line
