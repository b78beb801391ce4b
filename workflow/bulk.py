"""Reading files of many firings or many drafts, for the all-or-nothing bulk paths.

Files and standard input are UTF-8, with or without the byte-order mark spreadsheets write. A
name given twice (a CSV column, a JSON key) is refused rather than letting one value win.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from workflow.errors import InvalidInput
from workflow.values import file_name, positive_int, quoted


def _read_bytes(source: Path | str) -> bytes:
    """The file's bytes; ``-`` means standard input."""
    if str(source) == "-":
        import sys

        stdin = sys.stdin
        if stdin is None:  # the program was started without one (<&-)
            raise InvalidInput("cannot read standard input: it is closed")
        buffer = getattr(stdin, "buffer", None)
        return buffer.read() if buffer is not None else stdin.read().encode("utf-8")
    try:
        return Path(source).read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {file_name(source)}: {error.strerror}") from None


def _text(source: Path | str) -> str:
    """The file's text, decoded as UTF-8 with a leading byte-order mark dropped. UTF-16 (what
    spreadsheets save as "Unicode text"), with or without its byte-order mark, is named as
    such: read as UTF-8 it fails at its first byte, or, ASCII text, passes full of NUL bytes."""
    raw = _read_bytes(source)
    wide = ("UTF-32" if raw.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"))
            else "UTF-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) or _utf16_ascii(raw[:4096])
            else None)
    if wide is not None:
        raise InvalidInput(f"{file_name(source)} is {wide} text, not UTF-8: save it as UTF-8 "
                           "(in a spreadsheet: CSV UTF-8)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        name = file_name(source)
        before = raw[:error.start]  # lines end as the CSV reader ends them: LF, CRLF or CR
        line = before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n") + 1
        raise InvalidInput(f"{name} is not UTF-8 text (line {line}, byte {error.start + 1} of "
                           "the file)") from None


def _utf16_ascii(start: bytes) -> bool:
    """Every other byte NUL: ASCII text in UTF-16, which no UTF-8 text is."""
    pairs = len(start) // 2
    return pairs >= 2 and (start[1:2 * pairs:2].count(0) == pairs
                           or start[0:2 * pairs:2].count(0) == pairs)


def _duplicate(names: Sequence[str]) -> str | None:
    """The first name given again, if any."""
    seen: set[str] = set()
    for name in names:
        if name in seen:
            return name
        seen.add(name)
    return None


def _csv_rows(file: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """CSV rows with the line each starts on (a quoted value may span lines), whichever line
    endings the file uses (old Mac files end lines with CR alone), blank lines left out; what
    the CSV reader cannot read is bad input naming its line. Strictly: a quote left open at the
    end (a file cut short) or text after a closing quote is refused, not taken as it stands."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield start, row
            start = reader.line_num + 1
    except csv.Error as error:
        said = CSV_ERRORS.get(str(error), str(error))
        raise InvalidInput(f"{file} line {reader.line_num}: {said}") from None


CSV_ERRORS = {  # the csv module's words for a strict reader's refusals, said plainly
    "unexpected end of data": "a quoted value is not closed before the file ends",
    "',' expected after '\"'": "text follows a closing quote (a quote inside a quoted value is "
                                "written twice)",
}


def _firing_header(file: str, at: int, header: list[str], columns: tuple[str, ...]) -> None:
    """A header must name the columns in the order they are read (``reference`` or ``ref``);
    a blank name says nothing (trailing ones, which spreadsheets write, are dropped)."""
    names = _without_trailing_blanks([c.strip().lower().replace("-", "_") for c in header])
    names = ["ref" if n == "reference" else n for n in names]
    twice = _duplicate([name for name in names if name])
    if twice is not None:
        raise InvalidInput(f"{file} line {at}: column {quoted(twice)} appears twice in the header")
    if len(names) > len(columns):
        raise InvalidInput(f"{file} line {at}: the header has {len(names)} columns; expected at "
                           f"most {len(columns)} ({','.join(columns)}, in that order)")
    for number, (name, expected) in enumerate(zip(names, columns, strict=False), 1):
        if name and name != expected:
            raise InvalidInput(f"{file} line {at}: header column {number} is {quoted(name)}; "
                               f"expected {expected!r} (columns are {','.join(columns)}, in "
                               "that order)")


def firings(source: Path | str, arguments: tuple[str, ...]) -> list[dict[str, Any]]:
    """CSV rows ``reference,event[,reason[,argument...[,expected_version]]]`` with the
    process's event arguments in the order given, then the version the row expects its request
    at (the guard a single firing takes as ``--expected-version``); a header row (first cell
    ``ref`` or ``reference``) is checked and skipped."""
    return [firing for _, firing in numbered_firings(source, arguments)]


def numbered_firings(source: Path | str, arguments: tuple[str, ...]
                     ) -> list[tuple[int, dict[str, Any]]]:
    """:func:`firings`, each with the line of the file it starts on."""
    columns = ("ref", "event", "reason", *arguments, "expected_version")
    name = file_name(source)
    rows = list(_csv_rows(name, _text(source)))
    if rows and rows[0][1] and rows[0][1][0].strip().lower() in ("ref", "reference"):
        _firing_header(name, rows[0][0], rows[0][1], columns)
        rows = rows[1:]
    elif rows and rows[0][1] and rows[0][1][0].strip().lower().replace("-", "_") in columns:
        # a column's name where a reference goes: a header out of order
        raise InvalidInput(f"{name} line {rows[0][0]}: a header row must name the columns in "
                           f"the order they are read ({','.join(columns)}), starting with ref "
                           "or reference")
    out: list[tuple[int, dict[str, Any]]] = []
    for number, row in rows:
        cells = _without_trailing_blanks([c.strip() for c in row])
        if not any(cells):
            continue
        if len(cells) < 2 or len(cells) > len(columns):
            optional = "".join(f"[,{c}" for c in columns[2:]) + "]" * len(columns[2:])
            raise InvalidInput(f"{name} line {number}: expected {','.join(columns[:2])}"
                               f"{optional}, got {len(cells)} column(s)")
        firing: dict[str, Any] = {k: v for k, v in zip(columns, cells, strict=False) if v}
        if "expected_version" in firing:
            try:
                firing["expected_version"] = positive_int("expected_version",
                                                          firing["expected_version"])
            except InvalidInput as error:
                raise InvalidInput(f"{name} line {number}: {error}") from None
        out.append((number, firing))
    if not out:
        raise InvalidInput(f"{name} holds no firings")
    return out


def _without_trailing_blanks(cells: list[str]) -> list[str]:
    """A row without the empty cells at its end: a spreadsheet writes one for every column
    ever touched, and an empty cell is a value not given."""
    end = len(cells)
    while end and not cells[end - 1]:
        end -= 1
    return cells[:end]


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's members, refusing a key given twice (JSON would keep only the last) and
    a number written with an exponent, naming its key."""
    twice = _duplicate([key for key, _ in pairs])
    if twice is not None:
        raise InvalidInput(f"key {quoted(twice)} appears twice")
    for key, value in pairs:
        if isinstance(value, _Exponent):
            name = key if key.isidentifier() else quoted(key)  # a file's text, for a terminal
            raise InvalidInput(f"{name}: the number {value.text} has an exponent; write it in "
                               "plain digits")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise InvalidInput(f"{name} is not a JSON number")


class _Exponent:
    """A JSON number written with an exponent, which its object refuses naming its key."""

    def __init__(self, text: str) -> None:
        self.text = text


def _plain_number(text: str) -> Any:
    """A JSON number with a fraction, kept with the digits written; one with an exponent is
    not written in plain digits, which every number the records hold must be (``4e0`` is
    refused as ``1e9`` is, whatever it comes to)."""
    from decimal import Decimal

    return _Exponent(text) if "e" in text or "E" in text else Decimal(text)


def _jsonl_records(file: str, text: str) -> list[tuple[int, dict[str, Any]]]:
    """One object per line; lines end at ``\\n`` only (JSON strings may hold U+2028)."""
    records: list[tuple[int, dict[str, Any]]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line, object_pairs_hook=_unique_keys,
                                parse_float=_plain_number,  # amounts keep the digits written
                                parse_constant=_no_constant)
        except InvalidInput as error:
            raise InvalidInput(f"{file} line {number}: {error}") from None
        except json.JSONDecodeError:
            raise InvalidInput(f"{file} line {number}: not JSON") from None
        except ValueError:  # Python's own limit on the digits of an integer
            raise InvalidInput(f"{file} line {number}: a number has too many digits") from None
        except RecursionError:
            raise InvalidInput(f"{file} line {number}: nested too deeply") from None
        if not isinstance(record, dict):
            raise InvalidInput(f"{file} line {number}: expected a JSON object")
        records.append((number, record))
    return records


def _csv_records(file: str, text: str, fields: Sequence[str] | None = None
                 ) -> list[tuple[int, dict[str, Any]]]:
    """A header of field names (in any case; words joined by ``_``, ``-`` or spaces), then one
    record per row; with ``fields``, a header name none of them has is named at the header."""
    reader = _csv_rows(file, text)
    at, first = next(reader, (1, []))  # the header: the first row that is not blank
    if [cell.strip().lower() for cell in first] == ["sep=", ""]:  # a spreadsheet's "sep=,"
        at, first = next(reader, (at + 1, []))
    header = ["_".join(name.strip().lower().replace("-", " ").split()) for name in first]
    if any(";" in name for name in header) and len([n for n in header if n]) == 1:
        raise InvalidInput(f"{file} line {at}: the header's names are separated by semicolons; "
                           "save the file with commas (CSV UTF-8)")
    twice = _duplicate([name for name in header if name])  # blank columns hold nothing
    if twice is not None:
        raise InvalidInput(f"{file} line {at}: column {quoted(twice)} appears twice in the header")
    unknown = [name for name in header if name and fields is not None and name not in fields]
    if unknown:
        raise InvalidInput(f"{file} line {at}: the header names {quoted(unknown[0])}, which is "
                           f"no field; fields are: {', '.join(fields or ())}")
    records: list[tuple[int, dict[str, Any]]] = []
    named = max((i + 1 for i, name in enumerate(header) if name), default=0)
    for number, row in reader:
        if len(row) > len(header):
            raise InvalidInput(f"{file} line {number}: more values than the header has "
                               "columns")
        if len(row) < named:
            raise InvalidInput(f"{file} line {number}: {len(row)} values where the header "
                               f"names {named} columns (a value may be empty, not left out)")
        records.append((number, {k: v for k, v in zip(header, row, strict=False)
                                 if v.strip() != ""}))  # a space alone is a cell left empty
    return records


def _format_of(source: Path | str, text: str) -> str:
    """JSON Lines by the file's extension (.jsonl, .ndjson, in any case), or where the first
    line opens an object (standard input has no name; a CSV header never starts so); else
    CSV."""
    if str(source).lower().endswith((".jsonl", ".ndjson")):
        return "jsonl"
    opening = text.lstrip("\ufeff \t\r\n")[:1]
    if opening == "[":  # a JSON array (a .json file), which no CSV header starts with
        raise InvalidInput(f"{file_name(source)} is a JSON array; write one object per line "
                           "(JSON Lines)")
    return "jsonl" if opening == "{" else "csv"


def drafts(source: Path | str, fmt: str | None = None,
           fields: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """Records to draft: CSV with a header of field names, or JSON Lines of objects; with
    ``fields``, the names a CSV header may give."""
    return [record for _, record in numbered_drafts(source, fmt, fields)]


def numbered_drafts(source: Path | str, fmt: str | None = None,
                    fields: Sequence[str] | None = None) -> list[tuple[int, dict[str, Any]]]:
    """:func:`drafts`, each with the line of the file it starts on."""
    if fmt not in (None, "csv", "jsonl"):
        raise InvalidInput(f"unknown format {quoted(fmt)}; use csv or jsonl")
    text = _text(source)
    kind = fmt or _format_of(source, text)
    name = file_name(source)
    records = (_jsonl_records(name, text) if kind == "jsonl"
               else _csv_records(name, text, fields))
    if not records:
        raise InvalidInput(f"{name} holds no records")
    return records
