"""Reading files of many firings or many drafts, for the all-or-nothing bulk paths."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from workflow.errors import InvalidInput


def _text(source: Path | str) -> str:
    """The file's text; ``-`` means standard input."""
    if str(source) == "-":
        import sys

        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInput(f"cannot read {source}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{source} is not UTF-8 text") from None


def firings(source: Path | str, arguments: tuple[str, ...]) -> list[dict[str, Any]]:
    """CSV rows ``reference,event[,reason[,argument...]]`` with the process's event arguments
    in the order given; a header row is skipped."""
    columns = ("ref", "event", "reason", *arguments)
    rows = list(csv.reader(io.StringIO(_text(source))))
    if rows and rows[0] and rows[0][0].strip().lower() in ("ref", "reference"):
        rows = rows[1:]
    out = []
    for number, row in enumerate(rows, 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if len(cells) < 2 or len(cells) > len(columns):
            raise InvalidInput(f"{source} line {number}: expected {','.join(columns[:2])}"
                               f"[,{',['.join(columns[2:])}{']' * len(columns[2:])}, got "
                               f"{len(cells)} column(s)")
        out.append({k: v for k, v in zip(columns, cells, strict=False) if v})
    if not out:
        raise InvalidInput(f"{source} holds no firings")
    return out


def drafts(source: Path | str, fmt: str | None = None) -> list[dict[str, Any]]:
    """Records to draft: CSV with a header of field names, or JSON Lines of objects."""
    text = _text(source)
    kind = fmt or ("jsonl" if str(source).endswith((".jsonl", ".ndjson")) else "csv")
    records: list[dict[str, Any]] = []
    if kind == "jsonl":
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise InvalidInput(f"{source} line {number}: not JSON") from None
            if not isinstance(record, dict):
                raise InvalidInput(f"{source} line {number}: expected a JSON object")
            records.append(record)
    elif kind == "csv":
        reader = csv.DictReader(io.StringIO(text))
        for number, row in enumerate(reader, 2):
            if None in row:
                raise InvalidInput(f"{source} line {number}: more values than the header has "
                                   "columns")
            records.append({k.strip().replace("-", "_"): v for k, v in row.items()
                            if v not in (None, "")})
    else:
        raise InvalidInput(f"unknown format {kind!r}; use csv or jsonl")
    if not records:
        raise InvalidInput(f"{source} holds no records")
    return records
