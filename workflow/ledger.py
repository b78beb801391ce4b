"""Appending history rows to the Merkle log, and the canonical bytes each leaf hashes.

The canonical encoding of a row is RFC 8785 (JCS) JSON of the object ``views.history_dict``
returns minus nothing: keys sorted, no whitespace, UTF-8. Values are only strings, integers,
null, lists and objects, for which Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly JCS.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Session, select

from workflow import merkle
from workflow.models import History, LogHead
from workflow.views import history_dict


def canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_leaf(row: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical(row))


def append(session: Session, row: History) -> None:
    """Number ``row`` after the last one, hash it, store the new root; O(log n).

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite writes are serialised by
    ``BEGIN IMMEDIATE``), so sequence numbers follow commit order with no gaps.
    """
    head = session.exec(select(LogHead).where(LogHead.id == 1).with_for_update()).one()
    frontier = merkle.Frontier(head.size, [bytes.fromhex(h) for h in head.frontier])
    row.seq = head.size + 1
    row.leaf_hash = ""
    row.root_hash = ""
    leaf = row_leaf(history_dict(row))
    frontier.append(leaf)
    row.leaf_hash = leaf.hex()
    row.root_hash = frontier.root().hex()
    head.size = frontier.size
    head.frontier = [n.hex() for n in frontier.nodes]
    session.add(head)
    session.add(row)
