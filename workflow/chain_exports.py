"""Exports of the hash-chained logs (refusals, policy changes, user changes), checked by their
links.

Each line is a row exactly as its chain link hashes it, with its ``seq`` and stored ``chain``
link beside it: SHA-256 of the link before and the row's canonical JSON gives the link, so the
chain can be recomputed from the lines alone (a JSONL line is the canonical JSON of the row with
those two keys added, byte for byte). The manifest beside the file says which log, the links
before the first row (``prior``) and the link they end in (``previous_link``, GENESIS for a
whole log), the last link, and a checkpoint, whose count and link for that log the export is
held against when it runs to its end.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from workflow import audit, signing
from workflow.clock import as_utc
from workflow.errors import InvalidInput
from workflow.exports import (
    manifest_path,
    refuse_outputs,
    refuse_signing_key,
    replacing,
)
from workflow.ledger import GENESIS, canonical, chain_link, encode
from workflow.scan import Scanner
from workflow.values import named

LOGS = ("refusals", "policy", "users")
# the checkpoint's count and link of each log
CHECKPOINT_KEYS = {"refusals": ("refusals", "refusal_chain"),
                   "policy": ("policy_changes", "policy_chain"),
                   "users": ("user_changes", "user_chain")}
NAMES = {"refusals": "refusal log", "policy": "policy log", "users": "user log"}

# CSV cells, per log: (column, kind); kinds: "text", "text?" (empty is null), "int",
# "int-" (empty: no such key), "text-" (likewise), "bool", "list"
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "refusals": [("seq", "int"), ("at", "text"), ("actor", "text"), ("ref", "text?"),
                 ("event", "text"), ("state", "text?"), ("rule", "text"),
                 ("message", "text"), ("chain", "text")],
    "policy": [("seq", "int"), ("entry_id", "int"), ("action", "text"), ("subject", "text"),
               ("kind", "text"), ("since", "text"), ("until", "text?"), ("actor", "text"),
               ("at", "text"), ("reason", "text"), ("after_row", "int-"), ("chain", "text")],
    "users": [("seq", "int"), ("action", "text"), ("name", "text"), ("roles", "list"),
              ("active", "bool"), ("actor", "text"), ("at", "text"), ("reason", "text-"),
              ("after_row", "int-"), ("chain", "text")],
}


def check_log(log: str) -> str:
    if log not in LOGS:
        raise InvalidInput(f"unknown log {log!r}; use history, refusals, policy or users")
    return log


# -- writing ---------------------------------------------------------------------------------


def _cell(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "bool":
        return "true" if value else "false"
    if kind == "list":
        return encode(value)
    if kind.startswith("text"):
        # an empty text, or one that starts as JSON text does, is written as its JSON string
        return encode(value) if value == "" or value.startswith('"') else value
    return str(value)


def _line(log: str, fmt: str, seq: int, row: dict[str, Any], link: str) -> str:
    full = {**row, "seq": seq, "chain": link}
    if fmt == "jsonl":
        return encode(full) + "\n"
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(
        [_cell(full.get(name), kind) for name, kind in COLUMNS[log]])
    return buffer.getvalue()


def size(scanner: Scanner, log: str, count: int, since: datetime | None,
         until: datetime | None) -> int:
    """How many rows an export of the first ``count`` links would write (for progress)."""
    _prior, _link, first, last = scanner.chain_span(log, count, since, until)
    if first is None or last is None:
        return 0
    return scanner.chain_count(log, first, last)


def export(session: Any, scanner: Scanner, log: str, path: Path, fmt: str,
           since: datetime | None, until: datetime | None, now: datetime,
           progress: Callable[[int], None] | None = None, *, database: Path | None = None,
           force: bool = False, key: Path | None = None) -> dict[str, Any]:
    """Write the rows of ``log`` stamped in [since, until] (see :meth:`Scanner.chain_span`)
    up to a checkpoint taken now, and the manifest beside them; with ``key``, the checkpoint
    and the manifest are signed."""
    check_log(log)
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"unknown export format {fmt!r}; use csv or jsonl")
    if not path.parent.is_dir():
        raise InvalidInput(f"directory {path.parent} does not exist")
    refuse_signing_key([path, manifest_path(path)], key)
    refuse_outputs([path, manifest_path(path)], database, force=force)
    cp = audit.checkpoint(session, now, key)
    count_key, _chain_key = CHECKPOINT_KEYS[log]
    prior, previous, first, last = scanner.chain_span(log, cp[count_key], since, until)
    with replacing(path, force=force) as out:
        rows, link, digest = _write_rows(out, scanner, log, fmt, first, last, previous,
                                         progress)
    manifest: dict[str, Any] = {
        "file": path.name, "log": log, "format": fmt, "rows": rows,
        "first_seq": first if rows else None, "last_seq": last if rows else None,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None, "prior": prior,
        "previous_link": previous, "last_link": link, "sha256": digest, "checkpoint": cp,
    }
    if key is not None:
        manifest["signature"] = signing.sign(canonical(manifest), key)
    with replacing(manifest_path(path), force=force) as side:  # once the export is in place
        side.write(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _write_rows(out: IO[str], scanner: Scanner, log: str, fmt: str, first: int | None,
                last: int | None, link: str, progress: Callable[[int], None] | None
                ) -> tuple[int, str, str]:
    """Stream the rows to ``out``: (count, the last link, SHA-256 of what was written). A row
    whose stored values no longer give its link is not exported: the log is not intact."""
    digest = hashlib.sha256()
    rows = 0
    if fmt == "csv":
        header = ",".join(name for name, _ in COLUMNS[log]) + "\n"
        out.write(header)
        digest.update(header.encode())
    if first is None or last is None:
        return rows, link, digest.hexdigest()
    for seq, row, stored in scanner.chain_rows(log, first, last):
        if row is None or chain_link(link, row) != stored:
            raise audit.AuditFailure(f"{NAMES[log]} row {seq} does not follow from the rows "
                                     "before it (altered?): run `workflow audit verify`")
        line = _line(log, fmt, seq, row, stored)
        out.write(line)
        digest.update(line.encode())
        link = stored
        rows += 1
        if progress and rows % audit.BATCH == 0:
            progress(audit.BATCH)
    if progress:
        progress(rows % audit.BATCH)
    return rows, link, digest.hexdigest()


# -- reading ---------------------------------------------------------------------------------


def _read_cell(text: str, kind: str) -> Any:
    if text == "":
        if kind.endswith("?"):
            return None
        if kind.endswith("-"):
            return _ABSENT
        raise ValueError("a cell that may not be empty is")
    if kind.startswith("text"):
        if not text.startswith('"'):
            return text
        value = json.loads(text)
        if not isinstance(value, str) or encode(value) != text:
            raise ValueError("a quoted cell is not a canonical JSON string")
        return value
    if kind.startswith("int"):
        if not text.isascii() or not text.isdigit():
            raise ValueError("a number is not in digits 0-9")
        return int(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError("a flag is neither true nor false")
        return text == "true"
    value = json.loads(text)  # a list
    if not isinstance(value, list) or encode(value) != text:
        raise ValueError("a list is not canonical JSON")
    return value


_ABSENT = object()


def _rows(path: Path, log: str, fmt: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """The export's lines as rows (with ``seq`` and ``chain``), each held to the form the
    export writes."""
    with path.open(encoding="utf-8", newline="") as source:
        if fmt == "jsonl":
            for number, line in enumerate(source, 1):
                try:
                    row = json.loads(line)
                    if not isinstance(row, dict):
                        raise ValueError("it is not a JSON object")
                    if line.removesuffix("\n") != encode(row) or not line.endswith("\n"):
                        raise ValueError("it is not the row's canonical JSON (keys sorted, each "
                                         "once, no spaces, a line of its own)")
                except (ValueError, RecursionError) as error:
                    raise _unreadable(number, error) from None
                yield number, row
            return
        reader = csv.reader(source)
        names = [name for name, _ in COLUMNS[log]]
        try:
            header = next(reader, None)
        except csv.Error as error:
            raise _unreadable(1, error) from None
        if header != names:
            raise audit.AuditFailure(f"line 1 is not the header of a {NAMES[log]} export")
        while True:
            try:
                cells = next(reader, None)
            except csv.Error as error:
                raise _unreadable(reader.line_num, error) from None
            if cells is None:
                return
            number = reader.line_num
            try:
                if len(cells) != len(names):
                    raise ValueError(f"it has {len(cells)} cells, not {len(names)}")
                row = {}
                for (name, kind), text in zip(COLUMNS[log], cells, strict=True):
                    value = _read_cell(text, kind)
                    if value is not _ABSENT:
                        row[name] = value
            except (ValueError, RecursionError) as error:
                raise _unreadable(number, error) from None
            yield number, row


def _unreadable(number: int, error: BaseException) -> audit.AuditFailure:
    said = "nested too deeply" if isinstance(error, RecursionError) else str(error)
    return audit.AuditFailure(f"line {number} cannot be read: {said}")


# the fields of each log's rows: those every row has, and those only later ones have
FIELDS = {"refusals": ({"at", "actor", "ref", "event", "state", "rule", "message"}, set()),
          "policy": ({"entry_id", "action", "subject", "kind", "since", "until", "actor", "at",
                      "reason"}, {"after_row"}),
          "users": ({"action", "name", "roles", "active", "actor", "at"}, {"reason", "after_row"})}


def _split(number: int, log: str, row: dict[str, Any]) -> tuple[int, dict[str, Any], str]:
    """A line's seq, the row its link hashes, and its stored link."""
    seq, link = row.get("seq"), row.get("chain")
    always, later = FIELDS[log]
    fields = set(row) - {"seq", "chain"}
    if not always <= fields <= always | later:
        raise audit.AuditFailure(f"line {number} (row {audit.shown(seq)}) is not a row of the "
                                 f"{NAMES[log]}: its fields are not that log's")
    if not audit.is_count(seq) or seq == 0:
        raise audit.AuditFailure(f"line {number} has no row number (seq)")
    if not isinstance(link, str) or audit.HASH.fullmatch(link) is None:
        raise audit.AuditFailure(f"line {number} has no chain link (64 lowercase hex "
                                 "characters)")
    return seq, {k: v for k, v in row.items() if k not in ("seq", "chain")}, link


