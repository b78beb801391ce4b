"""Rows as the dictionaries the API returns and ``--json`` prints."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from workflow.clock import iso
from workflow.process import Process

if TYPE_CHECKING:
    from workflow.models import History


def field_values(process: Process, data: dict[str, Any]) -> dict[str, Any]:
    """Stored JSON values parsed back to Python (dates as ``date``), every field present."""
    out = {name: data.get(name) for name in process.field_names}
    for name in process.date_fields:
        value = out[name]
        if value is not None and not isinstance(value, date):
            out[name] = date.fromisoformat(value)
    return out


def record_dict(process: Process, record: Any) -> dict[str, Any]:
    """A record (ORM row or fast-path row) as the API returns it."""
    out: dict[str, Any] = {"ref": record.ref, "state": record.state, "version": record.version}
    for spec in process.fields:
        out[spec.name] = record.data.get(spec.name)
    out["drafted_by"] = record.created_by
    out["drafted_at"] = iso(record.created_at)
    return out


def history_dict(row: History) -> dict[str, Any]:
    """A history row as the API returns it and its leaf hashes it: ``acted_as`` and
    ``version`` only where the row keeps them (rows written before they were kept have no such
    keys)."""
    out: dict[str, Any] = {
        "seq": row.seq,
        "ref": row.ref,
        "event": row.event,
        "from": row.from_state,
        "to": row.to_state,
        "actor": row.actor,
        "roles": list(row.roles),
    }
    if row.acted_as is not None:
        out["acted_as"] = list(row.acted_as)
    out |= {
        "at": iso(row.at),
        "reason": row.reason,
        "changes": dict(row.changes),
        "consulted": dict(row.consulted),
        "process_version": row.process_version,
    }
    if row.version is not None:
        out["version"] = row.version
    return out
