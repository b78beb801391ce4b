"""The shape of the process and of the code: the graph, the layering, one Machine per process."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
from collections import deque
from pathlib import Path

import pytest
import transitions

import workflow.machine
from states import PROCESS
from tests.conftest import to_state
from workflow import Workflow
from workflow.machine import machinery_for

ROOT = Path(__file__).resolve().parent.parent
STATES_DIR = ROOT / "states"
WORKFLOW_DIR = ROOT / "workflow"

# the process table of DOMAIN.md: event -> (sources, target)
DOMAIN_TABLE: dict[str, tuple[set[str], str]] = {
    "submit": ({"drafted"}, "nsc_review"),
    "return": ({"nsc_review"}, "drafted"),
    "approve_for_us": ({"nsc_review"}, "approved_for_us"),
    "deny": ({"nsc_review", "third_country_review"}, "denied"),
    "withdraw": ({"drafted", "nsc_review"}, "withdrawn"),
    "request_third_country": ({"approved_for_us"}, "third_country_review"),
    "defer": ({"third_country_review"}, "third_country_review"),
    "approve": ({"third_country_review"}, "approved"),
}
DOMAIN_STATES = {"drafted", "nsc_review", "approved_for_us", "third_country_review", "approved",
                 "denied", "withdrawn"}
DOMAIN_FINALS = {"approved", "denied", "withdrawn"}
FORBIDDEN_IN_STATES = {"transitions", "sqlmodel", "sqlalchemy", "click"}
DEFENCE_WORDS = ("third_country", "nsc", "japan", "recipient", "licensor", "patriot",
                 "embargo", "defence", "defense")


def _edges() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {state: set() for state in PROCESS.states}
    for event in PROCESS.events:
        for source in event.sources:
            out[source].add(event.dest)
    return out


# -- the process graph -----------------------------------------------------------------------------


def test_process_has_exactly_the_domain_states_and_finals():
    assert set(PROCESS.states) == DOMAIN_STATES
    assert len(PROCESS.states) == len(DOMAIN_STATES)
    assert set(PROCESS.finals) == DOMAIN_FINALS
    assert PROCESS.initial == "drafted"


def test_every_state_is_reachable_from_drafted():
    edges = _edges()
    seen = {PROCESS.initial}
    queue = deque([PROCESS.initial])
    while queue:
        for nxt in edges[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    assert seen == set(PROCESS.states)


def test_every_non_final_state_can_reach_a_final_state():
    edges = _edges()
    for state in set(PROCESS.states) - set(PROCESS.finals):
        seen, queue = {state}, deque([state])
        while queue:
            for nxt in edges[queue.popleft()]:
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append(nxt)
        assert seen & set(PROCESS.finals), state


def test_no_event_leaves_a_final_state():
    for event in PROCESS.events:
        assert not set(event.sources) & set(PROCESS.finals), event.name
    machine = machinery_for(PROCESS)
    for final in PROCESS.finals:
        assert not any(machine.allows(final, e.name) for e in PROCESS.events), final


def test_every_domain_event_exists_with_exactly_its_sources_and_target():
    declared = {e.name: (set(e.sources), e.dest) for e in PROCESS.events}
    assert declared == DOMAIN_TABLE
    assert len(PROCESS.events) == len(DOMAIN_TABLE)
    for event in PROCESS.events:
        assert len(event.sources) == len(set(event.sources)), event.name


def test_the_transitions_machine_matches_the_domain_table():
    machine = machinery_for(PROCESS)
    for name, (sources, target) in DOMAIN_TABLE.items():
        for state in PROCESS.states:
            assert machine.allows(state, name) == (state in sources), (name, state)
        for source in sources:
            assert machine.advance(source, name) == target


# -- layering --------------------------------------------------------------------------------------


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


STATE_MODULES = sorted(STATES_DIR.glob("*.py"))


def test_states_package_has_modules_to_check():
    assert {p.name for p in STATE_MODULES} >= {"__init__.py", "transfer.py", "rules.py",
                                              "seed.py"}


@pytest.mark.parametrize("module", STATE_MODULES, ids=lambda p: p.name)
def test_states_modules_import_no_engine_database_or_cli_library(module):
    assert not _imported_roots(module) & FORBIDDEN_IN_STATES


def test_import_parser_sees_forbidden_imports(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sqlalchemy.orm\nfrom transitions import Machine\n"
                      "from click import echo\nimport sqlmodel as sm\n", encoding="utf-8")
    assert _imported_roots(sample) >= FORBIDDEN_IN_STATES


def test_importing_the_process_loads_no_engine_database_or_cli_library():
    code = (
        "import sys, states\n"
        f"loaded = sorted(m for m in {sorted(FORBIDDEN_IN_STATES)!r} if m in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == ""


WORKFLOW_MODULES = sorted(WORKFLOW_DIR.glob("*.py"))


@pytest.mark.parametrize("module", WORKFLOW_MODULES, ids=lambda p: p.name)
def test_workflow_engine_contains_no_defence_vocabulary(module):
    text = module.read_text(encoding="utf-8").lower()
    found = [w for w in DEFENCE_WORDS if re.search(rf"(?<![a-z]){w}", text)]
    assert found == []


# -- one Machine per process -----------------------------------------------------------------------


@pytest.fixture
def machines_built(monkeypatch) -> list[object]:
    """Counts every transitions.Machine constructed while the test runs."""
    built: list[object] = []
    original = transitions.Machine.__init__

    def counting(self, *args, **kwargs):
        built.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(transitions.Machine, "__init__", counting)
    return built


def test_machinery_is_built_once_per_process(machines_built):
    assert machinery_for(PROCESS) is machinery_for(PROCESS)
    other = dataclasses.replace(PROCESS, version="transfer-request/test-structure")
    try:
        first = machinery_for(other)
        assert len(machines_built) == 1
        assert machinery_for(other) is first
        assert first is not machinery_for(PROCESS)
        assert len(machines_built) == 1
    finally:
        workflow.machine._MACHINES.pop((other.name, other.version), None)


def test_workflow_objects_share_the_process_machine(wf, db_target, clock):
    second = Workflow(db_target, clock=clock)
    try:
        assert second.machinery is wf.machinery is machinery_for(PROCESS)
    finally:
        second.close()


def test_firing_many_events_builds_no_new_machine(wf, db_target, clock, machines_built):
    second = Workflow(db_target, clock=clock)
    try:
        for state in ("approved", "denied", "withdrawn"):
            ref = to_state(second, state)
            second.get(ref, actor="ann")
        ref = to_state(second, "nsc_review")
        second.fire(ref, "return", actor="rita", reason="fix")
        second.fire(ref, "submit", actor="dan")
    finally:
        second.close()
    assert machines_built == []
