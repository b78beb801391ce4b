"""`audit refusals` narrowed by request, span, rule and event: API and CLI, SQLite and PostgreSQL.

The refusals are real ones, caused by firing what the rules refuse; time moves only with the
FakeClock.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event

from tests.conftest import Cli, assert_one_line_error, db_snapshot, draft
from workflow import InvalidInput, NotFound, Refused, Workflow


def day(d: int, h: int = 9, m: int = 0, s: int = 0) -> datetime:
    return datetime(2026, 11, d, h, m, s, tzinfo=UTC)


@pytest.fixture
def refused(wf: Workflow, clock: Any) -> dict[str, Any]:
    """Six refusals over three days, on two requests and none, by six rules of two kinds:

    1. 11-25 09:00 ann approve on ONE (drafted) — state
    2. 11-25 10:00 rita submit on ONE — role
    3. 11-26 09:00 duo approve_for_us on TWO, which duo drafted and submitted — separation-of-duties
    4. 11-26 23:59:59 ann deny on ONE without a reason — reason-required
    5. 11-27 00:00 nobody (unregistered) approve_for_us on ONE typed " tr-…-0001 " — registered-user
    6. 11-27 09:00 dan adds a user — role, event "user add", no request
    """
    one = draft(wf)
    clock.set(day(25))
    with pytest.raises(Refused):
        wf.fire(one, "approve", actor="ann")
    clock.set(day(25, 10))
    with pytest.raises(Refused):
        wf.fire(one, "submit", actor="rita")
    wf.fire(one, "submit", actor="dan")
    two = draft(wf, "duo")
    wf.fire(two, "submit", actor="duo")
    clock.set(day(26))
    with pytest.raises(Refused):
        wf.fire(two, "approve_for_us", actor="duo")
    clock.set(day(26, 23, 59, 59))
    with pytest.raises(Refused):
        wf.fire(one, "deny", actor="ann")
    clock.set(day(27, 0))
    with pytest.raises(NotFound):
        wf.fire(f" {one.lower()} ", "approve_for_us", actor="nobody")
    clock.set(day(27))
    with pytest.raises(Refused):
        wf.add_user("eve", ["drafter"], actor="dan")
    rows = wf.refusals()
    assert [(r["seq"], r["event"], r["rule"]) for r in rows] == [
        (1, "approve", "state"), (2, "submit", "role"),
        (3, "approve_for_us", "separation-of-duties"), (4, "deny", "reason-required"),
        (5, "approve_for_us", "registered-user"), (6, "user add", "role")]
    assert rows[4]["ref"] == f" {one.lower()} "  # kept as typed: refused before the lookup
    return {"one": one, "two": two, "all": rows}


def seqs(rows: list[dict[str, Any]]) -> list[int]:
    return [r["seq"] for r in rows]


def cli_rows(run: Cli, *args: str) -> list[dict[str, Any]]:
    result = run("audit", "refusals", *args, "--json", actor="aud")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    return json.loads(result.stdout)


# -- each filter narrows, the API and the CLI alike ------------------------------------------------


def test_ref_narrows_to_one_request_whatever_case_and_spaces_it_was_typed_in(wf, run_ready,
                                                                             refused):
    one, two = refused["one"], refused["two"]
    assert seqs(wf.refusals(ref=one)) == [1, 2, 4, 5]
    for typed in (one.lower(), f"  {one.lower()}\t"):
        assert wf.refusals(ref=typed) == wf.refusals(ref=one)
        assert cli_rows(run_ready, "--ref", typed) == wf.refusals(ref=one)
    assert seqs(cli_rows(run_ready, "--ref", two)) == [3]


def test_ref_matches_a_stored_reference_as_the_write_path_reads_it(wf, run_ready, refused,
                                                                   clock):
    """Blanks that are not spaces around a typed reference (a tab, a no-break space) name the
    request on the write path, so they match; text LIKE reads specially matches only as
    itself."""
    one = refused["one"]
    clock.set(day(27, 10))
    for typed in (f"{one.lower()}\t", f"\u00a0{one}", "tr-2026-00_1", "%"):
        with pytest.raises((NotFound, Refused)):
            wf.fire(typed, "approve_for_us", actor="nobody")
    assert seqs(wf.refusals(ref=one)) == [1, 2, 4, 5, 7, 8]
    assert cli_rows(run_ready, "--ref", one) == wf.refusals(ref=one)
    assert seqs(wf.refusals(ref="tr-2026-00_1")) == [9]
    assert seqs(cli_rows(run_ready, "--ref", "%")) == [10]


def test_a_reference_no_request_has_finds_nothing_with_a_note_but_no_error(wf, run_ready,
                                                                           refused):
    assert wf.refusals(ref="TR-2099-0001") == []
    assert wf.refusals(ref="TR-2026-0001\x00") == []
    result = run_ready("audit", "refusals", "--ref", "tr-2099-0001", actor="aud")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "no refusals\nnote: unknown reference 'tr-2099-0001'\n"
    found = run_ready("audit", "refusals", "--ref", refused["two"], actor="aud")
    assert found.exit_code == 0 and found.stderr == "" and refused["two"] in found.stdout


def test_until_takes_a_bare_date_as_its_whole_day_and_a_moment_as_given(wf, run_ready, refused):
    assert seqs(wf.refusals(until="2026-11-26")) == [1, 2, 3, 4]  # 23:59:59 included
    assert seqs(cli_rows(run_ready, "--until", "2026-11-26")) == [1, 2, 3, 4]
    assert seqs(wf.refusals(until=day(25, 10))) == [1, 2]
    assert seqs(cli_rows(run_ready, "--until", "2026-11-25T09:59:59")) == [1]
    assert seqs(cli_rows(run_ready, "--since", "2026-11-26", "--until", "2026-11-26")) == [3, 4]
    assert wf.refusals(since="2026-11-26", until="2026-11-26") == cli_rows(
        run_ready, "--since", "2026-11-26", "--until", "2026-11-26")
    assert cli_rows(run_ready, "--until", "2026-11-24") == []


def test_rule_narrows_to_the_rule_as_recorded(wf, run_ready, refused):
    assert seqs(wf.refusals(rule="separation-of-duties")) == [3]
    assert seqs(cli_rows(run_ready, "--rule", "separation-of-duties")) == [3]
    assert seqs(cli_rows(run_ready, "--rule", "role")) == [2, 6]
    assert wf.refusals(rule="role") == cli_rows(run_ready, "--rule", "role")
    assert seqs(wf.refusals(rule="registered-user")) == [5]
    assert wf.refusals(rule="last-admin") == []


def test_event_narrows_to_the_event_tried(wf, run_ready, refused):
    assert seqs(wf.refusals(event="approve")) == [1]
    assert seqs(cli_rows(run_ready, "--event", "approve_for_us")) == [3, 5]
    assert seqs(cli_rows(run_ready, "--event", "user add")) == [6]
    assert wf.refusals(event="user add") == cli_rows(run_ready, "--event", "user add")
    assert wf.refusals(event="withdraw") == []
    assert seqs(wf.refusals(event=["approve", "user add", "approve"])) == [1, 6]
    assert seqs(cli_rows(run_ready, "--event", "approve", "--event", "user add")) == [1, 6]
    with pytest.raises(InvalidInput, match="name at least one event"):
        wf.refusals(event=[])
    with pytest.raises(InvalidInput, match="unknown event 'nope'"):
        wf.refusals(event=("approve", "nope"))


def test_filters_combine_and_keep_each_item_as_the_unfiltered_list_has_it(wf, run_ready,
                                                                         refused):
    one, everything = refused["one"], {r["seq"]: r for r in refused["all"]}
    cases = [
        (["--ref", one, "--rule", "role"], {"ref": one, "rule": "role"}, [2]),
        (["--ref", one.lower(), "--since", "2026-11-26"], {"ref": one, "since": "2026-11-26"},
         [4, 5]),
        (["--event", "approve_for_us", "--until", "2026-11-26"],
         {"event": "approve_for_us", "until": "2026-11-26"}, [3]),
        (["--actor", "ann", "--event", "deny", "--rule", "reason-required", "--ref", one],
         {"actor": "ann", "event": "deny", "rule": "reason-required", "ref": one}, [4]),
        (["--ref", refused["two"], "--rule", "state"], {"ref": refused["two"], "rule": "state"},
         []),
    ]
    for args, kwargs, expected in cases:
        rows = cli_rows(run_ready, *args)
        assert seqs(rows) == expected, args
        assert rows == wf.refusals(**kwargs) == [everything[s] for s in expected]
    assert {tuple(r) for r in everything.values()} == {
        ("seq", "at", "actor", "ref", "event", "state", "rule", "message")}


def test_the_table_shows_the_filtered_rows(run_ready, refused):
    result = run_ready("audit", "refusals", "--rule", "separation-of-duties", actor="aud")
    assert result.exit_code == 0, result.stderr
    header, line = result.stdout.splitlines()
    assert header.split()[0] == "SEQ"
    assert line.split()[:7] == ["3", day(26).isoformat(), "duo", refused["two"],
                                "approve_for_us", "nsc_review", "separation-of-duties"]


def test_the_filters_are_where_clauses_of_the_query(wf, refused):
    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    sa_event.listen(wf.db.engine, "before_cursor_execute", seen)
    try:
        rows = wf.refusals(ref=refused["one"], rule="role", event="submit", since="2026-11-25",
                           until="2026-11-25")
    finally:
        sa_event.remove(wf.db.engine, "before_cursor_execute", seen)
    assert seqs(rows) == [2]
    [query] = [s for s in statements if "wf_refusal" in s]
    where = re.split(r"\swhere\s", query.lower(), maxsplit=1)[1]
    for column in ("upper(wf_refusal.ref) like", "wf_refusal.rule", "wf_refusal.event",
                   "wf_refusal.at >=", "wf_refusal.at <="):
        assert column in where, query


# -- a rule this program does not know -------------------------------------------------------------


def test_an_unknown_rule_finds_nothing_with_a_note_naming_the_known_rules(wf, run_ready,
                                                                         refused):
    assert wf.refusals(rule="separation-of-duty") == []  # the API: no error, nothing found
    result = run_ready("audit", "refusals", "--rule", "separation-of-duty", actor="aud")
    assert result.exit_code == 0
    assert result.stdout == ""
    empty, note = result.stderr.splitlines()
    assert empty == "no refusals"
    assert note.startswith("note: no refusal names rule 'separation-of-duty', nor is it a rule "
                           "of this program; its rules: ")
    known = note.split("its rules: ")[1].split(", ")
    assert {"separation-of-duties", "role", "state", "conflict", "registered-user",
            "database-permission", "decision-date-reached"} <= set(known)
    quiet = run_ready("audit", "refusals", "--rule", "last-admin", actor="aud")  # known, unused
    assert quiet.exit_code == 0 and quiet.stdout == "" and quiet.stderr == "no refusals\n"


def test_a_rule_of_an_earlier_process_version_is_found_as_recorded(wf, run_ready, refused):
    old = Refused("approve", "consent-on-file", "no prior consent on file")
    wf._log_refusal("ann", refused["one"], "approve", {}, old)
    assert "consent-on-file" not in wf.refusal_rules()
    rows = wf.refusals(rule="consent-on-file")
    assert seqs(rows) == [7]
    result = run_ready("audit", "refusals", "--rule", "consent-on-file", "--json", actor="aud")
    assert result.exit_code == 0 and result.stderr == ""  # found: no note
    assert json.loads(result.stdout) == rows


def test_every_rule_the_engine_refuses_by_is_known():
    source = "\n".join(p.read_text(encoding="utf-8")
                       for p in (Path(__file__).parents[1] / "workflow").glob("*.py"))
    named = set(re.findall(r'Refused\(\s*[^,()]+,\s*"([a-z-]+)"', source))
    assert {"state", "role", "database-permission", "last-admin"} <= named
    from states import PROCESS
    from workflow.refusal_names import rules

    assert named <= set(rules(PROCESS))


# -- bad input: one line, exit 2, nothing looked up or changed -------------------------------------


@pytest.mark.parametrize(("args", "names"), [
    (["--event", "approv"], ["--event", "approv", "approve_for_us", "user add"]),
    (["--event", "create "], None),  # spaces around a name are dropped, as for every name
    (["--since", "2026-11-27", "--until", "2026-11-26"], ["--since", "after --until"]),
    (["--until", "2026-13-01"], ["--until", "2026-13-01"]),
    (["--until", "yesterday"], ["--until", "yesterday"]),
])
def test_bad_filters_are_one_line_errors_and_change_nothing(wf, run_ready, db_target, refused,
                                                           args, names):
    before = db_snapshot(db_target)
    result = run_ready("audit", "refusals", *args, "--json", actor="aud")
    if names is None:
        assert result.exit_code == 0 and json.loads(result.stdout) == []
        return
    line = assert_one_line_error(result, 2)
    for name in names:
        assert name in line, line
    assert db_snapshot(db_target) == before
    assert wf.refusals() == refused["all"]  # nor was the attempt itself a refusal


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"event": "approv"}, "unknown event 'approv'"),
    ({"since": "2026-11-27", "until": "2026-11-26"}, "is after --until"),
    ({"until": "2026-13-01"}, "until:"),
    ({"event": 5}, "event: expected an event name or a list of them, got int"),
    ({"event": [5]}, "event: expected text"),
    ({"ref": 5}, "ref: expected text"),
    ({"rule": 5}, "rule: expected text"),
])
def test_bad_filters_are_refused_by_the_api_before_anything_is_read(wf, refused, kwargs, words):
    with pytest.raises(InvalidInput, match=re.escape(words)):
        wf.refusals_rows(**kwargs)  # at once: not when the rows are asked for
