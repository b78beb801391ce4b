"""Roles enforced by PostgreSQL itself: after `workflow db grant`, the login is the actor."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import PATRIOT, Cli, assert_one_line_error, request_new_args
from workflow import Refused, Workflow
from workflow.errors import WorkflowError


def _as_login(target: str, login: str) -> str:
    scheme, rest = target.split("://", 1)
    return f"{scheme}://{login}@{rest.split('@', 1)[1]}"


@contextmanager
def a_login(db_target: str, prefix: str) -> Iterator[tuple[str, str]]:
    """A new PostgreSQL login (its name, and the tests' own login), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:6]}"
    base = db_target.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN')
        me = conn.info.user
    try:
        yield name, me
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


@pytest.fixture
def logins(db_target: str) -> Iterator[dict[str, str]]:
    """Two PostgreSQL logins (a drafter and an auditor), dropped afterwards."""
    if "://" not in db_target:
        pytest.skip("database logins need PostgreSQL")
    tag = uuid.uuid4().hex[:8]
    names = {"drafter": f"drafter_{tag}", "auditor": f"auditor_{tag}"}
    base = db_target.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'CREATE ROLE "{name}" LOGIN')
    yield names
    with psycopg.connect(base, autocommit=True) as conn:
        for name in names.values():
            conn.execute(f'DROP OWNED BY "{name}"')
            conn.execute(f'DROP ROLE "{name}"')


def _granted(db_target: str, clock: Any, logins: dict[str, str], admin: str
             ) -> Iterator[dict[str, str]]:
    """The logins, as members of the group roles `db grant` makes; those roles are
    server-wide, so they are dropped afterwards (the schema goes with the database target)."""
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init(admin)
    wf.add_user(logins["drafter"], ["drafter"], actor=admin)
    wf.add_user(logins["auditor"], ["auditor"], actor=admin)
    result = wf.grant_database_roles(actor=admin)
    assert {k: v for k, v in result["logins"].items() if k != admin} == {
        logins["drafter"]: ["drafter"], logins["auditor"]: ["auditor"]}
    wf.close()
    yield logins
    with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
        for role in result["roles"]:
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


@pytest.fixture
def granted(db_target: str, clock: Any, logins: dict[str, str]) -> Iterator[dict[str, str]]:
    yield from _granted(db_target, clock, logins, "admin")


@pytest.fixture
def granted_to_this_login(db_target: str, clock: Any, logins: dict[str, str]
                          ) -> Iterator[dict[str, str]]:
    """As :func:`granted`, with the tests' own database login as the admin, who may then
    still act once the database authenticates by login."""
    with psycopg.connect(db_target.split("?", 1)[0]) as conn:
        admin = conn.info.user
    yield from _granted(db_target, clock, logins, admin)


def test_the_login_is_the_actor_and_naming_another_is_refused(db_target, clock, granted):
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    assert drafter.login == granted["drafter"]
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    assert drafter.fire(ref, "submit", actor=granted["drafter"]) == "nsc_review"
    with pytest.raises(Refused) as refused:
        drafter.create(actor="admin", **PATRIOT)
    assert refused.value.rule == "database-login"
    assert drafter.history(ref)[-1]["actor"] == granted["drafter"]
    [logged] = drafter.refusals()  # under the login that tried, not the name it gave
    assert (logged["actor"], logged["rule"]) == (granted["drafter"], "database-login")
    with pytest.raises(Refused):
        drafter.require_user("admin")  # what every read command checks first: recorded too
    assert [r["rule"] for r in drafter.refusals()] == ["database-login"] * 2


def test_an_auditor_login_can_only_read_even_outside_the_cli(db_target, clock, granted):
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    auditor_url = _as_login(db_target, granted["auditor"])
    auditor = Workflow(auditor_url, clock=clock)
    assert auditor.get(ref, actor=granted["auditor"])["state"] == "drafted"
    assert auditor.verify()["rows"] == 1
    for statement in ("UPDATE wf_record SET state = 'approved'",
                      "INSERT INTO wf_user (name, roles, active, created_by, created_at) "
                      "VALUES ('x', '[]', true, 'x', now())",
                      "DELETE FROM wf_policy_entry"):
        with auditor.db.engine.connect() as conn, pytest.raises(DBAPIError, match="permission"):
            conn.execute(text(statement))
    assert auditor.get(ref)["state"] == "drafted"


def test_an_auditor_login_drafting_gets_the_process_refusal_not_a_table_error(
        db_target, clock, granted):
    auditor = Workflow(_as_login(db_target, granted["auditor"]), clock=clock)
    with pytest.raises(Refused) as refused:
        auditor.create(actor=granted["auditor"], **PATRIOT)
    assert (refused.value.event, refused.value.rule) == ("create", "role")
    assert "only a drafter may create records" in str(refused.value)
    # it could not be recorded (an auditor's login writes nothing): said, naming one rule alone
    assert "(not recorded: this database login may not write the refusal log, as an " \
        "auditor's may not) [rule: role]" in str(refused.value)
    assert str(refused.value).count("[rule:") == 1
    assert str(refused.value).endswith("[rule: role]")
    auditor.close()


def _members(db_target: str, login: str) -> list[str]:
    with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
            "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s", (login,))]


def _reads(db_target: str, login: str) -> bool:
    """Whether ``login`` can read the requests outside the program, with its own connection."""
    url = _as_login(db_target, login).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as conn:
        try:
            conn.execute("SELECT count(*) FROM wf_record")
        except (psycopg.errors.InsufficientPrivilege, psycopg.errors.UndefinedTable):
            return False  # (without USAGE on the schema, its tables are not even found)
    return True


