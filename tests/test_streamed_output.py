"""`history` and `audit log` print their rows as they read them, so memory stays flat however
long the log: the JSON is the same document as printed whole, the text the same trail. A failure
before a pipe's buffer is full leaves stdout empty, as before. On SQLite and PostgreSQL."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from tests.conftest import assert_one_line_error, draft, rewrite_history
from tests.samples import PATRIOT
from workflow import Refused, Workflow

SHAPES = [{"a": [1, {"b": "two\nlines"}], "c": None, "d": "é"}, {}, [], {"z": {"y": []}}, 7,
          "text"]


@pytest.mark.parametrize("count", range(len(SHAPES) + 1))
def test_items_print_as_the_whole_list_does(count):
    from cli.output import emit_json, emit_json_items

    printed: list[str] = []

    @click.command()
    @click.argument("how")
    def show(how: str) -> None:
        if how == "items":
            printed.append(str(emit_json_items(iter(SHAPES[:count]))))
        else:
            emit_json(SHAPES[:count])

    items = CliRunner().invoke(show, ["items"]).output
    assert items == CliRunner().invoke(show, ["whole"]).output
    assert json.loads(items) == SHAPES[:count]
    assert printed == [str(count)]


@pytest.fixture
def long_log(wf: Workflow) -> Workflow:
    """More rows than a pipe's buffer holds when printed."""
    refs = wf.create_many([PATRIOT] * 150, actor="dan")
    wf.fire_many([{"ref": ref, "event": "submit"} for ref in refs], actor="dan")
    return wf


def test_a_long_log_prints_whole_in_json_and_text(long_log, run_ready):
    shown = run_ready("audit", "log", "--json", actor="aud")
    assert shown.exit_code == 0, shown.stderr
    assert len(shown.stdout) > 1 << 16
    assert json.loads(shown.stdout) == long_log.log()
    text = run_ready("audit", "log", actor="aud")
    assert text.exit_code == 0, text.stderr
    firsts = [line for line in text.stdout.splitlines() if line.startswith("#")]
    assert len(firsts) == 300
    assert firsts[-1].startswith("#300 ") and "TR-2026-0150  submit: drafted -> nsc_review" in (
        firsts[-1])
    assert text.stdout.count("      process: transfer-request/1") == 1


def test_the_rows_are_read_as_they_are_asked_for(long_log):
    rows = long_log.log_rows(event="submit")
    assert next(rows)["seq"] == 151
    assert sum(1 for _ in rows) == 149
    with pytest.raises(Exception, match="unknown event"):
        long_log.log_rows(event="launch")  # the filters are checked at once


def test_a_row_unreadable_past_the_first_buffer_ends_the_output_with_one_error(
        long_log, run_ready, db_target):
    if "postgresql" in db_target:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    rewrite_history(long_log, "UPDATE wf_history SET changes = '{\"note\":[null,' "
                              "WHERE seq = 300")
    shown = run_ready("audit", "log", "--json", actor="aud")
    assert shown.exit_code == 1
    assert shown.stdout.startswith("[\n") and not shown.stdout.endswith("]\n")
    assert shown.stderr.splitlines() == [
        "error: a JSON value stored in the database is not readable (changed behind the "
        "program: `workflow audit verify` names where)"]


def test_a_row_unreadable_early_leaves_stdout_empty(wf, run_ready, db_target):
    if "postgresql" in db_target:
        pytest.skip("PostgreSQL refuses to store broken JSON")
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, "UPDATE wf_history SET changes = '{\"note\":[null,' WHERE seq = 2")
    for argv in (("history", ref), ("audit", "log", "--json")):
        assert_one_line_error(run_ready(*argv, actor="aud"), 1)


def test_request_list_reads_a_record_at_a_time_and_prints_them_all(long_log, run_ready):
    rows = long_log.list_rows(state="nsc_review")
    assert next(rows)["ref"] == "TR-2026-0001"
    assert sum(1 for _ in rows) == 149
    with pytest.raises(Exception, match="unknown state"):
        long_log.list_rows(state="limbo")  # checked at once
    shown = run_ready("request", "list", "--json", actor="aud")
    assert json.loads(shown.stdout) == long_log.list()
    assert len(long_log.list()) == 150
    text = run_ready("request", "list", "--state", "nsc_review", actor="aud").stdout
    lines = text.splitlines()
    assert len(lines) == 151 and lines[0].startswith("REF ")
    assert len({len(line.split("  ")[0]) for line in lines[1:]}) == 1  # one column width


