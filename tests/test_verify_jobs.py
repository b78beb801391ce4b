"""`audit verify` split over worker processes gives the sequential verdict, on both databases.

test_tamper.py checks every kind of tampering with the work split in three; here: how rows are
split, a clean log, progress, a failure in the records pass, and the CLI option.
"""

from __future__ import annotations

import json
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from tests.conftest import assert_one_line_error, draft, rewrite_history, to_state
from workflow import Refused, audit, verify_jobs
from workflow.models import Record


@given(size=st.integers(1, 10_000), jobs=st.integers(1, 64))
def test_ranges_cover_every_row_once(size, jobs):
    parts = verify_jobs.ranges(size, jobs)
    assert len(parts) == min(size, jobs)
    assert parts[0][0] == 1
    assert parts[-1][1] == size
    for start, last in parts:
        assert start <= last
    for (_, last), (following, _) in pairwise(parts):
        assert following == last + 1


def _log(wf):
    refs = [draft(wf) for _ in range(3)]
    refs.append(to_state(wf, "approved_for_us"))
    refs.append(to_state(wf, "denied"))
    return refs


@pytest.mark.parametrize("jobs", [2, 3, 5])
def test_a_clean_log_verifies_the_same_split_or_not(wf, jobs):
    _log(wf)
    alone = wf.verify(jobs=1)
    seen: list[int] = []
    split = wf.verify(jobs=jobs, progress=seen.append)
    assert split == alone
    assert sum(seen) == alone["rows"]


def test_a_record_changed_behind_the_history_is_named_by_the_records_worker(wf):
    refs = _log(wf)
    with wf.db.engine.begin() as conn:
        conn.execute(update(Record.__table__).where(  # type: ignore[attr-defined]
            Record.ref == refs[3]).values(state="drafted"))
    with pytest.raises(audit.AuditFailure) as alone:
        wf.verify(jobs=1)
    with pytest.raises(audit.AuditFailure) as split:
        wf.verify(jobs=2)
    assert str(split.value) == str(alone.value)
    assert refs[3] in str(split.value)


def test_the_cli_takes_a_number_of_jobs(wf, run_ready):
    _log(wf)
    result = run_ready("audit", "verify", "--jobs", "2", "--json", actor="aud")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == wf.verify(jobs=1)


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_the_cli_refuses_a_bad_number_of_jobs(wf, run_ready, value):
    line = assert_one_line_error(run_ready("audit", "verify", "--jobs", value, actor="aud"), 2)
    assert "--jobs" in line


def test_a_small_log_is_checked_in_process_by_default(wf, monkeypatch):
    _log(wf)

    def no_workers(*_args, **_kwargs):
        raise AssertionError("workers started for a small log")

    monkeypatch.setattr(verify_jobs, "run", no_workers)
    assert wf.verify()["rows"] > 0
    monkeypatch.setattr(audit, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(audit.os, "cpu_count", lambda: 4)
    with pytest.raises(AssertionError, match="workers started"):
        wf.verify()


@pytest.mark.parametrize("jobs", [1, 2])
def test_writers_going_on_during_verify_raise_no_false_alarm(wf, jobs):
    """Rows, refusals and record changes committed while verify runs are not alarms: it checks
    the log as its head stood when it started, and each record against its own history."""
    refs = _log(wf)
    before = wf.verify(jobs=1)
    waiting = [draft(wf) for _ in range(2)]
    start = wf.verify(jobs=1)

    def meanwhile(_count: int) -> None:
        if waiting:
            wf.fire(waiting.pop(), "submit", actor="dan")
        with pytest.raises(Refused):
            wf.fire(refs[0], "approve_for_us", actor="dan")

    result = wf.verify(jobs=jobs, progress=meanwhile)
    assert result["rows"] == start["rows"] == before["rows"] + 2
    assert result["refusals"] == start["refusals"]
    after = wf.verify(jobs=1)
    assert after["rows"] > result["rows"]
    assert after["refusals"] > result["refusals"]


def _same_failure(wf) -> audit.AuditFailure:
    """The failure named alone and split in three, which must be the same."""
    with pytest.raises(audit.AuditFailure) as alone:
        wf.verify(jobs=1)
    with pytest.raises(audit.AuditFailure) as split:
        wf.verify(jobs=3)
    assert str(split.value) == str(alone.value)
    return alone.value


def test_a_moment_that_is_no_moment_is_named_as_an_altered_row(wf):
    if not wf.db.is_sqlite:
        pytest.skip("PostgreSQL stores only real moments")
    refs = _log(wf)
    rewrite_history(wf, "UPDATE wf_history SET at = 'not a moment' WHERE seq = 4")
    failure = _same_failure(wf)
    assert (failure.seq, failure.ref) == (4, refs[3])
    assert "altered" in str(failure)


def test_unreadable_stored_fields_are_named_by_request(wf):
    if not wf.db.is_sqlite:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    refs = _log(wf)
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE wf_record SET data = '{{broken' WHERE ref = '{refs[1]}'")
    failure = _same_failure(wf)
    assert failure.ref == refs[1]
    assert "stored fields are not readable" in str(failure)


def test_a_row_moved_to_another_request_is_named(wf):
    """The record id is not part of a row's hashed content: the records pass checks it."""
    refs = _log(wf)
    moved = wf.history(refs[3])[-1]["seq"]
    rewrite_history(wf, f"UPDATE wf_history SET record_id = (SELECT id FROM wf_record WHERE ref = "
                f"'{refs[0]}') WHERE seq = {moved}")
    failure = _same_failure(wf)
    assert failure.seq == moved
    assert f"names {refs[3]} but is filed under {refs[0]}" in str(failure)
    assert [r["seq"] for r in wf.history(refs[0])] == [1]


def test_the_cli_caps_the_number_of_jobs(wf, run_ready):
    line = assert_one_line_error(run_ready("audit", "verify", "--jobs", "33", actor="aud"), 2)
    assert "--jobs" in line


def test_a_deleted_log_head_fails_verification(wf, run_ready):
    _log(wf)
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM wf_log_head")
    with pytest.raises(audit.AuditFailure, match="the log head is missing"):
        wf.verify()
    line = assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)
    assert "log head is missing" in line