def test_a_disabled_users_login_loses_its_database_roles(db_target, clock,
                                                        granted_to_this_login):
    drafter, wf = granted_to_this_login["drafter"], Workflow(db_target, clock=clock)
    assert _members(db_target, drafter) and _reads(db_target, drafter)
    wf.disable_user(drafter, actor=wf.login)
    assert _members(db_target, drafter) == []
    assert not _reads(db_target, drafter)
    assert _members(db_target, granted_to_this_login["auditor"])  # the others keep theirs


def test_granting_again_leaves_a_disabled_user_out(db_target, clock, granted_to_this_login):
    drafter = granted_to_this_login["drafter"]
    wf = Workflow(db_target, clock=clock)
    with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
        conn.execute("SET search_path TO " + wf.db.engine.url.query.get("options", "")
                     .removeprefix("-csearch_path="))  # the test's own schema
        conn.execute("UPDATE wf_user SET active = false WHERE name = %s", (drafter,))
    assert _members(db_target, drafter)  # disabled behind the program's back
    result = wf.grant_database_roles(actor=wf.login)
    assert drafter not in result["logins"]
    assert _members(db_target, drafter) == []


def test_an_auditor_login_firing_is_refused_by_the_process_rule_not_a_table(db_target, clock,
                                                                            granted):
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    auditor = Workflow(_as_login(db_target, granted["auditor"]), clock=clock)
    with pytest.raises(Refused) as refused:
        auditor.fire(ref, "submit", actor=granted["auditor"])
    assert refused.value.rule == "role"
    assert f"{granted['auditor']} holds auditor" in str(refused.value)
    assert auditor.get(ref)["state"] == "drafted"


def test_no_login_may_update_or_delete_history(db_target, clock, granted):
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    drafter.create(actor=granted["drafter"], **PATRIOT)
    for statement in ("UPDATE wf_history SET actor = 'someone'", "DELETE FROM wf_history",
                      "TRUNCATE wf_history"):
        with drafter.db.engine.connect() as conn, pytest.raises(
                DBAPIError, match=r"permission denied|append-only"):
            conn.execute(text(statement))
    assert drafter.verify()["rows"] == 1


def test_cli_takes_the_actor_from_the_login_and_refuses_another_as(db_target, clock, granted):
    run = Cli(_as_login(db_target, granted["drafter"]), clock)
    from click.testing import CliRunner

    from cli.main import cli

    result = CliRunner().invoke(cli, ["--db", run.target, *request_new_args()],
                                obj={"clock": clock})
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "TR-2026-0001"
    refused = run("request", "list", actor="admin")
    assert "authenticates users by their login" in assert_one_line_error(refused, 1)


def test_grant_needs_postgresql(tmp_path, clock):
    wf = Workflow(str(tmp_path / "w.db"), clock=clock, create=True)
    wf.init("admin", direct_schema=True)
    with pytest.raises(WorkflowError, match="PostgreSQL"):
        wf.grant_database_roles(actor="admin")


def test_without_grant_as_works_as_before(db_target, clock, logins):
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init("admin")
    wf.add_user("dan", ["drafter"], actor="admin")
    reopened = Workflow(db_target, clock=clock)
    assert reopened.login is None
    assert reopened.create(actor="dan", **PATRIOT) == "TR-2026-0001"


def test_a_workflow_opened_to_create_the_database_still_takes_the_actor_from_the_login(
        db_target, clock, granted):
    """However the database is opened (to create it too, as init and demo do), a login cannot
    act under another name: a drafter's login could otherwise approve its own request."""
    url = _as_login(db_target, granted["drafter"])
    drafter = Workflow(url, clock=clock, create=True)
    assert drafter.login == granted["drafter"]
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    drafter.fire(ref, "submit", actor=granted["drafter"])
    with pytest.raises(Refused) as refused:
        drafter.fire(ref, "approve_for_us", actor="admin")
    assert refused.value.rule == "database-login"
    assert drafter.get(ref)["state"] == "nsc_review"
    assert [(r["actor"], r["rule"]) for r in drafter.refusals()] == [
        (granted["drafter"], "database-login")]
    drafter.close()


def test_granting_makes_the_granting_workflow_take_the_actor_from_its_login(
        db_target, clock, logins):
    with psycopg.connect(db_target.split("?", 1)[0]) as conn:
        me = conn.info.user
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init(me)
    wf.add_user(logins["drafter"], ["drafter"], actor=me)
    assert wf.login is None
    result = wf.grant_database_roles(actor=me)
    try:
        assert wf.login == me
        with pytest.raises(Refused) as refused:
            wf.create(actor=logins["drafter"], **PATRIOT)
        assert refused.value.rule == "database-login"
        assert wf.list() == []
    finally:
        wf.close()
        with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
            for role in result["roles"]:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


def test_a_login_named_outside_the_user_name_pattern_still_has_its_refusals_recorded(
        db_target, clock, granted):
    """A login's refusal is recorded under the login, whatever its name."""
    from workflow.grants import group_role

    login = f"svc${uuid.uuid4().hex[:6]}"
    base = db_target.split("?", 1)[0]
    schema = db_target.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{login}" LOGIN')
        database = conn.execute("SELECT current_database()").fetchone()[0]
        conn.execute(f'GRANT "{group_role(database, schema, "drafter")}" TO "{login}"')
    try:
        odd = Workflow(_as_login(db_target, login), clock=clock)
        with pytest.raises(Refused) as refused:
            odd.create(actor=granted["drafter"], **PATRIOT)
        assert refused.value.rule == "database-login"
        assert [(r["actor"], r["rule"]) for r in odd.refusals()] == [(login, "database-login")]
        odd.close()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{login}"')
            conn.execute(f'DROP ROLE "{login}"')


