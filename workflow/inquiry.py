"""The questions auditors ask: filtered trails, refusals, what was true then, and a report."""

from __future__ import annotations

import contextlib
import statistics
import string
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from workflow.access import recorded_name
from workflow.clock import as_utc, iso
from workflow.errors import Unreadable
from workflow.models import History, Refusal, record_id
from workflow.process import SEPARATION_RULE, Process
from workflow.scan import BATCH, Scanner, Step


def refusals(session: Session, *, actor: str | None = None, since: datetime | None = None,
             until: datetime | None = None, ref: str | None = None, rule: str | None = None,
             events: tuple[str, ...] | None = None) -> Iterator[dict[str, Any]]:
    """Refused attempts, oldest first, read as they are asked for; each filter a ``WHERE``.

    ``ref`` is canonical (upper case, no blanks around it): a refusal recorded before its
    reference was looked up (an unknown or disabled user's) keeps it as it was typed, so the
    stored one is matched as the write path reads it (``strip().upper()``, which neither
    database's ``trim`` and ``upper`` match for every blank and letter): narrowed in SQL to
    those that contain it in any case (ASCII: SQLite folds no other), then held to it here."""
    if any("\x00" in v for v in (ref, rule, *(events or ())) if v is not None):
        return  # no stored value holds one (PostgreSQL cannot even compare it)
    query = select(Refusal).order_by(Refusal.seq)  # type: ignore[arg-type]
    if actor is not None:  # a name no user could have is kept as recorded_name spells it
        query = query.where(Refusal.actor == recorded_name(actor))
    if since is not None:
        query = query.where(Refusal.at >= since)
    if until is not None:
        query = query.where(Refusal.at <= until)
    if ref is not None and ref.isascii():
        pattern = ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(func.upper(Refusal.ref).like(f"%{pattern}%", escape="\\"))
    if rule is not None:
        query = query.where(Refusal.rule == rule)
    if events is not None:
        query = query.where(Refusal.event.in_(events))  # type: ignore[attr-defined]
    for r in session.exec(query.execution_options(yield_per=BATCH)):
        if ref is not None and (r.ref or "").strip().upper() != ref:
            continue
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
        breaches.extend(separation_breaches(process, rows))
        per_request.append({"ref": rows[0].ref, "state": rows[-1].to_state,
                            "seconds_in_state": spent})
    states = {
        state: {"requests": len(times), "median_seconds": round(statistics.median(times), 6),
                "max_seconds": max(times)}
        for state, times in per_state.items()
    }
    return {"at": iso(now), "requests": per_request, "states": states, "decisions": decisions,
            "separation_of_duties": breaches}


def separation_breaches(process: Process, rows: list[Step]) -> list[dict[str, Any]]:
    """The rows of one request whose actor the process's separation of duties excludes from
    their event, each with the earlier rows of that actor that exclude them and why in words:
    what the rule of that name refuses on the write path (the drafter is the actor of the
    ``create`` row; every earlier firing counts, a submit before a return included)."""
    found: list[dict[str, Any]] = []
    fields: dict[int, dict[str, Any]] = {}
    for i, row in enumerate(rows):
        excluded = process.separation.get(row.event, ())
        conflicts = [r for r in rows[:i] if r.event in excluded and r.actor == row.actor]
        if not conflicts:
            continue
        fields = fields or _fields_after(rows)  # read only for a request with a breach
        done = [_told(process, r, fields[r.seq], "it") for r in conflicts]
        why = (f"{row.actor} {_told(process, row, fields[row.seq], row.ref)} (row {row.seq}), "
               f"though {row.actor} " + _joined([f"{d} (row {r.seq})"
                                                for d, r in zip(done, conflicts, strict=True)]))
        found.append({"ref": row.ref, "seq": row.seq, "event": row.event, "actor": row.actor,
                      "rule": SEPARATION_RULE,
                      "conflicts_with": [{"seq": r.seq, "event": r.event} for r in conflicts],
                      "why": why})
    return found


def _fields_after(rows: list[Step]) -> dict[int, dict[str, Any]]:
    """The request's fields as each row left them, by the row's seq (a row whose changes are
    not readable, altered behind the program, changes nothing here: ``audit verify`` names it)."""
    data: dict[str, Any] = {}
    after: dict[int, dict[str, Any]] = {}
    for row in rows:
        with contextlib.suppress(Unreadable):
            data = {**data, **{name: new for name, (_old, new) in row.changed().items()}}
        after[row.seq] = data
    return after


class _Filled(dict[str, Any]):
    def __missing__(self, name: str) -> str:
        return f"(no {name})"


def _told(process: Process, row: Step, fields: dict[str, Any], ref: str) -> str:
    """What ``row`` says its actor did, the request called ``ref`` (its name, or "it")."""
    values = _Filled({k: v for k, v in fields.items() if v is not None and k != "ref"})
    values["ref"] = ref
    return string.Formatter().vformat(process.done(row.event), (), values)


def _joined(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
