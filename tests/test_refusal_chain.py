"""The refusal log is tamper-evident too: a chain of links, the last one kept in the log head."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import assert_one_line_error, draft
from workflow import Refused
from workflow.audit import AuditFailure


def _refuse_three_times(wf) -> str:
    ref = draft(wf)
    for actor, event in (("ann", "submit"), ("dan", "approve_for_us"), ("rita", "withdraw")):
        with pytest.raises(Refused):
            wf.fire(ref, event, actor=actor, reason="x")
    return ref


def _without_triggers(wf, *statements: str) -> None:
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            conn.execute(text("DROP TRIGGER wf_refusal_no_update"))
            conn.execute(text("DROP TRIGGER wf_refusal_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER wf_refusal_append_only ON wf_refusal"))
        for statement in statements:
            conn.execute(text(statement))


def test_refusals_are_chained_and_counted_by_verify(wf):
    _refuse_three_times(wf)
    assert wf.verify()["refusals"] == 3
    assert [r["event"] for r in wf.refusals()] == ["submit", "approve_for_us", "withdraw"]


def _planted(wf, seq: int) -> None:
    with wf.db.engine.begin() as conn:
        conn.execute(text("INSERT INTO wf_refusal (seq, at, actor, ref, event, state, rule, "
                          f"message) VALUES ({seq}, '2026-11-25 10:00:00', 'sato', "
                          "'TR-2026-0001', 'approve', 'drafted', 'role', 'planted')"))


def test_a_refusal_outside_the_chain_before_it_is_counted_and_warned_of(wf, run_ready):
    """A row without a link numbered before the chain (as those an early upgrade left) is not
    in the chain, so nothing vouches for it: verify says how many there are rather than
    passing over them in silence."""
    _refuse_three_times(wf)
    assert wf.verify()["unchained_refusals"] == 0
    _planted(wf, 0)
    result = wf.verify()
    assert (result["refusals"], result["unchained_refusals"]) == (3, 1)
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert "warning: 1 more refusal outside the chain" in shown.stdout


@pytest.mark.parametrize("how", ["planted", "unlinked"])
def test_a_refusal_outside_the_chain_after_refusals_in_it_fails_verify(wf, run_ready, how):
    """The program chains every refusal it records: one without a link numbered after the
    chain began was planted, or taken out of the chain (its head wound back to match)."""
    _refuse_three_times(wf)
    if how == "planted":
        _planted(wf, 99)
    else:
        _without_triggers(wf, "UPDATE wf_refusal SET chain = NULL WHERE seq = 3",
                          "UPDATE wf_log_head SET refusals = 2, refusal_chain = "
                          "(SELECT chain FROM wf_refusal WHERE seq = 2)")
    taken = 99 if how == "planted" else 3
    line = assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)
    assert (f"refusal {taken} is outside the refusal chain, yet numbered after refusals in it"
            in line)


@pytest.mark.parametrize("statement", [
    "DELETE FROM wf_refusal WHERE seq = 2",
    "UPDATE wf_refusal SET rule = 'role' WHERE seq = 2",
    "UPDATE wf_refusal SET actor = 'someone' WHERE seq = 1",
])
def test_an_altered_or_removed_refusal_is_found(wf, run_ready, statement):
    _refuse_three_times(wf)
    _without_triggers(wf, statement)
    with pytest.raises(AuditFailure, match="does not follow from the refusals before it"):
        wf.verify()
    assert "refusal" in assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)


def test_a_cut_off_tail_of_refusals_is_found(wf):
    _refuse_three_times(wf)
    _without_triggers(wf, "DELETE FROM wf_refusal WHERE seq = 3")
    with pytest.raises(AuditFailure, match="holds 2 chained refusals but its head records 3"):
        wf.verify()
