"""The diagram, the demo, help for every command, the installed console script, and the
environment variables behind --db and --as."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sysconfig
import time
from datetime import date
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import cli
from states import PROCESS
from tests.conftest import (
    PATRIOT,
    assert_one_line_error,
    db_snapshot,
    request_new_args,
    to_state,
)
from workflow import Workflow

EDGES = [(src, event.dest, event.name) for event in PROCESS.events for src in event.sources]


def _ok(result):
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def _mermaid_edge(lines: list[str], src: str, dest: str, event: str) -> str:
    (line,) = [ln for ln in lines if ln.strip().startswith(f"{src} --> {dest}: {event}")]
    return line


def _dot_edge(lines: list[str], src: str, dest: str, event: str) -> str:
    (line,) = [ln for ln in lines
               if ln.strip().startswith(f"{src} -> {dest} [") and f'label="{event}' in ln]
    return line


def _dot_node(lines: list[str], state: str) -> str:
    (line,) = [ln for ln in lines
               if ln.strip() == f"{state};" or ln.strip().startswith(f"{state} [")]
    return line


# -- graph --------------------------------------------------------------------------------------

def test_graph_mermaid_draws_every_transition(run_ready):
    result = _ok(run_ready("graph", actor="aud"))
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == "stateDiagram-v2"
    assert any(ln.strip() == "[*] --> drafted" for ln in lines)
    for src, dest, event in EDGES:
        assert _mermaid_edge(lines, src, dest, event).strip() == f"{src} --> {dest}: {event}"
    for final in PROCESS.finals:
        assert any(ln.strip() == f"{final} --> [*]" for ln in lines)
    assert "✔" not in result.stdout
    assert "current" not in result.stdout


def test_graph_format_mermaid_is_the_default(run_ready):
    assert (_ok(run_ready("graph", actor="aud")).stdout
            == _ok(run_ready("graph", "--format", "mermaid", actor="aud")).stdout)


def test_graph_dot_draws_every_state_and_transition(run_ready):
    result = _ok(run_ready("graph", "--format", "dot", actor="aud"))
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("digraph")
    assert lines[-1] == "}"
    for state in PROCESS.states:
        node = _dot_node(lines, state)
        assert "filled" not in node
        assert ("peripheries=2" in node) == (state in PROCESS.finals)
    for src, dest, event in EDGES:
        assert _dot_edge(lines, src, dest, event).strip() == f'{src} -> {dest} [label="{event}"];'


@pytest.fixture
def returned_once(wf):
    """dan's request: submitted, returned by rita, resubmitted, approved for the US by ann."""
    ref = to_state(wf, "nsc_review")
    wf.fire(ref, "return", actor="rita", reason="fix the end user")
    wf.edit(ref, actor="dan", end_user="US Army Air and Missile Defense Command")
    wf.fire(ref, "submit", actor="dan")
    wf.fire(ref, "approve_for_us", actor="ann")
    return ref


def test_graph_mermaid_with_ref_marks_path_and_current_state(run_ready, returned_once):
    result = _ok(run_ready("graph", returned_once, actor="aud"))
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    submit = _mermaid_edge(lines, "drafted", "nsc_review", "submit")
    assert "✔" in submit
    assert "1. dan 2026-11-25" in submit and "3. dan 2026-11-25" in submit
    for line in lines:  # Mermaid ends a transition's label at ":" or ";": one step taken
        if "-->" in line and ": " in line:  # twice must not cut its label short
            label = line.split(": ", 1)[1]
            assert ":" not in label and ";" not in label, line
    assert "2. rita 2026-11-25" in _mermaid_edge(lines, "nsc_review", "drafted", "return")
    assert "4. ann 2026-11-25" in _mermaid_edge(lines, "nsc_review", "approved_for_us",
                                                 "approve_for_us")
    taken = {("drafted", "nsc_review", "submit"), ("nsc_review", "drafted", "return"),
             ("nsc_review", "approved_for_us", "approve_for_us")}
    for edge in set(EDGES) - taken:
        assert "✔" not in _mermaid_edge(lines, *edge), edge
    classes = {ln.split()[1]: ln.split()[2] for ln in lines if ln.strip().startswith("class ")}
    assert classes == {"drafted": "visited", "nsc_review": "visited",
                       "approved_for_us": "current"}


