"""The canonical bytes each leaf of the Merkle log hashes.

The canonical encoding of a row is RFC 8785 (JCS) JSON of the object ``views.history_dict``
returns: keys sorted, no whitespace, UTF-8. Values are only strings, integers,
null, lists and objects, for which Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly JCS.
"""

from __future__ import annotations

import json
from typing import Any

from workflow import merkle


def canonical(row: dict[str, Any]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def row_leaf(row: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical(row))
