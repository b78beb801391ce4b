"""Exports an auditor can hand on: CSV or JSON Lines, streamed, with a manifest beside the file.

Each JSONL line is exactly the canonical encoding of a row, so its SHA-256 leaf hash can be
recomputed from the line alone; CSV carries the same fields (nested ones as canonical JSON).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from workflow import audit
from workflow.errors import InvalidInput
from workflow.ledger import canonical, row_leaf
from workflow.models import History
from workflow.scan import Scanner

COLUMNS = ["seq", "ref", "event", "from", "to", "actor", "roles", "at", "reason", "changes",
           "consulted", "process_version"]
NESTED = ("roles", "changes", "consulted")
NULLABLE = ("from", "reason")


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _conditions(since: datetime | None, until: datetime | None) -> list[Any]:
    out = []
    if since is not None:
        out.append(History.at >= since)
    if until is not None:
        out.append(History.at <= until)
    return out


def count(session: Session, since: datetime | None, until: datetime | None) -> int:
    query = select(func.count()).select_from(History).where(*_conditions(since, until))
    return int(session.exec(query).one())


def _csv_line(row: dict[str, Any]) -> str:
    buffer = io.StringIO()
    values = [canonical(row[c]).decode() if c in NESTED else row[c] for c in COLUMNS]
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def export(session: Session, scanner: Scanner, path: Path, fmt: str, since: datetime | None,
           until: datetime | None, now: datetime,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"unknown export format {fmt!r}; use csv or jsonl")
    if not path.parent.is_dir():
        raise InvalidInput(f"directory {path.parent} does not exist")
    cp = audit.checkpoint(session, now)
    digest = hashlib.sha256()
    rows, first, last = 0, None, None
    with path.open("w", encoding="utf-8", newline="") as out:
        if fmt == "csv":
            header = ",".join(COLUMNS) + "\n"
            out.write(header)
            digest.update(header.encode())
        for row, _record, _leaf, _root in scanner.history_between(since, until, cp["size"]):
            line = _csv_line(row) if fmt == "csv" else canonical(row).decode() + "\n"
            out.write(line)
            digest.update(line.encode())
            rows += 1
            first = row["seq"] if first is None else first
            last = row["seq"]
            if progress and rows % audit.BATCH == 0:
                progress(audit.BATCH)
    if progress:
        progress(rows % audit.BATCH)
    manifest = {
        "file": path.name, "format": fmt, "rows": rows, "first_seq": first, "last_seq": last,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "sha256": digest.hexdigest(), "checkpoint": cp,
    }
    manifest_path(path).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8", newline="") as source:
        if fmt == "jsonl":
            for number, line in enumerate(source, 1):
                yield number, json.loads(line)
            return
        reader = csv.DictReader(source)
        if reader.fieldnames != COLUMNS:
            raise audit.AuditFailure("the CSV header is not the export's")
        for number, raw in enumerate(reader, 2):
            row: dict[str, Any] = dict(raw)
            row["seq"] = int(row["seq"])
            for name in NESTED:
                row[name] = json.loads(row[name])
            for name in NULLABLE:
                row[name] = row[name] or None
            yield number, row


def check_export(session: Session, path: Path) -> dict[str, Any]:
    """The file matches its manifest, and every row matches the log it came from."""
    try:
        manifest = json.loads(manifest_path(path).read_text())
        fmt, expected_rows = manifest["format"], int(manifest["rows"])
        cp = manifest["checkpoint"]
    except OSError:
        raise InvalidInput(f"no manifest {manifest_path(path)} beside the export") from None
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{manifest_path(path)} is not an export manifest") from None
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    if hashlib.sha256(data).hexdigest() != manifest["sha256"]:
        raise audit.AuditFailure(f"{path.name} does not match the SHA-256 in its manifest")
    tree = audit.leaves(session, int(cp["size"]))
    if len(tree) != int(cp["size"]) or audit.merkle.root_of(tree).hex() != cp["root"]:
        raise audit.AuditFailure("the manifest's checkpoint does not match this database's log")
    rows = 0
    try:
        for number, row in _rows(path, fmt):
            seq = row.get("seq")
            if not isinstance(seq, int) or not 0 < seq <= len(tree):
                raise audit.AuditFailure(f"line {number} names no row of the checkpoint", seq)
            if row_leaf(row) != tree[seq - 1]:
                raise audit.AuditFailure(f"line {number} differs from the log", seq,
                                         row.get("ref"))
            rows += 1
    except (ValueError, KeyError, TypeError) as error:
        raise audit.AuditFailure(f"line {rows + 1} cannot be read: {error}") from None
    if rows != expected_rows:
        raise audit.AuditFailure(f"{path.name} has {rows} rows; its manifest says "
                                 f"{expected_rows}")
    return {"file": str(path), "rows": rows, "checkpoint_size": int(cp["size"])}
