"""Checking the Merkle log: full verification, checkpoints, consistency and inclusion proofs.

A checkpoint is ``{"origin", "size", "root", "at"}`` (plus ``"signature"``, Ed25519 over the
canonical JSON of those four fields). Proof bundles carry rows, their inclusion proofs and the
checkpoint, so that they can be checked without the database.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from workflow import merkle, signing
from workflow.clock import iso
from workflow.errors import InvalidInput, WorkflowError
from workflow.ledger import assemble, canonical, chain_link, row_leaf
from workflow.models import GENESIS, History, LogHead
from workflow.scan import Scanner
from workflow.views import history_dict

ORIGIN = "transfer-workflow"
BATCH = 2000


class AuditFailure(WorkflowError):
    """The log or a proof does not check out; the message names the first bad row."""

    def __init__(self, message: str, seq: int | None = None, ref: str | None = None) -> None:
        self.seq = seq
        self.ref = ref
        where = f"row {seq}" + (f" ({ref})" if ref else "") + ": " if seq is not None else ""
        super().__init__(f"audit failed: {where}{message}")


def stream(session: Session, *conditions: Any) -> Iterator[History]:
    query = select(History).where(*conditions).order_by(History.seq)  # type: ignore[arg-type]
    yield from session.exec(query.execution_options(yield_per=BATCH))


def leaves(session: Session, size: int | None = None) -> list[bytes]:
    query = select(History.leaf_hash).order_by(History.seq)  # type: ignore[arg-type]
    if size is not None:
        query = query.where(History.seq <= size)
    return [bytes.fromhex(h) for h in session.exec(query)]


def verify(session: Session, scanner: Scanner,
           progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Recompute every leaf and root, then check each record against its history.

    Two streaming passes (by sequence, then by record), so memory stays flat.
    """
    frontier = merkle.Frontier()
    for sealed in scanner.sealed():
        seq, ref, leaf_hex, root_hex = sealed[0], sealed[1], sealed[12], sealed[13]
        expected = frontier.size + 1
        if seq != expected:
            raise AuditFailure(f"expected row {expected} next, found row {seq}: "
                               f"{seq - expected} row(s) missing", seq, ref)
        leaf = _leaf(sealed, leaf_hex)
        if leaf.hex() != leaf_hex:
            raise AuditFailure("its content does not match its leaf hash (the row was altered)",
                               seq, ref)
        frontier.append(leaf)
        if frontier.root().hex() != root_hex:
            raise AuditFailure("the tree root stored with it does not match the log up to it",
                               seq, ref)
        if progress and frontier.size % BATCH == 0:
            progress(BATCH)
    head = session.get(LogHead, 1)
    if head is not None and head.size != frontier.size:
        raise AuditFailure(f"the log head counts {head.size} rows but {frontier.size} are "
                           f"present: rows after {frontier.size} were cut off",
                           frontier.size + 1)
    if head is not None and head.size and merkle.Frontier(
            head.size, [bytes.fromhex(n) for n in head.frontier]).root() != frontier.root():
        raise AuditFailure("the log head's root does not match the rows", head.size)
    records = _check_records(scanner)
    refusals = _check_refusals(scanner, head)
    if progress:
        progress(frontier.size % BATCH)
    return {"rows": frontier.size, "records": records, "root": frontier.root().hex(),
            "refusals": refusals}


def _leaf(sealed: tuple[Any, ...], stored: str) -> bytes:
    """The leaf hash of a row as read by :meth:`Scanner.sealed`.

    Its canonical bytes are put together from the columns as stored; when that does not give
    the stored leaf (a row written with other JSON spacing, or altered), the row is decoded
    and encoded again, which is the definition.
    """
    seq, ref, event, source, dest, actor, roles, at, reason, changes, consulted, version = (
        sealed[:12])
    try:
        leaf = merkle.leaf_hash(assemble(seq, ref, event, source, dest, actor, roles, at,
                                         reason, changes, consulted, version))
        if leaf.hex() == stored:
            return leaf
    except (TypeError, ValueError):
        pass  # not the stored shapes: the long way decides
    try:
        return row_leaf({"seq": seq, "ref": ref, "event": event, "from": source, "to": dest,
                         "actor": actor, "roles": _decoded(roles), "at": at, "reason": reason,
                         "changes": _decoded(changes), "consulted": _decoded(consulted),
                         "process_version": version})
    except (TypeError, ValueError):
        return b""  # undecodable: altered


