"""The Python API holds the same line as the CLI: values it is handed are checked and made
canonical as the CLI's are, whoever acts is checked however the database was opened, and every
attempt by someone not allowed to act is recorded. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from tests.conftest import START, assert_one_line_error, db_snapshot, draft, to_state
from tests.samples import PATRIOT
from workflow import InvalidInput, NotFound, Refused, WorkflowError

# -- the policy ----------------------------------------------------------------------------


def test_a_restriction_names_its_country_as_the_rules_look_it_up(wf):
    """A lower-case code is the country the rules check; a name is not a code at all."""
    entry = wf.restrict("pl", "in-combat", "2026-01-01", reason="now in combat", actor="admin")
    assert entry["country"] == "PL"
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    wf.fire(ref, "approve_for_us", actor="ann")
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "request_third_country", actor="dan", country="PL")
    assert refused.value.rule == "third-country-unrestricted"
    before = db_snapshot(wf.db.url)
    for subject in ("Poland", "XX", ""):
        with pytest.raises(InvalidInput, match="country"):
            wf.restrict(subject, "embargo", date(2026, 1, 1), reason="r", actor="admin")
    with pytest.raises(InvalidInput, match="country"):
        wf.end_restriction("Poland", date(2026, 6, 1), reason="r", actor="admin")
    assert db_snapshot(wf.db.url) == before


def test_policy_days_may_be_dates_text_or_moments_and_verify_still_passes(wf):
    wf.restrict("DE", "embargo", datetime(2026, 1, 1, 5, tzinfo=UTC), reason="t", actor="admin")
    wf.restrict("FR", "embargo", "2026-02-01", reason="t", actor="admin")
    [ended] = wf.end_restriction("FR", "2026-03-01", reason="over", actor="admin")
    assert ended["until"] == "2026-03-01"
    in_force = {e["country"] for e in wf.policy("2026-02-15")}
    assert {"DE", "FR"} <= in_force
    assert "FR" not in {e["country"] for e in wf.policy(date(2026, 3, 1))}
    assert wf.verify()["policy_changes"] == len(wf.policy_history())


@pytest.mark.parametrize(("call", "needle"), [
    (lambda wf: wf.restrict("DE", "embargo", "someday", reason="t", actor="admin"), "since"),
    (lambda wf: wf.end_restriction("IL", "soon", reason="t", actor="admin"), "on"),
    (lambda wf: wf.policy("yesterday"), "as_of"),
    (lambda wf: wf.due("tomorrow"), "on"),
])
def test_a_malformed_day_is_bad_input_naming_it(wf, call, needle):
    before = db_snapshot(wf.db.url)
    with pytest.raises(InvalidInput, match=needle):
        call(wf)
    assert db_snapshot(wf.db.url) == before


# -- moments -------------------------------------------------------------------------------


def test_moments_in_any_zone_or_as_text_mean_the_same_instant(wf, clock):
    ref = draft(wf)  # 09:00 UTC
    clock.advance(hours=2)
    wf.fire(ref, "submit", actor="dan")  # 11:00 UTC
    tokyo = timezone(timedelta(hours=9))
    assert wf.get_as_of(ref, datetime(2026, 11, 25, 19, 30, tzinfo=tokyo))["state"] == "drafted"
    assert wf.get_as_of(ref, "2026-11-25T20:00:00+09:00")["state"] == "nsc_review"
    assert [r["state"] for r in wf.list_as_of("2026-11-25T10:00Z")] == ["drafted"]
    since = datetime(2026, 11, 25, 19, 30, tzinfo=tokyo)  # 10:30 UTC
    assert [r["event"] for r in wf.log(since=since)] == ["submit"]
    assert [r["event"] for r in wf.log(until="2026-11-25")] == ["create", "submit"]  # whole day
    with pytest.raises(InvalidInput, match="since"):
        wf.log(since="not a moment")
    with pytest.raises(InvalidInput, match="after"):
        wf.log(since="2026-11-26", until="2026-11-25")


def test_refusals_since_an_instant_in_another_zone(wf, clock):
    ref = draft(wf)
    clock.advance(hours=1)  # 10:00 UTC
    with pytest.raises(Refused):
        wf.fire(ref, "approve_for_us", actor="ann")
    tokyo = timezone(timedelta(hours=9))
    assert len(wf.refusals(since=datetime(2026, 11, 25, 18, 59, tzinfo=tokyo))) == 1
    assert wf.refusals(since=datetime(2026, 11, 25, 19, 1, tzinfo=tokyo)) == []


def test_as_of_follows_the_log_when_writers_clocks_disagree(wf, clock):
    """A firing stamped earlier than the one before it (a slower clock) is not in the log before
    it: rebuilt as of a moment between them, the request never skips its submission."""
    ref = draft(wf)  # 09:00
    clock.set(START + timedelta(minutes=5))
    wf.fire(ref, "submit", actor="dan")  # 09:05
    clock.set(START + timedelta(minutes=3))
    wf.fire(ref, "approve_for_us", actor="ann")  # 09:03, but logged after the submission
    between = START + timedelta(minutes=4)
    then = wf.get_as_of(ref, between)
    assert (then["state"], then["version"]) == ("drafted", 1)
    assert [(r["state"], r["version"]) for r in wf.list_as_of(between)] == [("drafted", 1)]
    later = wf.get_as_of(ref, START + timedelta(minutes=6))
    assert (later["state"], later["version"]) == ("approved_for_us", 3)


# -- reasons and text that show nothing ----------------------------------------------------


@pytest.mark.parametrize("blank", ["\u200b", " \u2060 ", "\u3164", "\ufeff\u200b"])
def test_a_reason_that_shows_nothing_is_no_reason(wf, blank):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "return", actor="rita", reason=blank)
    assert refused.value.rule == "reason-required"
    assert wf.get(ref)["state"] == "nsc_review"


@pytest.mark.parametrize("blank", ["\u200b", "\u2800", "\u200b\u3164"])
def test_a_field_that_shows_nothing_is_refused_as_blank(wf, run_ready, blank):
    with pytest.raises(InvalidInput, match="item: must not be blank"):
        draft(wf, item=blank)
    result = run_ready("request", "new", "--item", blank, "--quantity", "1", actor="dan")
    assert "no visible character" in assert_one_line_error(result, 2)
    assert wf.list() == []


# -- who acts ------------------------------------------------------------------------------


def test_a_user_told_apart_by_case_alone_is_refused(wf, run_ready):
    with pytest.raises(WorkflowError, match="differs only in case from the existing user 'dan'"):
        wf.add_user("Dan", ["approver"], actor="admin")
    result = run_ready("user", "add", "DAN", "--role", "approver")
    assert "differs only in case" in assert_one_line_error(result, 1)
    assert "Dan" not in {u["name"] for u in wf.users()}


@pytest.mark.parametrize("attempt", [
    lambda wf, ref: wf.fire(ref, "approve_for_us", actor="mallory"),
    lambda wf, ref: wf.create(actor="mallory", **PATRIOT),
    lambda wf, ref: wf.add_user("eve", ["approver"], actor="mallory"),
    lambda wf, ref: wf.get(ref, actor="mallory"),
])
def test_an_attempt_by_someone_not_registered_is_recorded(wf, attempt):
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    with pytest.raises(NotFound, match="unknown user 'mallory'"):
        attempt(wf, ref)
    [logged] = wf.refusals(actor="mallory")
    assert logged["rule"] == "registered-user"
    assert wf.get(ref)["state"] == "nsc_review"
    assert wf.verify()["refusals"] == 1


@pytest.mark.parametrize(("name", "recorded"), [
    ("sato ", "'sato '"), ("\uff53\uff41\uff54\uff4f", "'\\uff53\\uff41\\uff54\\uff4f'"),
    ("-sato", "'-sato'"), ("eve\x1b[31m", "'eve\\x1b[31m'"),
    ("x" * 5000, "'" + "x" * 64 + "'... (5000 characters)"),
])
def test_a_name_no_user_could_have_is_recorded_quoted_in_ascii(wf, run_ready, name, recorded):
    """A look-alike of a user's name is recorded too, spelled so that an auditor sees what was
    typed and no terminal acts on it."""
    ref = draft(wf)
    result = run_ready("advance", ref, "submit", actor=name)
    assert "unknown user" in assert_one_line_error(result, 1)
    [logged] = wf.refusals()
    assert (logged["actor"], logged["rule"], logged["event"]) == (
        recorded, "registered-user", "submit")
    assert wf.verify()["refusals"] == 1


def test_the_cli_records_an_unregistered_actor_and_keeps_its_exit_code(wf, run_ready):
    result = run_ready("request", "list", actor="mallory")
    message = assert_one_line_error(result, 1)
    assert "unknown user 'mallory'" in message
    assert message.endswith("[rule: registered-user]")  # named as every refusal by a rule is
    [logged] = wf.refusals()
    assert (logged["actor"], logged["rule"]) == ("mallory", "registered-user")
    assert logged["message"].endswith("[rule: registered-user]")


def test_a_malformed_unknown_name_is_refused_and_stored_only_as_printable_text(wf):
    with pytest.raises(NotFound):
        wf.create(actor="\x1b[31mx", **PATRIOT)
    assert [r["actor"] for r in wf.refusals()] == ["'\\x1b[31mx'"]


def test_as_of_a_bare_day_means_as_that_day_ended_as_on_the_command_line(wf, run_ready):
    ref = draft(wf)  # 2026-11-25 09:00
    assert wf.get_as_of(ref, "2026-11-25")["state"] == "drafted"
    assert wf.get_as_of(ref, date(2026, 11, 25))["state"] == "drafted"
    assert [r["ref"] for r in wf.list_as_of("2026-11-25")] == [ref]
    shown = run_ready("request", "show", ref, "--as-of", "2026-11-25", "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    with pytest.raises(NotFound, match="did not exist yet"):
        wf.get_as_of(ref, "2026-11-24")



def test_a_nul_in_a_name_or_reference_is_no_one_and_nothing(wf):
    with pytest.raises(NotFound, match="unknown user"):
        wf.restrict("FR", "embargo", "2030-01-01", actor="ad\x00min", reason="test")
    assert wf.refusals(actor="a\x00b") == []
    assert wf.refusals(ref="TR-\x00") == []
    assert [r["rule"] for r in wf.refusals()] == ["registered-user"]


def test_refusals_of_a_name_no_user_could_have_are_found_by_that_name(wf, run_ready):
    ref = draft(wf)
    run_ready("advance", ref, "submit", actor="sato ")
    assert [r["actor"] for r in wf.refusals(actor="sato ")] == ["'sato '"]
    listed = run_ready("audit", "refusals", "--actor", "sato ", "--json", actor="aud")
    assert [r["actor"] for r in json.loads(listed.stdout)] == ["'sato '"]


def test_a_week_is_no_day_wherever_a_day_is_asked_for(wf, run_ready):
    """A day may be written in any ISO 8601 form naming one; a week alone names none."""
    for week in ("2027W01", "2027-W01"):
        result = run_ready("policy", "add", "FR", "--kind", "embargo", "--since", week,
                           "--reason", "test")
        assert "expected a date as YYYY-MM-DD (or another ISO 8601 form naming a day)" in (
            assert_one_line_error(result, 2))
    result = run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2027W011",
                       "--reason", "test")
    assert result.exit_code == 0, result.stderr
    assert "since 2027-01-04" in result.stdout + result.stderr


# -- values of the wrong type ----------------------------------------------------------------


@pytest.mark.parametrize(("call", "needle"), [
    pytest.param(lambda wf, ref: wf.fire(ref, "submit", actor="dan", reason=123),
                 "reason: expected text, got int", id="reason-int"),
    pytest.param(lambda wf, ref: wf.fire(ref, "submit", actor=None), "actor: expected text",
                 id="actor-none"),
    pytest.param(lambda wf, ref: wf.fire(None, "submit", actor="dan"), "ref: expected text",
                 id="ref-none"),
    pytest.param(lambda wf, ref: wf.fire(ref, "submit", actor="dan", expected_version="a"),
                 "expected_version: expected a version", id="version-text"),
    pytest.param(lambda wf, ref: wf.fire(ref, "submit", actor="dan", expected_version=True),
                 "expected_version", id="version-bool"),
    pytest.param(lambda wf, ref: wf.fire(ref, "submit", actor="dan", expected_version=0),
                 "expected_version", id="version-zero"),
    pytest.param(lambda wf, ref: wf.fire_many([5], actor="dan"),
                 "firing 1: expected a mapping", id="firing-not-a-mapping"),
    pytest.param(lambda wf, ref: wf.fire_many([{"ref": ref, "event": "submit",
                                                "expected_version": "1"}], actor="dan"),
                 "firing 1: expected_version", id="firing-version-text"),
    pytest.param(lambda wf, ref: wf.fire_many([{"ref": ref, "event": "submit"}], actor=7),
                 "actor: expected text", id="batch-actor-int"),
    pytest.param(lambda wf, ref: wf.create_many([5], actor="dan"),
                 "record 1: expected a mapping", id="draft-not-a-mapping"),
    pytest.param(lambda wf, ref: wf.create(actor=None, **PATRIOT), "actor: expected text",
                 id="drafter-none"),
    pytest.param(lambda wf, ref: wf.edit(ref, actor="dan", expected_version="1", item="x"),
                 "expected_version", id="edit-version-text"),
    pytest.param(lambda wf, ref: wf.edit(None, actor="dan", item="x"), "ref: expected text",
                 id="edit-ref-none"),
    pytest.param(lambda wf, ref: wf.get(None, actor="dan"), "ref: expected text",
                 id="get-ref-none"),
    pytest.param(lambda wf, ref: wf.get(ref, actor=5), "actor: expected text",
                 id="get-actor-int"),
    pytest.param(lambda wf, ref: wf.history(b"TR-2026-0001"), "ref: expected text",
                 id="history-ref-bytes"),
])
def test_a_value_of_the_wrong_type_is_bad_input_and_nothing_is_recorded(wf, call, needle):
    ref = draft(wf)
    before = db_snapshot(wf.db.url)
    refusals = len(wf.refusals())
    with pytest.raises(InvalidInput, match=needle):
        call(wf, ref)
    assert db_snapshot(wf.db.url) == before
    assert len(wf.refusals()) == refusals


def test_an_empty_batch_fires_nothing(wf):
    before = db_snapshot(wf.db.url)
    assert wf.fire_many([], actor="dan") == []
    assert wf.create_many([], actor="dan") == []
    assert db_snapshot(wf.db.url) == before


@pytest.mark.parametrize(("actor", "call", "rule"), [
    ("ghost", "create_many", "registered-user"), ("ghost", "fire_many", "registered-user"),
    ("gone", "create_many", "active-user"), ("gone", "fire_many", "active-user"),
    ("ann", "create_many", "role"),
])
def test_an_empty_batch_still_checks_who_asks(wf, actor, call, rule):
    """Nothing to do is no way around the checks: the attempt is refused and recorded."""
    wf.add_user("gone", ["drafter"], actor="admin")
    wf.disable_user("gone", actor="admin")
    with pytest.raises(WorkflowError) as refused:
        getattr(wf, call)([], actor=actor)
    assert getattr(refused.value, "rule", None) == rule
    assert wf.refusals()[-1]["rule"] == rule


def test_a_start_finer_than_a_microsecond_takes_in_no_row_before_it(wf, clock):
    clock.set(datetime(2026, 11, 25, 10, 0, 0, 1, tzinfo=UTC))
    ref = draft(wf)
    assert [r["ref"] for r in wf.log(since="2026-11-25T10:00:00.0000010")] == [ref]
    assert wf.log(since="2026-11-25T10:00:00.0000015") == []
    assert [r["ref"] for r in wf.log(until="2026-11-25T10:00:00.0000015")][-1] == ref


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-11-25", "2026-11-25T00:00:00", "2026-11-25T23:59:59.999999"),
    ("2026-11-25Z", "2026-11-25T00:00:00", "2026-11-25T23:59:59.999999"),  # a day, in UTC
    ("2026-11-25T10", "2026-11-25T10:00:00", "2026-11-25T10:59:59.999999"),
    ("2026-11-25T10:30", "2026-11-25T10:30:00", "2026-11-25T10:30:59.999999"),
    ("2026-11-25 10:30:15Z", "2026-11-25T10:30:15", "2026-11-25T10:30:15.999999"),
    ("20261125T103015", "2026-11-25T10:30:15", "2026-11-25T10:30:15.999999"),
    ("2026-11-25T10:30:15.250", "2026-11-25T10:30:15.250000", "2026-11-25T10:30:15.250999"),
    ("2026-11-25T10:30:15.123456", "2026-11-25T10:30:15.123456", "2026-11-25T10:30:15.123456"),
    ("2026-11-25T19:30+09:00", "2026-11-25T10:30:00", "2026-11-25T10:30:59.999999"),
])
def test_a_moment_as_text_is_the_span_its_precision_names(text, start, end):
    from workflow import values

    assert values.moment("m", text).isoformat() == start + "+00:00"
    assert values.moment("m", text, end_of_day=True).isoformat() == end + "+00:00"


@pytest.mark.parametrize(("text", "said"), [
    ("2026-11-25+09:00", "gives an offset without a time of day; an offset needs one"),
    ("2026-11-25-05:00", "gives an offset without a time of day; an offset needs one"),
    ("2026-11-25X10:00", "expected YYYY-MM-DD or an ISO 8601 date-time"),  # T or a space
    ("2026-11-25T10:30:15Zjunk", "expected YYYY-MM-DD or an ISO 8601 date-time"),
    ("2026-11-25T24:00", "expected YYYY-MM-DD or an ISO 8601 date-time"),
])
def test_a_moment_not_written_as_iso_8601_says_is_bad_input(wf, text, said):
    for call in (lambda: wf.log(since=text), lambda: wf.log(until=text),
                 lambda: wf.list_as_of(text)):
        with pytest.raises(InvalidInput, match=said):
            call()


def test_a_time_the_trail_prints_typed_back_in_takes_in_its_whole_second(run_ready, wf, clock):
    clock.set(datetime(2026, 11, 25, 10, 0, 0, 654321, tzinfo=UTC))
    ref = draft(wf)
    clock.advance(seconds=1)
    wf.fire(ref, "submit", actor="dan")
    trail = run_ready("history", ref, actor="aud")
    assert trail.exit_code == 0, trail.stderr
    printed = next(line for line in trail.stdout.splitlines() if "submit" in line)
    assert "2026-11-25 10:00:01Z" in printed  # the trail prints times to the second
    shown = run_ready("request", "show", ref, "--as-of", "2026-11-25 10:00:01Z", "--json",
                      actor="aud")
    assert json.loads(shown.stdout)["state"] == "nsc_review"
    assert [r["event"] for r in wf.log(since="2026-11-25 10:00:01Z",
                                       until="2026-11-25 10:00:01Z")] == ["submit"]
    assert [r["event"] for r in wf.log(until="2026-11-25T10:00:00Z")] == ["create"]


def test_files_may_be_named_as_text_and_anything_else_is_bad_input(wf, tmp_path):
    draft(wf)
    out = tmp_path / "log.jsonl"
    assert wf.export(str(out), "jsonl")["rows"] == 1
    assert wf.check_export(str(out))["rows"] == 1
    assert wf.check_export_offline(str(out))["rows"] == 1
    (tmp_path / "cp.json").write_text(json.dumps(wf.checkpoint()))
    assert wf.verify(since=str(tmp_path / "cp.json"))["consistency"]
    for call in (lambda: wf.export(5, "jsonl"), lambda: wf.check_export(None),
                 lambda: wf.verify(since=b"cp.json")):
        with pytest.raises(InvalidInput, match="expected a file path"):
            call()


# -- subclasses of the built-in types ---------------------------------------------------------


class _LateYear(date):
    """A day that says it falls in a later year than it does."""

    @property
    def year(self) -> int:
        return 9998


class _NeverEqual(str):
    """Text that says it equals nothing, and is unequal to nothing."""

    def __eq__(self, other: object) -> bool:
        return False

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


class _Huge(int):
    def __lt__(self, other: object) -> bool:
        return False


def test_a_subclassed_day_is_read_as_the_day_it_holds(wf):
    ref = draft(wf)
    for event, actor in (("submit", "dan"), ("approve_for_us", "ann")):
        wf.fire(ref, event, actor=actor)
    today = START.date()
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "request_third_country", actor="dan", country="PL",
                decision_date=_LateYear(today.year, today.month, today.day))
    assert refused.value.rule == "decision-in-later-year"
    assert wf.get(ref)["state"] == "approved_for_us"


def test_subclassed_text_is_read_as_the_text_it_holds(wf):
    ref = draft(wf)
    for event, actor in (("submit", "dan"), ("approve_for_us", "ann")):
        wf.fire(ref, event, actor=actor)
    with pytest.raises(Refused) as refused:
        wf.fire(ref, "request_third_country", actor="dan", country=_NeverEqual("JP"))
    assert refused.value.rule == "third-country-named"
    assert wf.get(ref)["state"] == "approved_for_us"
    own = to_state(wf, "nsc_review", drafter="duo")  # a drafter is still its drafter
    with pytest.raises(Refused) as refused:
        wf.fire(own, "approve_for_us", actor=_NeverEqual("duo"))
    assert refused.value.rule == "separation-of-duties"
    assert wf.get(own)["state"] == "nsc_review"


def test_a_login_is_compared_as_the_text_it_holds():
    from workflow import access, values

    with pytest.raises(Refused) as refused:
        access.authenticate("sato", values.given_text("actor", _NeverEqual("suzuki")))
    assert refused.value.rule == "database-login"
    with pytest.raises(Refused):
        access.authenticate("sato", _NeverEqual("suzuki"))
    assert type(values.given_text("actor", _NeverEqual("sato"))) is str


def test_a_subclassed_number_is_read_as_the_number_it_holds(wf):
    with pytest.raises(InvalidInput, match="must be a positive whole number"):
        wf.create(actor="dan", **{**PATRIOT, "quantity": _Huge(-5)})


def test_a_datetime_given_for_a_day_names_its_utc_day(wf, clock):
    """As "today" is the UTC day: 20:00 on 1 January at UTC-5 is 2 January."""
    evening = datetime(2027, 1, 1, 20, tzinfo=timezone(timedelta(hours=-5)))
    wf.restrict("PL", "embargo", evening, reason="r", actor="admin")
    assert [r["since"] for r in wf.policy() if r["country"] == "PL"] == ["2027-01-02"]
    assert wf.due(on=evening) == wf.due(on="2027-01-02")
    with pytest.raises(InvalidInput, match="outside the years 1 to 9999 in UTC"):
        wf.due(on=datetime(9999, 12, 31, 20, tzinfo=timezone(timedelta(hours=-5))))