# -- the manifest ----------------------------------------------------------------------------


def _hash(value: Any) -> bool:
    return isinstance(value, str) and audit.HASH.fullmatch(value) is not None


def _seq(value: Any) -> bool:
    return value is None or (audit.is_count(value) and value > 0)


def _moment(value: Any) -> bool:
    return value is None or audit.is_moment(value)


MANIFEST_FIELDS: list[tuple[str, Callable[[Any], bool], str]] = [
    ("log", lambda v: v in LOGS, "refusals, policy or users"),
    ("format", lambda v: v in ("csv", "jsonl"), "csv or jsonl"),
    ("rows", audit.is_count, "a whole number, 0 or more"),
    ("first_seq", _seq, "a row number or null"),
    ("last_seq", _seq, "a row number or null"),
    ("since", _moment, "an ISO 8601 time or null"),
    ("until", _moment, "an ISO 8601 time or null"),
    ("prior", audit.is_count, "a whole number, 0 or more"),
    ("previous_link", _hash, "64 lowercase hex characters"),
    ("last_link", _hash, "64 lowercase hex characters"),
    ("sha256", _hash, "64 lowercase hex characters"),
]


def is_chain_manifest(path: Path) -> bool:
    """Whether the manifest beside ``path`` is a chained log's (it names its log); one that
    cannot be read is left to the history export's reader to name."""
    try:
        data = json.loads(manifest_path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and "log" in data


def read_manifest(path: Path) -> dict[str, Any]:
    where = manifest_path(path)
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"cannot read {where}: {error.strerror}") from None
    except (ValueError, RecursionError):
        raise InvalidInput(f"{where} is not an export manifest (not JSON)") from None
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
    count_key, chain_key = CHECKPOINT_KEYS[manifest["log"]]
    if count_key not in manifest["checkpoint"]:
        raise InvalidInput(f"{where}: its checkpoint has no {count_key!r} and {chain_key!r}")
    if "signature" in data and not isinstance(data["signature"], str):
        raise InvalidInput(f"{where}: field 'signature' must be base64 text")
    manifest["signature"] = data.get("signature")
    manifest["as_read"] = data
    return manifest


