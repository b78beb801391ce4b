"""Shared fixtures: every persistence and CLI test runs on SQLite and, when configured, PostgreSQL.

Set WORKFLOW_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/test) to include
PostgreSQL; each test then gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from tests.samples import CAST, PATRIOT
from workflow import Workflow

PG_ENV = "WORKFLOW_TEST_POSTGRES_URL"
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

@dataclass
class FakeClock:
    """A clock the test moves by hand: no sleeping, no patching."""

    now: datetime = field(default_factory=lambda: START)

    def __call__(self) -> datetime:
        return self.now

    def set(self, moment: datetime) -> None:
        self.now = moment

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def _postgres_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url and os.environ.get("CI") == "true":
        raise RuntimeError(f"CI must set {PG_ENV} so the PostgreSQL tests run")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file path, or a PostgreSQL URL with its own schema."""
    if request.param == "sqlite":
        yield str(tmp_path / "workflow.db")
        return
    base = _postgres_url()
    if not base:
        pytest.skip(f"{PG_ENV} not set")
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def wf(db_target: str, clock: FakeClock) -> Iterator[Workflow]:
    """An initialised workflow with admin ``admin`` and the test cast registered."""
    workflow = Workflow(db_target, clock=clock, create=True)
    workflow.init("admin", direct_schema=True)
    for name, roles in CAST.items():
        workflow.add_user(name, roles, actor="admin")
    yield workflow
    workflow.close()


def draft(wf: Workflow, actor: str = "dan", **overrides: Any) -> str:
    return wf.create(actor=actor, **{**PATRIOT, **overrides})


def rewrite_history(wf: Workflow, sql: str) -> None:
    """Run ``sql`` on the history as an attacker with database rights would: the append-only
    trigger dropped first."""
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS wf_history_no_update")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS wf_history_append_only ON wf_history")
        conn.exec_driver_sql(sql)


