"""What acts on the logs besides the program, and what a checkpoint and the clock pin down:
triggers or rules that are not the program's, a log head's tree altered, a change placed behind
a checkpoint that did not hold it, a row stamped ahead of the verifier's clock. On SQLite and
PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import text

from tests.conftest import assert_one_line_error, audit_failure, db_snapshot, draft
from tests.test_change_places import _forge
from workflow import Refused


def _plant(wf, sqlite: str, postgres: str) -> None:
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql(sqlite if wf.db.is_sqlite else postgres)


QUIET_REFUSALS = (
    "CREATE TRIGGER wf_refusal_quiet BEFORE INSERT ON wf_refusal WHEN NEW.actor = 'ann' "
    "BEGIN SELECT RAISE(IGNORE); END",
    "CREATE FUNCTION quiet() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
    "IF NEW.actor = 'ann' THEN RETURN NULL; END IF; RETURN NEW; END $$; "
    "CREATE TRIGGER wf_refusal_quiet BEFORE INSERT ON wf_refusal FOR EACH ROW "
    "EXECUTE FUNCTION quiet()")


def test_a_trigger_dropping_refusals_is_told_when_refusing_and_by_verify(wf, run_ready):
    _plant(wf, *QUIET_REFUSALS)
    with pytest.raises(Refused) as refused:
        wf.add_user("eve", ["admin"], actor="ann")
    assert "could not be recorded: the database dropped the refusal's record" in str(
        refused.value)
    assert wf.refusals() == []
    result = wf.verify()
    assert result["altered_protections"] == ["trigger wf_refusal_quiet on wf_refusal"]
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert ("warning: not the program's, or not as it made them (disabled, given a condition "
            "or rewritten): trigger wf_refusal_quiet on wf_refusal.") in shown.stdout


@pytest.mark.parametrize("how", ["condition", "disabled", "function"])
def test_an_append_only_trigger_made_to_refuse_nothing_is_named(wf, how):
    if wf.db.is_sqlite and how != "condition":
        pytest.skip("SQLite triggers have no switch or function of their own")
    assert wf.verify()["altered_protections"] == []
    statements = {
        "condition": ["DROP TRIGGER wf_history_no_update",
                      "CREATE TRIGGER wf_history_no_update BEFORE UPDATE ON wf_history WHEN 0 "
                      "BEGIN SELECT RAISE(ABORT, 'x'); END"] if wf.db.is_sqlite else
                     ["DROP TRIGGER wf_history_append_only ON wf_history",
                      "CREATE TRIGGER wf_history_append_only BEFORE TRUNCATE ON wf_history FOR "
                      "EACH STATEMENT EXECUTE FUNCTION wf_append_only()"],
        "disabled": ["ALTER TABLE wf_history DISABLE TRIGGER wf_history_append_only"],
        "function": ["CREATE OR REPLACE FUNCTION wf_append_only() RETURNS trigger LANGUAGE "
                     "plpgsql AS $$ BEGIN RETURN NULL; END $$"],
    }[how]
    with wf.db.engine.begin() as conn:
        for statement in statements:
            conn.exec_driver_sql(statement)
    named = wf.verify()["altered_protections"]
    if how == "function":  # every table's trigger calls it
        assert len(named) == 4 and "trigger wf_history_append_only on wf_history" in named
    else:
        kept = "wf_history_no_update" if wf.db.is_sqlite else "wf_history_append_only"
        assert named == [f"trigger {kept} on wf_history"]


def test_a_rule_on_a_log_table_is_named(wf):
    if wf.db.is_sqlite:
        pytest.skip("SQLite has no rules")
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE RULE drop_refusals AS ON INSERT TO wf_refusal "
                             "DO INSTEAD NOTHING")
    assert wf.verify()["altered_protections"] == ["rule drop_refusals on wf_refusal"]


def test_a_log_head_tree_altered_is_named_and_not_appended_to(wf, run_ready, db_target):
    for _ in range(3):
        draft(wf)  # 3 rows: a tree of two nodes
    with wf.db.engine.begin() as conn:
        stored = conn.execute(text("SELECT frontier FROM wf_log_head")).scalar_one()
        a, b = json.loads(stored) if isinstance(stored, str) else stored
        conn.execute(text("UPDATE wf_log_head SET frontier = :f"),
                     {"f": json.dumps([a + b[:2], b[2:]])})
    assert "the log head's tree, which the next row is appended to, is not the rows'" in (
        audit_failure(wf))
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready("request", "new", *_patriot(), actor="dan"), 1)
    assert "the log head's tree is not readable" in line and "nothing was written" in line
    assert db_snapshot(db_target) == before


def _patriot() -> list[str]:
    from tests.conftest import request_new_args

    return request_new_args()[2:]


def test_a_change_made_after_a_checkpoint_cannot_claim_a_place_before_it(wf, tmp_path):
    for _ in range(3):
        draft(wf)
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps(wf.checkpoint()))
    draft(wf)
    wf.add_user("late", ["auditor"], actor="admin")  # after row 4
    assert wf.verify(since=checkpoint)["consistency"]["checkpoint_user_changes"] == 8
    _forge(wf, "wf_user_change", "UPDATE wf_user_change SET after_row = 2 WHERE name = 'late'")
    assert wf.verify()["rows"] == 4  # without the checkpoint, nothing tells
    with pytest.raises(Exception, match="user change 9 came after the checkpoint of 8 user "
                                        "changes but says it came after history row 2"):
        wf.verify(since=checkpoint)


def test_a_row_stamped_ahead_of_the_verifiers_clock_is_warned_of(wf, clock, run_ready):
    draft(wf)
    assert wf.verify()["stamped_ahead"] is None
    clock.now += timedelta(days=40)
    draft(wf)  # a writer whose clock runs forty days ahead
    clock.now -= timedelta(days=40)
    ahead = wf.verify()["stamped_ahead"]
    assert ahead["seq"] == 2 and ahead["at"].startswith("2027-01-04")
    shown = run_ready("audit", "verify", actor="aud")
    assert shown.exit_code == 0
    assert "warning: row 2 is stamped 2027-01-04" in shown.stdout
    assert "more than a day after this clock (2026-11-25" in shown.stdout


def test_an_empty_logs_head_tree_altered_fails_verify(run, clock):
    from workflow import Workflow

    assert run("init", actor="admin").exit_code == 0
    wf = Workflow(run.target, clock=clock)
    with wf.db.engine.begin() as conn:
        conn.execute(text("UPDATE wf_log_head SET frontier = :f"),
                     {"f": json.dumps(["ab" * 32])})
    assert "the log head's tree, which the next row is appended to, is not the rows'" in (
        audit_failure(wf))
    wf.close()


def test_a_policy_change_made_after_a_checkpoint_cannot_claim_a_place_before_it(wf, tmp_path):
    from datetime import date

    for _ in range(2):
        draft(wf)
    checkpoint = tmp_path / "cp.json"
    checkpoint.write_text(json.dumps(wf.checkpoint()))
    draft(wf)
    wf.restrict("CN", "embargo", date(2026, 1, 1), reason="test", actor="admin")  # after row 3
    _forge(wf, "wf_policy_change", "UPDATE wf_policy_change SET after_row = 1 "
           "WHERE subject = 'CN'")
    with pytest.raises(Exception, match="policy change 5 came after the checkpoint of 4 policy "
                                        "changes but says it came after history row 1"):
        wf.verify(since=checkpoint)


def test_verify_json_gives_the_warnings(wf, run_ready):
    draft(wf)
    _plant(wf, *QUIET_REFUSALS)
    shown = run_ready("audit", "verify", "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    result = json.loads(shown.stdout)
    assert result["altered_protections"] == ["trigger wf_refusal_quiet on wf_refusal"]
    assert (result["stamped_ahead"], result["missing_protections"]) == (None, [])