def test_graph_dot_with_ref_marks_path_and_current_state(run_ready, returned_once):
    result = _ok(run_ready("graph", returned_once, "--format", "dot", actor="aud"))
    lines = result.stdout.splitlines()
    current = _dot_node(lines, "approved_for_us")
    visited = [_dot_node(lines, s) for s in ("drafted", "nsc_review")]
    untouched = [_dot_node(lines, s) for s in ("third_country_review", "approved", "denied",
                                               "withdrawn")]
    assert "filled" in current
    assert all("filled" in node for node in visited)
    assert all("filled" not in node for node in untouched)
    assert all(node.split("[", 1)[1] != current.split("[", 1)[1] for node in visited)
    submit = _dot_edge(lines, "drafted", "nsc_review", "submit")
    assert "1. dan 2026-11-25" in submit and "3. dan 2026-11-25" in submit
    assert "color=" in submit
    assert "2. rita" in _dot_edge(lines, "nsc_review", "drafted", "return")
    assert "4. ann" in _dot_edge(lines, "nsc_review", "approved_for_us", "approve_for_us")
    for edge in (("nsc_review", "denied", "deny"), ("drafted", "withdrawn", "withdraw"),
                 ("third_country_review", "approved", "approve")):
        assert "color=" not in _dot_edge(lines, *edge)


def test_graph_with_ref_of_a_fresh_draft_marks_only_drafted(run_ready, wf):
    ref = to_state(wf, "drafted")
    lines = _ok(run_ready("graph", ref, actor="dan")).stdout.splitlines()
    assert "✔" not in "\n".join(lines)
    classes = {ln.split()[1]: ln.split()[2] for ln in lines if ln.strip().startswith("class ")}
    assert classes == {"drafted": "current"}


def test_graph_without_ref_still_requires_a_registered_user(run_ready):
    """Contract: --as must be a registered, active user for every command but init and demo."""
    before = db_snapshot(run_ready.target)
    assert_one_line_error(run_ready("graph", actor="nobody"), 1)
    assert db_snapshot(run_ready.target) == before


# -- demo ---------------------------------------------------------------------------------------

def test_demo_on_a_fresh_database_tells_the_story_and_keeps_it(run):
    result = _ok(run("demo", actor="admin"))
    out = result.stdout
    ua = [ln for ln in out.splitlines() if "UA" in ln and "REFUSED" in ln.upper()]
    assert ua, out
    assert "in-combat since 2022-02-24" in ua[0]
    assert "Poland" in out or "PL" in out
    assert "2027-01-01" in out  # the decision falls in the following year
    tail = out[out.lower().index("history"):]
    positions = [tail.index(event) for event in
                 ("create", "submit", "approve_for_us", "request_third_country")]
    assert positions == sorted(positions)
    if "://" not in run.target:
        assert Path(run.target).is_file()

    rows = json.loads(_ok(run("request", "list", "--json", actor="admin")).stdout)
    assert [(r["state"], r["third_country"], r["decision_date"]) for r in rows] == [
        ("third_country_review", "PL", "2027-01-01")]
    history = json.loads(_ok(run("history", rows[0]["ref"], "--json", actor="admin")).stdout)
    assert [h["event"] for h in history] == [
        "create", "submit", "approve_for_us", "request_third_country"]


def test_demo_ends_pointing_at_the_request_as_its_admin(run):
    out = _ok(run("demo", actor="admin")).stdout
    assert out.splitlines()[0].startswith("Database initialised; admin is the admin.")
    [hint] = [line for line in out.splitlines() if line.startswith("Explore it: ")]
    assert f"workflow --db {run.target} --as admin request show TR-" in hint


