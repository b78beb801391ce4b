"""`audit verify` holds every history row to the process and to the users, not only to its hash.

Someone who can write the database and recompute every hash (with no checkpoint to betray them)
can still not make a history the process could not have written: a request reopened after a
final decision, an event the process does not have, a step skipped, an actor nobody registered,
roles a user never held, a row no longer keeping the roles acted under.
"""

from __future__ import annotations

import json

from tests.conftest import as_attacker, audit_failure, rewrite_history, to_state
from tests.test_tamper import reseal
from workflow import Workflow


def _append(wf: Workflow, ref: str, event: str, source: str | None, dest: str,
            actor: str = "ann", roles: str = '["approver"]',
            acted_as: str = '["approver"]') -> int:
    """A row forged after the request's last one (the last of the log), the request moved to
    match it, every hash recomputed; its number."""
    seq = wf.history(ref)[-1]["seq"]
    source_sql = "NULL" if source is None else f"'{source}'"
    as_attacker(wf, "wf_history", (
        "INSERT INTO wf_history (seq, record_id, ref, event, from_state, to_state, actor, "
        "roles, at, reason, changes, consulted, process_version, leaf_hash, root_hash, "
        f"acted_as) SELECT seq + 1, record_id, ref, '{event}', {source_sql}, '{dest}', "
        f"'{actor}', '{roles}', at, reason, changes, consulted, process_version, leaf_hash, "
        f"root_hash, '{acted_as}' FROM wf_history WHERE seq = {seq}"))
    as_attacker(wf, "wf_record", f"UPDATE wf_record SET state = '{dest}', version = version + 1 "
                                 f"WHERE ref = '{ref}'")
    reseal(wf)
    return seq + 1


def test_a_history_the_process_wrote_passes(wf):
    for state in ("drafted", "withdrawn", "denied", "approved"):
        to_state(wf, state)
    assert wf.verify()["records"] == 4


def test_a_row_leaving_a_state_its_request_was_not_in_is_named(wf):
    ref = to_state(wf, "denied")
    seq = _append(wf, ref, "approve_for_us", "nsc_review", "approved_for_us")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it says {ref} left nsc_review, but its row before left it denied")


def test_a_final_decision_reopened_is_named(wf):
    ref = to_state(wf, "denied")
    seq = _append(wf, ref, "approve_for_us", "denied", "approved_for_us")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): approve_for_us does not apply from denied (only from nsc_review)")


def test_an_event_the_process_does_not_have_is_named(wf):
    ref = to_state(wf, "denied")
    seq = _append(wf, ref, "force", "denied", "approved")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): its event force is not one of the process's")


def test_a_step_skipped_is_named(wf):
    ref = to_state(wf, "nsc_review")
    seq = _append(wf, ref, "approve_for_us", "nsc_review", "approved")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): approve_for_us leads to approved_for_us, but the row says approved")


def test_an_edit_outside_the_drafting_states_is_named(wf):
    ref = to_state(wf, "nsc_review")
    seq = _append(wf, ref, "edit", "nsc_review", "nsc_review", "dan", '["drafter"]',
                  '["drafter"]')
    assert f"row {seq} ({ref}): it edits the request from nsc_review to nsc_review" in (
        audit_failure(wf))


def test_a_drafting_into_another_state_is_named(wf):
    ref = to_state(wf, "drafted")
    seq = wf.history(ref)[0]["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET to_state = 'approved' WHERE seq = {seq}")
    as_attacker(wf, "wf_record", f"UPDATE wf_record SET state = 'approved' WHERE ref = '{ref}'")
    reseal(wf)
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it drafts the request from nothing into approved; the process "
        "drafts into drafted")


def test_an_actor_nobody_registered_is_named(wf):
    ref = to_state(wf, "nsc_review")
    seq = _append(wf, ref, "approve_for_us", "nsc_review", "approved_for_us", "ghost")
    assert audit_failure(wf).endswith(f"row {seq} ({ref}): its actor ghost is no registered user")


def test_roles_the_actor_never_held_are_named(wf):
    ref = to_state(wf, "nsc_review")
    seq = _append(wf, ref, "approve_for_us", "nsc_review", "approved_for_us", "dan")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it says dan held approver, but the user log gives dan drafter "
        "after row 0")


def test_roles_the_actor_never_held_are_named_where_changes_keep_no_place(
        unplaced_changes, wf):
    ref = to_state(wf, "nsc_review")
    seq = _append(wf, ref, "approve_for_us", "nsc_review", "approved_for_us", "dan")
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it says dan held approver, but dan holds drafter")


