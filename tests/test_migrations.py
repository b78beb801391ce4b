"""The schema comes from the migrations: empty -> head, older -> head with data kept, newer refused.

These are the only tests that run the migrations; the others create the schema directly, so one
test also proves both ways give the same tables, indexes and append-only triggers.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlmodel import SQLModel

from tests.conftest import (
    PATRIOT,
    USER_LOG,
    Cli,
    assert_one_line_error,
    db_snapshot,
    request_new_args,
    rows_as_before_0009,
    rows_as_before_0010,
)
from workflow import Refused, Workflow, schema
from workflow.audit import AuditFailure
from workflow.errors import NotInitialised
from workflow.schema import SchemaMismatch


@pytest.fixture(autouse=True)
def _changes_unplaced(unplaced_changes: None) -> None:
    """Changes made as before revision 0012, so that the database can be taken back to older
    revisions with them (tests/test_change_places.py tests 0012 itself)."""


def _migrated(target: str, clock: Any) -> Workflow:
    wf = Workflow(target, clock=clock, create=True)
    wf.init("admin")
    wf.add_user("dan", ["drafter"], actor="admin")
    return wf


@pytest.fixture
def before_0009(monkeypatch: pytest.MonkeyPatch) -> None:
    """History rows written as before revision 0009, so that the database can be taken back to
    older revisions with them."""
    rows_as_before_0009(monkeypatch)


def _triggers(wf: Workflow) -> set[str]:
    with wf.db.engine.connect() as conn:
        if wf.db.is_sqlite:
            rows = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
        else:
            rows = conn.execute(text(
                "SELECT DISTINCT trigger_name FROM information_schema.triggers "
                "WHERE event_object_schema = current_schema()"))
        return {r[0] for r in rows}


def test_init_migrates_an_empty_database_to_head(db_target, clock):
    wf = _migrated(db_target, clock)
    assert wf.db.revision() == schema.HEAD
    assert Workflow.schema_revision(db_target) == {"current": schema.HEAD, "head": schema.HEAD}
    ref = wf.create(actor="dan", **PATRIOT)
    assert wf.fire(ref, "submit", actor="dan") == "nsc_review"
    assert wf.verify()["rows"] == 2


def test_migrated_schema_equals_the_models(db_target, clock):
    wf = _migrated(db_target, clock)
    with wf.db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []
    expected = {"wf_history_no_update", "wf_history_no_delete", "wf_refusal_no_update",
                "wf_refusal_no_delete", "wf_policy_change_no_update",
                "wf_policy_change_no_delete", "wf_user_change_no_update",
                "wf_user_change_no_delete"} if wf.db.is_sqlite else {
                "wf_history_append_only", "wf_refusal_append_only",
                "wf_policy_change_append_only", "wf_user_change_append_only"}
    assert _triggers(wf) == expected


def test_directly_created_schema_has_the_same_triggers_and_revision(db_target, clock):
    wf = Workflow(db_target, clock=clock, create=True)
    wf.init("admin", direct_schema=True)
    migrated_names = {"wf_history_no_update", "wf_history_no_delete", "wf_refusal_no_update",
                      "wf_refusal_no_delete", "wf_policy_change_no_update",
                      "wf_policy_change_no_delete", "wf_user_change_no_update",
                "wf_user_change_no_delete"} if wf.db.is_sqlite else {
                      "wf_history_append_only", "wf_refusal_append_only",
                      "wf_policy_change_append_only", "wf_user_change_append_only"}
    assert _triggers(wf) == migrated_names
    assert wf.db.revision() == schema.HEAD


@pytest.mark.usefixtures("before_0009")
def test_previous_revision_upgrades_to_head_with_data_kept(db_target, clock):
    wf = _migrated(db_target, clock)
    ref = wf.create(actor="dan", **PATRIOT)
    wf.fire(ref, "submit", actor="dan")
    before = db_snapshot(db_target, USER_LOG)
    schema.downgrade(wf.db.engine, "0001")
    wf.close()
    with pytest.raises(SchemaMismatch, match="run `workflow db upgrade`"):
        Workflow(db_target, clock=clock)
    result = Workflow.upgrade(db_target)
    assert result == {"from": "0001", "to": schema.HEAD}
    after = db_snapshot(db_target, USER_LOG)
    assert {k: v for k, v in after.items() if k != "alembic_version"} == {
        k: v for k, v in before.items() if k != "alembic_version"}
    upgraded = Workflow(db_target, clock=clock)
    assert upgraded.get(ref)["state"] == "nsc_review"
    verified = upgraded.verify()
    assert verified["rows"] == 2
    assert verified["altered_protections"] == []  # as every revision made them
    assert {c["action"] for c in upgraded.user_history()} == {"found"}
    indexes = {i["name"] for i in inspect(upgraded.db.engine).get_indexes("wf_history")}
    assert {"ix_wf_history_at", "ix_wf_history_record_id"} <= indexes
    assert "ix_wf_history_ref" not in indexes  # 0005: one request's rows found by record id
    assert "ix_wf_history_actor" not in indexes  # 0006: no query looks rows up by actor


@pytest.mark.usefixtures("before_0009")
def test_refusals_recorded_before_0004_are_chained_by_it(db_target, clock):
    """Every refusal is in the chain after the upgrade, older ones included: verify counts them,
    and removing one of them is caught."""
    wf = _migrated(db_target, clock)
    ref = wf.create(actor="dan", **PATRIOT)
    for event in ("approve_for_us", "deny", "approve"):
        with pytest.raises(Refused):
            wf.fire(ref, event, actor="dan")
    triggers = _triggers(wf)
    schema.downgrade(wf.db.engine, "0003")
    wf.close()
    Workflow.upgrade(db_target)
    upgraded = Workflow(db_target, clock=clock)
    assert _triggers(upgraded) == triggers  # the append-only trigger set aside is back
    assert (upgraded.verify()["refusals"], upgraded.verify()["unchained_refusals"]) == (3, 0)
    with pytest.raises(Refused):
        upgraded.fire(ref, "deny", actor="dan")
    assert upgraded.verify()["refusals"] == 4
    with upgraded.db.engine.begin() as conn:
        if upgraded.db.is_sqlite:
            conn.execute(text("DROP TRIGGER wf_refusal_no_delete"))
        else:
            conn.execute(text("ALTER TABLE wf_refusal DISABLE TRIGGER wf_refusal_append_only"))
        conn.execute(text("DELETE FROM wf_refusal WHERE seq = 2"))
    with pytest.raises(AuditFailure, match="refusal"):
        upgraded.verify()


@pytest.mark.usefixtures("before_0009")
def test_history_by_reference_reads_the_same_before_and_after_0005(db_target, clock):
    wf = _migrated(db_target, clock)
    ref = wf.create(actor="dan", **PATRIOT)
    wf.create(actor="dan", **PATRIOT)
    wf.fire(ref, "submit", actor="dan")
    after = (wf.history(ref), wf.log(ref=ref))
    schema.downgrade(wf.db.engine, "0004")
    indexes = {i["name"] for i in inspect(wf.db.engine).get_indexes("wf_history")}
    assert "ix_wf_history_ref" in indexes
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0004", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    assert (upgraded.history(ref), upgraded.log(ref=ref)) == after
    assert [r["event"] for r in after[0]] == ["create", "submit"]


def _upgraded_without_only(wf: Workflow, db_target: str, clock: Any, older: str, table: str,
                           index: str) -> Workflow:
    """``wf``'s database taken back to ``older`` and upgraded again: the one difference is
    ``index`` gone from ``table``, every row kept."""
    before = db_snapshot(db_target, USER_LOG)
    schema.downgrade(wf.db.engine, older)
    indexes = {i["name"] for i in inspect(wf.db.engine).get_indexes(table)}
    assert index in indexes
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": older, "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    assert {i["name"] for i in inspect(upgraded.db.engine).get_indexes(table)} == (
        indexes - {index})
    after = db_snapshot(db_target, USER_LOG)
    assert {k: v for k, v in after.items() if k != "alembic_version"} == {
        k: v for k, v in before.items() if k != "alembic_version"}
    return upgraded


@pytest.mark.usefixtures("before_0009")
def test_0006_drops_only_the_actor_index_and_keeps_every_row(db_target, clock):
    wf = _migrated(db_target, clock)
    ref = wf.create(actor="dan", **PATRIOT)
    wf.fire(ref, "submit", actor="dan")
    upgraded = _upgraded_without_only(wf, db_target, clock, "0005", "wf_history",
                                      "ix_wf_history_actor")
    upgraded.create(actor="dan", **PATRIOT)
    assert upgraded.verify()["rows"] == 3


def test_0015_drops_only_the_state_index_and_lists_by_state_as_before(db_target, clock):
    wf = _migrated(db_target, clock)
    refs = [wf.create(actor="dan", **PATRIOT) for _ in range(3)]
    wf.fire(refs[1], "submit", actor="dan")
    listed = (wf.list(state="nsc_review"), wf.list(state="drafted"), wf.list())
    upgraded = _upgraded_without_only(wf, db_target, clock, "0014", "wf_record",
                                      "ix_wf_record_state")
    assert (upgraded.list(state="nsc_review"), upgraded.list(state="drafted"),
            upgraded.list()) == listed
    assert [r["ref"] for r in listed[0]] == [refs[1]]
    assert upgraded.fire(refs[0], "submit", actor="dan") == "nsc_review"
    assert [r["ref"] for r in upgraded.list(state="nsc_review")] == refs[:2]
    assert upgraded.verify()["rows"] == 5


def test_0015_upgrades_a_database_whose_state_index_was_dropped_by_hand(db_target, clock):
    wf = _migrated(db_target, clock)
    ref = wf.create(actor="dan", **PATRIOT)
    schema.downgrade(wf.db.engine, "0014")
    with wf.db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_wf_record_state"))
    wf.close()
    result = Cli(db_target, clock)("db", "upgrade")
    assert result.exit_code == 0, result.stderr
    upgraded = Workflow(db_target, clock=clock)
    assert upgraded.db.revision() == schema.HEAD
    assert [r["ref"] for r in upgraded.list(state="drafted")] == [ref]


def test_0015_drops_no_index_of_another_schema_on_the_search_path(db_target, clock):
    """PostgreSQL: the index is dropped in the database's own schema only, even where it is
    missing there and another schema later on the search path has one of that name."""
    if "://" not in db_target:
        pytest.skip("SQLite has one schema")
    wf = _migrated(db_target, clock)
    schema.downgrade(wf.db.engine, "0014")
    other = f"other_{uuid.uuid4().hex[:8]}"
    with wf.db.engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_wf_record_state"))
        conn.execute(text(f"CREATE SCHEMA {other}"))
        conn.execute(text(f"CREATE TABLE {other}.wf_record (id integer, state text)"))
        conn.execute(text(f"CREATE INDEX ix_wf_record_state ON {other}.wf_record (state)"))
    wf.close()
    own = db_target.rsplit("search_path%3D", 1)[1]
    try:
        both = db_target.replace(f"search_path%3D{own}", f"search_path%3D{own},{other}")
        assert Workflow.upgrade(both) == {"from": "0014", "to": schema.HEAD}
        with Workflow(db_target, clock=clock).db.engine.connect() as conn:
            kept = conn.execute(text("SELECT count(*) FROM pg_indexes WHERE schemaname = :s "
                                     "AND indexname = 'ix_wf_record_state'"),
                                {"s": other}).scalar()
        assert kept == 1
    finally:
        with Workflow(db_target, clock=clock).db.engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {other} CASCADE"))


@pytest.mark.usefixtures("before_0009")
@pytest.mark.parametrize(("older", "index"), [("0004", "ix_wf_history_ref"),
                                              ("0005", "ix_wf_history_actor")])
def test_an_index_a_revision_drops_may_be_gone_already(db_target, clock, older, index):
    wf = _migrated(db_target, clock)
    wf.create(actor="dan", **PATRIOT)
    schema.downgrade(wf.db.engine, older)
    with wf.db.engine.begin() as conn:
        conn.execute(text(f"DROP INDEX {index}"))
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": older, "to": schema.HEAD}
    assert Workflow(db_target, clock=clock).verify()["rows"] == 1


def test_cli_tells_an_older_database_to_upgrade_and_upgrades_it(db_target, clock):
    wf = _migrated(db_target, clock)
    schema.downgrade(wf.db.engine, "0002")
    wf.close()
    run = Cli(db_target, clock)
    old = run("request", "list")
    assert "run `workflow db upgrade`" in assert_one_line_error(old, 1)
    current = run("db", "current", "--json")
    assert current.exit_code == 0
    assert '"current": "0002"' in current.stdout
    upgraded = run("db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.stderr
    assert run("request", "list", "--json").stdout.strip() == "[]"


def test_newer_revision_is_refused_without_touching_it(db_target, clock):
    wf = _migrated(db_target, clock)
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    wf.close()
    before = db_snapshot(db_target)
    run = Cli(db_target, clock)
    for args in (["request", "list"], ["db", "upgrade"], ["init"],
                 ["request", "new", *request_new_args()[2:]]):
        message = assert_one_line_error(run(*args), 1)
        assert "9999" in message and "refusing to touch it" in message
    assert db_snapshot(db_target) == before


def test_upgrade_of_an_uninitialised_database_says_init(db_target):
    if "://" not in db_target:
        open(db_target, "wb").close()
    with pytest.raises(NotInitialised, match="workflow init"):
        Workflow.upgrade(db_target)


def test_roles_before_read_from_rows_of_older_revisions(db_target, clock):
    """Users entered as found by 0008 (no place, no reason: written before 0012) have nothing
    before them in the log; a later change of roles reads what they held from that row."""
    wf = _migrated(db_target, clock)
    wf.add_user("dora", ["drafter", "reviewer"], actor="admin")
    schema.downgrade(wf.db.engine, "0007")
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0007", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    clock.advance(hours=1)
    upgraded.set_user_roles("dora", ["approver"], actor="admin")
    changes = upgraded.user_history()
    found = [c for c in changes if c["action"] == "found"]
    assert {c["name"] for c in found} == {"admin", "dan", "dora"}
    assert {(c["after_row"], c["reason"], c["roles_before"]) for c in found} == {
        (None, None, None)}
    assert (changes[-1]["action"], changes[-1]["roles_before"], changes[-1]["roles"]) == (
        "set_roles", ["drafter", "reviewer"], ["approver"])
    text = Cli(db_target, clock)("user", "history", "dora")
    assert text.exit_code == 0, text.stderr
    assert [line.split()[3:8] for line in text.stdout.splitlines()[1:]] == [
        ["found", "dora", "drafter,reviewer", "True", "admin"],
        ["set_roles", "dora", "drafter,reviewer", "->", "approver"]]
    upgraded.close()


def test_0008_enters_the_users_it_finds_and_verify_then_checks_them(db_target, clock):
    """Users registered before changes were recorded are entered as found, with their roles,
    state, and who registered them when; from then on every change is chained."""
    wf = _migrated(db_target, clock)
    wf.add_user("dora", ["drafter", "reviewer"], actor="admin")
    wf.disable_user("dora", actor="admin")
    users = {u["name"]: u for u in wf.users()}
    schema.downgrade(wf.db.engine, "0007")
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0007", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    found = {c["name"]: c for c in upgraded.user_history()}
    assert set(found) == set(users)
    for name, user in users.items():
        change = found[name]
        assert change["action"] == "found"
        assert (change["roles"], change["active"], change["actor"], change["at"]) == (
            sorted(user["roles"]), user["active"], user["created_by"], user["created_at"])
    assert upgraded.verify()["user_changes"] == len(users)
    upgraded.add_user("newbie", ["reviewer"], actor="admin")
    assert upgraded.verify()["user_changes"] == len(users) + 1
    with upgraded.db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE wf_user SET active = true WHERE name = 'dora'")
    with pytest.raises(AuditFailure, match="user dora differs from what the user changes say"):
        upgraded.verify()


def test_0009_keeps_earlier_rows_as_they_were_and_later_rows_say_the_role(
        db_target, clock, monkeypatch):
    """Rows written before 0009 keep their bytes and hashes (no acted_as at all); rows after it
    name the roles their actor was admitted under, which the history prints."""
    wf = _migrated(db_target, clock)
    with monkeypatch.context() as patched:
        rows_as_before_0009(patched)
        ref = wf.create(actor="dan", **PATRIOT)
    schema.downgrade(wf.db.engine, "0008")
    assert "acted_as" not in {c["name"] for c in inspect(wf.db.engine).get_columns("wf_history")}
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0008", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    upgraded.add_user("root2", ["admin", "drafter"], actor="admin")
    upgraded.fire(ref, "submit", actor="root2")
    created, submitted = upgraded.history(ref)
    assert "acted_as" not in created
    assert submitted["acted_as"] == ["admin"]  # not the request's drafter: only as admin
    assert upgraded.verify()["rows"] == 2
    text = [line for line in Cli(db_target, clock)("history", ref, actor="admin").stdout
            .splitlines() if line.startswith("#")]  # each row's first line
    assert text[0].endswith("create: (none) -> drafted  by dan (drafter)")
    assert text[-1].endswith("submit: drafted -> nsc_review  by root2 as admin (also holds "
                             "drafter)")


def test_0009_is_not_undone_over_rows_that_keep_the_role(db_target, clock):
    """Dropping the column would leave those rows unverifiable: the downgrade is refused and
    the database left as it was."""
    wf = _migrated(db_target, clock)
    wf.create(actor="dan", **PATRIOT)
    before = db_snapshot(db_target, USER_LOG)
    with pytest.raises(RuntimeError, match="1 history row"):
        schema.downgrade(wf.db.engine, "0008")
    assert db_snapshot(db_target, USER_LOG) == before
    assert wf.verify()["rows"] == 1


def test_0010_keeps_earlier_rows_as_they_were_and_later_rows_count_their_place(
        db_target, clock, monkeypatch):
    """Rows written before 0010 keep their bytes and hashes (no version at all); rows after it
    keep the request's version after them, counting the rows before 0010 too."""
    wf = _migrated(db_target, clock)
    with monkeypatch.context() as patched:
        rows_as_before_0010(patched)
        ref = wf.create(actor="dan", **PATRIOT)
        wf.edit(ref, actor="dan", quantity=8)
    schema.downgrade(wf.db.engine, "0009")
    assert "version" not in {c["name"] for c in inspect(wf.db.engine).get_columns("wf_history")}
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0009", "to": schema.HEAD}
    upgraded = Workflow(db_target, clock=clock)
    upgraded.fire(ref, "submit", actor="dan")
    created, edited, submitted = upgraded.history(ref)
    assert "version" not in created and "version" not in edited
    assert submitted["version"] == 3
    assert upgraded.verify()["rows"] == 3