def test_demo_into_a_database_already_set_up_says_so(run_ready):
    out = _ok(run_ready("demo", actor="admin")).stdout
    assert out.splitlines()[0] == ("The database is already set up; admin, its admin, "
                                   "registers the story's cast.")


def test_demo_is_refused_before_any_change_where_another_set_the_database_up_meanwhile(
        run, clock, monkeypatch):
    """Two demos started at once on a new database: the one that finds it set up by the other
    says so before telling anything, rather than half a story and a failure."""
    holds = Workflow.holds_records

    def set_up_meanwhile(self: Workflow) -> bool:
        other = Workflow(run.target, clock=clock, create=True)
        other.init("other")
        other.close()
        return holds(self)

    monkeypatch.setattr(Workflow, "holds_records", set_up_meanwhile)
    result = run("demo", actor="admin")
    line = assert_one_line_error(result, 1)
    assert "another process set up the database while the demo started; nothing was " \
           "changed" in line
    monkeypatch.setattr(Workflow, "holds_records", holds)
    check = Workflow(run.target, clock=clock)
    assert [u["name"] for u in check.users()] == ["other"]
    assert check.list() == []
    check.close()


def test_demo_is_refused_on_a_database_that_holds_requests(run):
    _ok(run("demo", actor="admin"))
    before = db_snapshot(run.target)
    line = assert_one_line_error(run("demo", actor="admin"), 1)
    assert "requests" in line
    assert db_snapshot(run.target) == before


def test_demo_is_refused_where_someone_already_drafted(run_ready, wf):
    to_state(wf, "drafted")
    before = db_snapshot(run_ready.target)
    assert_one_line_error(run_ready("demo", actor="admin"), 1)
    assert db_snapshot(run_ready.target) == before


@pytest.mark.parametrize("taken", [["suzuki"], ["sato", "ito"], ["Ito"]])
def test_demo_is_refused_before_any_change_where_its_users_exist(run_ready, wf, taken):
    """Nothing registered, nothing told: the story cannot half happen (a name differing only
    in case is the same person's)."""
    for name in taken:
        wf.add_user(name, ["reviewer"], actor="admin")
    before = db_snapshot(run_ready.target)
    result = run_ready("demo", actor="admin")
    line = assert_one_line_error(result, 1)
    assert f"already has users {', '.join(n.lower() for n in taken)}" in line
    assert result.stdout == ""
    assert db_snapshot(run_ready.target) == before


@pytest.mark.parametrize("actor", ["sato", "suzuki", "Sato"])
def test_demo_is_refused_before_any_change_when_played_by_one_of_its_users(run, actor):
    result = run("demo", actor=actor)
    line = assert_one_line_error(result, 1)
    assert f"{actor} plays a part in the story" in line
    assert result.stdout == ""
    assert not db_snapshot(run.target)


@pytest.mark.parametrize("change", ["UA-ended", "US-restricted", "PL-restricted"])
def test_demo_is_refused_before_any_change_where_the_policy_no_longer_tells_it(run_ready, wf,
                                                                             clock, change):
    country, what = change.split("-")
    if what == "ended":
        wf.end_restriction(country, clock().date(), reason="ceasefire", actor="admin")
    else:
        wf.restrict(country, "embargo", date(2020, 1, 1), reason="test", actor="admin")
    before = db_snapshot(run_ready.target)
    result = run_ready("demo", actor="admin")
    line = assert_one_line_error(result, 1)
    assert "does not restrict UA while leaving the US and PL open" in line
    assert result.stdout == ""
    assert db_snapshot(run_ready.target) == before


def test_demo_is_refused_before_any_change_for_someone_not_admin(run_ready, wf):
    before = db_snapshot(run_ready.target)
    result = run_ready("demo", actor="dan")
    line = assert_one_line_error(result, 1)
    assert "only an admin may play the demo into a database already set up; dan holds " in line
    assert line.endswith("[rule: role]")
    assert result.stdout == ""
    assert db_snapshot(run_ready.target) == before
    [logged] = wf.refusals()
    assert (logged["actor"], logged["event"], logged["rule"]) == ("dan", "demo", "role")