def _decoded(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _check_refusals(scanner: Scanner, head: LogHead | None) -> int:
    """The refusal log's chain is unbroken and ends where the log head says it does."""
    link, count = GENESIS, 0
    for seq, row, stored in scanner.refusals():
        link = chain_link(link, row)
        count += 1
        if link != stored:
            raise AuditFailure(f"refusal {seq} does not follow from the refusals before it "
                               "(altered, removed or reordered)", None, row["ref"])
    if head is not None and (head.refusals, head.refusal_chain) != (count, link):
        raise AuditFailure(f"the refusal log holds {count} chained refusals but its head "
                           f"records {head.refusals}: refusals were cut off or forged")
    return count


def _check_records(scanner: Scanner) -> int:
    """Each record's state, version and fields equal what its history rows say."""
    records = 0
    for record, rows in scanner.records_with_history():
        if record[0] is None:
            seq = rows[0][0]
            raise AuditFailure("its record no longer exists", seq)
        records += 1
        _id, ref, state, version, fields = record
        if not rows:
            raise AuditFailure(f"{ref} has no history row at all", None, ref)
        data: dict[str, Any] = {}
        for _seq, _to, changes in rows:
            data.update({name: new for name, (_old, new) in changes.items()})
        last_seq, last_to, _ = rows[-1]
        if state != last_to:
            raise AuditFailure(f"{ref} is {state} but its last history row says {last_to}",
                               last_seq, ref)
        if version != len(rows):
            raise AuditFailure(f"{ref} is at version {version} but has {len(rows)} history "
                               "rows", last_seq, ref)
        changed = sorted(k for k in set(data) | set(fields) if data.get(k) != fields.get(k))
        if changed:
            raise AuditFailure(f"{ref} fields {', '.join(changed)} differ from what its "
                               "history records", last_seq, ref)
    return records


def _unsigned(checkpoint: dict[str, Any]) -> bytes:
    return canonical({k: checkpoint[k] for k in ("origin", "size", "root", "at")})


def checkpoint(session: Session, now: datetime, key: Path | None = None) -> dict[str, Any]:
    head = session.get(LogHead, 1)
    size = head.size if head else 0
    frontier = merkle.Frontier(size, [bytes.fromhex(n) for n in head.frontier] if head else [])
    out: dict[str, Any] = {"origin": ORIGIN, "size": size, "root": frontier.root().hex(),
                           "at": iso(now)}
    if key is not None:
        out["signature"] = signing.sign(_unsigned(out), key)
    return out


def read_checkpoint(path: Path, pubkey: Path | None) -> dict[str, Any]:
    """Load a checkpoint file; with ``pubkey``, its signature must verify."""
    try:
        data = json.loads(path.read_text())
        cp = {"origin": str(data["origin"]), "size": int(data["size"]),
              "root": str(data["root"]), "at": str(data["at"])}
        bytes.fromhex(cp["root"])
        if "signature" in data:
            cp["signature"] = str(data["signature"])
    except OSError as error:
        raise InvalidInput(f"cannot read checkpoint {path}: {error.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise InvalidInput(f"{path} is not a checkpoint") from None
    if pubkey is not None:
        check_signature(cp, pubkey)
    return cp


def check_signature(cp: dict[str, Any], pubkey: Path) -> None:
    if "signature" not in cp:
        raise AuditFailure("the checkpoint is not signed")
    if not signing.verify(_unsigned(cp), cp["signature"], pubkey):
        raise AuditFailure("the checkpoint's signature does not verify with that public key")


def consistent_with(session: Session, cp: dict[str, Any]) -> dict[str, Any]:
    """Nothing up to the checkpoint was rewritten or cut off (RFC 9162 consistency proof)."""
    all_leaves = leaves(session)
    size, old = cp["size"], bytes.fromhex(cp["root"])
    if size > len(all_leaves):
        raise AuditFailure(f"the log has {len(all_leaves)} rows but the checkpoint saw {size}: "
                           "rows were cut off", len(all_leaves) + 1)
    current = merkle.root_of(all_leaves)
    proof = merkle.consistency_proof(size, all_leaves) if 0 < size < len(all_leaves) else []
    if size == 0:
        ok = cp["root"] == merkle.EMPTY_ROOT.hex()
    else:
        ok = merkle.verify_consistency(size, len(all_leaves), old, current, proof)
    if not ok:
        raise AuditFailure(f"the log is not consistent with the checkpoint of {size} rows: "
                           "rows up to it were rewritten")
    return {"checkpoint_size": size, "size": len(all_leaves), "proof": [p.hex() for p in proof],
            "signed": "signature" in cp}


def prove(session: Session, ref: str, cp: dict[str, Any]) -> dict[str, Any]:
    """The rows of ``ref`` up to the checkpoint, each with its inclusion proof."""
    size = cp["size"]
    tree = leaves(session, size)
    if len(tree) != size or merkle.root_of(tree).hex() != cp["root"]:
        raise AuditFailure("the checkpoint does not match this database's log")
    rows = [
        {"index": row.seq - 1, "row": history_dict(row),
         "proof": [p.hex() for p in merkle.inclusion_proof(row.seq - 1, tree)]}
        for row in stream(session, History.ref == ref, History.seq <= size)
    ]
    return {"checkpoint": cp, "ref": ref, "rows": rows}


def check_proof(bundle: dict[str, Any], pubkey: Path | None) -> dict[str, Any]:
    """Check a proof bundle with no database: O(log n) hashes per row."""
    try:
        cp = bundle["checkpoint"]
        size, root = int(cp["size"]), bytes.fromhex(cp["root"])
        ref, rows = bundle["ref"], bundle["rows"]
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("not a proof bundle (checkpoint, ref and rows expected)") from None
    if pubkey is not None:
        check_signature(cp, pubkey)
    for entry in rows:
        row, index = entry["row"], int(entry["index"])
        if row.get("ref") != ref or row.get("seq") != index + 1:
            raise AuditFailure(f"the row is not {ref}'s row {index + 1}", row.get("seq"), ref)
        proof = [bytes.fromhex(p) for p in entry["proof"]]
        if not merkle.verify_inclusion(index, size, row_leaf(row), proof, root):
            raise AuditFailure("its inclusion proof does not verify against the checkpoint",
                               row.get("seq"), ref)
    return {"ref": ref, "rows": len(rows), "checkpoint_size": size,
            "signed": "signature" in cp}