def test_what_was_true_then_is_rebuilt_a_record_at_a_time(long_log, run_ready, clock):
    moment = clock.now.isoformat()
    rows = long_log.list_as_of_rows(moment, state="nsc_review")
    assert next(rows)["ref"] == "TR-2026-0001"
    assert sum(1 for _ in rows) == 149
    with pytest.raises(Exception, match="unknown state"):
        long_log.list_as_of_rows(moment, state="limbo")  # checked at once
    with pytest.raises(Exception, match="as_of"):
        long_log.list_as_of_rows("not a moment")
    shown = run_ready("request", "list", "--as-of", moment, "--json", actor="aud")
    assert json.loads(shown.stdout) == long_log.list_as_of(moment)
    assert [r["state"] for r in json.loads(shown.stdout)] == ["nsc_review"] * 150
    assert long_log.report()["states"]["nsc_review"]["requests"] == 150


def test_refusals_are_read_one_at_a_time(wf, run_ready):
    ref = draft(wf)
    for _ in range(3):
        with pytest.raises(Refused):
            wf.fire(ref, "submit", actor="rita")
    rows = wf.refusals_rows(actor="rita")
    assert next(rows)["seq"] == 1
    assert sum(1 for _ in rows) == 2
    with pytest.raises(Exception, match="since"):
        wf.refusals_rows(since="yesterday")  # checked at once
    shown = run_ready("audit", "refusals", "--json", actor="aud")
    assert json.loads(shown.stdout) == wf.refusals()
    text = run_ready("audit", "refusals", "--actor", "nobody", actor="aud")
    assert (text.stdout, text.stderr) == ("", "no refusals\nnote: no user is named 'nobody'\n")


def test_a_list_read_in_chunks_sees_one_state_of_the_database(wf, db_target, clock):
    refs = [draft(wf) for _ in range(3)]
    other = Workflow(db_target, clock=clock)
    try:
        with wf.db.fast.reading() as tx:
            records = tx.each_record(chunk=1)
            assert next(records).ref == refs[0]
            other.fire(refs[1], "submit", actor="dan")  # committed meanwhile
            assert [(r.ref, r.state) for r in records] == [(refs[1], "drafted"),
                                                           (refs[2], "drafted")]
        assert wf.list()[1]["state"] == "nsc_review"
    finally:
        other.close()


def test_the_output_goes_out_a_pipe_buffer_at_a_time_whatever_the_pieces(monkeypatch):
    from cli import output

    sent: list[str] = []
    monkeypatch.setattr(output.click, "echo", lambda text, nl=True: sent.append(text))
    pieces = ["x" * 70_000, "y" * 10, "z" * 200_000, "w"]
    with output.streamed() as write:
        for piece in pieces:
            write(piece)
    assert "".join(sent) == "".join(pieces)
    assert max(map(len, sent)) == output.CHUNK
    with pytest.raises(RuntimeError), output.streamed() as write:
        write("short")
        raise RuntimeError
    assert "".join(sent) == "".join(pieces)  # what was held back is dropped


def test_records_are_listed_whatever_their_ids(wf, db_target):
    if "postgresql" in db_target:
        pytest.skip("the ids are moved with SQLite's deferred foreign keys")
    refs = [draft(wf) for _ in range(3)]
    with wf.db.engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # both sides moved by commit
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS wf_history_no_update")
        for old, new in ((1, 0), (2, -5)):
            conn.exec_driver_sql(f"UPDATE wf_record SET id = {new} WHERE id = {old}")
            conn.exec_driver_sql(f"UPDATE wf_history SET record_id = {new} "
                                 f"WHERE record_id = {old}")
    assert [r["ref"] for r in wf.list()] == [refs[1], refs[0], refs[2]]
    with wf.db.fast.reading() as tx:
        assert len(list(tx.each_record(chunk=1))) == 3
    assert len(wf.actionable("dan")) == 3


def test_the_report_reads_no_changes_and_so_stands_a_row_whose_changes_are_no_pairs(
        wf, run_ready):
    ref = draft(wf)
    wf.edit(ref, actor="dan", note="x")
    rewrite_history(wf, "UPDATE wf_history SET changes = '[]' WHERE seq = 2")
    assert wf.report()["requests"][0]["ref"] == ref
    assert run_ready("audit", "report", actor="aud").exit_code == 0
    line = assert_one_line_error(run_ready("request", "list", "--as-of", "2030-01-01",
                                           actor="aud"), 1)
    assert "changes stored in the database are not readable" in line