@pytest.mark.parametrize(("actor", "rule"), [("nobody", "registered-user"),
                                             ("old", "active-user")])
@pytest.mark.parametrize("holding", ["nothing", "a request", "a cast user"])
def test_demo_checks_who_asks_first_and_records_the_refusal(run_ready, wf, actor, rule,
                                                             holding):
    """An unregistered or disabled --as is refused as by any command, and recorded, whatever
    else would keep the demo out."""
    wf.add_user("old", ["admin"], actor="admin")
    wf.disable_user("old", actor="admin")
    if holding == "a request":
        to_state(wf, "drafted")
    elif holding == "a cast user":
        wf.add_user("sato", ["drafter"], actor="admin")
    before = db_snapshot(run_ready.target)
    result = run_ready("demo", actor=actor)
    assert assert_one_line_error(result, 1).endswith(f"[rule: {rule}]")
    assert db_snapshot(run_ready.target) == before
    [logged] = wf.refusals()
    assert (logged["actor"], logged["event"], logged["rule"]) == (actor, "demo", rule)


def test_demo_runs_on_an_initialised_database_without_requests(run_ready):
    _ok(run_ready("demo", actor="admin"))
    rows = json.loads(_ok(run_ready("request", "list", "--json", actor="aud")).stdout)
    assert [r["state"] for r in rows] == ["third_country_review"]


# -- help ---------------------------------------------------------------------------------------

def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name in sorted(group.commands):
        command = group.commands[name]
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


COMMAND_PATHS = _command_paths(cli)
CONTRACT_COMMANDS = {
    ("init",), ("user", "add"), ("user", "list"), ("user", "disable"), ("request", "new"),
    ("request", "edit"), ("request", "list"), ("request", "show"), ("advance",), ("history",),
    ("due",), ("policy", "list"), ("policy", "add"), ("policy", "end"), ("policy", "history"),
    ("graph",), ("demo",),
}