def test_0010_is_not_undone_over_rows_that_count_their_place(db_target, clock):
    wf = _migrated(db_target, clock)
    wf.create(actor="dan", **PATRIOT)
    before = db_snapshot(db_target, USER_LOG)
    with pytest.raises(RuntimeError, match="1 history row"):
        schema.downgrade(wf.db.engine, "0009")
    assert db_snapshot(db_target, USER_LOG) == before
    assert wf.verify()["rows"] == 1


@pytest.mark.parametrize("argv", [("db", "current"), ("db", "upgrade"), ("request", "list")])
def test_a_second_schema_revision_slipped_in_is_refused_in_one_line(wf, db_target, run_ready,
                                                                     argv):
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0010')")
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 1)
    assert f"the database records 2 schema revisions (0010, {schema.HEAD}), not one" in line


def test_an_upgrade_that_another_process_did_first_says_nothing_was_done(db_target, clock,
                                                                         monkeypatch):
    """Two `db upgrade`s at once: the second waits for the first, then finds the schema at head.
    It says so, not "upgraded" from the revision it read before it waited."""
    from workflow.database import Database

    wf = Workflow(db_target, clock=clock, create=True)
    wf.init("admin")
    schema.downgrade(wf.db.engine, "0013")
    wf.close()
    assert Workflow.upgrade(db_target) == {"from": "0013", "to": schema.HEAD}
    monkeypatch.setattr(Database, "revision", lambda self: "0013")  # as read before waiting
    assert Workflow.upgrade(db_target) == {"from": schema.HEAD, "to": schema.HEAD}
