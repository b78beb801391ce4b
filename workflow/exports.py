"""Exports an auditor can hand on: CSV or JSON Lines, streamed, with a manifest beside the file.

Each JSONL line is exactly the canonical encoding of a row, so its SHA-256 leaf hash can be
recomputed from the line alone; CSV carries the same fields (nested ones as canonical JSON).
Every file written here (and the CLI's checkpoints, proofs and keys) goes through
:func:`refuse_outputs` first: never over the database, over an existing file only when forced.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func
from sqlmodel import Session, select

from workflow import audit, signing, subset
from workflow.clock import as_utc
from workflow.errors import InvalidInput
from workflow.ledger import canonical, encode, row_leaf
from workflow.models import History
from workflow.scan import Scanner
from workflow.values import named

EARLIER_COLUMNS = ["seq", "ref", "event", "from", "to", "actor", "roles", "at", "reason",
                   "changes", "consulted", "process_version"]  # exports before acted_as
BEFORE_VERSION = [*EARLIER_COLUMNS, "acted_as"]  # exports before the version was kept
COLUMNS = [*BEFORE_VERSION, "version"]
NESTED = ("roles", "changes", "consulted", "acted_as")
NULLABLE = ("from", "reason")
ABSENT_WHEN_EMPTY = ("acted_as", "version")  # a row written before the log kept it has none
COMPANIONS = ("", "-wal", "-shm", "-journal")  # SQLite's files beside the database


def manifest_path(path: Path) -> Path:
    _refuse_nameless(path)
    return path.with_name(path.name + ".manifest.json")


def _refuse_nameless(path: Path) -> None:
    if not path.name:  # "" and "." (and "/") name no file
        raise InvalidInput(f"output {str(path)!r} is not a file name")


# -- output files ----------------------------------------------------------------------------


def database_file(target: str) -> Path | None:
    """The SQLite file a ``--db`` target names (None for a server database or no file)."""
    from workflow.database import database_url, sqlite_file

    try:
        return sqlite_file(database_url(target))
    except InvalidInput:
        return None  # the command itself will say what is wrong with it


def refuse_outputs(paths: Iterable[Path], database: Path | None, *, force: bool) -> None:
    """Refuse, before anything is written, to write over the database or its companion files
    (ever) or over an existing file (unless ``force``)."""
    kept = [database.with_name(database.name + s) for s in COMPANIONS] if database else []
    for path in paths:
        _refuse_nameless(path)
        _refuse_too_long(path)
        for own in kept:
            if _same_file(path, own):
                raise InvalidInput(f"{path} is the database's own file {own}; never written "
                                   "over, not even with --force")
        refuse_special(path)
        refuse_key(path)
        if not force and os.path.lexists(path):
            raise InvalidInput(f"{path} already exists; not overwriting it (give --force to "
                               "replace it)")


def _temporary(path: Path) -> Path:
    """Where :func:`replacing` writes ``path`` before moving it into place."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


