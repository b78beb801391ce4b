"""Each history row names the roles its actor acted under, beside every role they held.

The history must answer "who, with which role": a person holding several roles acts under those
that admit them to the event, and the row keeps exactly those, hashed with the rest of it.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import pytest

from tests.conftest import (
    PATRIOT,
    audit_failure,
    draft,
    rewrite_history,
    rows_as_before_0009,
    to_state,
)
from tests.test_audit_features import cli_json
from workflow import Workflow
from workflow.audit import AuditFailure


def _last(wf: Workflow, ref: str) -> dict:
    return wf.history(ref)[-1]


def test_each_write_keeps_the_roles_that_admitted_its_actor(wf):
    ref = draft(wf, "duo")  # holds approver and drafter: drafts only as a drafter
    assert _last(wf, ref)["acted_as"] == ["drafter"]
    assert _last(wf, ref)["roles"] == ["approver", "drafter"]
    wf.edit(ref, actor="duo", note="checked twice")
    assert _last(wf, ref)["acted_as"] == ["drafter"]
    wf.fire(ref, "submit", actor="duo")
    assert _last(wf, ref)["acted_as"] == ["drafter"]  # as its drafter; being an approver is
    wf.fire(ref, "return", actor="ann", reason="consent instrument unclear")  # no permit to
    assert _last(wf, ref)["acted_as"] == ["approver"]


def test_someone_admitted_twice_over_is_named_under_both(wf):
    wf.add_user("ada", ["admin", "drafter"], actor="admin")
    ref = draft(wf, "ada")
    assert _last(wf, ref)["acted_as"] == ["drafter"]  # admins do not create
    wf.fire(ref, "submit", actor="ada")  # as its drafter and as an admin alike
    assert _last(wf, ref)["acted_as"] == ["admin", "drafter"]
    other = draft(wf, "dan")
    wf.fire(other, "submit", actor="ada")  # someone else's request: only as an admin
    assert _last(wf, other)["acted_as"] == ["admin"]


def test_history_prints_the_role_acted_under_and_the_others_held(wf, run_ready):
    wf.add_user("ada", ["admin", "approver"], actor="admin")
    ref = to_state(wf, "nsc_review")
    wf.fire(ref, "approve_for_us", actor="ada")
    lines = [line for line in run_ready("history", ref, actor="aud").stdout.splitlines()
             if line.startswith("#")]  # each row's first line
    assert lines[0].endswith("create: (none) -> drafted  by dan as drafter")
    assert lines[-1].endswith("approve_for_us: nsc_review -> approved_for_us  by ada as approver "
                              "(also holds admin)")
    rows = cli_json(run_ready, "history", ref)
    assert [r["acted_as"] for r in rows] == [["drafter"], ["drafter"], ["approver"]]
    assert cli_json(run_ready, "audit", "log", "--actor", "ada")[0]["acted_as"] == ["approver"]


@pytest.mark.parametrize("forged", ["'[\"admin\"]'", "NULL"])
def test_verify_names_a_row_whose_role_was_changed_or_removed(wf, forged):
    ref = to_state(wf, "approved_for_us")
    rewrite_history(wf, f"UPDATE wf_history SET acted_as = {forged} WHERE seq = 3")
    assert "row 3" in audit_failure(wf) and ref in audit_failure(wf)


def test_exports_carry_it_and_check_against_the_log(wf, run_ready, tmp_path):
    to_state(wf, "approved_for_us")
    for fmt in ("jsonl", "csv"):
        path = tmp_path / f"log.{fmt}"
        assert run_ready("audit", "export", "--format", fmt, "-o", str(path),
                         actor="aud").exit_code == 0
        checked = run_ready("audit", "check-export", str(path), actor="aud")
        assert checked.exit_code == 0, checked.stderr
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["acted_as"] for line in lines] == [
        ["drafter"], ["drafter"], ["approver"]]
    with (tmp_path / "log.csv").open(newline="") as source:
        assert [row["acted_as"] for row in csv.DictReader(source)] == [
            '["drafter"]', '["drafter"]', '["approver"]']


def test_rows_from_before_it_was_kept_verify_export_and_print_as_they_did(
        wf, run_ready, tmp_path, monkeypatch):
    with monkeypatch.context() as patched:
        rows_as_before_0009(patched)
        ref = wf.create(actor="dan", **PATRIOT)
    wf.fire(ref, "submit", actor="dan")
    created, submitted = wf.history(ref)
    assert "acted_as" not in created and submitted["acted_as"] == ["drafter"]
    assert wf.verify()["rows"] == 2
    assert run_ready("history", ref, actor="aud").stdout.splitlines()[0].endswith(
        "by dan (drafter)")
    path = tmp_path / "log.csv"
    assert run_ready("audit", "export", "--format", "csv", "-o", str(path),
                     actor="aud").exit_code == 0
    with path.open(newline="") as source:
        assert [row["acted_as"] for row in csv.DictReader(source)] == ["", '["drafter"]']
    assert run_ready("audit", "check-export", str(path), actor="aud").exit_code == 0


def test_an_export_written_before_the_column_existed_still_checks(
        wf, run_ready, tmp_path, monkeypatch):
    with monkeypatch.context() as patched:
        rows_as_before_0009(patched)
        to_state(wf, "nsc_review")
    path = tmp_path / "old.csv"
    assert run_ready("audit", "export", "--format", "csv", "-o", str(path),
                     actor="aud").exit_code == 0
    with path.open(newline="") as source:
        rows = list(csv.reader(source))
    with path.open("w", newline="") as out:  # the header and rows of the earlier export shape
        csv.writer(out, lineterminator="\n").writerows(row[:-1] for row in rows)
    manifest_path = Path(f"{path}.manifest.json")
    manifest = json.loads(manifest_path.read_text())
    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    checked = run_ready("audit", "check-export", str(path), actor="aud")
    assert checked.exit_code == 0, checked.stderr


@pytest.mark.parametrize("stored", ["null", "[]", "7", '[7, "approver"]'])
def test_a_role_list_that_is_not_one_is_named_even_with_its_hashes_redone(wf, run_ready, stored):
    """Stored, the roles acted under are a list of role names as the program writes it: a JSON
    null (which every other way of reading the row takes for no list at all), an empty list or
    anything else is named by verify, though whoever wrote it recomputed every hash after it,
    and the history still prints."""
    from sqlalchemy import update

    from workflow import ledger, merkle
    from workflow.models import History, LogHead

    ref = to_state(wf, "approved_for_us")
    cast = "" if wf.db.is_sqlite else "::json"
    rewrite_history(wf, f"UPDATE wf_history SET acted_as = '{stored}'{cast} WHERE seq = 3")
    frontier = merkle.Frontier()
    with wf.db.engine.begin() as conn:
        for row, _record, _leaf, _root in list(wf.db.scan.history()):
            row = {**row, "acted_as": json.loads(stored)} if row["seq"] == 3 else row
            leaf = ledger.row_leaf(row)
            frontier.append(leaf)
            conn.execute(update(History.__table__).where(History.__table__.c.seq == row["seq"])
                         .values(leaf_hash=leaf.hex(), root_hash=frontier.root().hex()))
        conn.execute(update(LogHead.__table__).values(
            size=frontier.size, frontier=[n.hex() for n in frontier.nodes]))
    assert "row 3" in audit_failure(wf)
    shown = run_ready("history", ref, actor="aud")
    assert shown.exit_code == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if line.startswith("#")]
    assert "by ann " in rows[-1]


@pytest.mark.parametrize("jobs", [1, 2])
def test_verify_names_a_role_the_process_does_not_admit_the_actor_under(wf, jobs):
    """Rewritten with every hash redone, a decision by an admin who is also an approver that
    claims to have been taken as the admin is named: approve_for_us admits only approvers (in
    worker processes too)."""
    from tests.test_tamper import reseal

    wf.add_user("ada", ["admin", "approver"], actor="admin")
    ref = to_state(wf, "nsc_review")
    wf.fire(ref, "approve_for_us", actor="ada")
    seq = _last(wf, ref)["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET acted_as = '[\"admin\"]' WHERE seq = {seq}")
    reseal(wf)
    with pytest.raises(AuditFailure) as caught:
        wf.verify(jobs=jobs)
    assert (caught.value.seq, caught.value.ref) == (seq, ref)
    assert ("it says its actor acted as admin, but approve_for_us admits someone holding admin, "
            "approver only as approver") in str(caught.value)


def _with_version_zero(wf: Workflow) -> Workflow:
    """The same database read by the process as it would be had it a version before this one,
    ``transfer-request/0``."""
    from dataclasses import replace

    target = str(wf.db.path) if wf.db.is_sqlite else wf.db.url
    return Workflow(target, process=replace(wf.process, earlier_versions=("transfer-request/0",)),
                    clock=wf.clock)


def test_rows_of_an_earlier_process_version_are_not_judged_by_this_ones_permits(wf):
    from tests.test_tamper import reseal

    ref = to_state(wf, "nsc_review")
    seq = _last(wf, ref)["seq"]
    rewrite_history(wf, "UPDATE wf_history SET process_version = 'transfer-request/0'")
    rewrite_history(wf, "UPDATE wf_history SET acted_as = '[\"drafter\", \"admin\"]' "
                        f"WHERE seq = {seq}")
    reseal(wf)
    earlier = _with_version_zero(wf)
    assert earlier.verify()["rows"] == seq
    earlier.close()


def test_rows_of_a_version_the_process_never_had_are_named_not_exempted(wf):
    """Labelled a version that never was, rows would escape this version's checks (a drafter
    approving his own request, acting as drafter): such a row is altered."""
    from tests.test_tamper import reseal

    ref = to_state(wf, "nsc_review")
    rewrite_history(wf, "UPDATE wf_history SET process_version = 'transfer-request/0'")
    rewrite_history(wf, "UPDATE wf_history SET acted_as = '[\"drafter\", \"admin\"]' "
                        f"WHERE seq = {_last(wf, ref)['seq']}")
    reseal(wf)
    first = wf.history(ref)[0]["seq"]
    for jobs in (1, 3):
        with pytest.raises(AuditFailure) as caught:
            wf.verify(jobs=jobs)
        assert (caught.value.seq, caught.value.ref) == (first, ref)
        assert ("it is of process version 'transfer-request/0', which the process never had "
                "(its versions: transfer-request/1)") in str(caught.value)


def test_a_row_of_an_earlier_process_version_after_rows_of_this_one_is_named(wf):
    from tests.test_tamper import reseal

    ref = to_state(wf, "nsc_review")
    seq = _last(wf, ref)["seq"]
    rewrite_history(wf, "UPDATE wf_history SET acted_as = '[\"drafter\", \"admin\"]', "
                        f"process_version = 'transfer-request/0' WHERE seq = {seq}")
    reseal(wf)
    earlier = _with_version_zero(wf)
    with pytest.raises(AuditFailure) as caught:
        earlier.verify()
    earlier.close()
    assert caught.value.seq == seq
    assert "another process version than transfer-request/1" in str(caught.value)
