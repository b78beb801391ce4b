"""A user or policy change appended behind the program's back, chained as the program chains
them, is still named by `audit verify` when the program could not have made it: who made it,
and what it says. On SQLite and PostgreSQL, through the API and the CLI."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlmodel import select

from tests.conftest import assert_one_line_error, audit_failure, db_snapshot
from workflow import InvalidInput, NotFound, Workflow, people
from workflow import policy as policies
from workflow.models import PolicyEntry, User

FULL_WIDTH = "\uff45\uff56\uff45"  # eve, in full-width letters


def forge_user(wf: Workflow, action: str, name: str, roles: list[str], actor: str) -> None:
    """A user change written with the program's own chaining, none of its checks."""
    with wf.db.write() as s:
        if action == "disable":
            user = s.get(User, name)
            user.active = False
        else:
            user = User(name=name, roles=roles, active=True, created_by=actor,
                        created_at=wf.clock())
        s.add(user)
        people._record(s, action, user, actor, wf.clock())


def forge_policy(wf: Workflow, action: str, subject: str, kind: str, since: date,
                 until: date | None, actor: str, reason: str) -> None:
    """A policy change written with the program's own chaining, none of its checks."""
    with wf.db.write() as s:
        if action == "end":
            [entry] = s.exec(select(PolicyEntry).where(PolicyEntry.subject == subject)).all()
            entry.until = until
        else:
            entry = PolicyEntry(subject=subject, kind=kind, since=since, until=None,
                                reason=reason)
        s.add(entry)
        s.flush()
        policies._record(s, entry, action, actor, reason, wf.clock())


def _named(wf: Workflow, run_ready, needle: str) -> None:
    assert needle in audit_failure(wf)
    line = assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)
    assert needle in line, line


@pytest.mark.parametrize(("change", "needle"), [
    pytest.param(("add", "eve", ["admin"], "dan"),
                 "user change 9 registers eve by dan, who is no active admin then",
                 id="added-by-a-drafter"),
    pytest.param(("add", "eve", ["admin"], "ghost"),
                 "registers eve by ghost, who is no active admin then", id="added-by-nobody"),
    pytest.param(("add", "eve", ["approver", "god"], "admin"),
                 "registers eve with a role the process does not have (god)",
                 id="unknown-role"),
    pytest.param(("add", "eve", [], "admin"),
                 "registers eve with roles the program does not write ([])", id="no-role"),
    pytest.param(("add", "Ann", ["approver"], "admin"),
                 "registers Ann, differing only in case from ann", id="case-twin"),
    pytest.param(("add", FULL_WIDTH, ["approver"], "admin"),
                 f"registers {FULL_WIDTH!r}, a name no user may have", id="full-width"),
    pytest.param(("found", "eve", ["admin"], "eve"),
                 "enters eve as found after users were added or disabled", id="found-late"),
    pytest.param(("disable", "admin", ["admin"], "admin"),
                 "disables admin, the last active admin", id="last-admin"),
    pytest.param(("add", "eve", [["admin"]], "admin"),
                 "registers eve with roles the program does not write ([['admin']])",
                 id="roles-nested"),
    pytest.param(("disable", "ann", ["approver"], "dan"),
                 "disables ann by dan, who is no active admin then", id="disabled-by-a-drafter"),
])
def test_a_user_change_the_program_could_not_have_made_is_named(wf, run_ready, change, needle):
    assert wf.verify()["user_changes"] == 8
    forge_user(wf, *change)
    _named(wf, run_ready, needle)


def test_a_disabled_admin_can_no_longer_register_anyone(wf, run_ready):
    wf.add_user("deputy", ["admin"], actor="admin")
    wf.disable_user("deputy", actor="admin")
    forge_user(wf, "add", "eve", ["approver"], "deputy")
    _named(wf, run_ready, "registers eve by deputy, who is no active admin then")


@pytest.mark.parametrize(("change", "needle"), [
    pytest.param(("add", "FR", "embargo", date(2026, 1, 1), None, "dan", "why"),
                 "policy change 5 is made by dan, whom no change registered as an admin",
                 id="by-a-drafter"),
    pytest.param(("add", "FR", "whatever", date(2026, 1, 1), None, "admin", "why"),
                 "names a kind of restriction the process does not have ('whatever')",
                 id="unknown-kind"),
    pytest.param(("add", "ZZ", "embargo", date(2026, 1, 1), None, "admin", "why"),
                 "names a subject the program does not write ('ZZ')", id="no-country"),
    pytest.param(("add", "fr", "embargo", date(2026, 1, 1), None, "admin", "why"),
                 "names a subject the program does not write ('fr')", id="lower-case"),
    pytest.param(("add", "FR", "embargo", date(2026, 1, 1), None, "admin", " "),
                 "gives a reason the program does not write (' ')", id="no-reason"),
    pytest.param(("seed", "FR", "embargo", date(2026, 1, 1), None, "admin", "why"),
                 "seeds the policy after it was changed", id="seed-late"),
])
def test_a_policy_change_the_program_could_not_have_made_is_named(wf, run_ready, change, needle):
    wf.restrict("PL", "embargo", date(2026, 1, 1), reason="test", actor="admin")
    forge_policy(wf, *change)
    _named(wf, run_ready, needle.replace("policy change 5", "policy change 6"))