def as_attacker(wf: Workflow, table: str, *statements: str) -> None:
    """Run ``statements`` as an attacker with database rights would: the append-only triggers
    of ``table`` dropped first."""
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            for op in ("update", "delete"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_{op}")
        else:
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        for statement in statements:
            conn.exec_driver_sql(statement)


def audit_failure(wf: Workflow) -> str:
    """What `verify` names, as it fails."""
    from workflow.audit import AuditFailure

    with pytest.raises(AuditFailure) as caught:
        wf.verify()
    return str(caught.value)


def to_state(wf: Workflow, state: str, *, drafter: str = "dan", **overrides: Any) -> str:
    """A request by ``drafter`` driven into ``state`` along the main path."""
    ref = draft(wf, drafter, **overrides)
    steps = {
        "drafted": [],
        "nsc_review": [("submit", drafter, {})],
        "approved_for_us": [("submit", drafter, {}), ("approve_for_us", "ann", {})],
        "third_country_review": [
            ("submit", drafter, {}),
            ("approve_for_us", "ann", {}),
            ("request_third_country", drafter, {"country": "PL"}),
        ],
        "denied": [("submit", drafter, {}), ("deny", "ann", {"reason": "no"})],
        "withdrawn": [("withdraw", drafter, {"reason": "not needed"})],
    }
    if state == "approved":
        to_review = steps["third_country_review"]
        for event, actor, args in to_review:
            wf.fire(ref, event, actor=actor, **args)
        clock: Any = wf.clock
        clock.set(clock.now.replace(year=clock.now.year + 1, month=1, day=1))
        wf.fire(ref, "approve", actor="abe")
        return ref
    for event, actor, args in steps[state]:
        wf.fire(ref, event, actor=actor, **args)
    return ref


@dataclass
class Cli:
    """Runs the real ``workflow`` command in-process against one database and clock."""

    target: str
    clock: FakeClock

    def __call__(self, *args: str, actor: str = "admin") -> Result:
        runner = CliRunner()
        return runner.invoke(cli, ["--db", self.target, "--as", actor, *args],
                             obj={"clock": self.clock}, catch_exceptions=False)


@pytest.fixture
def run(db_target: str, clock: FakeClock) -> Cli:
    """The CLI on a fresh, uninitialised database."""
    return Cli(db_target, clock)


@pytest.fixture
def run_ready(wf: Workflow, db_target: str, clock: FakeClock) -> Cli:
    """The CLI on the initialised database of ``wf`` (cast registered)."""
    return Cli(db_target, clock)


# -- helpers for the CLI contract tests (test_cli_*.py) -----------------------------------------

IGNORED_TABLES = {"wf_refusal"}  # refused attempts are logged there by design
# ... and the log head keeps the refusal chain's count and last link
IGNORED_COLUMNS = {"wf_log_head": {"refusals", "refusal_chain"}}


# what a migration past 0008 writes anew: the user log, entered as found
USER_LOG = {"wf_user_change": None, "wf_log_head": {"user_changes", "user_chain"}}


def db_snapshot(target: str, skip: dict[str, set[str] | None] | None = None
                ) -> dict[str, list[str]] | None:
    """Every table's rows (sorted reprs) of ``target``, except ``wf_refusal`` (and what
    ``skip`` names: a table, or some of its columns).

    None when ``target`` is a SQLite path with no file behind it (the file is never created here).
    """
    from sqlalchemy import MetaData, Table, create_engine, inspect, select

    if "://" in target:
        url = target
        for plain in ("postgresql://", "postgres://"):
            if url.startswith(plain):
                url = "postgresql+psycopg://" + url[len(plain):]
    else:
        path = Path(target)
        if not path.exists():
            return None
        url = f"sqlite:///{path.resolve()}"
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            snapshot: dict[str, list[str]] = {}
            skip = skip or {}
            for name in inspect(conn).get_table_names():
                if name in IGNORED_TABLES or (name in skip and skip[name] is None):
                    continue
                table = Table(name, MetaData(), autoload_with=conn)
                ignored = IGNORED_COLUMNS.get(name, set()) | (skip.get(name) or set())
                kept = [c for c in table.columns if c.name not in ignored]
                snapshot[name] = sorted(repr(tuple(row)) for row in conn.execute(select(*kept)))
            return snapshot
    finally:
        engine.dispose()


def request_new_args(**overrides: Any) -> list[str]:
    """``request new`` with the Patriot fields (``overrides`` win; a None value drops the field)."""
    args = ["request", "new"]
    for key, value in {**PATRIOT, **overrides}.items():
        if value is not None:
            args.append(f"--{key.replace('_', '-')}={value}")
    return args


def assert_one_line_error(result: Result, exit_code: int) -> str:
    """The error contract: the exit code, one ``error: `` line on stderr, nothing on stdout."""
    assert result.exit_code == exit_code, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    return lines[0]


def report_figures(line: str) -> None:
    """Figures a robustness test measured; printed in the summary of every run (CI included)."""
    import tests

    tests.FIGURES.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    import tests

    if tests.FIGURES:
        terminalreporter.section("figures")
        for line in tests.FIGURES:
            terminalreporter.write_line(line)


def rows_as_before_0009(monkeypatch: pytest.MonkeyPatch) -> None:
    """History rows written from now on as the program wrote them before revision 0009:
    without the role acted under (nor the request's version, kept from 0010 on)."""
    _rows_without(monkeypatch, "acted_as", "version")


def rows_as_before_0010(monkeypatch: pytest.MonkeyPatch) -> None:
    """History rows written from now on as the program wrote them before revision 0010:
    without the request's version."""
    _rows_without(monkeypatch, "version")


def _rows_without(monkeypatch: pytest.MonkeyPatch, *keys: str) -> None:
    from workflow.fastpath import Tx

    append = Tx.append_history
    monkeypatch.setattr(Tx, "append_history", lambda self, record, row, at: append(
        self, record, {k: v for k, v in row.items() if k not in keys}, at))


def changes_as_before_0012(monkeypatch: pytest.MonkeyPatch) -> None:
    """User and policy changes made from now on as the program made them before revision 0012:
    without their place in the history's order."""
    for module in ("workflow.people", "workflow.policy"):
        monkeypatch.setattr(f"{module}.after_row", lambda head: None)


@pytest.fixture
def unplaced_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """:func:`changes_as_before_0012` for a whole test, fixtures after it included."""
    changes_as_before_0012(monkeypatch)


def reseal_from_text(wf: Workflow) -> None:
    """Every leaf and root recomputed from the rows' stored text, as a forger who never
    decodes it would."""
    from sqlalchemy import text

    from workflow.ledger import assemble
    from workflow.merkle import Frontier, leaf_hash

    frontier = Frontier()
    sealed = []
    for row in wf.db.scan.sealed(1):
        leaf = leaf_hash(assemble(*row[:12], row[14], row[15]))
        sealed.append((row[0], leaf.hex(), frontier.append_and_root(leaf).hex()))
    with wf.db.engine.begin() as conn:
        for seq, leaf, root in sealed:
            conn.execute(text("UPDATE wf_history SET leaf_hash = :l, root_hash = :r "
                              "WHERE seq = :s"), {"l": leaf, "r": root, "s": seq})
        conn.execute(text("UPDATE wf_log_head SET size = :n, frontier = :f"),
                     {"n": frontier.size,
                      "f": "[" + ",".join(f'"{n.hex()}"' for n in frontier.nodes) + "]"})
