"""Bulk paths: `advance --from FILE` and `request import FILE`, all or nothing per file."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PATRIOT, assert_one_line_error, db_snapshot, draft
from workflow import Refused

HEADER = ",".join(PATRIOT)


def _csv_drafts(count: int, **overrides: object) -> str:
    row = {**PATRIOT, **overrides}
    return HEADER + "\n" + "\n".join(",".join(str(row[k]) for k in PATRIOT)
                                     for _ in range(count)) + "\n"


def test_import_csv_drafts_every_record_in_order(run_ready, tmp_path, wf):
    source = tmp_path / "drafts.csv"
    source.write_text(_csv_drafts(3))
    result = run_ready("request", "import", str(source), "--json", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [{"ref": f"TR-2026-000{n}"} for n in (1, 2, 3)]
    assert [r["quantity"] for r in wf.list()] == [16, 16, 16]
    assert [h["event"] for h in wf.history("TR-2026-0003")] == ["create"]


def test_import_jsonl_by_extension(run_ready, tmp_path, wf):
    source = tmp_path / "drafts.jsonl"
    source.write_text("\n".join(json.dumps({**PATRIOT, "note": f"n{n}"}) for n in range(2)))
    result = run_ready("request", "import", str(source), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == ["TR-2026-0001", "TR-2026-0002"]
    assert wf.get("TR-2026-0002")["note"] == "n1"


def test_import_with_one_bad_record_drafts_nothing(run_ready, tmp_path, db_target):
    source = tmp_path / "drafts.csv"
    source.write_text(_csv_drafts(2) + _csv_drafts(1, quantity=0).split("\n", 1)[1])
    before = db_snapshot(db_target)
    message = assert_one_line_error(run_ready("request", "import", str(source), actor="dan"), 2)
    assert "record 3" in message and "quantity" in message
    assert db_snapshot(db_target) == before


def test_import_by_a_non_drafter_is_refused_and_drafts_nothing(run_ready, tmp_path, wf):
    source = tmp_path / "drafts.csv"
    source.write_text(_csv_drafts(2))
    line = assert_one_line_error(run_ready("request", "import", str(source), actor="ann"), 1)
    assert "rule: role" in line
    said = f"(2 records from {source} line 2 on; nothing was drafted)"
    assert said in line
    assert said in wf.refusals()[-1]["message"]  # an auditor sees a file was refused
    assert wf.list() == []


def test_advance_from_file_fires_every_row(run_ready, tmp_path, wf):
    refs = [draft(wf) for _ in range(3)]
    source = tmp_path / "firings.csv"
    source.write_text("reference,event,reason\n" + "".join(f"{r},submit,\n" for r in refs))
    result = run_ready("advance", "--from", str(source), "--json", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == [
        {"ref": r, "event": "submit", "state": "nsc_review"} for r in refs]
    assert [wf.get(r)["state"] for r in refs] == ["nsc_review"] * 3


def test_advance_from_file_is_all_or_nothing(run_ready, tmp_path, wf, db_target):
    refs = [draft(wf) for _ in range(3)]
    for ref in refs[:2]:
        wf.fire(ref, "submit", actor="dan")
    source = tmp_path / "firings.csv"
    source.write_text("".join(f"{r},return,fix it\n" for r in refs))
    before = db_snapshot(db_target)
    message = assert_one_line_error(run_ready("advance", "--from", str(source), actor="rita"), 1)
    assert "firing 3 of 3; nothing was applied" in message
    assert db_snapshot(db_target) == before
    assert wf.refusals(actor="rita")[-1]["rule"] == "state"


def test_advance_from_file_with_a_malformed_row_is_exit_2(run_ready, tmp_path, wf, db_target):
    ref = draft(wf)
    source = tmp_path / "firings.csv"
    source.write_text(f"{ref},submit\n{ref},launch\n")
    before = db_snapshot(db_target)
    assert "firing 2: unknown event" in assert_one_line_error(
        run_ready("advance", "--from", str(source), actor="dan"), 2)
    assert db_snapshot(db_target) == before


def test_advance_needs_either_ref_and_event_or_a_file(run_ready, tmp_path):
    assert "missing REF and EVENT" in assert_one_line_error(run_ready("advance"), 2)
    only_ref = assert_one_line_error(run_ready("advance", "TR-2026-0001"), 2)
    assert only_ref == "error: missing EVENT (or --from FILE)"
    source = tmp_path / "f.csv"
    source.write_text("TR-2026-0001,submit\n")
    assert "not both" in assert_one_line_error(
        run_ready("advance", "TR-2026-0001", "submit", "--from", str(source)), 2)


def test_one_batch_may_move_a_request_several_steps(wf):
    """Each firing sees the request as the firings before it in the batch left it."""
    ref, other = draft(wf), draft(wf)
    states = wf.fire_many([{"ref": ref, "event": "submit"},
                           {"ref": other.lower(), "event": "submit"},
                           {"ref": f" {ref} ", "event": "withdraw", "reason": "superseded"}],
                          actor="dan")
    assert states == ["nsc_review", "nsc_review", "withdrawn"]
    assert [r["event"] for r in wf.history(ref)] == ["create", "submit", "withdraw"]
    assert wf.get(ref)["version"] == 3
    assert wf.get(other)["state"] == "nsc_review"
    assert wf.verify()["rows"] == 5


def test_a_refusal_late_in_a_batch_sees_the_earlier_firings(wf, db_target):
    ref = draft(wf)
    before = db_snapshot(db_target)
    try:
        wf.fire_many([{"ref": ref, "event": "submit"}, {"ref": ref, "event": "submit"}],
                     actor="dan")
    except Refused as refusal:
        assert refusal.rule == "state"
        assert "is nsc_review" in str(refusal)
        assert "firing 2 of 2" in str(refusal)
    else:
        raise AssertionError("the second submit was not refused")
    assert db_snapshot(db_target) == before


# -- files the CSV and JSON readers cannot take as they are -----------------------------------

def test_csv_files_with_carriage_returns_alone_are_read(run_ready, tmp_path, wf):
    """Old Mac spreadsheets end lines with CR alone; both bulk commands read such files."""
    source = tmp_path / "mac.csv"
    source.write_bytes(_csv_drafts(2).replace("\n", "\r").encode())
    result = run_ready("request", "import", str(source), actor="dan")
    assert result.exit_code == 0, result.stderr
    firings = tmp_path / "firings.csv"
    firings.write_bytes(b"reference,event\rTR-2026-0001,submit\rTR-2026-0002,submit\r")
    result = run_ready("advance", "--from", str(firings), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [r["state"] for r in wf.list()] == ["nsc_review", "nsc_review"]


def test_a_carriage_return_inside_a_quoted_reason_is_named_as_such(run_ready, tmp_path, wf):
    ref = draft(wf)
    source = tmp_path / "firings.csv"
    source.write_bytes(f'{ref},withdraw,"gone\rfake"\n'.encode())
    before = db_snapshot(run_ready.target)
    line = assert_one_line_error(run_ready("advance", "--from", str(source), actor="dan"), 2)
    assert "U+000D" in line
    assert db_snapshot(run_ready.target) == before


def test_a_csv_field_past_the_readers_limit_is_bad_input_naming_its_line(run_ready, tmp_path,
                                                                          wf):
    ref = draft(wf)
    drafts = tmp_path / "drafts.csv"
    drafts.write_text(_csv_drafts(1, item="x" * 200_000))
    firings = tmp_path / "firings.csv"
    firings.write_text(f"{ref},withdraw,{'x' * 200_000}\n")
    before = db_snapshot(run_ready.target)
    for argv, at in ((["request", "import", str(drafts)], "line 2:"),
                     (["advance", "--from", str(firings)], "line 1:")):
        line = assert_one_line_error(run_ready(*argv, actor="dan"), 2)
        assert f"{at} field larger than field limit" in line, line
    assert db_snapshot(run_ready.target) == before


def test_json_nested_past_reason_or_with_a_huge_number_is_bad_input(run_ready, tmp_path):
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "]" * 100_000 + "\n")
    huge = tmp_path / "huge.jsonl"
    huge.write_text(json.dumps({**PATRIOT})[:-1] + ', "unit_value": ' + "9" * 5000 + "}\n")
    before = db_snapshot(run_ready.target)
    line = assert_one_line_error(run_ready("request", "import", str(deep), actor="dan"), 2)
    assert "line 1: nested too deeply" in line
    line = assert_one_line_error(run_ready("request", "import", str(huge), actor="dan"), 2)
    assert "line 1: a number has too many digits" in line
    for argv in (["audit", "verify", "--since", str(deep)], ["audit", "check-proof", str(deep)]):
        line = assert_one_line_error(run_ready(*argv, actor="aud"), 2)
        assert "not JSON" in line, line
    assert db_snapshot(run_ready.target) == before


def test_a_firings_header_with_a_column_past_the_known_ones_is_bad_input(run_ready, tmp_path,
                                                                         wf):
    ref = draft(wf)
    source = tmp_path / "firings.csv"
    source.write_text(f"reference,event,reason,country,decision_date,expected_version,extra\n"
                      f"{ref},withdraw,x\n")
    before = db_snapshot(run_ready.target)
    line = assert_one_line_error(run_ready("advance", "--from", str(source), actor="dan"), 2)
    assert "line 1: the header has 7 columns; expected at most 6" in line
    assert db_snapshot(run_ready.target) == before


@pytest.mark.parametrize("header", ["event,reference", "reason,ref,event", "EVENT,Ref"])
def test_a_firings_header_in_another_order_is_named_as_such(run_ready, tmp_path, wf, header):
    """Not "unknown event 'reference'": the header is told to name its columns in order."""
    source = tmp_path / "firings.csv"
    source.write_text(f"{header}\nsubmit,{draft(wf)}\n")
    before = db_snapshot(run_ready.target)
    line = assert_one_line_error(run_ready("advance", "--from", str(source), actor="dan"), 2)
    assert "line 1: a header row must name the columns in the order they are read " \
           "(ref,event,reason,country,decision_date,expected_version), starting with ref or " \
           "reference" in line
    assert db_snapshot(run_ready.target) == before


def test_lines_are_counted_in_the_file_even_past_a_value_spanning_lines(run_ready, tmp_path):
    """A quoted value may hold a line break: the line named is the file's own line."""
    source = tmp_path / "drafts.csv"
    row = ",".join(f'"{v}"' if k == "item" else str(v) for k, v in PATRIOT.items())
    spanning = row.replace(f'"{PATRIOT["item"]}"', '"PAC-3\nMSE"')
    source.write_text(f"{HEADER}\n{spanning}\n{row},extra\n")
    line = assert_one_line_error(run_ready("request", "import", str(source), actor="dan"), 2)
    assert "line 4: more values than the header has columns" in line


