"""Bad input for every command: the exit code, one ``error:`` line, nothing on stdout, no change.

Exit 1: refused by a rule or role (a missing reason included), unknown user or reference, event not
allowed from the current state, conflict. Exit 2: a malformed value, reported before anything is
looked up.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from tests.conftest import (
    Cli,
    assert_one_line_error,
    db_snapshot,
    draft,
    request_new_args,
    to_state,
)

UNKNOWN_REF = "TR-2099-9999"
LONG_REASON = "x" * 2001
MISSING_DIR_DB = "/nonexistent/dir/x.db"


@pytest.fixture
def refs(wf) -> dict[str, str]:
    """One request of dan's in each state the error cases need, and one drafted by duo."""
    return {
        "drafted": to_state(wf, "drafted"),
        "nsc_review": to_state(wf, "nsc_review"),
        "approved_for_us": to_state(wf, "approved_for_us"),
        "third_country_review": to_state(wf, "third_country_review"),
        "duo_nsc_review": to_state(wf, "nsc_review", drafter="duo"),
    }


def _fill(argv: list[str], **values: str) -> list[str]:
    return [arg.format(**values) for arg in argv]


def _check_refused(run: Cli, actor: str, argv: list[str], code: int, needle: str | None) -> str:
    before = db_snapshot(run.target)
    result = run(*argv, actor=actor)
    line = assert_one_line_error(result, code)
    if needle is not None:
        assert needle.lower() in line.lower(), line
    assert db_snapshot(run.target) == before
    return line


# -- exit 1: unknown references, wrong state, roles, rules ---------------------------------------

UNKNOWN_REFERENCE = [
    pytest.param("admin", ["request", "show", UNKNOWN_REF], id="request-show"),
    pytest.param("admin", ["request", "show", "--json", UNKNOWN_REF], id="request-show-json"),
    pytest.param("dan", ["request", "edit", UNKNOWN_REF, "--note", "x"], id="request-edit"),
    pytest.param("dan", ["advance", UNKNOWN_REF, "submit"], id="advance"),
    pytest.param("ann", ["advance", UNKNOWN_REF, "deny", "--reason", "r"], id="advance-deny"),
    pytest.param("aud", ["history", UNKNOWN_REF], id="history"),
    pytest.param("aud", ["history", "--json", UNKNOWN_REF], id="history-json"),
    pytest.param("aud", ["graph", UNKNOWN_REF], id="graph"),
    pytest.param("aud", ["graph", UNKNOWN_REF, "--format", "dot"], id="graph-dot"),
    pytest.param("aud", ["request", "show", "not-a-ref"], id="request-show-garbage"),
]


@pytest.mark.parametrize(("actor", "argv"), UNKNOWN_REFERENCE)
def test_unknown_reference_is_exit_1(run_ready, refs, actor, argv):
    _check_refused(run_ready, actor, argv, 1, "unknown reference")


WRONG_STATE = [
    pytest.param("ann", ["advance", "{drafted}", "approve_for_us"], id="approve_for_us-drafted"),
    pytest.param("ann", ["advance", "{drafted}", "approve"], id="approve-drafted"),
    pytest.param("ann", ["advance", "{drafted}", "deny", "--reason", "r"], id="deny-drafted"),
    pytest.param("dan", ["advance", "{nsc_review}", "submit"], id="submit-nsc_review"),
    pytest.param("dan", ["advance", "{approved_for_us}", "withdraw", "--reason", "r"],
                 id="withdraw-approved_for_us"),
    pytest.param("ann", ["advance", "{approved_for_us}", "defer", "--reason", "r",
                         "--decision-date", "2028-01-01"], id="defer-approved_for_us"),
    pytest.param("dan", ["request", "edit", "{nsc_review}", "--note", "x"], id="edit-nsc_review"),
]


@pytest.mark.parametrize(("actor", "argv"), WRONG_STATE)
def test_event_or_edit_not_allowed_from_current_state_is_exit_1(run_ready, refs, actor, argv):
    _check_refused(run_ready, actor, _fill(argv, **refs), 1, "[rule: state]")