def test_a_planned_restriction_called_off_before_it_starts_passes(wf):
    """The program lets an admin end a restriction not yet in force on its first day or before:
    that change is one it makes."""
    wf.restrict("PL", "embargo", date(2027, 6, 1), reason="planned", actor="admin")
    wf.end_restriction("PL", date(2027, 6, 1), reason="called off", actor="admin")
    assert wf.verify()["policy_changes"] == 6


def test_a_restriction_called_off_blocks_and_ends_nothing(wf, run_ready):
    """In force on no day, it leaves room for a restriction of its kind before its start, and
    is not ended again."""
    wf.restrict("GB", "embargo", date(2027, 3, 1), reason="planned", actor="admin")
    wf.end_restriction("GB", date(2027, 1, 20), reason="called off", actor="admin")
    with pytest.raises(NotFound):
        wf.end_restriction("GB", date(2027, 1, 15), reason="again", actor="admin")
    done = run_ready("policy", "add", "GB", "--kind", "embargo", "--since", "2027-01-10",
                     "--reason", "sooner", actor="admin")
    assert done.exit_code == 0, done.stderr
    assert [(r["since"], r["until"]) for r in wf.policy() if r["country"] == "GB"] == [
        ("2027-03-01", "2027-01-20"), ("2027-01-10", None)]
    assert wf.policy(as_of="2027-02-01")[-1]["since"] == "2027-01-10"
    assert wf.verify()["policy_changes"] == 7


def test_policy_changes_older_versions_made_still_pass(unplaced_changes, wf):
    """Older versions let an admin end a restriction on its first day while in force, and kept
    a tab in a reason: a database upgraded from one keeps such changes, and verify takes them."""
    forge_policy(wf, "end", "UA", "in-combat", date(2022, 2, 24), date(2022, 2, 24), "admin",
                 "entered in error\tsee ticket 12")
    assert wf.verify()["policy_changes"] == 5


def test_an_end_before_the_start_of_a_restriction_in_force_is_named(wf, run_ready,
                                                                    monkeypatch):
    """The program refuses it; older versions let an end on the first day through, so only a
    change that keeps its place in the log (made by a version that refuses it) is held to it."""
    forge_policy(wf, "end", "UA", "in-combat", date(2022, 2, 24), date(2000, 1, 1), "admin",
                 "erased")
    _named(wf, run_ready, "policy change 5 ends entry 2 (UA in-combat, in force since "
                          "2022-02-24) on 2000-01-01, not after its start")



def test_the_cli_says_a_planned_restriction_is_called_off_not_ended(wf, run_ready):
    wf.restrict("GB", "embargo", date(2027, 3, 1), reason="planned", actor="admin")
    done = run_ready("policy", "end", "GB", "--on", "2027-01-20", "--reason", "called off",
                     actor="admin")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == "GB: the embargo restriction planned from 2027-03-01 is called off\n"
    listed = run_ready("policy", "list", actor="admin").stdout
    [gb] = [line for line in listed.splitlines() if line.startswith("GB")]
    assert "2027-01-20 (called off)" in gb
    assert [r["until"] for r in wf.policy() if r["country"] == "GB"] == ["2027-01-20"]
    wf.restrict("GB", "in-combat", date(2026, 1, 1), reason="war", actor="admin")
    ended = run_ready("policy", "end", "GB", "--on", "2027-02-01", "--reason", "peace",
                      actor="admin")
    assert ended.stderr == "GB: 1 restriction ends on 2027-02-01\n"


def test_policy_end_kind_ends_only_that_restriction(wf, run_ready, db_target):
    """A ceasefire ends the in-combat restriction while the embargo stays."""
    wf.restrict("GB", "embargo", date(2025, 1, 1), reason="UNSC", actor="admin")
    wf.restrict("GB", "in-combat", date(2026, 1, 1), reason="war", actor="admin")
    ended = run_ready("policy", "end", "GB", "--on", "2027-02-01", "--kind", "in-combat",
                      "--reason", "ceasefire", "--json", actor="admin")
    assert ended.exit_code == 0, ended.stderr
    assert [(r["kind"], r["until"]) for r in json.loads(ended.stdout)] == [
        ("in-combat", "2027-02-01")]
    gb = {r["kind"]: r["until"] for r in wf.policy() if r["country"] == "GB"}
    assert gb == {"embargo": None, "in-combat": "2027-02-01"}
    [change] = [c for c in wf.policy_history() if c["action"] == "end"]
    assert (change["kind"], change["reason"]) == ("in-combat", "ceasefire")
    before = db_snapshot(db_target)
    again = run_ready("policy", "end", "GB", "--on", "2027-02-01", "--kind", "in-combat",
                      "--reason", "again", actor="admin")
    assert assert_one_line_error(again, 1) == (
        "error: GB has no in-combat restriction in force on 2027-02-01 or later")
    bad = run_ready("policy", "end", "GB", "--on", "2027-02-01", "--kind", "truce",
                    "--reason", "r", actor="admin")
    assert "truce" in assert_one_line_error(bad, 2)
    assert db_snapshot(db_target) == before
    with pytest.raises(InvalidInput, match="unknown restriction kind 'truce'"):
        wf.end_restriction("GB", "2027-03-01", kind="truce", reason="r", actor="admin")
    assert wf.end_restriction("GB", "2027-03-01", kind="embargo", reason="lifted",
                              actor="admin")[0]["kind"] == "embargo"
