"""The log's own checks, row by row and request by request, in constant memory.

Kept apart from :mod:`workflow.audit` so that the worker processes of a split verification
(:mod:`workflow.verify_jobs`) start without the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from workflow import merkle
from workflow.errors import WorkflowError
from workflow.ledger import assemble, row_leaf
from workflow.scan import Scanner

BATCH = 2000


class AuditFailure(WorkflowError):
    """The log or a proof does not check out; the message names the first bad row."""

    def __init__(self, message: str, seq: int | None = None, ref: str | None = None) -> None:
        self.message = message
        self.seq = seq
        self.ref = ref
        where = f"row {seq}" + (f" ({ref})" if ref else "") + ": " if seq is not None else ""
        super().__init__(f"audit failed: {where}{message}")


def check_rows(scanner: Scanner, start: int, last: int | None,
               progress: Callable[[int], None] | None = None) -> merkle.Frontier:
    """Check rows ``start`` to ``last`` (to the end when None): numbered without a gap, each
    leaf recomputed from the row, each stored root recomputed from the tree up to it.

    The tree before ``start`` is taken from the stored leaf hashes; whoever checks those rows
    recomputes them. Returns the tree after the last row checked.
    """
    frontier = merkle.Frontier()
    if start > 1:
        for stored in scanner.leaf_hashes(start):
            frontier.append(bytes.fromhex(stored))
    checked = 0
    for sealed in scanner.sealed(start):
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
        checked += 1
        if progress and checked % BATCH == 0:
            progress(BATCH)
        if seq == last:
            break
    if progress:
        progress(checked % BATCH)
    return frontier


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


def check_records(scanner: Scanner) -> int:
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