def test_an_admin_login_granted_before_the_user_log_can_still_add_users_after_the_upgrade(
        unplaced_changes, db_target, clock, logins):
    """Revision 0008 gives the group roles `db grant` made what a new grant would: read the
    user log, and, for admins, record in it."""
    from workflow import schema

    tag = uuid.uuid4().hex[:6]
    admin = f"adm_{tag}"
    base = db_target.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{admin}" LOGIN')
        me = conn.info.user
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init(me)
    wf.add_user(admin, ["admin"], actor=me)
    result = wf.grant_database_roles(actor=me)
    try:
        schema.downgrade(wf.db.engine, "0007")
        wf.close()
        Workflow.upgrade(db_target)
        as_admin = Workflow(_as_login(db_target, admin), clock=clock)
        as_admin.add_user(logins["drafter"], ["drafter"], actor=admin)
        assert [c["action"] for c in as_admin.user_history()][-1] == "add"
        assert as_admin.verify()["user_changes"] == 3
        as_admin.close()
        with psycopg.connect(base, autocommit=True) as conn:  # the upgrade made them anew
            triggers = {r[0] for r in conn.execute(
                "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s",
                (db_target.rsplit("%3D", 1)[1],))}
        assert {"wf_history_by_its_actor", "wf_user_change_by_its_actor"} <= triggers
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for role in [*result["roles"], admin]:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


@pytest.mark.parametrize(("table", "changes", "needle"), [
    ("wf_history", {"actor": "admin"}, "may not write a wf_history row for admin"),
    ("wf_history", {"roles": '["approver"]'}, "only as an active user, with its own roles"),
    ("wf_history", {"acted_as": '["approver"]'}, "only acting as roles it holds"),
    ("wf_history", {"acted_as": None}, "only acting as roles it holds"),
    ("wf_history", {"acted_as": "[]"}, "only acting as roles it holds"),
    ("wf_refusal", {"actor": "admin"}, "may not write a wf_refusal row for admin"),
])
def test_a_login_cannot_write_a_row_in_someone_elses_name_even_outside_the_program(
        db_target, clock, granted, table, changes, needle):
    """Table rights let a drafter's login insert rows; a trigger makes each row name that login,
    with its own roles, so a decision cannot be forged in an approver's name."""
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    with pytest.raises(Refused):
        drafter.fire(ref, "approve_for_us", actor=granted["drafter"])  # a refusal to copy
    drafter.close()
    url = _as_login(db_target, granted["drafter"]).replace("postgresql+psycopg://", "postgresql://")
    base, options = url.split("?", 1)
    schema = options.rsplit("%3D", 1)[1]
    with psycopg.connect(base, options=f"-csearch_path={schema}") as conn:
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND "
            "table_name = %s AND column_name NOT IN ('seq') ORDER BY ordinal_position",
            (schema, table))]
        picked = ", ".join(f"%({c})s" if c in changes else c for c in columns)
        numbered = table == "wf_history"  # its seq is the program's to give, not a sequence's
        statement = (f"INSERT INTO {table} ({', '.join(columns)}{', seq' if numbered else ''}) "
                     f"SELECT {picked}{', seq + 100' if numbered else ''} FROM {table} "
                     "ORDER BY seq LIMIT 1")
        with pytest.raises(psycopg.errors.RaiseException, match=needle):
            conn.execute(statement, changes)


def test_a_temporary_table_cannot_stand_in_for_the_users_the_trigger_reads(
        db_target, clock, granted):
    """A login may create a temporary table of any name; the trigger that holds each history
    row to its writer's registered roles reads the schema's own users, not such a table."""
    drafter = granted["drafter"]
    wf = Workflow(_as_login(db_target, drafter), clock=clock)
    ref = wf.create(actor=drafter, **PATRIOT)
    [row] = wf.history(ref)
    wf.close()
    with psycopg.connect(_as_login(db_target, drafter).replace("+psycopg", "")) as conn:
        conn.execute("CREATE TEMP TABLE wf_user AS SELECT * FROM wf_user")
        conn.execute("UPDATE pg_temp.wf_user SET roles = '[\"approver\"]'")
        record_id = conn.execute("SELECT id FROM wf_record").fetchone()[0]
        with pytest.raises(psycopg.errors.RaiseException, match="with its own roles"):
            conn.execute(
                "INSERT INTO wf_history (seq, record_id, ref, event, from_state, to_state, "
                "actor, roles, at, reason, changes, consulted, process_version, leaf_hash, "
                "root_hash, acted_as, version) VALUES (2, %s, %s, 'approve_for_us', "
                "'nsc_review', 'approved_for_us', %s, '[\"approver\"]', now(), NULL, '{}', "
                "'{}', 'transfer-request/1', %s, %s, '[\"approver\"]', 2)",
                (record_id, ref, drafter, "0" * 64, "0" * 64))
    assert row["version"] == 1


def test_0011_pins_the_trigger_functions_search_path_of_a_database_granted_before(
        unplaced_changes, db_target, clock, granted):
    from workflow import schema

    def pinned(wf: Workflow) -> list[str] | None:
        with wf.db.engine.connect() as conn:
            return conn.execute(text(
                "SELECT proconfig FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
                "WHERE proname = 'wf_written_by_its_actor' AND nspname = current_schema()"
            )).scalar()

    wf = Workflow(db_target, clock=clock)
    assert any(c.startswith("search_path=") and c.endswith(", pg_temp") for c in pinned(wf))
    schema.downgrade(wf.db.engine, "0010")
    assert pinned(wf) is None
    wf.close()
    assert Workflow.upgrade(db_target)["to"] == schema.HEAD
    wf = Workflow(db_target, clock=clock)
    assert any(c.startswith("search_path=") and c.endswith(", pg_temp") for c in pinned(wf))
    assert wf.verify()["altered_protections"] == []
    wf.close()