def _refuse_too_long(path: Path) -> None:
    """A name the file system cannot hold, written as it is or under its temporary name, is
    refused before anything is written (an export would otherwise stand without its manifest)."""
    try:
        limit = os.pathconf(path.parent if str(path.parent) else ".", "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        limit = 255
    if len(os.fsencode(_temporary(path).name)) > limit:
        raise InvalidInput(f"cannot write {path}: its name is too long for the file system "
                           f"(at most {limit - 14} bytes here, counting what is added beside it)")


def refuse_signing_key(paths: Iterable[Path], key: Path | None) -> None:
    """An output that is the very key signing it is named as such."""
    for output in paths:
        if key is not None and _same_file(output, key):
            raise InvalidInput(f"{output} is the signing key {key}; never written over")


def refuse_key(path: Path) -> None:
    """A file holding a key (PEM, as ``audit keygen`` writes them) is never replaced, not even
    with --force: a lost signing key or trust anchor cannot be had back."""
    try:
        with path.open("rb") as existing:
            start = existing.read(64)
    except OSError:
        return  # nothing there (or nothing readable): writing it will tell
    if start.startswith(b"-----BEGIN ") and b"KEY-----" in start:
        raise InvalidInput(f"{path} holds a key; never written over, not even with --force")


def refuse_special(path: Path) -> None:
    """Outputs are regular files: an existing path that is anything else (a directory, a link,
    a device, a pipe) is refused rather than replaced, even with --force."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # nothing there (or nothing readable): writing it will tell
    if not stat.S_ISREG(mode):
        kind = ("a directory" if stat.S_ISDIR(mode) else "a symbolic link" if stat.S_ISLNK(mode)
                else "not a regular file")
        raise InvalidInput(f"{path} is {kind}; outputs are written as regular files only")


def _same_file(path: Path, other: Path) -> bool:
    try:
        if path.expanduser().resolve() == other.resolve():
            return True
        return path.exists() and other.exists() and os.path.samefile(path, other)
    except (OSError, RuntimeError):  # unreadable or a symlink loop: not the database
        return False


@contextmanager
def replacing(path: Path, *, force: bool) -> Iterator[IO[str]]:
    """A text file written whole or not at all: into a temporary file beside ``path``, moved
    into place once complete (over an existing file only with ``force``)."""
    temp = _temporary(path)
    try:
        with temp.open("x", encoding="utf-8", newline="") as out:
            yield out
        if not force and os.path.lexists(path):  # appeared meanwhile
            raise InvalidInput(f"{path} already exists; not overwriting it (give --force to "
                               "replace it)")
        refuse_special(path)
        refuse_key(path)
        os.replace(temp, path)
    except OSError as error:
        raise InvalidInput(f"cannot write {path}: {error.strerror}") from None
    finally:
        with suppress(OSError):  # what could not be made cannot be in the way
            temp.unlink(missing_ok=True)


# -- writing an export -----------------------------------------------------------------------


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
    values = [row.get(c) if c not in NESTED or row.get(c) is None else canonical(row[c]).decode()
              for c in COLUMNS]
    csv.writer(buffer, lineterminator="\n").writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def export(session: Session, scanner: Scanner, path: Path, fmt: str, since: datetime | None,
           until: datetime | None, now: datetime,
           progress: Callable[[int], None] | None = None, *, database: Path | None = None,
           force: bool = False, key: Path | None = None) -> dict[str, Any]:
    """Write the rows of [since, until] up to a checkpoint taken now, and the manifest beside
    them; ``database`` (the SQLite file, if any) is never written over.

    The manifest carries the hashes of the log's subtrees that hold no exported row
    (``nodes``, see :mod:`workflow.subset`), so that the file's rows give back the checkpoint's
    root without the database; with ``key``, the checkpoint and the manifest are signed.
    """
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"unknown export format {fmt!r}; use csv or jsonl")
    if not path.parent.is_dir():
        raise InvalidInput(f"directory {path.parent} does not exist")
    refuse_signing_key([path, manifest_path(path)], key)
    refuse_outputs([path, manifest_path(path)], database, force=force)
    cp = audit.checkpoint(session, now, key)
    with replacing(path, force=force) as out:
        rows, runs, digest = _write_rows(out, scanner, fmt, since, until, cp["size"], progress)
        nodes = _missing_roots(scanner, cp["size"], runs)  # before the file is in place
    first, last = _ends(runs)
    manifest: dict[str, Any] = {
        "file": path.name, "format": fmt, "rows": rows, "first_seq": first, "last_seq": last,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None, "sha256": digest, "checkpoint": cp,
        "nodes": [node.hex() for node in nodes],
    }
    if key is not None:
        manifest["signature"] = signing.sign(canonical(manifest), key)
    with replacing(manifest_path(path), force=force) as side:  # once the export is in place
        side.write(json.dumps(manifest, indent=2) + "\n")
    return manifest


UNREADABLE_LEAVES = ("the log's stored leaf hashes are not all there or not readable; "
                     "`workflow audit verify` names what")
RANGE_QUERIES = 64  # beyond this many subtrees to hash, one pass over the leaves is cheaper


def _missing_roots(scanner: Scanner, size: int, runs: list[tuple[int, int]]) -> list[bytes]:
    """The roots of the subtrees holding no exported row, from the log's stored leaves: a query
    per subtree, or one pass over them all where the slice leaves many rows out inside it."""
    ranges = subset.missing(size, runs)
    try:
        if len(ranges) <= RANGE_QUERIES:
            return subset.range_roots(ranges, scanner.leaf_range)
        return subset.range_roots(ranges, subset.slicer(scanner.leaf_range(0, size)))
    except ValueError:
        raise audit.AuditFailure(UNREADABLE_LEAVES) from None


def _write_rows(out: IO[str], scanner: Scanner, fmt: str, since: datetime | None,
                until: datetime | None, size: int, progress: Callable[[int], None] | None
                ) -> tuple[int, list[tuple[int, int]], str]:
    """Stream the rows to ``out``: (count, the runs of tree positions written, SHA-256 of what
    was written)."""
    digest = hashlib.sha256()
    rows = 0
    if fmt == "csv":
        header = ",".join(COLUMNS) + "\n"
        out.write(header)
        digest.update(header.encode())
    selected = scanner.history_between(since, until, size)

    def written() -> Iterator[int]:
        nonlocal rows
        for row, _record, _leaf, _root in selected:
            line = _csv_line(row) if fmt == "csv" else canonical(row).decode() + "\n"
            out.write(line)
            digest.update(line.encode())
            rows += 1
            if progress and rows % audit.BATCH == 0:
                progress(audit.BATCH)
            yield row["seq"] - 1

    runs = subset.runs_of(written())
    if progress:
        progress(rows % audit.BATCH)
    return rows, runs, digest.hexdigest()


# -- checking an export ----------------------------------------------------------------------


def _rows(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The export's rows with their lines, each held to the form the export writes: a JSONL
    line is the row's canonical JSON exactly (keys sorted and each once, no spaces, ``\n``
    ending it), a CSV row's numbers are digits and its nested cells canonical JSON; a line not
    so is named as unreadable."""
    with path.open(encoding="utf-8", newline="") as source:
        if fmt == "jsonl":
            for number, line in enumerate(source, 1):
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("it is not a JSON object")
                    if line.removesuffix("\n") != encode(row):
                        raise ValueError("it is not the row's canonical JSON (keys sorted, each "
                                         "once, no spaces)")
                except (ValueError, RecursionError) as error:
                    raise _unreadable(number, error) from None
                yield number, row
            return
        # a consulted policy may be longer than the csv module lets a cell be; the limit is
        # the process's, so it is put back once the file is read
        limit = csv.field_size_limit(max(csv.field_size_limit(), CSV_FIELD_LIMIT))
        try:
            reader = csv.DictReader(source)
            if reader.fieldnames not in (COLUMNS, BEFORE_VERSION, EARLIER_COLUMNS):
                raise audit.AuditFailure("the CSV header is not the export's")
            number = 1
            while True:
                try:
                    raw = next(reader, None)
                except csv.Error as error:
                    raise _unreadable(reader.line_num, error) from None
                if raw is None:
                    return
                number += 1
                try:
                    fields = _csv_row(raw)
                except (ValueError, KeyError, TypeError, RecursionError) as error:
                    raise _unreadable(number, error) from None
                yield number, fields
        finally:
            csv.field_size_limit(limit)


CSV_FIELD_LIMIT = 1 << 30


def _unreadable(number: int, error: BaseException) -> audit.AuditFailure:
    said = "nested too deeply" if isinstance(error, RecursionError) else str(error)
    return audit.AuditFailure(f"line {number} cannot be read: {said}")


def _csv_row(raw: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = dict(raw)
    if None in fields:
        raise ValueError("it has more cells than the header names")
    fields["seq"] = _digits("seq", fields["seq"])
    for name in ABSENT_WHEN_EMPTY:
        if not fields.get(name):
            fields.pop(name, None)
    for name in NESTED:
        if name in fields:
            text = fields[name]
            fields[name] = json.loads(text)
            if encode(fields[name]) != text:
                raise ValueError(f"its {name} is not canonical JSON")
    if "version" in fields:
        fields["version"] = _digits("version", fields["version"])
    for name in NULLABLE:
        fields[name] = fields[name] or None
    return fields


def _digits(name: str, text: Any) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise ValueError(f"its {name} is not a number in digits 0-9")
    return int(text)


def _is_seq(value: Any) -> bool:
    return value is None or (audit.is_count(value) and value > 0)


def _is_moment(value: Any) -> bool:
    return value is None or audit.is_moment(value)


MANIFEST_FIELDS: list[tuple[str, Callable[[Any], bool], str]] = [
    ("format", lambda v: v in ("csv", "jsonl"), "csv or jsonl"),
    ("rows", audit.is_count, "a whole number, 0 or more"),
    ("first_seq", _is_seq, "a row number or null"),
    ("last_seq", _is_seq, "a row number or null"),
    ("since", _is_moment, "an ISO 8601 time or null"),
    ("until", _is_moment, "an ISO 8601 time or null"),
    ("sha256", lambda v: isinstance(v, str) and audit.HASH.fullmatch(v) is not None,
     "64 lowercase hex characters"),
]


def read_manifest(path: Path) -> dict[str, Any]:
    """The manifest beside export ``path``, each field checked (bad input names the first bad
    one); ``since`` and ``until`` as UTC datetimes."""
    where = manifest_path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidInput(f"no manifest {where} beside the export") from None
    except OSError as error:
        raise InvalidInput(f"cannot read {where}: {error.strerror}") from None
    except (ValueError, RecursionError):
        raise InvalidInput(f"{where} is not an export manifest (not JSON)") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} is not an export manifest (a JSON object expected)")
    manifest: dict[str, Any] = {}
    for name, valid, expected in MANIFEST_FIELDS:
        if name not in data:
            raise InvalidInput(f"{where}: the manifest has no {name!r} field")
        if not valid(data[name]):
            raise InvalidInput(f"{where}: field {name!r} must be {expected}, not "
                               f"{audit.shown(data[name])}")
        manifest[name] = data[name]
    for name in ("since", "until"):
        if manifest[name] is not None:
            manifest[name] = as_utc(datetime.fromisoformat(manifest[name]))
    manifest["checkpoint"] = audit.parse_checkpoint(data.get("checkpoint"),
                                                    f"{where}: its checkpoint")
    for name, valid, expected in OPTIONAL_FIELDS:
        if name in data and not valid(data[name]):
            raise InvalidInput(f"{where}: field {name!r} must be {expected}, not "
                               f"{audit.shown(data[name])}")
    manifest["nodes"] = (None if "nodes" not in data
                         else [bytes.fromhex(node) for node in data["nodes"]])
    manifest["signature"] = data.get("signature")
    manifest["as_read"] = data
    return manifest


OPTIONAL_FIELDS: list[tuple[str, Callable[[Any], bool], str]] = [  # absent from older exports
    ("nodes", lambda v: isinstance(v, list) and all(
        isinstance(n, str) and audit.HASH.fullmatch(n) for n in v),
     "a list of 64-hex-character hashes"),
    ("signature", lambda v: isinstance(v, str), "base64 text"),
]


def _check_signatures(manifest: dict[str, Any], pubkey: Path) -> None:
    """The manifest, and the checkpoint in it, signed with the key whose public half is
    ``pubkey``."""
    if manifest["signature"] is None:
        raise audit.AuditFailure("the manifest is not signed (export with --sign)")
    try:
        signed = canonical({k: v for k, v in manifest["as_read"].items() if k != "signature"})
    except UnicodeEncodeError:  # text no export writes (a lone surrogate): signed by no one
        signed = None
    if signed is None or not signing.verify(signed, manifest["signature"], pubkey):
        raise audit.AuditFailure("the manifest's signature does not verify with that public key")
    audit.check_signature(manifest["checkpoint"], pubkey)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as source:
            for chunk in iter(lambda: source.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}") from None
    return digest.hexdigest()


def check_export(scanner: Scanner, path: Path, pubkey: Path | None = None) -> dict[str, Any]:
    """The file matches its manifest, and holds exactly the rows of the log the manifest's
    range selects up to its checkpoint: each as the log has it, in order, none left out, none
    repeated. The manifest's digest alone proves nothing (whoever edits the file can redo it):
    the log is what the rows are held against. With ``pubkey``, the manifest must be signed
    with its key too."""
    manifest = read_manifest(path)
    if pubkey is not None:
        _check_signatures(manifest, pubkey)
    if _sha256(path) != manifest["sha256"]:
        raise audit.AuditFailure(f"{named(path)} does not match the SHA-256 in its manifest")
    size = manifest["checkpoint"]["size"]
    tree = _log_leaves(scanner, size)
    if len(tree) != size or tree.root().hex() != manifest["checkpoint"]["root"]:
        raise audit.AuditFailure("the manifest's checkpoint does not match this database's log")
    selected = scanner.history_between(manifest["since"], manifest["until"], size)
    with closing(selected):
        rows, runs = _match(path, manifest, tree, (r[0] for r in selected))
    _same_ends(path, manifest, runs)
    if manifest["nodes"] is not None and manifest["nodes"] != subset.range_roots(
            subset.missing(size, runs), tree.between):
        raise audit.AuditFailure("the manifest's subtree hashes are not the log's (its rows "
                                 "would not check with --offline)")
    return _checked(path, manifest, rows, pubkey, "database")


class PackedLeaves:
    """The log's leaf hashes end to end (32 bytes each, not an object each) and the root they
    make."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.frontier = audit.merkle.Frontier()

    def append(self, leaf: bytes) -> None:
        self.data += leaf
        self.frontier.append(leaf)

    def __len__(self) -> int:
        return len(self.data) // 32

    def __getitem__(self, index: int) -> bytes:
        return bytes(self.data[32 * index:32 * index + 32])

    def between(self, lo: int, hi: int) -> list[bytes]:
        return [self[index] for index in range(lo, hi)]

    def root(self) -> bytes:
        return self.frontier.root()


def _log_leaves(scanner: Scanner, size: int) -> PackedLeaves:
    """The stored leaf hashes of the first ``size`` rows of the log."""
    tree = PackedLeaves()
    try:
        for leaf in scanner.leaf_range(0, size):
            tree.append(leaf)
    except ValueError:
        raise audit.AuditFailure(UNREADABLE_LEAVES) from None
    return tree


def _ends(runs: list[tuple[int, int]]) -> tuple[int | None, int | None]:
    """The first and last seq of rows at the runs' tree positions."""
    return (runs[0][0] + 1, runs[-1][1]) if runs else (None, None)


def _same_ends(path: Path, manifest: dict[str, Any], runs: list[tuple[int, int]]) -> None:
    first, last = _ends(runs)
    if (first, last) != (manifest["first_seq"], manifest["last_seq"]):
        raise audit.AuditFailure(f"its manifest says rows {manifest['first_seq']} to "
                                 f"{manifest['last_seq']} but {named(path)} holds rows {first} "
                                 f"to {last}")


def _checked(path: Path, manifest: dict[str, Any], rows: int, pubkey: Path | None,
             against: str) -> dict[str, Any]:
    checkpoint = manifest["checkpoint"]
    return {"file": str(path), "rows": rows, "checkpoint_size": checkpoint["size"],
            "checkpoint_root": checkpoint["root"], "checked_against": against,
            "signed": manifest["signature"] is not None, "signature_checked": pubkey is not None}


def check_export_offline(path: Path, pubkey: Path | None = None) -> dict[str, Any]:
    """Without the database: the file matches its manifest, its rows lie in the manifest's
    range, in order, each once, and together with the manifest's subtree hashes they give back
    the checkpoint's root, so each is the log's row at its place. That no row of the range was
    left out is vouched for by the manifest's signature (checked with ``pubkey``); against the
    database, :func:`check_export` proves it."""
    manifest = read_manifest(path)
    if pubkey is not None:
        _check_signatures(manifest, pubkey)
    if manifest["nodes"] is None:
        raise InvalidInput(f"{manifest_path(path)} carries no subtree hashes (an export made "
                           "before they were written): check it against the database instead")
    if _sha256(path) != manifest["sha256"]:
        raise audit.AuditFailure(f"{named(path)} does not match the SHA-256 in its manifest")
    size = manifest["checkpoint"]["size"]
    leaves = bytearray()
    runs: list[tuple[int, int]] = []
    rows = number = 0
    try:
        for number, row in _rows(path, manifest["format"]):
            seq = row.get("seq")
            if not audit.is_count(seq) or not 0 < seq <= size:
                raise audit.AuditFailure(f"line {number} names no row of the checkpoint", seq)
            if runs and seq <= runs[-1][1]:
                raise audit.AuditFailure(f"line {number} is out of order or repeated (rows go "
                                         "by seq, each once)", seq, row.get("ref"))
            if not _in_range(row, manifest):
                raise audit.AuditFailure(f"line {number} holds it, but the manifest's range "
                                         "does not select it", seq, row.get("ref"))
            leaves += row_leaf(row)
            subset.extend(runs, seq - 1)
            rows += 1
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        raise audit.AuditFailure(f"line {number} cannot be read: {error}") from None
    except RecursionError:
        raise audit.AuditFailure(f"line {number} cannot be read: nested too deeply") from None
    if rows != manifest["rows"]:
        raise audit.AuditFailure(f"{named(path)} has {rows} rows; its manifest says "
                                 f"{manifest['rows']}")
    _same_ends(path, manifest, runs)
    try:
        root = subset.root(size, runs, subset.packed(runs, leaves), manifest["nodes"])
    except ValueError:
        root = None
    if root is None or root.hex() != manifest["checkpoint"]["root"]:
        raise audit.AuditFailure(f"the rows of {named(path)} and the manifest's subtree hashes do "
                                 "not give the checkpoint's root: a row was altered, added or "
                                 "left out")
    return _checked(path, manifest, manifest["rows"], pubkey, "manifest")


def _match(path: Path, manifest: dict[str, Any], tree: PackedLeaves,
           selected: Iterator[dict[str, Any]]) -> tuple[int, list[tuple[int, int]]]:
    """Read the export's rows against the log's: each must equal its leaf, and they must be
    the selected rows one for one. Returns the count and the runs of their tree positions; the
    first row out of place is named once the file is read (with the count, when that is off
    too)."""
    rows = number = 0
    runs: list[tuple[int, int]] = []
    problem: audit.AuditFailure | None = None
    want = next(selected, None)
    try:
        for number, row in _rows(path, manifest["format"]):
            seq = _checked_seq(number, row, tree)
            rows += 1
            if problem is not None:
                continue
            if want is not None and seq == want["seq"]:
                if row_leaf(want) != tree[seq - 1]:  # the file's row is the log's as hashed
                    raise audit.AuditFailure(f"{audit.ALTERED_ROW} (line {number} holds the "
                                             "row as it was hashed)", seq, want["ref"])
                want = next(selected, None)
                subset.extend(runs, seq - 1)
            else:
                problem = _misplaced(named(path), number, row, want, _ends(runs)[1], manifest)
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        raise audit.AuditFailure(f"line {number} cannot be read: {error}") from None
    except RecursionError:
        raise audit.AuditFailure(f"line {number} cannot be read: nested too deeply") from None
    if problem is None and want is not None:
        problem = audit.AuditFailure(f"it is missing from {path.name}, which ends before it",
                                     want["seq"], want["ref"])
    expected = manifest["rows"]
    if problem is not None:
        counted = f" ({path.name} has {rows} rows; its manifest says {expected})"
        raise audit.AuditFailure(problem.message + (counted if rows != expected else ""),
                                 problem.seq, problem.ref)
    if rows != expected:
        raise audit.AuditFailure(f"{path.name} has {rows} rows; its manifest says {expected}")
    return rows, runs


def _checked_seq(number: int, row: dict[str, Any], tree: PackedLeaves) -> int:
    """The row's seq, once the row is known to be that row of the log exactly."""
    seq = row.get("seq")
    if not audit.is_count(seq) or not 0 < seq <= len(tree):
        raise audit.AuditFailure(f"line {number} names no row of the checkpoint", seq)
    if row_leaf(row) != tree[seq - 1]:
        raise audit.AuditFailure(f"line {number} differs from the log", seq, row.get("ref"))
    return int(seq)


def _misplaced(name: str, number: int, row: dict[str, Any], want: dict[str, Any] | None,
               last: int | None, manifest: dict[str, Any]) -> audit.AuditFailure:
    """What is wrong with a row of the log found where another was expected."""
    seq, ref = row["seq"], row.get("ref")
    if want is not None and seq > want["seq"]:
        return audit.AuditFailure(f"it is missing from {name} (line {number} holds row {seq})",
                                  want["seq"], want["ref"])
    if last is not None and seq <= last and _in_range(row, manifest):
        return audit.AuditFailure(f"it appears more than once in {name} (again on line "
                                  f"{number})", seq, ref)
    return audit.AuditFailure(f"line {number} holds it, but the manifest's range does not "
                              "select it", seq, ref)


def _in_range(row: dict[str, Any], manifest: dict[str, Any]) -> bool:
    try:
        moment = as_utc(datetime.fromisoformat(row["at"]))
    except (TypeError, ValueError, OverflowError):
        return False
    since, until = manifest["since"], manifest["until"]
    return (since is None or moment >= since) and (until is None or moment <= until)