def _check_signatures(manifest: dict[str, Any], pubkey: Path) -> None:
    from workflow.exports import _check_signatures as check

    check(manifest, pubkey)


def _sha256(path: Path) -> str:
    from workflow.exports import _sha256 as digest

    return digest(path)


def _opened(path: Path, pubkey: Path | None) -> dict[str, Any]:
    """The manifest, its signatures (with ``pubkey``), the file's digest and the manifest's
    own sense checked."""
    manifest = read_manifest(path)
    if pubkey is not None:
        _check_signatures(manifest, pubkey)
    if _sha256(path) != manifest["sha256"]:
        raise audit.AuditFailure(f"{named(path)} does not match the SHA-256 in its manifest")
    if (manifest["prior"] == 0) != (manifest["previous_link"] == GENESIS):
        raise audit.AuditFailure("its manifest's previous link is GENESIS only where no row "
                                 "comes before, and so it is not")
    count = manifest["checkpoint"][CHECKPOINT_KEYS[manifest["log"]][0]]
    if manifest["prior"] + manifest["rows"] > count:
        raise audit.AuditFailure(f"its manifest says {manifest['prior']} rows before and "
                                 f"{manifest['rows']} in it, more than the checkpoint's {count}")
    return manifest


def _walk(path: Path, manifest: dict[str, Any],
          each: Callable[[int, int, dict[str, Any], str], None] | None = None) -> int:
    """Read the lines, recomputing each link from the one before (the manifest's previous link
    for the first), and hold the ends to the manifest; ``each`` sees every line that follows
    (line number, seq, row, link). Returns the count of rows."""
    log = manifest["log"]
    link, rows, last_seq, number = manifest["previous_link"], 0, None, 0
    first_seq = None
    since, until = manifest["since"], manifest["until"]
    last_at = None
    try:
        for number, raw in _rows(path, log, manifest["format"]):
            seq, row, stored = _split(number, log, raw)
            if last_seq is not None and seq <= last_seq:
                raise audit.AuditFailure(f"line {number} (row {seq}) is repeated or out of "
                                         f"order: it comes after row {last_seq}")
            if chain_link(link, row) != stored:
                before = "the manifest's previous link" if rows == 0 else f"line {number - 1}"
                raise audit.AuditFailure(
                    f"line {number} (row {seq}) does not follow from {before}: the line was "
                    "altered, or a line before it dropped, inserted or moved")
            at = _at(row)
            if rows == 0 and since is not None and (at is None or at < since):
                raise audit.AuditFailure(f"line {number} (row {seq}) is stamped before the "
                                         "manifest's --since")
            if each is not None:
                each(number, seq, row, stored)
            link, last_seq, last_at = stored, seq, at
            first_seq = seq if first_seq is None else first_seq
            rows += 1
    except (ValueError, KeyError, TypeError, csv.Error) as error:
        raise audit.AuditFailure(f"line {number} cannot be read: {error}") from None
    if rows and until is not None and (last_at is None or last_at > until):
        raise audit.AuditFailure(f"line {number} (row {last_seq}) is stamped after the "
                                 "manifest's --until")
    if rows != manifest["rows"]:
        raise audit.AuditFailure(f"{named(path)} has {rows} rows; its manifest says "
                                 f"{manifest['rows']}")
    if (first_seq, last_seq) != (manifest["first_seq"], manifest["last_seq"]):
        raise audit.AuditFailure(f"its manifest says rows {manifest['first_seq']} to "
                                 f"{manifest['last_seq']} but {named(path)} holds rows "
                                 f"{first_seq} to {last_seq}")
    if link != manifest["last_link"]:
        raise audit.AuditFailure(f"the last link of {named(path)} is not its manifest's "
                                 "last_link: a line was dropped or added at the end, or the "
                                 "manifest altered")
    count_key, chain_key = CHECKPOINT_KEYS[log]
    cp = manifest["checkpoint"]
    if manifest["prior"] + rows == cp[count_key] and link != cp[chain_key]:
        raise audit.AuditFailure(f"{named(path)} runs to the checkpoint's {cp[count_key]} rows "
                                 f"but its last link is not the checkpoint's {chain_key}")
    return rows