@pytest.fixture
def two_databases(db_target: str) -> Iterator[list[str]]:
    """Two fresh databases on the server, each with the workflow in its `public` schema."""
    if "://" not in db_target:
        pytest.skip("database logins need PostgreSQL")
    base = db_target.split("?", 1)[0]
    names = [f"wf_two_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    with psycopg.connect(base, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE DATABASE "{name}"')
    yield [base.rsplit("/", 1)[0] + "/" + name for name in names]
    with psycopg.connect(base, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        for (role,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'wf\\_%' "
                                    "AND NOT EXISTS (SELECT 1 FROM pg_shdepend d WHERE "
                                    "d.refobjid = pg_roles.oid)").fetchall():
            if role.startswith(("wf_admin_", "wf_drafter_", "wf_reviewer_", "wf_approver_",
                                "wf_auditor_")):
                conn.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_each_database_has_roles_of_its_own(two_databases, clock, logins):
    """Two databases using the same schema name: a login granted in one reaches nothing in the
    other, and disabling it in the other takes nothing from it in the first."""
    first, second = two_databases
    drafter = logins["drafter"]
    roles = []
    for target, users in ((first, [drafter]), (second, [])):
        wf = Workflow(target, clock=clock, create=True)
        wf.init("admin")
        for name in users:
            wf.add_user(name, ["drafter"], actor="admin")
        roles.append(set(wf.grant_database_roles(actor="admin")["roles"]))
        wf.close()
    assert not roles[0] & roles[1]
    with psycopg.connect(_as_login(second, drafter).replace("+psycopg", "")) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM wf_user")
    mine = Workflow(_as_login(first, drafter), clock=clock)
    assert mine.create(actor=drafter, **PATRIOT) == "TR-2026-0001"
    mine.close()


def test_db_grant_runs_again_after_users_are_added(db_target, clock, granted_to_this_login,
                                                    logins):
    """Once the login is the actor, an admin's login runs `db grant` again for a user added
    since; so may the login owning the tables, naming an admin."""
    with psycopg.connect(db_target.split("?", 1)[0]) as conn:
        me = conn.info.user
    tag = uuid.uuid4().hex[:6]
    admin, later, latest = f"adm_{tag}", f"late_{tag}", f"last_{tag}"
    base = db_target.split("?", 1)[0]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{admin}" LOGIN CREATEROLE')
        conn.execute(f'CREATE ROLE "{later}" LOGIN')
        conn.execute(f'CREATE ROLE "{latest}" LOGIN')
    try:
        owner = Workflow(db_target, clock=clock)
        owner.add_user(admin, ["admin"], actor=me)
        assert admin in owner.grant_database_roles(actor=me)["logins"]
        owner.close()
        as_admin = Workflow(_as_login(db_target, admin), clock=clock)
        as_admin.add_user(later, ["drafter"], actor=admin)
        assert as_admin.grant_database_roles(actor=admin)["logins"][later] == ["drafter"]
        as_admin.add_user(latest, ["drafter"], actor=admin)
        as_admin.close()
        result = Cli(db_target, clock)("db", "grant", actor=admin)  # the owner's connection
        assert result.exit_code == 0, result.stderr
        for name in (later, latest):
            drafter = Workflow(_as_login(db_target, name), clock=clock)
            assert drafter.create(actor=name, **PATRIOT).startswith("TR-")
            drafter.close()
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            for name in (admin, later, latest):
                conn.execute(f'DROP OWNED BY "{name}"')
                conn.execute(f'DROP ROLE "{name}"')


def test_db_grant_takes_this_database_out_of_the_roles_named_before(db_target, clock, logins):
    """Roles named `wf_<schema>_<role>`, as `db grant` once named them, are shared by every
    database with that schema: granting again gives this one roles of its own and leaves the
    shared ones nothing here, and disabling a user still in them takes them away too."""
    from workflow.grants import legacy_role

    base = db_target.split("?", 1)[0]
    schema = db_target.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(base) as conn:
        me = conn.info.user
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init(me)
    wf.add_user(logins["drafter"], ["drafter"], actor=me)
    legacy = legacy_role(schema, "drafter")
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{legacy}" NOLOGIN')
        conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{legacy}"')
        conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{legacy}"')
        conn.execute(f'GRANT "{legacy}" TO "{logins["drafter"]}"')
    try:
        result = wf.grant_database_roles(actor=me)
        with psycopg.connect(base, autocommit=True) as conn:
            assert not conn.execute("SELECT has_schema_privilege(%s, %s, 'USAGE')",
                                    (legacy, schema)).fetchone()[0]
            assert not conn.execute("SELECT has_table_privilege(%s, %s, 'SELECT')",
                                    (legacy, f'"{schema}".wf_log_head')).fetchone()[0]
            # as in a database not granted again yet: its tables still granted to the old role
            conn.execute(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO "{legacy}"')
        wf.disable_user(logins["drafter"], actor=me)
        with psycopg.connect(base, autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles u ON u.oid = m.member "
                "WHERE u.rolname = %s", (logins["drafter"],)).fetchone()[0] == 0
    finally:
        wf.close()
        with psycopg.connect(base, autocommit=True) as conn:
            for role in [*result["roles"], legacy]:
                conn.execute(f'DROP OWNED BY "{role}"')
                conn.execute(f'DROP ROLE "{role}"')


def test_init_again_by_an_auditors_login_changes_nothing_and_says_so(db_target, clock,
                                                                      granted):
    auditor = _as_login(db_target, granted["auditor"])
    result = Cli(auditor, clock)("init", actor=granted["auditor"])
    assert result.exit_code == 0, result.stderr
    assert "already initialised; nothing changed" in result.stderr
    assert Workflow(auditor, clock=clock).init(granted["auditor"]) is False


def test_disabling_a_user_leaves_the_roles_another_database_shares_alone(two_databases, clock,
                                                                          logins):
    """On `public`, where everyone may use the schema, a database with roles of its own takes a
    disabled user out of those only, not out of the shared `wf_public_…` roles an older grant
    of another database may still rely on."""
    from workflow.grants import legacy_role

    first, _ = two_databases
    drafter = logins["drafter"]
    legacy = legacy_role("public", "drafter")
    with psycopg.connect(first, autocommit=True) as conn:
        me = conn.info.user
        conn.execute(f'CREATE ROLE "{legacy}" NOLOGIN')
        conn.execute(f'GRANT "{legacy}" TO "{drafter}"')
    try:
        wf = Workflow(first, clock=clock, create=True)
        wf.init(me)
        wf.add_user(drafter, ["drafter"], actor=me)
        wf.grant_database_roles(actor=me)
        wf.disable_user(drafter, actor=me)
        wf.close()
        with psycopg.connect(first, autocommit=True) as conn:
            assert conn.execute(
                "SELECT count(*) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = %s AND u.rolname = %s",
                (legacy, drafter)).fetchone()[0] == 1
    finally:
        with psycopg.connect(first, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{legacy}"')
            conn.execute(f'DROP ROLE "{legacy}"')


def test_only_a_login_whose_role_drafts_may_insert_requests(db_target, clock,
                                                             granted_to_this_login):
    """Outside the program too: a reviewer's or approver's login updates requests as events
    move them, but inserting one is for those who draft."""
    with a_login(db_target, "rev") as (reviewer, me):
        owner = Workflow(db_target, clock=clock)
        owner.add_user(reviewer, ["reviewer"], actor=me)
        owner.grant_database_roles(actor=me)
        owner.close()
        insert = ("INSERT INTO wf_record (ref, process, state, version, data, participants, "
                  "created_by, created_at) VALUES (%s, 'p', 'drafted', 1, '{}', '{}', %s, now())")
        with psycopg.connect(_as_login(db_target, reviewer).replace("+psycopg", "")) as conn, \
                pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(insert, ("TR-X-1", reviewer))
        drafter = granted_to_this_login["drafter"]
        with psycopg.connect(_as_login(db_target, drafter).replace("+psycopg", "")) as conn:
            conn.execute(insert, ("TR-X-2", drafter))
            conn.rollback()


def test_an_admin_login_that_may_not_revoke_roles_is_refused_in_plain_words(
        db_target, clock, granted_to_this_login):
    """Disabling takes the login out of its database roles in the same transaction; an admin's
    login without CREATEROLE may not, so nothing is disabled, and the refusal says why and is
    recorded."""
    drafter = granted_to_this_login["drafter"]
    with a_login(db_target, "weak") as (admin, me):
        owner = Workflow(db_target, clock=clock)
        owner.add_user(admin, ["admin"], actor=me)
        owner.grant_database_roles(actor=me)
        weak = Workflow(_as_login(db_target, admin), clock=clock)
        with pytest.raises(Refused) as refused:
            weak.disable_user(drafter, actor=admin)
        assert refused.value.rule == "database-permission"
        assert "needs CREATEROLE" in str(refused.value)
        assert f"{drafter} stays enabled" in str(refused.value)
        assert [u["active"] for u in owner.users() if u["name"] == drafter] == [True]
        assert _members(db_target, drafter)
        assert owner.refusals(actor=admin)[-1]["rule"] == "database-permission"
        # as the refusal says: given CREATEROLE, the same login disables
        with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{admin}" CREATEROLE')
        weak.disable_user(drafter, actor=admin)
        assert [u["active"] for u in owner.users() if u["name"] == drafter] == [False]
        assert _members(db_target, drafter) == []
        weak.close()
        owner.close()


def test_a_login_that_may_not_reach_the_tables_is_told_so_not_sent_to_init(
        db_target, clock, granted_to_this_login):
    """A disabled user's login loses the schema with its roles; so does one whose user was
    registered after the roles were granted, until `db grant` runs again."""
    drafter = granted_to_this_login["drafter"]
    admin = Workflow(db_target, clock=clock)
    admin.disable_user(drafter, actor=admin.login)
    admin.close()
    run = Cli(_as_login(db_target, drafter), clock)
    for argv in (("request", "list"), ("db", "current"), ("init",)):
        line = assert_one_line_error(run(*argv, actor=drafter), 1)
        assert "this database login may not use schema t_" in line, line
        assert "not initialised" not in line and "[rule: database-permission]" in line


def _forge_as(db_target: str, login: str, *statements: str) -> None:
    """Run ``statements`` in one transaction as ``login``, outside the program."""
    with psycopg.connect(_as_login(db_target, login).replace("+psycopg", "")) as conn:
        for statement in statements:
            conn.execute(statement)


def test_a_login_changes_a_request_only_with_the_history_row_of_its_new_version(
        db_target, clock, granted):
    """A login that may update requests (to fire events) cannot move a decision date behind
    the program's back, for a moment or for good: the commit is refused."""
    drafter = granted["drafter"]
    wf = Workflow(_as_login(db_target, drafter), clock=clock)
    ref = wf.create(actor=drafter, **PATRIOT)
    wf.fire(ref, "submit", actor=drafter)
    before = wf.get(ref)
    for statement in ("UPDATE wf_record SET data = CAST('{\"quantity\": 1}' AS json)",
                      "UPDATE wf_record SET version = version + 1, state = 'approved'"):
        with pytest.raises(psycopg.errors.RaiseException,
                           match=f"may change request {ref} only a version at a time, with the "
                                 "history row of its new version"):
            _forge_as(db_target, drafter, statement)
    assert wf.get(ref) == before
    assert wf.fire(ref, "withdraw", actor=drafter, reason="not needed") == "withdrawn"
    assert wf.verify(rules=True)["rules_judged"] == 3
    wf.close()


def test_a_login_keeps_a_request_to_its_history_rows_drafter_and_state(
        db_target, clock, granted, monkeypatch):
    """Separation of duties reads who drafted a request from the request: a login that drafts
    (and might approve) cannot name another drafter for its own request, nor write a state
    other than the one its history row enters."""
    from workflow import WorkflowError, fastpath

    drafter = granted["drafter"]
    wf = Workflow(_as_login(db_target, drafter), clock=clock)
    insert, update = fastpath.Tx.insert_record, fastpath.Tx.update_record

    def as_drafted_by_admin(self, ref, process, state, data, created_by, *args, **kwargs):
        return insert(self, ref, process, state, data, "admin", *args, **kwargs)

    monkeypatch.setattr(fastpath.Tx, "insert_record", as_drafted_by_admin)
    with pytest.raises(WorkflowError, match="its drafter\\), and never who drafted it or when"):
        wf.create(actor=drafter, **PATRIOT)
    assert wf.list() == []
    monkeypatch.setattr(fastpath.Tx, "insert_record", insert)
    ref = wf.create(actor=drafter, **PATRIOT)

    def into_approved(self, record, state, *args, **kwargs):
        return update(self, record, "approved", *args, **kwargs)

    monkeypatch.setattr(fastpath.Tx, "update_record", into_approved)
    with pytest.raises(WorkflowError, match="\\(the state it enters"):
        wf.fire(ref, "submit", actor=drafter)
    monkeypatch.setattr(fastpath.Tx, "update_record", update)
    for statement in ("UPDATE wf_record SET created_by = 'admin'",
                      "UPDATE wf_record SET created_at = created_at - interval '1 day'"):
        with pytest.raises(psycopg.errors.RaiseException, match="never who drafted it"):
            _forge_as(db_target, drafter, statement)
    assert (wf.get(ref)["state"], wf.get(ref)["drafted_by"]) == ("drafted", drafter)
    assert wf.fire(ref, "submit", actor=drafter) == "nsc_review"
    assert wf.verify(rules=True)["rules_judged"] == 2
    wf.close()


def test_a_login_cannot_write_a_history_row_past_the_log_head(db_target, clock, granted):
    """One row slipped in at the next number would make every later write fail on it."""
    drafter = granted["drafter"]
    wf = Workflow(_as_login(db_target, drafter), clock=clock)
    ref = wf.create(actor=drafter, **PATRIOT)
    with pytest.raises(psycopg.errors.RaiseException,
                       match="may not write history row 2 past the log head"):
        _forge_as(db_target, drafter,
                  "INSERT INTO wf_history (seq, record_id, ref, event, from_state, to_state, "
                  "actor, roles, at, reason, changes, consulted, process_version, leaf_hash, "
                  f"root_hash, acted_as, version) SELECT 2, id, ref, 'withdraw', 'drafted', "
                  f"'withdrawn', '{drafter}', '[\"drafter\"]', now(), 'x', '{{}}', '{{}}', "
                  f"'transfer-request/1', repeat('0', 64), repeat('0', 64), '[\"drafter\"]', 2 "
                  "FROM wf_record")
    assert wf.fire(ref, "submit", actor=drafter) == "nsc_review"
    assert wf.verify()["rows"] == 2
    wf.close()


def test_0012_keeps_the_log_of_a_database_granted_before(unplaced_changes, db_target, clock,
                                                         granted):
    from workflow import schema

    def triggers(wf: Workflow) -> set[str]:
        with wf.db.engine.connect() as conn:
            return set(conn.execute(text(
                "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE nspname = current_schema() AND tgname LIKE '%kept_in_the_log'")).scalars())

    wf = Workflow(db_target, clock=clock)
    kept = {f"{table}_kept_in_the_log" for table in ("wf_record", "wf_history", "wf_log_head")}
    assert triggers(wf) == kept
    schema.downgrade(wf.db.engine, "0011")
    assert triggers(wf) == set()
    wf.close()
    Workflow.upgrade(db_target)
    upgraded = Workflow(db_target, clock=clock)
    assert triggers(upgraded) == kept
    upgraded.close()
    drafter = Workflow(_as_login(db_target, granted["drafter"]), clock=clock)
    ref = drafter.create(actor=granted["drafter"], **PATRIOT)
    with pytest.raises(psycopg.errors.RaiseException, match="only a version at a time"):
        _forge_as(db_target, granted["drafter"], "UPDATE wf_record SET due_on = NULL")
    assert drafter.get(ref)["state"] == "drafted"
    drafter.close()


def _groups(db_target: str, login: str) -> list[str]:
    """The workflow roles whose database roles ``login`` is a member of."""
    return sorted(name.split("_")[1] for name in _members(db_target, login))


def test_a_users_login_follows_their_roles_and_their_enabling(db_target, clock,
                                                              granted_to_this_login):
    drafter, wf = granted_to_this_login["drafter"], Workflow(db_target, clock=clock)
    assert _groups(db_target, drafter) == ["drafter"]
    wf.set_user_roles(drafter, ["auditor"], actor=wf.login)
    assert _groups(db_target, drafter) == ["auditor"]
    as_auditor = Workflow(_as_login(db_target, drafter), clock=clock)
    with pytest.raises(Refused) as refused:
        as_auditor.create(actor=drafter, **PATRIOT)
    assert refused.value.rule == "role"
    wf.set_user_roles(drafter, ["approver", "drafter"], actor=wf.login)
    assert _groups(db_target, drafter) == ["approver", "drafter"]
    assert as_auditor.create(actor=drafter, **PATRIOT)
    wf.disable_user(drafter, actor=wf.login)
    assert _groups(db_target, drafter) == [] and not _reads(db_target, drafter)
    wf.enable_user(drafter, actor=wf.login)
    assert _groups(db_target, drafter) == ["approver", "drafter"]
    assert _reads(db_target, drafter)
    verified = wf.verify()
    assert verified["rows"] == 1
    assert verified["altered_protections"] == []  # the login-mode triggers are the program's
    as_auditor.close()
    wf.close()


def test_granting_again_takes_a_login_out_of_roles_its_user_no_longer_holds(
        db_target, clock, granted_to_this_login):
    drafter, wf = granted_to_this_login["drafter"], Workflow(db_target, clock=clock)
    with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
        conn.execute("SET search_path TO " + wf.db.engine.url.query.get("options", "")
                     .removeprefix("-csearch_path="))  # the test's own schema
        conn.execute("UPDATE wf_user SET roles = '[\"auditor\"]' WHERE name = %s", (drafter,))
    wf.grant_database_roles(actor=wf.login)
    assert _groups(db_target, drafter) == ["auditor"]
    wf.close()


def test_an_admin_login_that_may_not_grant_roles_cannot_enable_and_is_told_why(
        db_target, clock, granted_to_this_login):
    drafter = granted_to_this_login["drafter"]
    with a_login(db_target, "weak") as (admin, me):
        owner = Workflow(db_target, clock=clock)
        owner.add_user(admin, ["admin"], actor=me)
        owner.grant_database_roles(actor=me)
        owner.disable_user(drafter, actor=me)
        weak = Workflow(_as_login(db_target, admin), clock=clock)
        with pytest.raises(Refused) as refused:
            weak.enable_user(drafter, actor=admin)
        assert refused.value.rule == "database-permission"
        assert f"may not put {drafter} into database role" in str(refused.value)
        assert f"{drafter} stays disabled" in str(refused.value)
        assert [u["active"] for u in owner.users() if u["name"] == drafter] == [False]
        assert _groups(db_target, drafter) == []
        assert owner.refusals(actor=admin)[-1]["event"] == "user enable"
        weak.close()
        owner.close()


def test_a_login_cannot_leave_the_next_writer_a_tree_other_than_the_logs(db_target, clock,
                                                                         granted):
    """A drafter's login may update the log head (to append), but only to the tree of its last
    row: a tree of other nodes would give every later row a wrong root, named as altered."""
    drafter = granted["drafter"]
    wf = Workflow(_as_login(db_target, drafter), clock=clock)
    for _ in range(3):
        wf.create(actor=drafter, **PATRIOT)  # a tree of two nodes
    forged = json.dumps(["00" * 32, "11" * 32])
    for statement in (f"UPDATE wf_log_head SET frontier = CAST('{forged}' AS json)",
                      "UPDATE wf_log_head SET size = 2"):
        with pytest.raises(psycopg.errors.RaiseException,
                           match="may not set the log head to a tree other than that of its "
                                 "last row"):
            _forge_as(db_target, drafter, statement)
    wf.create(actor=drafter, **PATRIOT)
    assert wf.verify()["rows"] == 4
    assert wf.verify()["altered_protections"] == []
    wf.close()


def test_0014_keeps_the_requests_of_a_database_granted_before_to_their_history(
        db_target, clock, granted):
    from workflow import schema

    def checks_the_drafter(wf: Workflow) -> bool:
        with wf.db.engine.connect() as conn:
            source = conn.execute(text(
                "SELECT prosrc FROM pg_proc WHERE proname = 'wf_kept_in_the_log' "
                "AND pronamespace = CAST(current_schema() AS regnamespace)")).scalar()
        return "h.actor = NEW.created_by" in source

    drafter = granted["drafter"]
    wf = Workflow(db_target, clock=clock)
    assert checks_the_drafter(wf)
    schema.downgrade(wf.db.engine, "0013")
    assert not checks_the_drafter(wf)
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0013", "to": schema.HEAD}
    wf = Workflow(db_target, clock=clock)
    assert checks_the_drafter(wf)
    assert wf.verify()["altered_protections"] == []
    login = Workflow(_as_login(db_target, drafter), clock=clock)
    ref = login.create(actor=drafter, **PATRIOT)
    login.close()
    with pytest.raises(psycopg.errors.RaiseException, match="never who drafted it"):
        _forge_as(db_target, drafter, "UPDATE wf_record SET version = version + 1, "
                                      "created_by = 'admin'")
    assert wf.get(ref)["drafted_by"] == drafter
    wf.close()


def test_0013_keeps_the_log_heads_tree_of_a_database_granted_before(db_target, clock, granted):
    from workflow import schema

    def kept(wf: Workflow) -> bool:
        with wf.db.engine.connect() as conn:
            return conn.execute(text(
                "SELECT 1 FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE tgname = 'wf_log_head_kept_in_the_log' AND relname = 'wf_log_head' "
                "AND relnamespace = CAST(current_schema() AS regnamespace)")).first() is not None

    wf = Workflow(db_target, clock=clock)
    assert kept(wf)
    schema.downgrade(wf.db.engine, "0012")
    assert not kept(wf)
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0012", "to": schema.HEAD}
    wf = Workflow(db_target, clock=clock)
    assert kept(wf)
    assert wf.verify()["altered_protections"] == []
    wf.close()


def test_an_admin_login_may_give_up_admin_while_another_admin_remains(db_target, clock,
                                                                     granted_to_this_login):
    with a_login(db_target, "strong") as (admin, me):
        owner = Workflow(db_target, clock=clock)
        owner.add_user(admin, ["admin"], actor=me)
        owner.grant_database_roles(actor=me)
        with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'ALTER ROLE "{admin}" CREATEROLE')
        strong = Workflow(_as_login(db_target, admin), clock=clock)
        changed = strong.set_user_roles(admin, ["approver"], actor=admin)
        assert changed["roles"] == ["approver"]
        assert _groups(db_target, admin) == ["approver"]
        assert owner.verify()["user_changes"] == len(owner.user_history())
        strong.close()
        owner.close()


def _older_log_kept() -> str:
    """Revision 0012's function, without the log head's check 0013 added."""
    from importlib import import_module

    text = import_module("workflow.migrations.versions.0012_change_log_place").LOG_KEPT
    return text.replace("%", "%%")  # formatted with the schema where it runs


@pytest.mark.parametrize("statement", [
    "ALTER FUNCTION wf_written_by_its_actor() RESET ALL",
    "ALTER FUNCTION wf_kept_in_the_log() SECURITY DEFINER",
    _older_log_kept(),
], ids=["unpinned", "security-definer", "older-text"])
def test_a_login_mode_function_whose_settings_changed_is_named(db_target, clock, granted,
                                                               statement):
    wf = Workflow(db_target, clock=clock)
    assert wf.verify()["altered_protections"] == []
    with wf.db.engine.begin() as conn:
        schema = conn.exec_driver_sql("SELECT current_schema()").scalar()
        conn.exec_driver_sql(statement.replace("{schema}", f'"{schema}"'))
    assert wf.verify()["altered_protections"]
    wf.close()


def test_an_admin_login_that_may_not_grant_roles_is_refused_db_grant_in_plain_words(
        db_target, clock, granted_to_this_login):
    """`db grant` run by an admin's login without CREATEROLE: where nothing is to be granted it
    changes nothing and succeeds; where a new user's login is to join its role, it is refused
    by rule, recorded, and grants nothing, where it used to fail with the server's words."""
    with a_login(db_target, "weak") as (admin, me), a_login(db_target, "newbie") as (newbie, _):
        owner = Workflow(db_target, clock=clock)
        owner.add_user(admin, ["admin"], actor=me)
        owner.grant_database_roles(actor=me)
        weak = Workflow(_as_login(db_target, admin), clock=clock)
        assert weak.grant_database_roles(actor=admin)["logins"][admin] == ["admin"]
        owner.add_user(newbie, ["drafter"], actor=me)
        before = len(owner.refusals())
        with pytest.raises(Refused) as refused:
            weak.grant_database_roles(actor=admin)
        assert refused.value.rule == "database-permission"
        assert f"may not put {newbie} into database role" in str(refused.value)
        assert "needs CREATEROLE" in str(refused.value)
        assert _groups(db_target, newbie) == []
        [recorded] = owner.refusals()[before:]
        assert (recorded["event"], recorded["rule"], recorded["actor"]) == (
            "db grant", "database-permission", admin)
        cli = Cli(_as_login(db_target, admin), clock)
        line = assert_one_line_error(cli("db", "grant", actor=admin), 1)
        assert line.endswith("[rule: database-permission]")
        owner.grant_database_roles(actor=me)  # the owner's login may: the user joins
        assert _groups(db_target, newbie) != []
        weak.close()
        owner.close()


def test_db_grant_run_again_leaves_the_tables_unlocked_for_their_readers_and_writers(
        db_target, clock, granted_to_this_login, monkeypatch):
    """Run again after users are added, `db grant` finds its triggers in place and does not
    drop them: dropping one locks its table against every other transaction, and a writer
    queued behind the grant for the log head then deadlocked with it."""
    from workflow import database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 2000)
    base = db_target.split("?", 1)[0]
    schema = db_target.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(base, options=f"-csearch_path={schema}") as reader:
        me = reader.info.user
        reader.execute("SELECT count(*) FROM wf_history")  # holds its table, as a writer would
        reader.execute("SELECT count(*) FROM wf_record")
        wf = Workflow(db_target, clock=clock)
        granted = wf.grant_database_roles(actor=me)  # waited 3 x 2 s and failed, before
        assert granted["logins"][granted_to_this_login["drafter"]] == ["drafter"]
        reader.rollback()
        # a trigger not as the grant makes it (disabled here) is made again
        reader.execute("ALTER TABLE wf_history DISABLE TRIGGER wf_history_by_its_actor")
        reader.commit()
        wf.grant_database_roles(actor=me)
        enabled = reader.execute(
            "SELECT t.tgenabled::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = 'wf_history_by_its_actor' "
            "AND c.relnamespace = current_schema()::regnamespace").fetchall()
        assert enabled == [("O",)]
        wf.close()


def test_a_login_that_may_use_the_schema_but_holds_no_role_is_told_why(db_target, clock,
                                                                       granted):
    """As on a database in the public schema, which every login may use: the first read is
    denied, and the refusal says what usually causes it."""
    schema = db_target.rsplit("search_path%3D", 1)[1]
    with a_login(db_target, "late") as (late, _):
        with psycopg.connect(db_target.split("?", 1)[0], autocommit=True) as conn:
            conn.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{late}"')
        with pytest.raises(Refused) as refused:
            Workflow(_as_login(db_target, late), clock=clock).list(actor=late)
        assert refused.value.rule == "database-permission"
        assert "it holds no workflow role here: its user may be disabled, or registered since " \
               "an admin last ran `workflow db grant`" in str(refused.value)
