"""Random and hostile arguments to every command: the CLI's error contract must always hold.

Exit code 0, 1 or 2; never a traceback; on failure exactly one line on stderr starting with
``error: ``, nothing on stdout, and the database (every table but the refusal log) unchanged.
Many Hypothesis cases go through click's CliRunner; a handful through the installed console
script, where arguments can be raw bytes that are not UTF-8.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.main import cli
from tests.conftest import (
    PATRIOT,
    FakeClock,
    assert_one_line_error,
    db_snapshot,
    request_new_args,
    to_state,
)

NOT_UTF8 = os.fsdecode(b"\xff\xfe\xc3(")  # what Python makes of undecodable argv bytes
HUGE = "x" * 100_000
HOSTILE = [
    HUGE,
    "🚀" * 3000,
    "🇯🇵🛡️ PAC-3",
    "\u202egnp.exe",
    NOT_UTF8,
    "\x00",
    "a\x00b",
    "TR-2026-0001\x00",
    "line\nbreak",
    "\r\n",
    "\t",
    "",
    " ",
    "'; DROP TABLE wf_history; --",
    "\" OR 1=1 --",
    "TR-2026-0001' OR '1'='1",
    "Robert'); DROP TABLE wf_user;--",
    "%s%s%s%n",
    "{0}{1}",
    "$(rm -rf /)",
    "2026-02-30",
    "2026-13-01",
    "9999-12-31",
    "0001-01-01",
    "99999-01-01",
    "2026-1-1",
    "yesterday",
    "2026-11-25T25:00:00",
    "-1",
    "0",
    "-2147483649",
    "2147483648",
    "99999999999999999999999999",
    "1e309",
    "NaN",
    "-0.0",
    "1.0000001",
    "--",
    "-",
    "-x",
    "--json",
    "None",
    "null",
    "\uff34\uff32-\uff12\uff10\uff12\uff16-\uff10\uff10\uff10\uff11",  # full-width
]
PLAUSIBLE = [
    "TR-2026-0001", "TR-2026-0002", "TR-2026-0003", "tr-2026-0004 ", "TR-2099-0001",
    "submit", "approve_for_us", "request_third_country", "approve", "deny", "withdraw", "defer",
    "return", "drafted", "nsc_review", "PL", "US", "UA", "JP", "KP", "pl", "XX", "JPY", "USD",
    "2027-01-01", "2026-11-25", "2030-06-30", "16", "1", "dan", "ann", "admin", "aud", "ghost",
    "drafter", "approver", "auditor", "embargo", "in-combat", "csv", "jsonl", "mermaid", "dot",
    "a reason", "PAC-3 MSE interceptor",
]
VALUES = st.one_of(
    st.sampled_from(HOSTILE),
    st.sampled_from(PLAUSIBLE),
    st.sampled_from(PLAUSIBLE),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=12).map(lambda s: s + NOT_UTF8),
)
ACTORS = st.one_of(st.sampled_from(["admin", "dan", "dora", "ann", "abe", "rita", "aud", "duo",
                                    "ghost", "ADMIN"]), st.sampled_from(HOSTILE))
# never fuzzed: `db grant` creates cluster-wide PostgreSQL roles and changes who may act
LEFT_OUT = {("db", "grant")}
# options whose value is a file the command writes: always a file in the test's folder
WRITES_FILE = {"-o", "--output"}


def leaf_commands() -> dict[tuple[str, ...], click.Command]:
    found: dict[tuple[str, ...], click.Command] = {}

    def walk(group: click.Group, path: tuple[str, ...]) -> None:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                walk(command, (*path, name))
            elif (*path, name) not in LEFT_OUT:
                found[(*path, name)] = command

    walk(cli, ())
    return found


COMMANDS = leaf_commands()


@st.composite
def invocations(draw: Any) -> tuple[str, list[str]]:
    """An actor and argv for one command: its arguments, some of its options, stray tokens."""
    path = draw(st.sampled_from(sorted(COMMANDS)))
    command = COMMANDS[path]
    argv = list(path)
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    options = [p for p in command.params if isinstance(p, click.Option)]
    for _ in arguments:
        if draw(st.integers(0, 9)):  # now and then an argument is missing
            argv.append(draw(VALUES))
    for option in draw(st.lists(st.sampled_from(options), max_size=5) if options
                       else st.just([])):
        name = draw(st.sampled_from(option.opts))
        if option.is_flag:
            argv.append(name)
        elif name in WRITES_FILE:
            argv += [name, "fuzz-output"]
        else:
            argv += [name, draw(VALUES)]
    if draw(st.integers(0, 5)) == 0:
        argv.insert(draw(st.integers(len(path), len(argv))), draw(VALUES))
    if any(token in WRITES_FILE for token in argv):  # a stray -o must not take a hostile value
        argv = [t for t in argv if t not in WRITES_FILE] + ["-o", "fuzz-output"]
    return draw(ACTORS), argv


def invoke(target: str, clock: FakeClock, actor: str, argv: list[str]) -> Result:
    return CliRunner().invoke(cli, ["--db", target, "--as", actor, *argv],
                              obj={"clock": clock}, catch_exceptions=False)


def assert_contract(result: Result) -> None:
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    if result.exit_code != 0:
        assert_one_line_error(result, result.exit_code)


@pytest.fixture
def fuzz_db(wf, db_target, clock, tmp_path, monkeypatch) -> Iterator[str]:
    """The cast, four requests in different states, and the test's folder as working folder
    (for the files commands write: keys, checkpoints, exports)."""
    to_state(wf, "drafted")
    to_state(wf, "nsc_review", drafter="dora")
    to_state(wf, "approved_for_us")
    to_state(wf, "third_country_review")
    monkeypatch.chdir(tmp_path)
    return db_target


MAX_EXAMPLES = {"sqlite": 250, "postgresql": 150}


def test_random_and_hostile_arguments_keep_the_error_contract(fuzz_db, clock):
    backend = "postgresql" if "://" in fuzz_db else "sqlite"
    snapshot = {"now": db_snapshot(fuzz_db)}
    seen: dict[int, int] = {0: 0, 1: 0, 2: 0}
    unexpected: list[str] = []

    @settings(max_examples=MAX_EXAMPLES[backend], deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.large_base_example])
    @given(invocations())
    def one_call(call: tuple[str, list[str]]) -> None:
        actor, argv = call
        result = invoke(fuzz_db, clock, actor, argv)
        assert_contract(result)
        seen[result.exit_code] = seen.get(result.exit_code, 0) + 1
        if result.exit_code == 0:
            snapshot["now"] = db_snapshot(fuzz_db)
        else:
            assert db_snapshot(fuzz_db) == snapshot["now"], (actor, argv, result.stderr)
            if result.stderr.startswith("error: unexpected"):
                unexpected.append(result.stderr.strip()[:160])

    one_call()
    print(f"\n[cli fuzz {backend}] exit codes {seen}; 'unexpected' errors: {len(unexpected)}"
          + "".join(f"\n  {line}" for line in sorted(set(unexpected))[:10]))
    assert sum(seen.values()) >= MAX_EXAMPLES[backend] // 2
    assert seen[0] and seen[1] and seen[2], seen  # the cases reached every kind of outcome


# -- hostile values in fixed places: malformed input, never an internal error -------------------

R1 = "TR-2026-0001"
# (place, actor or None for the value itself, argv for the value, what the value is used for)
PLACES: list[tuple[str, str | None, Callable[[str], list[str]], str]] = [
    ("item", "dan", lambda v: request_new_args(item=v), "stored"),
    ("note", "dan", lambda v: ["request", "edit", R1, "--note", v], "stored"),
    ("reason", "dan", lambda v: ["advance", R1, "withdraw", "--reason", v], "stored"),
    ("policy reason", "admin", lambda v: ["policy", "add", "PL", "--kind", "embargo", "--since",
                                          "2026-01-01", "--reason", v], "stored"),
    ("user name", "admin", lambda v: ["user", "add", v, "--role", "drafter"], "stored"),
    ("reference", "dan", lambda v: ["advance", v, "submit"], "looked up"),
    ("history reference", "aud", lambda v: ["history", v], "looked up"),
    ("--as", None, lambda v: ["request", "list"], "looked up"),
    ("--actor filter", "aud", lambda v: ["audit", "log", "--actor", v], "filter"),
    ("proof file", "aud", lambda v: ["audit", "check-proof", v], "path"),
    ("export file", "aud", lambda v: ["audit", "check-export", v], "path"),
    ("--pubkey file", "aud", lambda v: ["audit", "verify", "--pubkey", v], "path"),
]
EXPECTED_CODES = {"stored": {2}, "looked up": {1, 2}, "filter": {0, 1, 2}, "path": {2}}
HOSTILE_KINDS = {"undecodable bytes": NOT_UTF8, "a NUL byte": "a\x00b", "100k characters": HUGE}


def _stored_text(target: str) -> str:
    return "\n".join("\n".join(rows) for rows in (db_snapshot(target) or {}).values())


@pytest.mark.parametrize("kind", sorted(HOSTILE_KINDS))
def test_hostile_value_anywhere_is_malformed_input_or_unknown_never_an_internal_error(
        fuzz_db, clock, kind):
    """Undecodable bytes, NUL bytes and huge values, in every kind of place: a stored value is
    malformed input (exit 2), a looked-up one unknown (exit 1) or malformed (2), a file path
    malformed (2); never an 'unexpected' internal error nor a raw database error, the same on
    every database, with the database left as it was and nothing of the value stored."""
    value = HOSTILE_KINDS[kind]
    problems = []
    for place, actor, make_argv, used_for in PLACES:
        before = db_snapshot(fuzz_db)
        result = invoke(fuzz_db, clock, actor or value, make_argv(value))
        assert_contract(result)
        line = result.stderr.strip()
        if result.exit_code not in EXPECTED_CODES[used_for]:
            problems.append(f"{place}: exit {result.exit_code}: {line[:150]}")
        elif line.startswith(("error: unexpected", "error: database error")):
            problems.append(f"{place}: {line[:150]}")
        if result.exit_code != 0:
            assert db_snapshot(fuzz_db) == before, place
    if repr(value)[1:-1][:50] in _stored_text(fuzz_db):
        problems.append(f"the value with {kind} was stored")
    assert not problems, "\n".join(problems)


# -- the installed console script, with raw bytes ---------------------------------------------

WORKFLOW_SCRIPT = shutil.which("workflow")


def script(target: str, actor: bytes, *argv: bytes | str) -> subprocess.CompletedProcess[bytes]:
    assert WORKFLOW_SCRIPT, "the workflow console script is not installed"
    env = {k.encode(): v.encode() for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    command = [WORKFLOW_SCRIPT.encode(), b"--db", target.encode(), b"--as", actor,
               *[a.encode() if isinstance(a, str) else a for a in argv]]
    return subprocess.run(command, capture_output=True, env=env, timeout=60)


def assert_script_contract(proc: subprocess.CompletedProcess[bytes]) -> int:
    assert proc.returncode in (0, 1, 2), (proc.returncode, proc.stdout, proc.stderr)
    assert b"Traceback" not in proc.stdout + proc.stderr
    if proc.returncode != 0:
        assert proc.stdout == b""
        lines = proc.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(b"error: "), proc.stderr
    return proc.returncode


SCRIPT_CASES: list[tuple[str, bytes, list[bytes | str], set[int]]] = [
    ("huge item", b"dan", request_new_args(item=HUGE), {2}),
    ("sql in reference", b"dan", ["advance", "'; DROP TABLE wf_history; --", "submit"], {1}),
    ("emoji actor", "🛡️".encode(), ["request", "list"], {1}),
    ("negative quantity", b"dan", request_new_args(quantity=-5), {2}),
    ("huge quantity", b"dan", request_new_args(quantity="99999999999999999999"), {2}),
    ("impossible date", b"dan", ["advance", "TR-2026-0003", "request_third_country",
                                 "--country", "PL", "--decision-date", "2027-02-30"], {2}),
    ("sql in user name", b"admin", ["user", "add", "Robert'); DROP TABLE wf_user;--",
                                    "--role", "drafter"], {2}),
    ("unknown reference", b"aud", ["history", "TR-1999-0001"], {1}),
    ("emoji reason", b"dan", ["advance", "TR-2026-0001", "withdraw", "--reason",
                              "🚀 not needed"], {0}),
]


@pytest.mark.parametrize(("case", "actor", "argv", "codes"), SCRIPT_CASES,
                         ids=[c[0] for c in SCRIPT_CASES])
def test_console_script_with_hostile_arguments(fuzz_db, case, actor, argv, codes):
    before = db_snapshot(fuzz_db)
    code = assert_script_contract(script(fuzz_db, actor, *argv))
    assert code in codes
    if code != 0:
        assert db_snapshot(fuzz_db) == before


def test_console_script_rejects_bytes_that_are_not_utf8_as_malformed_input(fuzz_db):
    """Through the real console script (argv and environment as raw bytes): bytes that are not
    UTF-8 in a stored value are exit 2, in a looked-up one exit 1 or 2, in one line, never an
    internal error, nothing stored."""
    bad = b"\xff\xfe("
    patriot = [a for k, v in PATRIOT.items() if k != "item"
               for a in (f"--{k.replace('_', '-')}", str(v))]
    cases: list[tuple[str, bytes, list[bytes | str], set[int]]] = [
        ("item", b"dan", [b"request", b"new", b"--item", bad, *patriot], {2}),
        ("reason", b"dan", [b"advance", R1.encode(), b"withdraw", b"--reason", bad], {2}),
        ("--as", bad, [b"request", b"list"], {1, 2}),
        ("reference", b"aud", [b"history", bad], {1, 2}),
    ]
    problems = []
    for place, actor, argv, codes in cases:
        before = db_snapshot(fuzz_db)
        proc = script(fuzz_db, actor, *argv)
        code = assert_script_contract(proc)
        if code not in codes or proc.stderr.startswith(b"error: unexpected"):
            problems.append(f"{place}: exit {code}: {proc.stderr[:150]!r}")
        if code != 0:
            assert db_snapshot(fuzz_db) == before, place
    env_proc = subprocess.run(
        [WORKFLOW_SCRIPT or "workflow", "--db", fuzz_db, "request", "list"],
        capture_output=True, timeout=60,
        env={**{k.encode(): v.encode() for k, v in os.environ.items()
                if not k.startswith("WORKFLOW_")}, b"WORKFLOW_USER": bad})
    code = assert_script_contract(env_proc)
    if code not in (1, 2) or env_proc.stderr.startswith(b"error: unexpected"):
        problems.append(f"WORKFLOW_USER: exit {code}: {env_proc.stderr[:150]!r}")
    assert not problems, "\n".join(problems)


def test_fuzz_commands_cover_every_command():
    """The fuzzer finds its commands in the CLI itself, so a new command is fuzzed too."""
    assert {("init",), ("advance",), ("request", "new"), ("audit", "verify"), ("graph",),
            ("policy", "add"), ("user", "add"), ("db", "current")} <= set(COMMANDS)
    assert not LEFT_OUT & set(COMMANDS)