def _at(row: dict[str, Any]) -> datetime | None:
    try:
        return as_utc(datetime.fromisoformat(row["at"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None


def _checked(path: Path, manifest: dict[str, Any], rows: int, pubkey: Path | None,
             against: str) -> dict[str, Any]:
    log = manifest["log"]
    count_key, chain_key = CHECKPOINT_KEYS[log]
    cp = manifest["checkpoint"]
    return {"file": str(path), "log": log, "rows": rows, "checkpoint_count": cp[count_key],
            "checkpoint_link": cp[chain_key], "checked_against": against,
            "signed": manifest["signature"] is not None, "signature_checked": pubkey is not None}


def check_export_offline(path: Path, pubkey: Path | None = None) -> dict[str, Any]:
    """Without the database: each line's link follows from the one before (from the
    manifest's previous link), the last is the manifest's, and the checkpoint's where the
    export runs to it. That no row was left out at either end rests on the signature."""
    manifest = _opened(path, pubkey)
    rows = _walk(path, manifest)
    return _checked(path, manifest, rows, pubkey, "manifest")


def check_export(scanner: Scanner, path: Path, pubkey: Path | None = None) -> dict[str, Any]:
    """Against the database: the lines are exactly the log's rows the manifest's window
    selects up to its checkpoint, in order, none missing, repeated or changed, each as the
    database holds it now; and the checkpoint's link is this database's."""
    manifest = _opened(path, pubkey)
    log = manifest["log"]
    count_key, chain_key = CHECKPOINT_KEYS[log]
    cp = manifest["checkpoint"]
    prior, previous, first, last = scanner.chain_span(log, cp[count_key], manifest["since"],
                                                      manifest["until"])
    end = _link_at(scanner, log, cp[count_key])
    if end != cp[chain_key]:
        raise audit.AuditFailure(f"the manifest's checkpoint does not match this database's "
                                 f"{NAMES[log]} (its {cp[count_key]} rows do not end in the "
                                 f"checkpoint's {chain_key})")
    if (prior, previous) != (manifest["prior"], manifest["previous_link"]):
        raise audit.AuditFailure(f"its manifest says {manifest['prior']} rows come before it, "
                                 f"ending in {manifest['previous_link'][:12]}…, but in the "
                                 f"{NAMES[log]} {prior} do, ending in {previous[:12]}…")
    wanted = iter(scanner.chain_rows(log, first, last) if first is not None and
                  last is not None else ())

    def same(number: int, seq: int, row: dict[str, Any], link: str) -> None:
        want = next(wanted, None)
        if want is None:
            raise audit.AuditFailure(f"line {number} (row {seq}) is not among the rows of "
                                     f"the {NAMES[log]} the manifest's window selects")
        if want[0] != seq:
            what = "missing" if want[0] < seq else "not in the window"
            raise audit.AuditFailure(f"line {number} holds row {seq} where the {NAMES[log]} "
                                     f"has row {want[0]} ({what})")
        if want[1] != row or want[2] != link:
            raise audit.AuditFailure(f"line {number} (row {seq}) differs from the {NAMES[log]} "
                                     "as the database holds it now")

    rows = _walk(path, manifest, same)
    extra = next(wanted, None)
    if extra is not None:
        raise audit.AuditFailure(f"row {extra[0]} of the {NAMES[log]} is missing from "
                                 f"{named(path)}, which ends before it")
    return _checked(path, manifest, rows, pubkey, "database")


def _link_at(scanner: Scanner, log: str, count: int) -> str | None:
    """The stored link of the ``count``-th row of ``log`` (GENESIS for none), or None when the
    log holds fewer."""
    return GENESIS if count == 0 else scanner.chain_link_at(log, count)
