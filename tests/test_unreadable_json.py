"""JSON stored behind the program's back that cannot be decoded (broken, or nested past what a
decoder follows) is a verdict in `audit verify` and a one-line error elsewhere, never a crash.
On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import assert_one_line_error, draft, reseal_from_text, rewrite_history

DEEP = '{"note":[null,' + "[" * 3000 + "]" * 3000 + "]}"


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_json_nested_past_the_decoder_is_named_by_verify(wf, run_ready, jobs):
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, f"UPDATE wf_history SET changes = '{DEEP}' WHERE seq = 2")
    reseal_from_text(wf)
    line = assert_one_line_error(run_ready("audit", "verify", "--jobs", jobs, actor="aud"), 1)
    assert "audit failed: row 2 (TR-2026-0001)" in line
    assert "not readable" in line


@pytest.mark.parametrize("changes", [DEEP, '{"note":[null,'], ids=["deep", "broken"])
@pytest.mark.parametrize("argv", [("history", "TR-2026-0001"), ("audit", "log"),
                                  ("request", "list", "--as-of", "2030-01-01")])
def test_reading_unreadable_json_is_one_line(wf, run_ready, db_target, changes, argv):
    if "postgresql" in db_target and changes != DEEP:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, f"UPDATE wf_history SET changes = '{changes}' WHERE seq = 2")
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 1)
    assert "a JSON value stored in the database is not readable" in line


def test_a_user_whose_stored_roles_are_unreadable_is_one_line(wf, run_ready, db_target):
    if "postgresql" in db_target:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_user SET roles = 'x' WHERE name = 'dora'"))
    line = assert_one_line_error(run_ready("user", "list", actor="aud"), 1)
    assert "not readable" in line


def test_a_row_slipped_in_past_the_head_is_named_for_lying_beyond_it(wf, run_ready):
    ref = draft(wf)
    with wf.db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO wf_history (seq, record_id, ref, event, from_state, to_state, actor, "
            "roles, at, reason, changes, consulted, process_version, leaf_hash, root_hash, "
            "acted_as, version) SELECT 2, id, ref, 'withdraw', 'drafted', 'withdrawn', 'dan', "
            "'[\"drafter\"]', created_at, 'x', '{}', '{}', 'transfer-request/1', :z, :z, "
            "'[\"drafter\"]', 2 FROM wf_record WHERE ref = :ref"), {"z": "0" * 64, "ref": ref})
    line = assert_one_line_error(run_ready("audit", "verify", actor="aud"), 1)
    assert ("row 2 (TR-2026-0001): it lies beyond the 1 rows the log head counts (appended "
            "without the log head), and its content does not match its leaf hash") in line


def test_verify_warns_of_append_only_triggers_dropped(wf, run_ready, db_target):
    draft(wf)
    assert wf.verify()["missing_protections"] == []
    rewrite_history(wf, "SELECT 1")  # drops the history's trigger against updates
    dropped = ("wf_history_no_update" if "postgresql" not in db_target
               else "wf_history_append_only")
    assert wf.verify()["missing_protections"] == [dropped]
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert f"warning: the append-only trigger {dropped} is missing (dropped): the database no " \
        "longer refuses changes to that log in place" in shown.stdout


@pytest.mark.parametrize("changes", ['["note"]', '"note"', "7"], ids=["list", "text", "number"])
def test_changes_that_are_no_object_are_not_readable_to_verify(wf, changes):
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, f"UPDATE wf_history SET changes = '{changes}' WHERE seq = 2")
    reseal_from_text(wf)
    with pytest.raises(Exception) as failed:
        wf.verify(jobs=1)
    assert str(failed.value) == ("audit failed: row 2 (TR-2026-0001): its changes are not "
                                 "readable (the row was altered)")


@pytest.mark.parametrize("argv", [("history", "TR-2026-0001"), ("audit", "log", "--json"),
                                  ("audit", "report"),
                                  ("request", "show", "TR-2026-0001", "--as-of", "2030-01-01")])
def test_a_moment_stored_as_no_moment_is_one_line(wf, run_ready, db_target, argv):
    if "postgresql" in db_target:
        pytest.skip("PostgreSQL stores only real moments")
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, "UPDATE wf_history SET at = '2026-11-25 soon' WHERE seq = 1")
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 1)
    assert line == ("error: a moment stored in the database is not readable (changed behind "
                    "the program: `workflow audit verify` names where)")


@pytest.mark.parametrize("changes", ['["note"]', '{"note": "x"}', '{"note": [1, 2, 3]}'],
                         ids=["list", "no-pair", "three"])
@pytest.mark.parametrize("argv", [("history", "TR-2026-0001"), ("audit", "log"),
                                  ("request", "show", "TR-2026-0001", "--as-of", "2030-01-01"),
                                  ("request", "list", "--as-of", "2030-01-01")])
def test_changes_that_are_no_pairs_are_one_line_to_every_reader(wf, run_ready, changes, argv):
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, f"UPDATE wf_history SET changes = '{changes}' WHERE seq = 2")
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 1)
    assert line == ("error: a history row's changes stored in the database are not readable "
                    "(changed behind the program: `workflow audit verify` names where)")
