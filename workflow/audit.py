"""Checking the Merkle log: full verification, checkpoints, consistency and inclusion proofs.

A checkpoint is ``{"origin", "size", "root", "at"}`` (plus ``"signature"``, Ed25519 over the
canonical JSON of those four fields). Proof bundles carry rows, their inclusion proofs and the
checkpoint, so that they can be checked without the database.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlmodel import Session, select

from workflow import merkle, signing
from workflow.checks import BATCH, AuditFailure, check_beyond, check_records, check_rows
from workflow.clock import iso
from workflow.errors import InvalidInput, WorkflowError
from workflow.ledger import canonical, chain_link, row_leaf
from workflow.models import GENESIS, History, LogHead, record_id
from workflow.scan import Scanner
from workflow.views import history_dict

ORIGIN = "transfer-workflow"
PARALLEL_ROWS = 100_000  # below this, starting worker processes costs more than it saves
MAX_JOBS = 8


def stream(session: Session, *conditions: Any) -> Iterator[History]:
    query = select(History).where(*conditions).order_by(History.seq)  # type: ignore[arg-type]
    yield from session.exec(query.execution_options(yield_per=BATCH))


def leaves(session: Session, size: int | None = None) -> list[bytes]:
    query = select(History.leaf_hash).order_by(History.seq)  # type: ignore[arg-type]
    if size is not None:
        query = query.where(History.seq <= size)
    return [bytes.fromhex(h) for h in session.exec(query)]


def verify(session: Session, scanner: Scanner, progress: Callable[[int], None] | None = None,
           *, target: str | None = None, jobs: int | None = 1,
           due_field: str | None = None) -> dict[str, Any]:
    """Recompute every leaf and root, then check each record against its history.

    The log head, any rows past it and the refusal chain are read in one snapshot; rows up to
    the head never change, so they may be read later, by sequence (split over worker processes
    with ``jobs`` above 1 and the database's ``target``, see :mod:`workflow.verify_jobs`); then
    each record against its history, in a snapshot of its own. Writers may go on meanwhile:
    what they append after the head was read is left for the next run. Memory stays flat.
    """
    with scanner.snapshot() as snapshot:
        head = snapshot.head()
        if head is None:
            raise AuditFailure("the log head is missing (every initialised database has one): "
                               "the log cannot be checked against it")
        beyond = check_beyond(snapshot, head[0], head[1])
        refusals = _check_refusals(snapshot, head)
    size = head[0]
    if jobs is None:
        big = (size or 0) >= PARALLEL_ROWS
        jobs = max(1, min(os.cpu_count() or 1, MAX_JOBS)) if big else 1
    records: Any = None
    if jobs > 1 and target is not None and size:
        from workflow import verify_jobs

        frontier, records = verify_jobs.run(target, size, jobs, progress, due_field)
    else:
        frontier = check_rows(scanner, 1, size, progress=progress)
    if head[0] and _head_root(head) != frontier.root():
        raise AuditFailure("the log head's root does not match the rows", head[0])
    if beyond is not None:
        raise beyond
    if isinstance(records, WorkflowError):
        raise records
    if records is None:
        records = check_records(scanner, due_field)
    if isinstance(refusals, AuditFailure):
        raise refusals
    return {"rows": frontier.size, "records": records, "root": frontier.root().hex(),
            "refusals": refusals}


def _head_root(head: tuple[int, list[str], int, str]) -> bytes | None:
    try:
        return merkle.Frontier(head[0], [bytes.fromhex(n) for n in head[1]]).root()
    except (TypeError, ValueError):
        return None  # an unreadable frontier matches no root


def _check_refusals(snapshot: Scanner, head: tuple[int, list[str], int, str] | None
                    ) -> int | AuditFailure:
    """The refusal log's chain is unbroken and ends where the log head says it does; the
    failure is returned, to be raised after the history's."""
    link, count = GENESIS, 0
    for seq, row, stored in snapshot.refusals():
        link = chain_link(link, row)
        count += 1
        if link != stored:
            return AuditFailure(f"refusal {seq} does not follow from the refusals before it "
                                "(altered, removed or reordered)", None, row["ref"])
    if head is not None and (head[2], head[3]) != (count, link):
        return AuditFailure(f"the refusal log holds {count} chained refusals but its head "
                            f"records {head[2]}: refusals were cut off or forged")
    return count


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
        for row in stream(session, History.record_id == record_id(ref), History.ref == ref,
                          History.seq <= size)
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