def test_bulk_writes_tell_their_progress_as_they_go(wf, monkeypatch):
    from workflow import writes

    monkeypatch.setattr(writes, "PROGRESS_STEP", 10)
    told: list[int] = []
    refs = wf.create_many([PATRIOT] * 25, actor="dan", progress=told.append)
    assert told == [10, 10, 5]
    told.clear()
    states = wf.fire_many([{"ref": r, "event": "submit"} for r in refs], actor="dan",
                          progress=told.append)
    assert told == [10, 10, 5] and set(states) == {"nsc_review"}


def test_a_progress_bar_shows_on_a_terminal_for_a_long_import(run_ready, tmp_path, wf,
                                                              monkeypatch):
    from cli import output

    monkeypatch.setattr(output, "on_terminal", lambda: True)
    shown: list[tuple[int, str]] = []
    real = output.click.progressbar

    def recorded(**kwargs):  # type: ignore[no-untyped-def]
        shown.append((kwargs["length"], kwargs["label"]))
        return real(**kwargs)

    monkeypatch.setattr(output.click, "progressbar", recorded)
    path = tmp_path / "many.jsonl"
    path.write_text((json.dumps(PATRIOT) + "\n") * 10_000)
    result = run_ready("request", "import", str(path), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert shown == [(10_000, "drafting")]
    assert len(wf.list()) == 10_000


def test_a_csv_cut_short_inside_a_quoted_value_is_refused_and_nothing_applied(
        run_ready, tmp_path, wf, db_target):
    """A file cut off mid-line leaves a quote open: taken as it stands it would record a final
    decision with half its reason."""
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    cut = tmp_path / "cut.csv"
    cut.write_text(f'{ref},deny,"Denied: the recipient has not yet\n')
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready("advance", "--from", str(cut), actor="ann"), 2)
    assert "cut.csv line 1: a quoted value is not closed before the file ends" in line
    drafts = tmp_path / "drafts.csv"
    drafts.write_text(",".join(PATRIOT) + ",note\n" + ",".join(map(str, PATRIOT.values()))
                      + ',"Only under MDAA art\n')
    assert "a quoted value is not closed" in assert_one_line_error(
        run_ready("request", "import", str(drafts), actor="dan"), 2)
    after = tmp_path / "after.csv"
    after.write_text(f'{ref},deny,"no"t\n')  # text after a closing quote
    assert "text follows a closing quote" in assert_one_line_error(
        run_ready("advance", "--from", str(after), actor="ann"), 2)
    assert db_snapshot(db_target) == before