WRONG_ROLE = [
    pytest.param("rita", request_new_args(), id="reviewer-creates"),
    pytest.param("aud", request_new_args(), id="auditor-creates"),
    pytest.param("admin", request_new_args(), id="admin-creates"),
    pytest.param("dora", ["request", "edit", "{drafted}", "--note", "x"], id="other-drafter-edits"),
    pytest.param("ann", ["request", "edit", "{drafted}", "--note", "x"], id="approver-edits"),
    pytest.param("dora", ["advance", "{drafted}", "submit"], id="other-drafter-submits"),
    pytest.param("dan", ["advance", "{nsc_review}", "approve_for_us"], id="drafter-approves"),
    pytest.param("aud", ["advance", "{nsc_review}", "return", "--reason", "r"],
                 id="auditor-returns"),
    pytest.param("rita", ["advance", "{nsc_review}", "deny", "--reason", "r"],
                 id="reviewer-denies"),
    pytest.param("admin", ["advance", "{third_country_review}", "approve"], id="admin-approves"),
    pytest.param("dan", ["user", "add", "x", "--role", "drafter"], id="drafter-adds-user"),
    pytest.param("ann", ["user", "disable", "dora"], id="approver-disables-user"),
    pytest.param("dan", ["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                         "--reason", "r"], id="drafter-adds-policy"),
    pytest.param("ann", ["policy", "end", "UA", "--on", "2026-12-01", "--reason", "r"],
                 id="approver-ends-policy"),
]


@pytest.mark.parametrize(("actor", "argv"), WRONG_ROLE)
def test_refused_by_role_is_exit_1(run_ready, refs, actor, argv):
    _check_refused(run_ready, actor, _fill(argv, **refs), 1, "refused")


REFUSED_BY_RULE = [
    pytest.param("ann", ["advance", "{nsc_review}", "deny"], "reason", id="deny-without-reason"),
    pytest.param("ann", ["advance", "{nsc_review}", "deny", "--reason", "   "], "reason",
                 id="deny-blank-reason"),
    pytest.param("dan", ["advance", "{drafted}", "withdraw"], "reason",
                 id="withdraw-without-reason"),
    pytest.param("rita", ["advance", "{nsc_review}", "return"], "reason",
                 id="return-without-reason"),
    pytest.param("ann", ["advance", "{third_country_review}", "defer", "--decision-date",
                         "2028-01-01"], "reason", id="defer-without-reason"),
    pytest.param("ann", ["advance", "{third_country_review}", "defer", "--reason", "r",
                         "--decision-date", "2026-12-31"], "decision-date-later",
                 id="defer-to-earlier-date"),
    pytest.param("admin", ["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                           "--reason", " "], "reason", id="policy-add-blank-reason"),
    pytest.param("admin", ["policy", "end", "UA", "--on", "2026-12-01", "--reason", " "],
                 "reason", id="policy-end-blank-reason"),
    pytest.param("duo", ["advance", "{duo_nsc_review}", "approve_for_us"],
                 "separation-of-duties", id="drafter-approves-own"),
    pytest.param("dan", ["advance", "{approved_for_us}", "request_third_country"],
                 "third-country-named", id="third-country-missing"),
    pytest.param("dan", ["advance", "{approved_for_us}", "request_third_country", "--country",
                         "UA"], "third-country-unrestricted", id="third-country-in-combat"),
    pytest.param("dan", ["advance", "{approved_for_us}", "request_third_country", "--country",
                         "US"], "third-country-named", id="third-country-is-recipient"),
    pytest.param("dan", ["advance", "{approved_for_us}", "request_third_country", "--country",
                         "PL", "--decision-date", "2026-12-31"], "decision-in-later-year",
                 id="decision-date-this-year"),
    pytest.param("abe", ["advance", "{third_country_review}", "approve"],
                 "decision-date-reached", id="approve-before-decision-date"),
]


@pytest.mark.parametrize(("actor", "argv", "needle"), REFUSED_BY_RULE)
def test_refused_by_rule_is_exit_1(run_ready, refs, actor, argv, needle):
    _check_refused(run_ready, actor, _fill(argv, **refs), 1, needle)


def test_submit_to_a_restricted_recipient_is_refused(run_ready, wf):
    ref = draft(wf, recipient="KP", licensor_country="KP")
    _check_refused(run_ready, "dan", ["advance", ref, "submit"], 1, "recipient-unrestricted")


@pytest.mark.parametrize("argv", [
    pytest.param(["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01"], id="add"),
    pytest.param(["policy", "end", "UA", "--on", "2026-12-01"], id="end"),
])
def test_policy_change_without_reason_is_refused_exit_1(run_ready, argv):
    """Contract: a missing reason is a refusal (exit 1), like a blank one."""
    _check_refused(run_ready, "admin", argv, 1, "reason")


CONFLICTS_AND_UNKNOWNS = [
    pytest.param(["user", "add", "dan", "--role", "drafter"], "dan", id="user-exists"),
    pytest.param(["user", "disable", "nobody"], "nobody", id="disable-unknown-user"),
    pytest.param(["user", "disable", "admin"], "last", id="disable-last-admin"),
    pytest.param(["policy", "add", "UA", "--kind", "in-combat", "--since", "2024-01-01",
                  "--reason", "r"], "already", id="policy-add-duplicate"),
    pytest.param(["policy", "end", "FR", "--on", "2026-12-01", "--reason", "r"], "FR",
                 id="policy-end-unrestricted"),
]


@pytest.mark.parametrize(("argv", "needle"), CONFLICTS_AND_UNKNOWNS)
def test_admin_changes_that_cannot_apply_are_exit_1(run_ready, argv, needle):
    _check_refused(run_ready, "admin", argv, 1, needle)


# -- exit 1: who is acting ----------------------------------------------------------------------

def _user_commands(ref: str) -> dict[str, list[str]]:
    """Every command that needs a registered, active user, valid in every other respect."""
    return {
        "request-list": ["request", "list"],
        "request-list-json": ["request", "list", "--json"],
        "request-show": ["request", "show", ref],
        "request-new": request_new_args(),
        "request-edit": ["request", "edit", ref, "--note", "changed"],
        "advance": ["advance", ref, "submit"],
        "history": ["history", ref],
        "due": ["due"],
        "policy-list": ["policy", "list"],
        "policy-history": ["policy", "history"],
        "policy-add": ["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                       "--reason", "r"],
        "policy-end": ["policy", "end", "UA", "--on", "2026-12-01", "--reason", "r"],
        "user-list": ["user", "list"],
        "user-add": ["user", "add", "newbie", "--role", "drafter"],
        "user-disable": ["user", "disable", "dora"],
        "graph-ref": ["graph", ref],
    }


USER_COMMAND_NAMES = list(_user_commands("R"))


@pytest.mark.parametrize("command", USER_COMMAND_NAMES)
def test_unknown_user_via_as_is_exit_1(run_ready, refs, command):
    argv = _user_commands(refs["drafted"])[command]
    _check_refused(run_ready, "nobody", argv, 1, "nobody")


@pytest.fixture
def chief(wf) -> str:
    """A disabled user who, while active, could have run every command: returns their draft."""
    wf.add_user("chief", ["admin", "drafter"], actor="admin")
    ref = draft(wf, "chief")
    wf.disable_user("chief", actor="admin")
    return ref


@pytest.mark.parametrize("command", USER_COMMAND_NAMES)
def test_disabled_user_is_exit_1(run_ready, chief, command, wf):
    """Refused, and the attempt recorded once, reading or writing."""
    before = len(wf.refusals())
    argv = _user_commands(chief)[command]
    _check_refused(run_ready, "chief", argv, 1, "disabled")
    [*_, last] = wf.refusals()
    assert len(wf.refusals()) == before + 1
    assert (last["actor"], last["rule"]) == ("chief", "active-user")


def test_a_disabled_user_could_act_before(run_ready, wf):
    """The disabled-user cases fail for being disabled, not for their arguments."""
    wf.add_user("chief", ["admin", "drafter"], actor="admin")
    ref = draft(wf, "chief")
    for argv in _user_commands(ref).values():
        result = run_ready(*argv, actor="chief")
        assert result.exit_code == 0, (argv, result.stderr)


def test_disabled_via_cli_then_refused(run_ready, refs):
    assert run_ready("user", "disable", "dan").exit_code == 0
    _check_refused(run_ready, "dan", ["advance", refs["drafted"], "withdraw", "--reason", "r"],
                   1, "disabled")


# -- exit 2: malformed values -------------------------------------------------------------------

UNKNOWN_EVENT = [
    pytest.param(["advance", "{drafted}", "launch"], id="drafted"),
    pytest.param(["advance", UNKNOWN_REF, "launch"], id="unknown-ref"),
    pytest.param(["advance", "{drafted}", "Submit"], id="case"),
    pytest.param(["advance", "{drafted}", "edit"], id="edit-is-no-event"),
]


@pytest.mark.parametrize("argv", UNKNOWN_EVENT)
def test_unknown_event_is_exit_2(run_ready, refs, argv):
    _check_refused(run_ready, "dan", _fill(argv, **refs), 2, "event")


BAD_COUNTRIES = ["XX", "USA", "u1", "1", "U$"]
COUNTRY_COMMANDS = {
    "request-new-recipient": ("dan", request_new_args(recipient="{c}")),
    "request-new-licensor-country": ("dan", request_new_args(licensor_country="{c}")),
    "request-edit-recipient": ("dan", ["request", "edit", "{drafted}", "--recipient", "{c}"]),
    "advance-country": ("dan", ["advance", "{approved_for_us}", "request_third_country",
                                "--country", "{c}"]),
    "policy-add": ("admin", ["policy", "add", "{c}", "--kind", "embargo", "--since",
                             "2026-01-01", "--reason", "r"]),
    "policy-end": ("admin", ["policy", "end", "{c}", "--on", "2026-12-01", "--reason", "r"]),
}


@pytest.mark.parametrize("country", BAD_COUNTRIES)
@pytest.mark.parametrize("command", list(COUNTRY_COMMANDS))
def test_bad_country_code_is_exit_2(run_ready, refs, command, country):
    actor, argv = COUNTRY_COMMANDS[command]
    _check_refused(run_ready, actor, _fill(argv, c=country, **refs), 2, "ISO 3166")


BAD_QUANTITIES = ["0", "-3", "abc", "1.5", "", "1e3"]


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_bad_quantity_on_new_is_exit_2(run_ready, quantity):
    _check_refused(run_ready, "dan", request_new_args(quantity=quantity), 2, "quantity")


@pytest.mark.parametrize("quantity", BAD_QUANTITIES)
def test_bad_quantity_on_edit_is_exit_2(run_ready, refs, quantity):
    argv = ["request", "edit", refs["drafted"], f"--quantity={quantity}"]
    _check_refused(run_ready, "dan", argv, 2, "quantity")


@pytest.mark.parametrize(("option", "value"), [
    ("unit_value", "-1"), ("unit_value", "abc"), ("unit_value", "nan"),
    ("currency", "yen"), ("currency", "ZZZ"),
])
def test_bad_unit_value_or_currency_is_exit_2(run_ready, option, value):
    extra = {"unit_value": "100", "currency": "JPY", option: value}
    _check_refused(run_ready, "dan", request_new_args(**extra), 2, option.replace("_", "-"))


@pytest.mark.parametrize("field", ["item", "end_user", "manufacturer"])
def test_blank_required_text_is_exit_2(run_ready, field):
    _check_refused(run_ready, "dan", request_new_args(**{field: "  "}), 2, None)


def test_missing_required_field_on_new_is_exit_2(run_ready):
    _check_refused(run_ready, "dan", request_new_args(item=None), 2, "--item")


def test_edit_with_nothing_to_change_is_exit_2(run_ready, refs):
    _check_refused(run_ready, "dan", ["request", "edit", refs["drafted"]], 2, None)


BAD_DATES = ["2026-13-01", "tomorrow", "2026-02-30", "01/02/2026"]
DATE_COMMANDS = {
    "due-on": ("aud", ["due", "--on", "{d}"]),
    "policy-list-as-of": ("aud", ["policy", "list", "--as-of", "{d}"]),
    "policy-add-since": ("admin", ["policy", "add", "FR", "--kind", "embargo", "--since", "{d}",
                                   "--reason", "r"]),
    "policy-end-on": ("admin", ["policy", "end", "UA", "--on", "{d}", "--reason", "r"]),
    "advance-request_third_country": ("dan", ["advance", "{approved_for_us}",
                                              "request_third_country", "--country", "PL",
                                              "--decision-date", "{d}"]),
    "advance-defer": ("ann", ["advance", "{third_country_review}", "defer", "--reason", "r",
                              "--decision-date", "{d}"]),
}


@pytest.mark.parametrize("bad_date", BAD_DATES)
@pytest.mark.parametrize("command", list(DATE_COMMANDS))
def test_bad_date_is_exit_2(run_ready, refs, command, bad_date):
    actor, argv = DATE_COMMANDS[command]
    _check_refused(run_ready, actor, _fill(argv, d=bad_date, **refs), 2, "date")


@pytest.mark.parametrize("state", ["bogus", "Drafted", "approved_for_UK", ""])
def test_unknown_state_for_request_list_is_exit_2(run_ready, refs, state):
    _check_refused(run_ready, "aud", ["request", "list", "--state", state], 2, "state")


@pytest.mark.parametrize("roles", [["king"], ["drafter", "king"], ["Admin"]])
def test_unknown_role_is_exit_2(run_ready, roles):
    argv = ["user", "add", "newbie"]
    for role in roles:
        argv += ["--role", role]
    _check_refused(run_ready, "admin", argv, 2, "role")


def test_user_add_without_role_is_exit_2(run_ready):
    _check_refused(run_ready, "admin", ["user", "add", "newbie"], 2, "--role")


@pytest.mark.parametrize("name", ["has space", "-dash-first", "x" * 65, "semi;colon", "eve\n",
                                  "eve\r\n"])
def test_malformed_user_name_is_exit_2(run_ready, name):
    _check_refused(run_ready, "admin", ["user", "add", "--role", "drafter", "--", name], 2, None)


def test_a_name_with_a_letter_outside_ascii_is_told_what_is_allowed(run_ready):
    _check_refused(run_ready, "admin", ["user", "add", "--role", "drafter", "émile"], 2,
                   "ASCII letters")


def test_unknown_policy_kind_is_exit_2(run_ready):
    argv = ["policy", "add", "FR", "--kind", "war", "--since", "2026-01-01", "--reason", "r"]
    _check_refused(run_ready, "admin", argv, 2, "kind")


UNKNOWN_OPTIONS = [
    pytest.param(["--bogus", "request", "list"], id="global"),
    pytest.param(["request", "list", "--bogus"], id="request-list"),
    pytest.param(["request", "show", "{drafted}", "--bogus"], id="request-show"),
    pytest.param([*request_new_args(), "--bogus", "1"], id="request-new"),
    pytest.param(["request", "edit", "{drafted}", "--third-country", "PL"],
                 id="request-edit-event-field"),
    pytest.param(["advance", "{drafted}", "submit", "--bogus"], id="advance"),
    pytest.param(["history", "{drafted}", "--bogus"], id="history"),
    pytest.param(["due", "--bogus"], id="due"),
    pytest.param(["policy", "list", "--bogus"], id="policy-list"),
    pytest.param(["policy", "history", "--bogus"], id="policy-history"),
    pytest.param(["user", "list", "--bogus"], id="user-list"),
    pytest.param(["user", "disable", "dora", "--bogus"], id="user-disable"),
    pytest.param(["graph", "--format", "png"], id="graph-format"),
    pytest.param(["graph", "--bogus"], id="graph"),
    pytest.param(["init", "--bogus"], id="init"),
    pytest.param(["demo", "--bogus"], id="demo"),
    pytest.param(["frobnicate"], id="unknown-command"),
    pytest.param(["request", "frobnicate"], id="unknown-sub-command"),
]


@pytest.mark.parametrize("argv", UNKNOWN_OPTIONS)
def test_unknown_option_or_command_is_exit_2(run_ready, refs, argv):
    _check_refused(run_ready, "admin", _fill(argv, **refs), 2, None)


def test_an_argument_the_event_does_not_take_is_exit_2(run_ready, refs):
    argv = ["advance", refs["drafted"], "submit", "--country", "PL"]
    _check_refused(run_ready, "dan", argv, 2, "country")


LONG_REASONS = [
    pytest.param("ann", ["advance", "{nsc_review}", "deny", "--reason", LONG_REASON], id="deny"),
    pytest.param("rita", ["advance", "{nsc_review}", "return", "--reason", LONG_REASON],
                 id="return"),
    pytest.param("dan", ["advance", "{drafted}", "withdraw", "--reason", LONG_REASON],
                 id="withdraw"),
    pytest.param("ann", ["advance", "{third_country_review}", "defer", "--reason", LONG_REASON,
                         "--decision-date", "2028-01-01"], id="defer"),
    pytest.param("admin", ["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                           "--reason", LONG_REASON], id="policy-add"),
    pytest.param("admin", ["policy", "end", "UA", "--on", "2026-12-01", "--reason",
                           LONG_REASON], id="policy-end"),
]


@pytest.mark.parametrize(("actor", "argv"), LONG_REASONS)
def test_reason_over_2000_characters_is_exit_2(run_ready, refs, actor, argv):
    _check_refused(run_ready, actor, _fill(argv, **refs), 2, "2000")


def test_reason_of_exactly_2000_characters_is_accepted(run_ready, refs):
    result = run_ready("advance", refs["nsc_review"], "deny", "--reason", "y" * 2000, actor="ann")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "denied\n"


# -- malformed values come before any look-up -----------------------------------------------------

BEFORE_LOOKUP = [
    pytest.param(["advance", UNKNOWN_REF, "submit", "--country", "XX"], "country",
                 id="country-before-reference"),
    pytest.param(request_new_args(quantity="0"), "quantity", id="quantity-before-user"),
    pytest.param(["request", "edit", UNKNOWN_REF, "--quantity", "0"], "quantity",
                 id="edit-quantity-before-user-and-reference"),
    pytest.param(["request", "edit", UNKNOWN_REF, "--recipient", "USA"], "recipient",
                 id="edit-country-before-user-and-reference"),
    pytest.param(["advance", UNKNOWN_REF, "launch"], "event", id="event-before-reference"),
    pytest.param(["advance", UNKNOWN_REF, "deny", "--reason", LONG_REASON], "reason",
                 id="reason-before-reference"),
    pytest.param(["advance", UNKNOWN_REF, "request_third_country", "--country", "PL",
                  "--decision-date", "tomorrow"], "date", id="date-before-reference"),
    pytest.param(["advance", UNKNOWN_REF, "submit", "--country", "PL"], "country",
                 id="unexpected-argument-before-reference"),
    pytest.param(["request", "list", "--state", "bogus"], "state", id="state-before-user"),
    pytest.param(["due", "--on", "2026-13-01"], "date", id="due-date-before-user"),
    pytest.param(["policy", "list", "--as-of", "tomorrow"], "date", id="as-of-before-user"),
    pytest.param(["policy", "add", "XX", "--kind", "embargo", "--since", "2026-01-01",
                  "--reason", "r"], "ISO 3166", id="policy-country-before-user"),
    pytest.param(["user", "add", "newbie", "--role", "king"], "role", id="role-before-user"),
    pytest.param(["history", UNKNOWN_REF, "--bogus"], "bogus", id="option-before-user"),
]


@pytest.mark.parametrize(("argv", "needle"), BEFORE_LOOKUP)
def test_malformed_value_is_reported_before_user_or_reference_lookup(run_ready, argv, needle):
    _check_refused(run_ready, "nobody", argv, 2, needle)


def test_country_is_reported_before_the_unknown_reference(run_ready):
    result = run_ready("advance", UNKNOWN_REF, "submit", "--country", "XX", actor="dan")
    line = assert_one_line_error(result, 2)
    assert "XX" in line
    assert UNKNOWN_REF not in line


@pytest.mark.parametrize("argv", [
    pytest.param(request_new_args(quantity="0"), id="quantity"),
    pytest.param(["advance", UNKNOWN_REF, "launch"], id="event"),
    pytest.param(["due", "--on", "tomorrow"], id="date"),
])
def test_malformed_value_is_reported_before_the_database_is_read(run, argv):
    """Even on an uninitialised database, a malformed value is exit 2, not 'not initialised'."""
    if "://" not in run.target:
        Path(run.target).touch()
    _check_refused(run, "nobody", argv, 2, None)


# -- the database itself: missing directory, missing file, not initialised -------------------------

def _all_commands(ref: str) -> dict[str, list[str]]:
    return {
        **_user_commands(ref),
        "init": ["init"],
        "init-admin": ["init", "--admin", "x"],
        "demo": ["demo"],
    }


@pytest.mark.parametrize("command", list(_all_commands("R")))
def test_missing_database_directory_is_exit_2(clock, command):
    assert not Path("/nonexistent").exists()
    run = Cli(MISSING_DIR_DB, clock)
    line = assert_one_line_error(run(*_all_commands(UNKNOWN_REF)[command]), 2)
    assert "--db" in line
    assert not Path("/nonexistent").exists()


def test_missing_database_directory_via_relative_path_is_exit_2(tmp_path, clock):
    run = Cli(str(tmp_path / "no" / "such" / "dir" / "w.db"), clock)
    assert_one_line_error(run("init"), 2)
    assert not (tmp_path / "no").exists()


def test_database_path_that_is_a_directory_is_exit_2(tmp_path, clock):
    run = Cli(str(tmp_path), clock)
    assert_one_line_error(run("request", "list"), 2)


@pytest.mark.parametrize("command", USER_COMMAND_NAMES)
def test_database_file_that_does_not_exist_is_not_created(tmp_path, clock, command):
    target = tmp_path / "absent.db"
    run = Cli(str(target), clock)
    line = assert_one_line_error(run(*_user_commands(UNKNOWN_REF)[command]), 1)
    assert "init" in line
    assert sorted(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", USER_COMMAND_NAMES)
def test_uninitialised_database_is_exit_1_and_stays_empty(run, command):
    if "://" not in run.target:
        Path(run.target).touch()  # an existing but empty SQLite file
    assert db_snapshot(run.target) == {}
    line = assert_one_line_error(run(*_user_commands(UNKNOWN_REF)[command]), 1)
    assert "init" in line
    assert db_snapshot(run.target) == {}


def test_a_file_that_is_not_a_database_is_one_line_exit_1(tmp_path, clock):
    target = tmp_path / "junk.db"
    target.write_bytes(b"this is not a SQLite database, just some text" * 100)
    before = target.read_bytes()
    run = Cli(str(target), clock)
    assert_one_line_error(run("request", "list"), 1)
    assert target.read_bytes() == before


def test_errors_leave_no_traceback_even_without_clock(run_ready, refs):
    """Without the test clock (plain CliRunner, real time), errors still follow the contract."""
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", run_ready.target, "--as", "nobody", "request", "list"])
    assert_one_line_error(result, 1)
    result = runner.invoke(cli, ["--db", run_ready.target, "--as", "dan", "advance",
                                 refs["drafted"], "launch"])
    assert_one_line_error(result, 2)


# -- the snapshot helper itself ------------------------------------------------------------------

def test_db_snapshot_sees_every_successful_change(run_ready, refs):
    before = db_snapshot(run_ready.target)
    assert before is not None and before["wf_record"] and before["wf_user"]
    assert run_ready("advance", refs["drafted"], "submit", actor="dan").exit_code == 0
    assert db_snapshot(run_ready.target) != before


def test_db_snapshot_ignores_only_the_refusal_log(run_ready, refs):
    from sqlalchemy import create_engine, func, inspect, select, table

    before = db_snapshot(run_ready.target)
    result = run_ready("advance", refs["drafted"], "approve_for_us", actor="ann")
    assert_one_line_error(result, 1)
    assert db_snapshot(run_ready.target) == before
    url = run_ready.target
    url = (url.replace("postgresql://", "postgresql+psycopg://", 1) if "://" in url
           else f"sqlite:///{url}")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = set(inspect(conn).get_table_names())
            assert names - {"wf_refusal"} == set(before)
            if "wf_refusal" in names:
                count = conn.execute(select(func.count()).select_from(table("wf_refusal")))
                assert count.scalar() >= 1
    finally:
        engine.dispose()


# -- found in review: each was a wrong answer or an unexpected error -----------------------------


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite://"])
def test_a_database_in_memory_is_refused_as_it_would_keep_nothing(url):
    result = CliRunner().invoke(cli, ["--db", url, "--as", "aoki", "init"])
    assert "a database in memory" in assert_one_line_error(result, 2)


@pytest.mark.parametrize(("actor", "needle"), [
    ("aud", "policy add refused: only an admin may change the policy; aud holds auditor "
            "[rule: role]"),
    ("mallory", "unknown user 'mallory'"),
])
def test_a_policy_change_checks_who_before_the_reason(run_ready, wf, actor, needle):
    result = run_ready("policy", "add", "FR", "--kind", "embargo", "--since", "2030-01-01",
                       actor=actor)
    assert needle in assert_one_line_error(result, 1)
    assert [r["rule"] for r in wf.refusals()] == [
        "role" if actor == "aud" else "registered-user"]


@pytest.mark.parametrize(("args", "doing"), [
    (("user", "disable", "dan"), "disable users"),
    (("user", "enable", "dan"), "enable users"),
    (("user", "set-roles", "dan", "--role", "approver"), "change users' roles"),
])
def test_an_administrative_refusal_names_its_command(run_ready, args, doing):
    result = run_ready(*args, actor="ann")
    assert assert_one_line_error(result, 1) == (
        f"error: {' '.join(args[:2])} refused: only an admin may {doing}; ann holds approver "
        "[rule: role]")


def test_a_checkpoint_counting_past_what_a_database_can_is_bad_input(run_ready, wf, tmp_path):
    import json

    draft(wf)
    cp = tmp_path / "cp.json"
    assert run_ready("audit", "checkpoint", "-o", str(cp), actor="aud").exit_code == 0
    data = json.loads(cp.read_text())
    data["size"] = 2**63
    cp.write_text(json.dumps(data))
    for args in (["prove", "TR-2026-0001", "--checkpoint", str(cp), "-o",
                  str(tmp_path / "p.json")], ["verify", "--since", str(cp)]):
        line = assert_one_line_error(run_ready("audit", *args, actor="aud"), 2)
        assert "field 'size' must be a whole number of rows, 0 to 2^63 - 1" in line


@pytest.mark.parametrize("name", ["drafts.JSONL", "drafts.txt", "-"])
def test_json_lines_are_known_by_any_case_of_extension_or_by_their_first_line(
        run_ready, wf, tmp_path, name):
    import json

    from tests.samples import PATRIOT

    text = "\n".join(json.dumps(PATRIOT) for _ in range(2)) + "\n"
    if name == "-":
        result = CliRunner().invoke(cli, ["--db", run_ready.target, "--as", "dan", "request",
                                          "import", "-"], input=text,
                                    obj={"clock": run_ready.clock})
    else:
        (tmp_path / name).write_text(text)
        result = run_ready("request", "import", str(tmp_path / name), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.split()) == 2 == len(wf.list())


@pytest.mark.parametrize(("line", "needle"), [
    ('{"item": "X", "quantity": true}', "quantity: expected a positive whole number in digits "
                                        "0-9, got true"),
    ('{"item": "X", "quantity": 1.0}', "got 1.0"),
    ('{"item": "X", "quantity": NaN}', "NaN is not a JSON number"),
])
def test_import_errors_show_values_as_the_file_wrote_them(run_ready, tmp_path, line, needle):
    path = tmp_path / "one.jsonl"
    path.write_text(line + "\n")
    message = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert needle in message
    assert "Decimal" not in message


def test_a_firings_row_with_too_many_columns_shows_the_columns_it_takes(run_ready, tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("TR-2026-0001,submit,r,PL,2027-01-01,3,extra\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(path), actor="dan"), 2)
    assert ("expected ref,event[,reason[,country[,decision_date[,expected_version]]]], got 7 "
            "column(s)") in line


def test_an_import_names_an_unreadable_file_before_looking_for_the_database(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"item\n\xff\xfe\n")  # not UTF-8
    for path in (tmp_path / "absent.csv", tmp_path, bad):
        result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "--as", "dan",
                                          "request", "import", str(path)])
        assert "no workflow database" not in assert_one_line_error(result, 2)


@pytest.mark.parametrize("args", [
    ["request", "edit", "TR-2026-0001"],
    ["request", "edit", "TR-2026-0001", "--note", "x", "--clear", "note"],
    ["audit", "export", "--format", "csv", "-o", "e.csv", "--since", "2027-01-01", "--until",
     "2026-01-01"],
    ["audit", "log", "--since", "2027-01-01", "--until", "2026-01-01"],
    ["history", "TR-2026-0001", "--since", "2027-01-01", "--until", "2026-01-01"],
])
def test_malformed_input_is_named_before_looking_for_the_database(tmp_path, args):
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "none.db"), "--as", "dan", *args])
    assert "no workflow database" not in assert_one_line_error(result, 2)


def test_a_huge_unknown_reference_or_user_is_named_cut_short(run_ready, wf):
    huge = "TR-" + "9" * 100_000
    line = assert_one_line_error(run_ready("request", "show", huge, actor="dan"), 1)
    assert "unknown reference 'TR-999" in line and "(100003 characters)" in line
    assert len(line) < 200
    named = assert_one_line_error(run_ready("request", "list", actor="x" * 5000), 1)
    assert "(5000 characters)" in named and len(named) < 200


def test_clear_takes_a_field_named_as_its_option_is(run_ready, wf):
    ref = draft(wf, note="to go")
    result = run_ready("request", "edit", ref, "--clear", "note", actor="dan")
    assert result.exit_code == 0, result.stderr
    ref2 = draft(wf, unit_value="100", currency="USD")
    both = run_ready("request", "edit", ref2, "--clear", "unit-value", "--clear", "currency",
                     actor="dan")
    assert both.exit_code == 0, both.stderr
    assert wf.get(ref2)["unit_value"] is None and wf.get(ref)["note"] is None


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:5432/test%00_other",
                                 "postgresql://postgres@127.0.0.1:5432/test\x00_other",
                                 "db\x00.sqlite"])
def test_a_nul_in_the_database_address_is_bad_input(url):
    result = CliRunner().invoke(cli, ["--db", url, "--as", "aoki", "user", "list"])
    assert "NUL" in assert_one_line_error(result, 2)
    from workflow import InvalidInput, Workflow

    with pytest.raises(InvalidInput, match="holds a NUL character"):
        Workflow(url)


def test_a_password_in_the_database_url_is_never_printed(db_target):
    if not db_target.startswith("postgresql"):
        pytest.skip("a SQLite path holds no password")
    secret = db_target.replace("postgres@", "postgres:s3cret-pw@", 1)
    init = CliRunner().invoke(cli, ["--db", secret, "--as", "aoki", "init"])
    assert init.exit_code == 0, init.stderr
    assert "s3cret-pw" not in init.stderr and "***" in init.stderr
    bad = CliRunner().invoke(cli, ["--db", "postgresql://u:s3cret-pw@127.0.0.1:54x/db",
                                   "--as", "aoki", "user", "list"])
    assert "s3cret-pw" not in assert_one_line_error(bad, 2)


def test_the_demo_never_prints_the_urls_password(db_target):
    if not db_target.startswith("postgresql"):
        pytest.skip("a SQLite path holds no password")
    secret = db_target.replace("postgres@", "postgres:s3cret-pw@", 1)
    for _ in range(2):  # played, then refused on a database that already has its users
        result = CliRunner().invoke(cli, ["--db", secret, "--as", "aoki", "demo"])
        assert "s3cret-pw" not in result.output + result.stderr
    assert result.exit_code != 0


@pytest.mark.parametrize("url", ["mysql://x@localhost/db", "postgresql+psycopg2://x@h/db",
                                 "SQLITE:///x.db", "oracle://"])
def test_a_database_other_than_sqlite_or_postgresql_is_refused_by_name(url):
    result = CliRunner().invoke(cli, ["--db", url, "--as", "aoki", "user", "list"])
    scheme = url.split("://")[0]
    assert assert_one_line_error(result, 2) == (
        f"error: --db: '{scheme}://' is not a database this program works with: give a SQLite "
        "file (or sqlite:///PATH) or a postgresql:// URL")


REPEATED = [  # (arguments after --db and --as, the option repeated)
    (["--as", "bob", "request", "list"], "--as"),
    (["--db", "other.db", "request", "list"], "--db"),
    (["advance", "{nsc_review}", "approve_for_us", "--reason", "a", "--reason", "b"], "--reason"),
    (["request", "edit", "{drafted}", "--quantity", "3", "--quantity", "4"], "--quantity"),
    (["request", "list", "--state", "drafted", "--state", "nsc_review"], "--state"),
    (["policy", "add", "SY", "--kind", "embargo", "--kind", "embargo", "--reason", "r"],
     "--kind"),
    (["audit", "log", "--since", "2026-01-01", "--since", "2026-02-01"], "--since"),
    (["history", "{drafted}", "--json", "--json"], "--json"),
]


@pytest.mark.parametrize(("argv", "option"), REPEATED, ids=[o for _, o in REPEATED])
def test_an_option_given_twice_is_exit_2_and_changes_nothing(run_ready, refs, argv, option):
    """Click would keep the last value without a word: which reason, which database counted
    would be the program's guess."""
    before = db_snapshot(run_ready.target)
    result = run_ready(*[a.format(**refs) for a in argv], actor="ann")
    line = assert_one_line_error(result, 2)
    assert f"option {option} is given more than once" in line
    assert db_snapshot(run_ready.target) == before


def test_options_meant_to_repeat_still_repeat(run_ready, wf):
    result = run_ready("user", "add", "newcomer", "--role", "drafter", "--role", "reviewer")
    assert result.exit_code == 0, result.stderr
    [added] = [u for u in wf.users() if u["name"] == "newcomer"]
    assert sorted(added["roles"]) == ["drafter", "reviewer"]


def test_every_command_refuses_an_option_given_twice():
    """A command added later is held to it too: every command is of the refusing kind."""
    from cli.once import OnceCommand, OnceGroup

    def commands(command):
        yield command
        for sub in getattr(command, "commands", {}).values():
            yield from commands(sub)

    everyone = list(commands(cli))
    assert len(everyone) > 30
    assert [c.name for c in everyone if not isinstance(c, OnceCommand | OnceGroup)] == []
