"""Input hygiene: text that cannot forge lines or steer a terminal, no value silently lost to a
name given twice, spreadsheet byte-order marks accepted, numbers exactly as typed, and a cleared
value shown as ``-``; through the parsers, the CLI and the API."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli.main import cli
from tests.conftest import (
    PATRIOT,
    Cli,
    assert_one_line_error,
    db_snapshot,
    draft,
    request_new_args,
)
from workflow import InvalidInput, bulk, values

BOM = "\ufeff"
HEADER = ",".join(PATRIOT)
ROW = ",".join(str(v) for v in PATRIOT.values())

# Every kind the rule names: C0 (tab and newline included), DEL, C1 (U+0085 included), the line
# and paragraph separators, the bidi marks (ALM, LRM, RLM), embeddings, overrides and isolates.
UNSAFE = ["\n", "\r", "\t", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029",
          "\u061c", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069"]
UNSAFE_SAMPLE = ["\n", "\x1b", "\x85", "\u2028", "\u202e"]


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def _refused(run: Cli, argv: list[str], actor: str, code: int, *needles: str) -> str:
    """The error contract, every needle in the line, and the database exactly as it was."""
    before = db_snapshot(run.target)
    line = assert_one_line_error(run(*argv, actor=actor), code)
    for needle in needles:
        assert needle in line, line
    assert db_snapshot(run.target) == before
    return line


def _stdin(run: Cli, data: bytes, *argv: str, actor: str) -> Result:
    return CliRunner().invoke(cli, ["--db", run.target, "--as", actor, *argv], input=data,
                              obj={"clock": run.clock}, catch_exceptions=False)


def _write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8"))
    return str(path)


# -- 1. control, separator and bidi characters -------------------------------------------------

@pytest.mark.parametrize("char", UNSAFE, ids=_code)
def test_text_fields_and_reasons_refuse_unsafe_characters_naming_them(char):
    with pytest.raises(InvalidInput, match=rf"^item: .*{re.escape(_code(char))} not allowed$"):
        values.text("item", f"PAC{char}3")
    with pytest.raises(InvalidInput, match=rf"^reason: .*{re.escape(_code(char))} not allowed$"):
        values.reason(f"fix{char}it")


def test_joiners_are_kept_while_bidi_overrides_are_refused():
    joined = "\u0915\u094d\u200d\u0937 \u200c"  # ZWJ and ZWNJ: legitimate in some scripts
    assert values.text("item", joined) == joined.strip()
    assert values.reason(joined) == joined.strip()
    with pytest.raises(InvalidInput, match="U\\+202E"):
        values.text("item", joined + "\u202e")
    for mark in "\u061c\u200e\u200f":  # the bidi marks steer the reading order too
        with pytest.raises(InvalidInput, match=re.escape(f"bidi control character {_code(mark)}")):
            values.reason(f"ok{mark}")


def test_control_characters_display_escaped():
    from cli.output import printable  # imported here so every other test runs without it

    assert printable("a\nb\x1b[31m\u202e") == "a\\u000Ab\\u001B[31m\\u202E"
    assert printable(None) == "-"


@pytest.mark.parametrize("char", UNSAFE_SAMPLE, ids=_code)
def test_advance_reason_with_unsafe_character_is_exit_2(run_ready, wf, char):
    ref = draft(wf)
    _refused(run_ready, ["advance", ref, "withdraw", "--reason", f"done\n#9 {char} forged"],
             "dan", 2, "--reason", _code("\n"))
    _refused(run_ready, ["advance", ref, "withdraw", "--reason", f"done {char} forged"],
             "dan", 2, "--reason", _code(char))
    assert wf.get(ref)["state"] == "drafted"


@pytest.mark.parametrize("char", UNSAFE_SAMPLE, ids=_code)
def test_policy_reason_with_unsafe_character_is_exit_2(run_ready, char):
    _refused(run_ready, ["policy", "add", "FR", "--kind", "embargo", "--since", "2026-01-01",
                         "--reason", f"UNSC{char}1718"], "admin", 2, "--reason", _code(char))


@pytest.mark.parametrize("char", UNSAFE_SAMPLE, ids=_code)
def test_text_fields_with_unsafe_character_are_exit_2(run_ready, wf, char):
    _refused(run_ready, request_new_args(item=f"PAC{char}3"), "dan", 2, "--item", _code(char))
    ref = draft(wf)
    _refused(run_ready, ["request", "edit", ref, "--note", f"a{char}b"], "dan", 2, "--note",
             _code(char))


@pytest.mark.parametrize("char", UNSAFE_SAMPLE, ids=_code)
def test_api_refuses_unsafe_characters_and_changes_nothing(wf, db_target, char):
    ref = draft(wf)
    before = db_snapshot(db_target)
    attempts = [
        lambda: wf.create(actor="dan", **{**PATRIOT, "end_user": f"US{char}Army"}),
        lambda: wf.edit(ref, actor="dan", note=f"a{char}b"),
        lambda: wf.fire(ref, "withdraw", actor="dan", reason=f"no{char}more"),
        lambda: wf.fire_many([{"ref": ref, "event": "withdraw", "reason": f"x{char}y"}],
                             actor="dan"),
        lambda: wf.create_many([{**PATRIOT, "licensor": f"L{char}M"}], actor="dan"),
        lambda: wf.restrict("FR", "embargo", values.iso_date("since", "2026-01-01"),
                            reason=f"r{char}s", actor="admin"),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidInput, match=re.escape(_code(char))):
            attempt()
    assert db_snapshot(db_target) == before


def test_import_files_refuse_unsafe_characters(run_ready, tmp_path):
    source = _write(tmp_path, "d.csv", f'{HEADER},note\n{ROW},"one\nforged"\n')
    _refused(run_ready, ["request", "import", source], "dan", 2, "record 1", "note",
             "U+000A")
    record = {**PATRIOT, "item": "PAC-3 \u001b[2J"}
    source = _write(tmp_path, "d.jsonl", json.dumps(PATRIOT) + "\n" + json.dumps(record) + "\n")
    _refused(run_ready, ["request", "import", source], "dan", 2, "record 2", "item", "U+001B")
    raw_separator = json.dumps({**PATRIOT, "item": "PAC-3\u2028MSE"}, ensure_ascii=False)
    source = _write(tmp_path, "s.jsonl", raw_separator + "\n")
    _refused(run_ready, ["request", "import", source], "dan", 2, "record 1", "item", "U+2028")


def test_advance_from_file_refuses_unsafe_characters(run_ready, wf, tmp_path):
    ref = draft(wf)
    source = _write(tmp_path, "f.csv", f'{ref},withdraw,"gone\u202efake"\n')
    _refused(run_ready, ["advance", "--from", source], "dan", 2, "firing 1", "reason",
             "U+202E")
    source = _write(tmp_path, "g.csv", f'{ref},withdraw,"gone\n#7 forged"\n')
    _refused(run_ready, ["advance", "--from", source], "dan", 2, "firing 1", "reason",
             "U+000A")


# -- 2. a name given twice -----------------------------------------------------------------------

@pytest.mark.parametrize(("header", "name"), [
    ("item,item", "item"), ("end_user,end-user", "end_user"), ("item, item ", "item")])
def test_import_csv_with_a_duplicated_column_is_exit_2(run_ready, tmp_path, header, name):
    first, second = header.split(",")
    rest = {k: v for k, v in PATRIOT.items() if k not in ("item", "end_user")}
    head = ",".join([first, second, *rest])
    body = ",".join(["A", "B", *map(str, rest.values())])
    source = _write(tmp_path, "d.csv", f"{head}\n{body}\n")
    _refused(run_ready, ["request", "import", source], "dan", 2, f"'{name}'", "twice",
             "line 1")


def test_import_jsonl_with_a_duplicated_key_is_exit_2(run_ready, tmp_path):
    twice = json.dumps(PATRIOT)[:-1] + ', "item": "y"}'
    source = _write(tmp_path, "d.jsonl", json.dumps(PATRIOT) + "\n" + twice + "\n")
    _refused(run_ready, ["request", "import", source], "dan", 2, "line 2", "'item'", "twice")


@pytest.mark.parametrize("header", ["reference,event,reason,reason", "ref,event,event"])
def test_advance_from_file_with_a_duplicated_column_is_exit_2(run_ready, wf, tmp_path, header):
    ref = draft(wf)
    source = _write(tmp_path, "f.csv", f"{header}\n{ref},withdraw,why,again\n")
    _refused(run_ready, ["advance", "--from", source], "dan", 2, "twice", "line 1")


def test_advance_from_file_whose_header_misnames_a_column_is_exit_2(run_ready, wf, tmp_path):
    ref = draft(wf)
    source = _write(tmp_path, "f.csv", f"reference,event,country\n{ref},withdraw,PL\n")
    _refused(run_ready, ["advance", "--from", source], "dan", 2, "'country'", "'reason'")
    assert wf.get(ref)["state"] == "drafted"


def test_bulk_parsers_refuse_duplicated_names(tmp_path):
    source = _write(tmp_path, "d.jsonl", '{"item": "x", "item": "y"}\n')
    with pytest.raises(InvalidInput, match="line 1: key 'item' appears twice"):
        bulk.drafts(source)
    source = _write(tmp_path, "d.csv", "quantity,item,quantity\n1,x,2\n")
    with pytest.raises(InvalidInput, match="'quantity' appears twice"):
        bulk.drafts(source)


# -- 3. a byte-order mark ------------------------------------------------------------------------

def test_import_csv_and_jsonl_with_a_byte_order_mark(run_ready, wf, tmp_path):
    source = _write(tmp_path, "d.csv", f"{BOM}{HEADER}\n{ROW}\n")
    result = run_ready("request", "import", source, actor="dan")
    assert result.exit_code == 0, result.stderr
    source = _write(tmp_path, "d.jsonl", BOM + json.dumps({**PATRIOT, "note": "j"}) + "\n")
    result = run_ready("request", "import", source, actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [r["item"] for r in wf.list()] == [PATRIOT["item"]] * 2
    assert wf.get("TR-2026-0002")["note"] == "j"


def test_import_from_stdin_with_a_byte_order_mark(run_ready, wf):
    data = f"{BOM}{HEADER}\n{ROW}\n".encode()
    result = _stdin(run_ready, data, "request", "import", "-", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert wf.list()[0]["item"] == PATRIOT["item"]


@pytest.mark.parametrize("header", ["ref,event\n", "reference,event,reason\n", ""])
def test_advance_from_file_and_stdin_with_a_byte_order_mark(run_ready, wf, tmp_path, header):
    first, second = draft(wf), draft(wf)
    source = _write(tmp_path, "f.csv", f"{BOM}{header}{first},submit\n")
    result = run_ready("advance", "--from", source, actor="dan")
    assert result.exit_code == 0, result.stderr
    data = f"{BOM}{header}{second},submit\n".encode()
    result = _stdin(run_ready, data, "advance", "--from", "-", actor="dan")
    assert result.exit_code == 0, result.stderr
    assert [wf.get(r)["state"] for r in (first, second)] == ["nsc_review"] * 2


# -- 4. a cleared value --------------------------------------------------------------------------

def test_a_cleared_value_shows_as_a_dash_in_history_and_audit_log(run_ready, wf):
    ref = draft(wf, consent_instrument="MDAA")
    assert run_ready("request", "edit", ref, "--clear", "consent_instrument",
                     actor="dan").exit_code == 0
    for argv in (["history", ref], ["audit", "log"]):
        result = run_ready(*argv, actor="aud")
        assert result.exit_code == 0, result.stderr
        assert "consent_instrument: MDAA -> -\n" in result.stdout
        assert "None" not in result.stdout
    assert wf.history(ref)[-1]["changes"] == {"consent_instrument": ["MDAA", None]}


# -- 5. numbers as typed -------------------------------------------------------------------------

BAD_QUANTITIES = ["1_000", "+5", "\u0661\u0666", "\uff11\uff16", "1 000", "-0", "16.0", "0x10"]
BAD_AMOUNTS = ["1E+3", "1e3", "-0", "-0.0", "+5", "-1", "\uff11\uff12", "\u0661\u0662", "1_000",
               "1.", ".5", "12,50", "1 000", "Infinity", "0x10"]


def test_quantity_is_plain_ascii_digits():
    for bad in BAD_QUANTITIES:
        with pytest.raises(InvalidInput, match=r"^quantity: "):
            values.positive_int("quantity", bad)
    assert values.positive_int("quantity", " 16 ") == values.positive_int("quantity", 16) == 16


def test_unit_value_is_a_plain_numeral_kept_as_typed():
    for bad in BAD_AMOUNTS:
        with pytest.raises(InvalidInput, match=r"^unit_value: "):
            values.decimal("unit_value", bad)
    for typed, stored in [(" 12.50 ", "12.50"), ("0", "0"), ("100.000", "100.000"), (7, "7"),
                          ("012.50", "12.50"), ("000", "0"), ("00.5", "0.5")]:
        assert values.decimal("unit_value", typed) == stored


def test_bad_quantity_or_unit_value_is_exit_2_on_the_cli(run_ready, wf):
    ref = draft(wf)
    for quantity in BAD_QUANTITIES:
        _refused(run_ready, request_new_args(quantity=quantity), "dan", 2, "--quantity")
        _refused(run_ready, ["request", "edit", ref, "--quantity", quantity], "dan", 2,
                 "--quantity")
    for amount in BAD_AMOUNTS:
        argv = request_new_args(unit_value=amount, currency="USD")
        _refused(run_ready, argv, "dan", 2, "--unit-value")
        _refused(run_ready, ["request", "edit", ref, f"--unit-value={amount}"], "dan", 2,
                 "--unit-value")


def test_api_and_import_keep_amounts_as_typed_and_refuse_the_rest(run_ready, wf, db_target,
                                                                   tmp_path):
    ref = draft(wf, unit_value=" 12.50 ", currency="USD")
    assert wf.get(ref)["unit_value"] == "12.50"
    before = db_snapshot(db_target)
    for field, value in [("unit_value", "1E+3"), ("unit_value", "-0"), ("quantity", "1_000"),
                         ("quantity", "+5"), ("unit_value", 12.5)]:
        with pytest.raises(InvalidInput, match=rf"^{field}: "):
            wf.edit(ref, actor="dan", **{field: value})
    assert db_snapshot(db_target) == before
    source = _write(tmp_path, "d.jsonl", json.dumps(PATRIOT)[:-1] + ', "unit_value": 1250.50,'
                    ' "currency": "JPY"}\n')
    assert run_ready("request", "import", source, actor="dan").exit_code == 0
    assert wf.get("TR-2026-0002")["unit_value"] == "1250.50"
    for field, value in [("unit_value", "1e3"), ("quantity", '"+5"'), ("quantity", "16.0")]:
        others = {k: v for k, v in PATRIOT.items() if k != field}
        line = json.dumps(others)[:-1] + f', "{field}": {value}}}\n'
        source = _write(tmp_path, "e.jsonl", line)
        # a number with an exponent is refused as the file is read, before its record is
        where = "line 1" if "e" in value else "record 1"
        _refused(run_ready, ["request", "import", source], "dan", 2, where, f"{field}: ")
