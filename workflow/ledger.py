"""The canonical bytes each leaf of the Merkle log hashes, and the refusal chain's links.

The canonical encoding of a row is RFC 8785 (JCS) JSON of the object ``views.history_dict``
returns: keys sorted, no whitespace, UTF-8. Values are only strings, integers,
null, lists and objects, for which Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly JCS.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflow import merkle


def canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_leaf(row: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical(row))


def refusal_row(at: str, actor: str, ref: str | None, event: str, state: str | None, rule: str,
                message: str) -> dict[str, Any]:
    """A refusal as the chain hashes it (and as `audit refusals --json` shows it, less seq)."""
    return {"at": at, "actor": actor, "ref": ref, "event": event, "state": state, "rule": rule,
            "message": message}


def chain_link(previous: str, row: dict[str, Any]) -> str:
    """The next link of the refusal chain: SHA-256(previous link || canonical row)."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical(row)).hexdigest()