def test_a_row_dropping_the_roles_acted_under_after_rows_keeping_them_is_named(wf):
    first = to_state(wf, "nsc_review")
    ref = to_state(wf, "nsc_review")
    seq = wf.history(ref)[-1]["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET acted_as = NULL WHERE seq = {seq}")
    reseal(wf)
    failure = audit_failure(wf)
    assert failure.endswith(f"row {seq} ({ref}): it does not keep the roles its actor acted "
                            f"under, as every row from row 1 on does")
    assert first != ref


def test_verify_names_it_on_the_command_line(wf, run_ready):
    ref = to_state(wf, "denied")
    seq = _append(wf, ref, "approve_for_us", "denied", "approved_for_us")
    result = run_ready("audit", "verify", actor="aud")
    assert result.exit_code == 1
    assert f"row {seq} ({ref}): approve_for_us does not apply from denied" in result.output


def test_each_row_keeps_its_place_in_its_requests_history(wf):
    ref = to_state(wf, "nsc_review")
    wf.fire(ref, "return", actor="rita", reason="incomplete")
    wf.edit(ref, actor="dan", quantity=8)
    assert [row["version"] for row in wf.history(ref)] == [1, 2, 3, 4]
    assert wf.get(ref)["version"] == 4


def test_a_row_miscounting_its_place_is_named(wf):
    ref = to_state(wf, "nsc_review")
    seq = wf.history(ref)[-1]["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET version = 5 WHERE seq = {seq}")
    reseal(wf)
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it counts itself {ref}'s row 5, but it is its row 2")


def test_a_row_dropping_its_place_after_rows_keeping_it_is_named(wf):
    to_state(wf, "nsc_review")
    ref = to_state(wf, "nsc_review")
    seq = wf.history(ref)[-1]["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET version = NULL WHERE seq = {seq}")
    reseal(wf)
    assert audit_failure(wf).endswith(
        f"row {seq} ({ref}): it does not keep its request's version, as every row from row 1 "
        "on does")


def test_check_proof_says_when_its_rows_do_not_count_their_place(wf, run_ready, tmp_path,
                                                                 monkeypatch):
    """Rows written before revision 0010 carry no count: check-proof can then show only the
    state each row left, and says so."""
    from tests.conftest import rows_as_before_0010
    from tests.test_audit_features import _checkpoint, _prove, check_proof

    with monkeypatch.context() as patched:
        rows_as_before_0010(patched)
        ref = to_state(wf, "nsc_review")
    _checkpoint(run_ready, tmp_path / "cp.json")
    _prove(run_ready, ref, tmp_path / "cp.json", tmp_path / "proof.json")
    result = check_proof(tmp_path / "proof.json")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith(f"ok: 2 rows of {ref} are in the log of 2 rows")
    assert "before rows kept their request's version (revision 0010)" in result.stderr
    assert json.loads(check_proof(tmp_path / "proof.json", "--json").stdout)["counted"] is False
    wf.fire(ref, "return", actor="rita", reason="incomplete")
    _checkpoint(run_ready, tmp_path / "cp2.json")
    _prove(run_ready, ref, tmp_path / "cp2.json", tmp_path / "proof2.json")
    result = check_proof(tmp_path / "proof2.json")
    assert result.exit_code == 0 and "revision 0010" not in result.stderr


def test_an_event_that_sets_a_field_it_does_not_declare_is_a_programming_error():
    """What an event's effect sets is declared (Event.sets), as verification reads it: an
    effect beyond its declaration stops the firing rather than write a row verify refuses."""
    from dataclasses import replace
    from datetime import date
    from types import SimpleNamespace

    import pytest

    from states import PROCESS
    from workflow.writes import _effect

    defer = PROCESS.event("defer")
    ctx = SimpleNamespace(args={"decision_date": date(2027, 6, 1)})
    assert _effect(defer, ctx) == {"decision_date": date(2027, 6, 1)}  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="defer sets decision_date but declares no field"):
        _effect(replace(defer, sets=()), ctx)  # type: ignore[arg-type]
    assert PROCESS.admission()["sets"]["defer"] == ["decision_date"]
    assert PROCESS.admission()["sets"]["approve"] == []


def test_an_event_declaring_a_field_the_process_lacks_is_refused_when_loaded():
    from dataclasses import replace

    import pytest

    from states import PROCESS

    defer = replace(PROCESS.event("defer"), sets=("decision_dat",))
    with pytest.raises(ValueError, match="defer sets decision_dat, which is no field"):
        replace(PROCESS, events=(*PROCESS.events[:-1], defer))
