"""The canonical bytes each leaf of the Merkle log hashes, and the refusal chain's links.

The canonical encoding of a row is RFC 8785 (JCS) JSON of the object ``views.history_dict``
returns: keys sorted, no whitespace, UTF-8. Values are only strings, integers,
null, lists and objects, for which Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)`` produces exactly JCS.

The history table stores its JSON columns (roles, changes, consulted) in that same encoding, so
a row's canonical bytes can be put together from its columns without decoding them
(:func:`assemble`); :func:`canonical` stays the definition, and tests hold the two equal.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from workflow import merkle

GENESIS = "0" * 64
"""The link a chain (refusals, policy changes) starts from."""

encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
"""Canonical JSON text of any value."""

string = json.encoder.encode_basestring
"""A string's canonical JSON text (quoted, escaped as :data:`encode` escapes it)."""
_string = string


def canonical(row: dict[str, Any]) -> bytes:
    return encode(row).encode()


def row_leaf(row: dict[str, Any]) -> bytes:
    return merkle.leaf_hash(canonical(row))


def _text(value: str | None) -> str:
    return "null" if value is None else _string(value)


def assemble(seq: int, ref: str, event: str, source: str | None, dest: str, actor: str,
             roles: str, at: str, reason: str | None, changes: str, consulted: str,
             process_version: str, acted_as: str | None = None,
             version: int | None = None) -> bytes:
    """The canonical bytes of a history row from its scalar values and the canonical JSON text
    of its structured ones: equal to ``canonical(row)`` with the keys in sorted order. A row
    written before the log kept the role acted under has no ``acted_as`` key at all, one
    written before it kept the request's version no ``version``."""
    acted = "" if acted_as is None else f'"acted_as":{acted_as},'
    counted = "" if version is None else f',"version":{version}'
    return (f'{{{acted}"actor":{_string(actor)},"at":{_string(at)},"changes":{changes},'
            f'"consulted":{consulted},"event":{_string(event)},"from":{_text(source)},'
            f'"process_version":{_string(process_version)},"reason":{_text(reason)},'
            f'"ref":{_string(ref)},"roles":{roles},"seq":{seq},"to":{_string(dest)}{counted}}}'
            ).encode()


def refusal_row(at: str, actor: str, ref: str | None, event: str, state: str | None, rule: str,
                message: str) -> dict[str, Any]:
    """A refusal as the chain hashes it (and as `audit refusals --json` shows it, less seq)."""
    return {"at": at, "actor": actor, "ref": ref, "event": event, "state": state, "rule": rule,
            "message": message}


def policy_change_row(entry_id: int, action: str, subject: str, kind: str, since: str,
                      until: str | None, actor: str, at: str, reason: str,
                      after_row: int | None = None) -> dict[str, Any]:
    """A policy change as its chain hashes it (dates and the moment in ISO 8601); one made
    before changes kept their place in the history's order has no ``after_row`` key."""
    row = {"entry_id": entry_id, "action": action, "subject": subject, "kind": kind,
           "since": since, "until": until, "actor": actor, "at": at, "reason": reason}
    return _placed(row, after_row)


def user_change_row(action: str, name: str, roles: list[str], active: bool, actor: str,
                    at: str, after_row: int | None = None,
                    reason: str | None = None) -> dict[str, Any]:
    """A change to the users as its chain hashes it (roles sorted, the moment in ISO 8601;
    ``after_row`` as in :func:`policy_change_row`; a ``reason`` key only when one was given)."""
    row = {"action": action, "name": name, "roles": sorted(roles), "active": active,
           "actor": actor, "at": at}
    if reason is not None:
        row["reason"] = reason
    return _placed(row, after_row)


def _placed(row: dict[str, Any], after_row: int | None) -> dict[str, Any]:
    if after_row is not None:
        row["after_row"] = after_row
    return row


def chain_link(previous: str, row: dict[str, Any]) -> str:
    """The next link of a chain (refusals, policy changes): SHA-256(previous link || canonical
    row)."""
    return hashlib.sha256(bytes.fromhex(previous) + canonical(row)).hexdigest()
