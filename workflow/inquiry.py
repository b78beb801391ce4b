"""The questions auditors ask: filtered trails, refusals, what was true then, and a report."""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from workflow.access import recorded_name
from workflow.clock import as_utc, iso
from workflow.models import History, Refusal, record_id
from workflow.process import Process
from workflow.scan import BATCH, Scanner, Step


def refusals(session: Session, *, actor: str | None = None, since: datetime | None = None,
             until: datetime | None = None, ref: str | None = None, rule: str | None = None,
             event: str | None = None) -> Iterator[dict[str, Any]]:
    """Refused attempts, oldest first, read as they are asked for; each filter a ``WHERE``.

    ``ref`` is canonical (upper case, no spaces around it): a refusal recorded before its
    reference was looked up (an unknown or disabled user's) keeps it as it was typed, so the
    stored one is matched in that form too."""
    if any("\x00" in v for v in (ref, rule, event) if v is not None):
        return  # no stored value holds one (PostgreSQL cannot even compare it)
    query = select(Refusal).order_by(Refusal.seq)  # type: ignore[arg-type]
    if actor is not None:  # a name no user could have is kept as recorded_name spells it
        query = query.where(Refusal.actor == recorded_name(actor))
    if since is not None:
        query = query.where(Refusal.at >= since)
    if until is not None:
        query = query.where(Refusal.at <= until)
    if ref is not None:
        query = query.where(func.upper(func.trim(Refusal.ref)) == ref)
    if rule is not None:
        query = query.where(Refusal.rule == rule)
    if event is not None:
        query = query.where(Refusal.event == event)
    for r in session.exec(query.execution_options(yield_per=BATCH)):
        yield {"seq": r.seq, "at": iso(r.at), "actor": r.actor, "ref": r.ref, "event": r.event,
               "state": r.state, "rule": r.rule, "message": r.message}


def as_of(process: Process, rows: list[Step], moment: datetime) -> dict[str, Any] | None:
    """A record as its history says it was at ``moment`` (None if it did not exist yet)."""
    state: str | None = None
    data: dict[str, Any] = {}
    version = 0
    first: Step | None = None
    for row in rows:
        if as_utc(row.at) > moment:
            break
        first = first or row
        state = row.to_state
        version += 1
        data.update({name: new for name, (_old, new) in row.changed().items()})
    if first is None or state is None:
        return None
    out: dict[str, Any] = {"ref": first.ref, "state": state, "version": version}
    out.update({spec.name: data.get(spec.name) for spec in process.fields})
    out["drafted_by"] = first.actor
    out["drafted_at"] = iso(first.at)
    out["as_of"] = iso(moment)
    return out


def skew_note(session: Session, ref: str, moment: datetime) -> str:
    """Where a record's first row is stamped by ``moment`` but the log as it stood then left it
    out (a row logged before it carries a later time), a note saying so; otherwise nothing."""
    first = session.exec(select(History).where(
        History.record_id == record_id(ref), History.ref == ref).order_by(
        History.seq).limit(1)).first()  # type: ignore[arg-type]
    if first is None or as_utc(first.at) > moment:
        return ""
    return (f" by the log's order, though its first row is stamped {iso(first.at)}: a row "
            "logged before it carries a later time (the writers' clocks disagreed)")


def report(scanner: Scanner, process: Process, now: datetime,
           until: datetime | None = None) -> dict[str, Any]:
    """Time in each state (the current one counted up to ``now``), decisions per actor, and
    separation-of-duties breaches; with ``until``, over the log as it stood then (see
    :meth:`workflow.scan.Scanner.steps`)."""
    per_request: list[dict[str, Any]] = []
    per_state: dict[str, list[float]] = {}
    decisions: dict[str, dict[str, int]] = {}
    breaches: list[dict[str, Any]] = []
    for rows in scanner.steps(until=until):
        spent: dict[str, float] = {}
        for row, after in zip(rows, [*rows[1:], None], strict=True):
            end = as_utc(after.at) if after is not None else as_utc(now)
            if after is None and row.to_state in process.finals:
                continue
            seconds = max(0.0, (end - as_utc(row.at)).total_seconds())
            spent[row.to_state] = round(spent.get(row.to_state, 0.0) + seconds, 6)
        for state, seconds in spent.items():
            per_state.setdefault(state, []).append(seconds)
        for row in rows:
            if row.event in process.decisions:
                by_actor = decisions.setdefault(row.actor, {})
                by_actor[row.event] = by_actor.get(row.event, 0) + 1
            excluded = process.separation.get(row.event, ())
            if row.actor in {r.actor for r in rows if r.event in excluded and r.seq < row.seq}:
                breaches.append({"ref": row.ref, "seq": row.seq,
                                 "event": row.event, "actor": row.actor})
        per_request.append({"ref": rows[0].ref, "state": rows[-1].to_state,
                            "seconds_in_state": spent})
    states = {
        state: {"requests": len(times), "median_seconds": round(statistics.median(times), 6),
                "max_seconds": max(times)}
        for state, times in per_state.items()
    }
    return {"at": iso(now), "requests": per_request, "states": states, "decisions": decisions,
            "separation_of_duties": breaches}
