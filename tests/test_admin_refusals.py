"""Administrative changes refused by a rule land in the refusal log too, and change nothing."""

from __future__ import annotations

from datetime import date

import pytest

from tests.conftest import assert_one_line_error, db_snapshot, request_new_args
from workflow import NotFound, Refused

REFUSED = [
    pytest.param(["user", "add", "zed", "--role", "drafter"], "dan", "user add", "role",
                 id="user-add-by-a-drafter"),
    pytest.param(["user", "disable", "admin"], "admin", "user disable", "last-admin",
                 id="last-admin"),
    pytest.param(["policy", "add", "PL", "--kind", "embargo", "--since", "2020-01-01",
                  "--reason", "test"], "dan", "policy add", "role", id="policy-add-by-a-drafter"),
    pytest.param(["policy", "add", "PL", "--kind", "embargo", "--since", "2020-01-01"], "admin",
                 "policy add", "reason-required", id="policy-add-without-reason"),
    pytest.param(["policy", "add", "UA", "--kind", "in-combat", "--since", "2024-01-01",
                  "--reason", "again"], "admin", "policy add", "already-restricted",
                 id="already-restricted"),
    pytest.param(["policy", "end", "UA", "--on", "2026-12-01", "--reason", "test"], "dan",
                 "policy end", "role", id="policy-end-by-a-drafter"),
    pytest.param(["policy", "end", "UA", "--on", "2020-01-01", "--reason", "test"], "admin",
                 "policy end", "end-before-start", id="end-before-start"),
    pytest.param(["policy", "end", "UA", "--on", "2022-02-24", "--reason", "test"], "admin",
                 "policy end", "end-before-start", id="end-on-its-start"),
]


@pytest.mark.parametrize(("argv", "actor", "event", "rule"), REFUSED)
def test_a_refused_administrative_change_is_logged_and_changes_nothing(
        wf, run_ready, db_target, argv, actor, event, rule):
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready(*argv, actor=actor), 1)
    assert f"[rule: {rule}]" in line
    assert db_snapshot(db_target) == before
    [logged] = wf.refusals()
    assert (logged["actor"], logged["ref"], logged["event"], logged["rule"]) == (
        actor, None, event, rule)
    assert logged["message"] in line
    assert "ok: 1 refusal," in run_ready("audit", "verify", actor="aud").stdout


def test_the_api_logs_the_same_refusal(wf):
    with pytest.raises(Refused) as refused:
        wf.end_restriction("UA", date(2021, 1, 1), reason="typo", actor="admin")
    assert refused.value.rule == "end-before-start"
    assert [r["rule"] for r in wf.refusals()] == ["end-before-start"]
    assert {p["until"] for p in wf.policy() if p["country"] == "UA"} == {None}


def test_an_end_after_the_start_still_ends_the_restriction(wf):
    ended = wf.end_restriction("UA", date(2022, 2, 25), reason="ceasefire", actor="admin")
    assert [(e["since"], e["until"]) for e in ended] == [("2022-02-24", "2022-02-25")]
    assert wf.refusals() == []


def test_a_refusal_the_busy_database_would_not_take_says_it_was_not_recorded(
        wf, db_target, clock, monkeypatch):
    """Recording a refusal waits for the database as a write does, tries again, and when the
    database stays busy says so beside the refusal rather than dropping it in silence."""
    if not wf.db.is_sqlite:
        pytest.skip("SQLite's busy timeout is what is waited out here")
    import sqlite3

    from workflow import Workflow, database

    wf.add_user("gone", ["drafter"], actor="admin")
    wf.disable_user("gone", actor="admin")
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    other = Workflow(db_target, clock=clock)  # its connections wait 50 ms
    holder = sqlite3.connect(db_target, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Refused) as refused:
            other.require_user("gone")
    finally:
        holder.rollback()
        holder.close()
    assert str(refused.value).startswith("access refused: user 'gone' is disabled")
    assert str(refused.value).endswith("[rule: active-user]")
    assert "(and it could not be recorded: " in str(refused.value)
    assert "(and it could not be recorded: " in refused.value.reason
    assert "\n" not in str(refused.value)
    assert [r["actor"] for r in wf.refusals()].count("gone") == 0
    with pytest.raises(Refused) as again:
        other.require_user("gone")
    assert "could not be recorded" not in str(again.value)
    assert [r["actor"] for r in wf.refusals()].count("gone") == 1
    other.close()


@pytest.mark.parametrize(("actor", "error", "rule", "says"), [
    ("dan", Refused, "role", "only an admin may run nightly import; dan holds drafter"),
    ("nobody", NotFound, "registered-user", "unknown user 'nobody'"),
])
def test_require_admin_refuses_and_records_anyone_but_an_admin(wf, db_target, actor, error,
                                                               rule, says):
    """The API's check for a command of several changes (the demo's) refuses as the
    administrative commands do, and records it under the action's name."""
    before = db_snapshot(db_target)
    with pytest.raises(error) as refused:
        wf.require_admin(actor, "nightly import")
    assert says in str(refused.value)
    assert str(refused.value).endswith(f"[rule: {rule}]")
    assert db_snapshot(db_target) == before
    [logged] = wf.refusals()
    assert (logged["actor"], logged["event"], logged["rule"]) == (actor, "nightly import", rule)
    assert wf.require_admin("admin", "nightly import") is None
    assert len(wf.refusals()) == 1


@pytest.mark.parametrize(("argv", "event"), [
    (["user", "add", "newcomer", "--role", "drafter"], "user add"),
    (request_new_args(), "create"),
    (["advance", "TR-2026-0001", "submit"], "submit"),
    (["policy", "end", "SY", "--on", "2026-12-01", "--reason", "r"], "policy end"),
])
def test_a_disabled_users_write_is_refused_naming_the_command_tried(wf, run_ready, argv, event):
    """Who may act is checked before anything else, yet the refusal names what was tried, in
    the message and in the log alike: reading commands alone are refused as ``access``."""
    wf.add_user("gone", ["admin", "drafter"], actor="admin")
    wf.disable_user("gone", actor="admin")
    line = assert_one_line_error(run_ready(*argv, actor="gone"), 1)
    assert line == f"error: {event} refused: user 'gone' is disabled [rule: active-user]"
    logged = wf.refusals(actor="gone")[-1]
    assert (logged["event"], logged["message"]) == (event, line.removeprefix("error: "))
    read = assert_one_line_error(run_ready("request", "list", actor="gone"), 1)
    assert read == "error: access refused: user 'gone' is disabled [rule: active-user]"