def test_an_import_row_with_fewer_values_than_the_header_is_refused(run_ready, tmp_path, wf):
    path = tmp_path / "short.csv"
    values = list(map(str, PATRIOT.values()))
    path.write_text(",".join(PATRIOT) + "\n" + ",".join(values) + "\n"
                    + ",".join(values[:-1]) + "\n")
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert f"short.csv line 3: {len(values) - 1} values where the header names {len(values)}" \
        in line
    assert wf.list() == []


def test_blank_lines_before_the_header_are_skipped(run_ready, tmp_path, wf):
    ref = draft(wf)
    firings = tmp_path / "lead.csv"
    firings.write_text(f"\n\nreference,event\n{ref},submit\n")
    result = run_ready("advance", "--from", str(firings), actor="dan")
    assert result.exit_code == 0, result.stderr
    drafts = tmp_path / "lead2.csv"
    drafts.write_text("\ufeff\n" + ",".join(PATRIOT) + "\n"
                      + ",".join(map(str, PATRIOT.values())) + "\n")
    result = run_ready("request", "import", str(drafts), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [r["state"] for r in wf.list()] == ["nsc_review", "drafted"]


def test_bulk_errors_name_the_files_line(run_ready, tmp_path, wf):
    """Blank lines and the header are counted: the line named is the line to look at."""
    first, second = draft(wf), draft(wf)
    firings = tmp_path / "pos.csv"
    firings.write_text(f"reference,event\n\n{first},submit\n\n{second},submitt\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(firings), actor="dan"), 2)
    assert f"{firings} line 5: firing 2: unknown event 'submitt'" in line
    firings.write_text(f"reference,event\n\n{first},submit\n\n{second},approve\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(firings), actor="dan"), 1)
    assert f"({firings} line 5: firing 2 of 2; nothing was applied)" in line
    drafts = tmp_path / "drafts.jsonl"
    drafts.write_text(json.dumps(PATRIOT) + "\n\n" + json.dumps({**PATRIOT, "quantity": 0})
                      + "\n")
    line = assert_one_line_error(run_ready("request", "import", str(drafts), actor="dan"), 2)
    assert f"{drafts} line 3: record 2: quantity" in line
    assert [r["state"] for r in wf.list()] == ["drafted", "drafted"]


def test_a_file_that_is_not_utf8_is_named_with_where_it_stops_being(run_ready, tmp_path, wf):
    path = tmp_path / "latin.csv"
    path.write_bytes(",".join(PATRIOT).encode() + b"\n" + b"caf\xe9\n")
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    width = len(",".join(PATRIOT)) + 1
    assert line.endswith(f"{path} is not UTF-8 text (line 2, byte {width + 4} of the file)")


def test_a_refusal_inside_a_batch_is_recorded_in_the_state_the_database_holds(wf):
    """The batch moved the request on before a later firing of it was refused, and rolled back:
    the refusal log keeps the state the request is in, which its history agrees with; the
    message says what the firing met inside the batch."""
    wf.add_user("both", ["drafter", "approver"], actor="admin")
    ref = draft(wf, actor="both")
    with pytest.raises(Refused) as refused:
        wf.fire_many([{"ref": ref, "event": "submit"},
                      {"ref": ref, "event": "approve_for_us"}], actor="both")
    assert refused.value.rule == "separation-of-duties"
    [logged] = wf.refusals(ref=ref)
    assert (logged["state"], logged["event"]) == ("drafted", "approve_for_us")
    assert "firing 2 of 2; nothing was applied" in logged["message"]
    assert wf.get(ref)["state"] == "drafted"


def test_a_file_of_one_firing_names_its_line_too(run_ready, tmp_path, wf):
    ref = draft(wf)
    firings = tmp_path / "one.csv"
    firings.write_text(f"ref,event\n{ref},approve\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(firings), actor="dan"), 1)
    assert f"({firings} line 2: firing 1 of 1; nothing was applied)" in line
    firings.write_text("ref,event\nTR-2026-0099,submit\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(firings), actor="dan"), 1)
    assert "unknown reference" in line
    assert f"({firings} line 2: firing 1 of 1; nothing was applied)" in line
    with pytest.raises(Refused) as lone:
        wf.fire(ref, "approve", actor="dan")
    assert "firing 1 of 1" not in str(lone.value)


def test_a_file_name_a_terminal_would_act_on_is_named_escaped(run_ready, tmp_path, wf):
    """A name holding an escape sequence or a bidi mark is quoted with it escaped, on stderr
    and in the refusal recorded alike."""
    ref = draft(wf)
    wf.fire(ref, "submit", actor="dan")
    path = tmp_path / "ok\x1b[2K\u202ename.csv"
    path.write_text(f"{ref},submit\n", encoding="utf-8")
    line = assert_one_line_error(run_ready("advance", "--from", str(path), actor="dan"), 1)
    assert f"({str(path)!r} line 1: firing 1 of 1; nothing was applied)" in line
    assert "\x1b" not in line and "\u202e" not in line
    assert repr(str(path)) in wf.refusals()[-1]["message"]


def test_standard_input_is_named_so(run_ready, wf):
    from click.testing import CliRunner

    from cli.main import cli

    result = CliRunner().invoke(
        cli, ["--db", run_ready.target, "--as", "dan", "advance", "--from", "-"],
        input=b"TR-2026-0999,submit\n", obj={"clock": run_ready.clock}, catch_exceptions=False)
    assert "(standard input line 1: firing 1 of 1; nothing was applied)" in (
        assert_one_line_error(result, 1))


@pytest.mark.parametrize(("command", "text", "needle"), [
    (("advance", "--from"), "\n\nreference,event,country\nTR-2026-0001,submit\n",
     "line 3: header column 3 is 'country'"),
    (("request", "import"), "\n\nitem,quantity,item\nW,5,Y\n",
     "line 3: column 'item' appears twice in the header"),
])
def test_a_header_after_blank_lines_is_named_at_its_own_line(run_ready, tmp_path, command, text,
                                                             needle):
    path = tmp_path / "f.csv"
    path.write_text(text, encoding="utf-8")
    assert needle in assert_one_line_error(run_ready(*command, str(path), actor="dan"), 2)


def test_a_byte_not_utf8_is_placed_on_its_line_whatever_ends_the_lines(run_ready, tmp_path):
    path = tmp_path / "cr.csv"
    path.write_bytes(b"item,quantity,recipient,end_user,manufacturer,licensor,licensor_country\r"
                     b"W,5,US,X,M,L,US\rW\xe9,5,US,X,M,L,US\r")
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert "is not UTF-8 text (line 3," in line


@pytest.mark.parametrize(("name", "line"), [
    ("huge-key.jsonl", json.dumps({"x" * 100_000: 1}) + "\n"),
    ("huge-country.csv", "item,quantity,recipient,end_user,manufacturer,licensor,"
                         "licensor_country\nW,5," + "U" * 100_000 + ",X,M,L,US\n"),
])
def test_a_huge_value_is_named_cut_short(run_ready, tmp_path, name, line):
    path = tmp_path / name
    path.write_text(line, encoding="utf-8")
    error = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert len(error) < 400 and "(100000 characters)" in error, error[:400]


# -- files as spreadsheets save them ---------------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_a_utf16_file_is_named_as_such_with_how_to_save_it(run_ready, tmp_path, wf, encoding):
    """With or without its byte-order mark: read as UTF-8, plain ASCII text in UTF-16 would
    pass full of NUL bytes."""
    ref = draft(wf)
    files = (("import", _csv_drafts(1)), ("advance", f"ref,event\r\n{ref},submit\r\n"))
    for command, text in files:
        path = tmp_path / f"{command}-{encoding}.csv"
        path.write_bytes(text.encode(encoding))
        argv = (["request", "import", str(path)] if command == "import"
                else ["advance", "--from", str(path)])
        line = assert_one_line_error(run_ready(*argv, actor="dan"), 2)
        wide = "UTF-32" if encoding == "utf-32" else "UTF-16"
        assert line == (f"error: {path} is {wide} text, not UTF-8: save it as UTF-8 (in a "
                        "spreadsheet: CSV UTF-8)")
    assert [r["state"] for r in wf.list()] == ["drafted"]


def test_trailing_empty_columns_a_spreadsheet_writes_are_no_columns(run_ready, tmp_path, wf):
    first, second = draft(wf), draft(wf)
    path = tmp_path / "firings.csv"
    path.write_text(f"ref,event,reason,,\r\n{first},submit,,,\r\n{second},submit,sent,,\r\n")
    result = run_ready("advance", "--from", str(path), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [r["state"] for r in wf.list()] == ["nsc_review", "nsc_review"]
    assert wf.history(second)[-1]["reason"] == "sent"


def test_an_import_header_may_use_capitals_and_spaces(run_ready, tmp_path, wf):
    header = ",".join(" ".join(w.capitalize() for w in name.split("_")) for name in PATRIOT)
    path = tmp_path / "drafts.csv"
    path.write_text(header + "\n" + _csv_drafts(1).split("\n", 1)[1])
    result = run_ready("request", "import", str(path), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert wf.get(result.stdout.strip())["end_user"] == PATRIOT["end_user"]


def test_an_import_header_naming_no_field_is_named_at_the_header(run_ready, tmp_path, wf,
                                                                 db_target):
    path = tmp_path / "drafts.csv"
    path.write_text("\n" + _csv_drafts(1).replace("quantity", "qty", 1))
    before = db_snapshot(db_target)
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert line.startswith(f"error: {path} line 2: the header names 'qty', which is no field; "
                           "fields are: item, quantity,")
    assert db_snapshot(db_target) == before


@pytest.mark.parametrize(("member", "number"), [
    ('"quantity": 4e0', "4e0"), ('"quantity": 0.4e1', "0.4e1"), ('"quantity": 1E9', "1E9"),
    ('"unit_value": 1.5e1', "1.5e1"), ('"unit_value": 1e3', "1e3")])
def test_a_json_number_with_an_exponent_is_refused_whatever_it_comes_to(run_ready, tmp_path,
                                                                         wf, member, number):
    """Numbers are written in plain digits: 4e0 is refused as 1e9 is, not taken as 4."""
    record = json.dumps({k: v for k, v in PATRIOT.items() if k != member.split('"')[1]})
    path = tmp_path / "drafts.jsonl"
    path.write_text(record[:-1] + ", " + member + ', "currency": "JPY"}\n'
                    if "unit_value" in member else record[:-1] + ", " + member + "}\n")
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    field = member.split('"')[1]
    assert line == (f"error: {path} line 1: {field}: the number {number} has an exponent; "
                    "write it in plain digits")
    assert wf.list() == []


def test_a_spreadsheet_s_sep_line_and_cells_of_spaces_are_read_as_meant(run_ready, tmp_path,
                                                                        wf):
    """Excel's "sep=," first line names the separator; a cell holding only a space is a cell
    left empty, an optional field not given."""
    row = {**PATRIOT, "note": " "}
    path = tmp_path / "drafts.csv"
    path.write_text("sep=,\n" + ",".join(row) + "\n" + ",".join(str(v) for v in row.values())
                    + "\n")
    result = run_ready("request", "import", str(path), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert wf.get(result.stdout.strip())["note"] is None


@pytest.mark.parametrize(("name", "text", "said"), [
    ("semi.csv", "item;quantity;recipient\nA;1;US\n",
     "line 1: the header's names are separated by semicolons; save the file with commas "
     "(CSV UTF-8)"),
    ("drafts.json", '[{"item": "A"}]\n',
     "is a JSON array; write one object per line (JSON Lines)"),
])
def test_files_saved_otherwise_say_how_to_save_them(run_ready, tmp_path, wf, name, text, said):
    path = tmp_path / name
    path.write_text(text)
    line = assert_one_line_error(run_ready("request", "import", str(path), actor="dan"), 2)
    assert line == f"error: {path} {said}"
    assert wf.list() == []


def test_a_firing_row_may_carry_the_version_it_expects(run_ready, tmp_path, wf, db_target):
    """The guard a single firing takes as --expected-version, as the file's last column: a
    stale one changes nothing and is recorded as a conflict."""
    first, second = draft(wf), draft(wf)
    wf.edit(second, actor="dan", note="v2")
    path = tmp_path / "firings.csv"
    path.write_text(f"ref,event,reason,country,decision_date,expected_version\n"
                    f"{first},submit,,,,1\n{second},submit,,,,2\n")
    result = run_ready("advance", "--from", str(path), actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [r["version"] for r in wf.list()] == [2, 3]
    before = db_snapshot(db_target, {"wf_refusal": None, "wf_log_head": None})
    path.write_text(f"{first},return,unclear,,,2\n{second},return,unclear,,,2\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(path), actor="rita"), 1)
    assert line == (f"error: {second} is at version 3, not 2 as expected: it was changed since "
                    f"it was read; reload and retry ({path} line 2: firing 2 of 2; nothing was "
                    "applied) [rule: conflict]")
    assert db_snapshot(db_target, {"wf_refusal": None, "wf_log_head": None}) == before
    assert wf.refusals()[-1]["rule"] == "conflict"
    path.write_text(f"{first},return,unclear,,,two\n")
    line = assert_one_line_error(run_ready("advance", "--from", str(path), actor="rita"), 2)
    assert line.startswith(f"error: {path} line 1: expected_version: ")