def test_every_contract_command_exists():
    assert set(COMMAND_PATHS) >= CONTRACT_COMMANDS


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "workflow")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_of_every_command_exits_0(path, flag):
    result = CliRunner().invoke(cli, [*path, flag], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("Usage:")
    assert result.stderr == ""


@pytest.mark.parametrize("path", COMMAND_PATHS, ids=lambda p: " ".join(p) or "workflow")
def test_help_needs_no_database_nor_user(path):
    args = ["--db", "/nonexistent/dir/x.db", "--as", "nobody", *path, "--help"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout
    assert not Path("/nonexistent").exists()


def test_advance_help_lists_every_event():
    result = CliRunner().invoke(cli, ["advance", "--help"], catch_exceptions=False)
    for event in PROCESS.events:
        assert event.name in result.stdout


def test_field_help_keeps_the_process_wording():
    result = CliRunner().invoke(cli, ["request", "new", "--help"], catch_exceptions=False)
    text = " ".join(result.stdout.split())
    for spec in PROCESS.fields:
        if spec.editable:
            wording = spec.help[:1].upper() + spec.help[1:]
            assert " ".join(wording.split()) in text, spec.name


# -- the installed console script ---------------------------------------------------------------

def _console_script() -> str:
    candidate = Path(sysconfig.get_path("scripts")) / "workflow"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("workflow")
    assert found, "the console script `workflow` is not installed"
    return found


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORKFLOW_DB", "WORKFLOW_USER")}
    return subprocess.run([_console_script(), *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=120, check=False)


def test_console_script_init_then_unknown_user_is_one_line_exit_1(tmp_path):
    db = str(tmp_path / "w.db")
    init = _script("--db", db, "init", "--admin", "x", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    assert init.stdout == ""
    assert Path(db).is_file()

    refused = _script("--db", db, "--as", "nobody", "request", "list", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "Traceback" not in refused.stderr
    lines = refused.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "nobody" in lines[0]

    listed = _script("--db", db, "--as", "x", "request", "list", "--json", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []


def test_console_script_malformed_value_is_one_line_exit_2(tmp_path):
    db = str(tmp_path / "w.db")
    assert _script("--db", db, "init", "--admin", "x", cwd=tmp_path).returncode == 0
    bad = _script("--db", db, "--as", "x", "due", "--on", "tomorrow", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stdout == ""
    assert len(bad.stderr.splitlines()) == 1 and bad.stderr.startswith("error: ")
    missing = _script("--db", "/nonexistent/dir/x.db", "--as", "x", "request", "list",
                      cwd=tmp_path)
    assert missing.returncode == 2
    assert len(missing.stderr.splitlines()) == 1 and missing.stderr.startswith("error: ")


# -- environment variables ----------------------------------------------------------------------

def _invoke(args: list[str], env: dict[str, str | None], clock):
    return CliRunner().invoke(cli, args, env=env, obj={"clock": clock}, catch_exceptions=False)


def test_workflow_db_and_workflow_user_stand_in_for_the_options(run_ready, clock):
    env = {"WORKFLOW_DB": run_ready.target, "WORKFLOW_USER": "dan"}
    created = _ok(_invoke([*request_new_args(), "--json"], env, clock))
    ref = json.loads(created.stdout)["ref"]
    shown = json.loads(_ok(_invoke(["request", "show", ref, "--json"], env, clock)).stdout)
    assert shown["drafted_by"] == "dan"
    _ok(_invoke(["advance", ref, "submit"], env, clock))
    assert_one_line_error(_invoke(["advance", ref, "approve_for_us"], env, clock), 1)
    moved = _ok(_invoke(["advance", ref, "approve_for_us"], {**env, "WORKFLOW_USER": "ann"},
                        clock))
    assert moved.stdout == "approved_for_us\n"
    history = json.loads(_ok(_invoke(["history", ref, "--json"], env, clock)).stdout)
    assert [h["actor"] for h in history] == ["dan", "dan", "ann"]


def test_workflow_user_is_checked_like_as(run_ready, clock):
    env = {"WORKFLOW_DB": run_ready.target, "WORKFLOW_USER": "nobody"}
    line = assert_one_line_error(_invoke(["request", "list"], env, clock), 1)
    assert "nobody" in line
    _ok(_invoke(["--as", "aud", "request", "list"], env, clock))  # the option wins


def test_workflow_user_who_is_disabled_is_refused(run_ready, clock):
    _ok(run_ready("user", "disable", "dora"))
    env = {"WORKFLOW_DB": run_ready.target, "WORKFLOW_USER": "dora"}
    assert_one_line_error(_invoke(["request", "list"], env, clock), 1)


def test_db_option_wins_over_workflow_db(run_ready, clock):
    env = {"WORKFLOW_DB": "/nonexistent/dir/x.db", "WORKFLOW_USER": "aud"}
    assert_one_line_error(_invoke(["request", "list"], env, clock), 2)
    _ok(_invoke(["--db", run_ready.target, "request", "list"], env, clock))


def test_workflow_db_names_the_database_init_creates(tmp_path, clock):
    target = tmp_path / "from-env.db"
    env = {"WORKFLOW_DB": str(target), "WORKFLOW_USER": "chief"}
    _ok(_invoke(["init"], env, clock))
    assert target.is_file()
    users = json.loads(_ok(_invoke(["user", "list", "--json"], env, clock)).stdout)
    assert [(u["name"], u["roles"]) for u in users] == [("chief", ["admin"])]


def test_default_database_is_workflow_db_in_the_working_directory(clock):
    runner = CliRunner()
    with runner.isolated_filesystem():
        env = {"WORKFLOW_DB": None, "WORKFLOW_USER": None}
        result = runner.invoke(cli, ["--as", "chief", "init"], env=env, obj={"clock": clock},
                               catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        assert Path("workflow.db").is_file()


def _waiting_on_stdin(proc: subprocess.Popen[str]) -> bool:
    """True once the process sleeps reading its input pipe (Linux's /proc says where)."""
    try:
        return "pipe_read" in Path(f"/proc/{proc.pid}/wchan").read_text()
    except OSError:
        return False


def test_ctrl_c_is_one_line_exit_130_and_the_batch_is_not_applied(tmp_path):
    """A batch read from stdin, interrupted before its end: nothing of it is applied."""
    if not Path("/proc/self/wchan").exists():
        pytest.skip("needs /proc to see that the command waits for its input")
    script = shutil.which("workflow")
    assert script
    env = {**os.environ, "WORKFLOW_DB": str(tmp_path / "w.db"), "WORKFLOW_USER": "admin"}
    subprocess.run([script, "init"], env=env, check=True, capture_output=True)
    subprocess.run([script, "user", "add", "dan", "--role", "drafter"], env=env, check=True,
                   capture_output=True)
    ref = subprocess.run([script, "--as", "dan", *request_new_args()], env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    before = db_snapshot(str(tmp_path / "w.db"))
    proc = subprocess.Popen([script, "--as", "dan", "advance", "--from", "-"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(f"{ref},submit\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while not _waiting_on_stdin(proc):  # started, and reading the rest of its input
        assert proc.poll() is None and time.monotonic() < deadline, "never waited for input"
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert out == ""
    assert err.splitlines() == ["error: interrupted: nothing was changed"]
    assert db_snapshot(str(tmp_path / "w.db")) == before


def test_an_interrupted_command_is_one_line_exit_130_in_process(run_ready, monkeypatch):
    from workflow import Workflow

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(Workflow, "users", interrupted)
    result = run_ready("user", "list")
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr == "error: interrupted: nothing was changed\n"


def test_an_interrupt_while_the_command_line_is_read_is_one_line_too(run_ready, monkeypatch):
    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(click.Group, "parse_args", interrupted)
    result = run_ready("user", "list")
    assert result.exit_code == 130
    assert result.stdout == ""
    assert result.stderr == "error: interrupted: nothing was changed\n"



def test_disabling_a_disabled_user_says_nothing_changed(run_ready, wf):
    first = run_ready("user", "disable", "dora")
    assert first.exit_code == 0 and "disabled dora" in first.stderr
    again = run_ready("user", "disable", "dora")
    assert again.exit_code == 0, again.stderr
    assert "dora was already disabled; nothing changed" in again.stderr
    assert [c["action"] for c in wf.user_history()].count("disable") == 1


def test_a_user_added_twice_or_told_apart_by_case_is_a_recorded_refusal(run_ready, wf):
    for name in ("dan", "DAN"):
        line = assert_one_line_error(run_ready("user", "add", name, "--role", "approver"), 1)
        assert line.endswith("[rule: unique-name]")
    assert [(r["event"], r["rule"]) for r in wf.refusals()] == [
        ("user add", "unique-name"), ("user add", "unique-name")]


@pytest.mark.parametrize(("argv", "note"), [
    (("audit", "log", "--actor", "ANN"), "note: no user is named 'ANN'; did you mean ann?"),
    (("audit", "refusals", "--actor", "nobody"), "note: no user is named 'nobody'"),
    (("audit", "log", "--actor", "Dan", "--json"), "note: no user is named 'Dan'; did you mean "
                                                    "dan?"),
])
def test_an_actor_filter_naming_no_user_says_so_when_it_finds_nothing(run_ready, argv, note):
    result = run_ready(*argv, actor="aud")
    assert result.exit_code == 0, result.stderr
    assert note in result.stderr.splitlines()
    assert result.stdout in ("", "[]\n")


def test_an_actor_filter_naming_a_user_adds_no_note(run_ready, wf):
    result = run_ready("audit", "log", "--actor", "ann", actor="aud")
    assert result.exit_code == 0 and "note:" not in result.stderr


@pytest.mark.parametrize("group", [[], ["audit"], ["db"], ["policy"], ["request"], ["user"]],
                         ids=lambda g: " ".join(g) or "workflow")
def test_every_command_is_summed_up_whole_in_its_groups_help(group):
    """On an 80-column terminal no summary is cut off with '...'."""
    result = CliRunner().invoke(cli, [*group, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    listed = result.output.split("Commands:\n", 1)[1].splitlines()
    assert len(listed) >= 3
    assert [line for line in listed if line.endswith("...") or len(line) > 80] == []


@pytest.mark.parametrize("command", ["demo", "init"])
def test_a_login_name_no_user_could_have_is_told_how_to_name_another(tmp_path, monkeypatch,
                                                                     command):
    """The first command a newcomer runs takes --as from the login name: one with a space
    says that --as names another, and creates nothing."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "john smith")
    monkeypatch.delenv("WORKFLOW_USER", raising=False)
    target = tmp_path / "new.db"
    result = CliRunner().invoke(cli, ["--db", str(target), command])
    line = assert_one_line_error(result, 2)
    assert line.endswith("(it is your login name, the default of --as: name the user with "
                         "--as NAME)")
    assert not target.exists()
    named = CliRunner().invoke(cli, ["--db", str(target), "--as", "john smith", command])
    assert "default of --as" not in assert_one_line_error(named, 2)


def test_an_unknown_login_name_is_told_it_is_the_default_of_as(run_ready, db_target, monkeypatch,
                                                               wf):
    """A command run without --as acts as the login name: where no user has it, the refusal
    (recorded as any) says where the name came from and how to name a user."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.setenv(variable, "nemo")
    monkeypatch.delenv("WORKFLOW_USER", raising=False)
    result = CliRunner().invoke(cli, ["--db", db_target, "request", "list"])
    line = assert_one_line_error(result, 1)
    assert line == ("error: unknown user 'nemo'; an admin registers users with `workflow user "
                    "add` (it is your login name, the default of --as: name a registered user "
                    "with --as NAME or WORKFLOW_USER) [rule: registered-user]")
    [refusal] = wf.refusals(actor="nemo")
    assert "login name" not in refusal["message"]  # the log keeps what was refused, not advice
    named = run_ready("request", "list", actor="nemo")
    assert "login name" not in assert_one_line_error(named, 1)


@pytest.mark.parametrize(("argv", "environment"), [
    (["--as", ""], None), (["--as", "  "], None), ([], "  ")],
    ids=["empty", "spaces", "spaces-in-WORKFLOW_USER"])
def test_a_blank_as_is_bad_usage_not_a_refusal(run_ready, wf, monkeypatch, argv, environment):
    """(An empty WORKFLOW_USER is no setting at all, as click reads the environment.)"""
    monkeypatch.delenv("WORKFLOW_USER", raising=False)
    if environment is not None:
        monkeypatch.setenv("WORKFLOW_USER", environment)
    result = CliRunner().invoke(cli, ["--db", run_ready.target, *argv, "request", "list"])
    assert "'--as': names no user (it is blank)" in assert_one_line_error(result, 2)
    assert wf.refusals() == []


def test_a_table_aligns_its_columns_on_screen_with_wide_characters(run_ready, wf):
    """Japanese item names take two columns a character on a terminal: the columns after them
    still line up as the eye sees them."""
    from wcwidth import wcswidth

    item = "迎撃ミサイル ✔"
    wf.create(actor="dan", **{**PATRIOT, "item": item, "quantity": 7})
    wf.create(actor="dan", **{**PATRIOT, "quantity": 7})
    lines = _ok(run_ready("request", "list", actor="aud")).stdout.splitlines()
    starts = {wcswidth(line[:line.index(" 7 ")]) for line in lines[1:]}
    assert len(lines) == 3 and len(starts) == 1 and item in lines[1]


def test_options_without_a_command_point_at_the_commands(run_ready):
    line = assert_one_line_error(run_ready(actor="admin"), 2)
    assert line == "error: options but no command: `workflow --help` lists the commands"
    bare = CliRunner().invoke(cli, [])
    assert bare.exit_code == 0 and "Commands:" in bare.output
