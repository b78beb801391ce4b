"""The dated policy (restrictions on subjects) and the record of every change to it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time
from typing import Any

from sqlmodel import Session, select

from workflow.clock import as_utc, iso, to_storage
from workflow.errors import NotFound, Refused
from workflow.ledger import chain_link, policy_change_row
from workflow.models import PolicyChange, PolicyEntry, after_row, locked_head
from workflow.process import Restriction


def restrictions(session: Session) -> list[Restriction]:
    return [restriction for _, restriction in _standing(session)]


def _record(session: Session, entry: PolicyEntry, action: str, actor: str, reason: str,
            now: datetime) -> None:
    """Append the change, linked to the one before; the log head (locked, as every writer locks
    it) keeps the count and the last link."""
    assert entry.id is not None
    head = locked_head(session)
    place = after_row(head)
    link = chain_link(head.policy_chain, policy_change_row(
        entry.id, action, entry.subject, entry.kind, entry.since.isoformat(),
        entry.until.isoformat() if entry.until else None, actor, iso(now), reason, place))
    session.add(PolicyChange(entry_id=entry.id, action=action, subject=entry.subject,
                             kind=entry.kind, since=entry.since, until=entry.until, actor=actor,
                             at=to_storage(now), reason=reason, chain=link,
                             after_row=place))
    head.policy_changes += 1
    head.policy_chain = link
    session.add(head)


def add(session: Session, subject: str, kind: str, since: date, reason: str, actor: str,
        now: datetime, action: str = "add") -> PolicyEntry:
    for entry in session.exec(select(PolicyEntry).where(PolicyEntry.subject == subject)).all():
        overlaps = entry.until is None or entry.until > since
        if entry.kind == kind and overlaps and not _called_off(entry):
            raise Refused("policy add", "already-restricted",
                          f"{subject} already has an entry of kind {kind} since "
                          f"{entry.since.isoformat()}"
                          + (f" until {entry.until.isoformat()}" if entry.until else ""))
    entry = PolicyEntry(subject=subject, kind=kind, since=since, until=None, reason=reason)
    session.add(entry)
    session.flush()
    _record(session, entry, action, actor, reason, now)
    return entry


def _called_off(entry: PolicyEntry) -> bool:
    return called_off(entry.since, entry.until)


def called_off(since: date | str, until: date | str | None) -> bool:
    """Ended on or before its first day (dates, or their ISO text as listings give them): in
    force on no day, so it blocks and ends nothing."""
    return until is not None and until <= since


def end(session: Session, subject: str, on: date, reason: str, actor: str,
        now: datetime, kind: str | None = None) -> list[PolicyEntry]:
    """End the subject's restrictions (of ``kind`` only, if given) in force on ``on`` or
    later: one kind may end while another stays."""
    entries = [
        e for e in session.exec(select(PolicyEntry).where(PolicyEntry.subject == subject)).all()
        if (e.until is None or e.until > on) and not _called_off(e)
        and (kind is None or e.kind == kind)
    ]
    if not entries:
        which = "restriction" if kind is None else f"{kind} restriction"
        raise NotFound(f"{subject} has no {which} in force on {on.isoformat()} or later")
    today = as_utc(now).date()
    for entry in entries:
        if on <= entry.since <= today:  # a planned one may still be called off before it starts
            raise Refused("policy end", "end-before-start",
                          f"{subject}'s {entry.kind} restriction has been in force since "
                          f"{entry.since.isoformat()}; it cannot end on {on.isoformat()}, "
                          "which is not after its start")
    for entry in entries:
        entry.until = on
        session.add(entry)
        _record(session, entry, "end", actor, reason, now)
    return entries


def entry_dict(entry: Restriction | PolicyEntry, subject_key: str) -> dict[str, Any]:
    return {
        subject_key: entry.subject,
        "kind": entry.kind,
        "since": entry.since.isoformat(),
        "until": entry.until.isoformat() if entry.until else None,
        "reason": entry.reason,
    }


def known_at(session: Session, moment: datetime) -> list[Restriction]:
    """The restrictions as recorded at ``moment``: the policy changes replayed up to the first
    one made later. Going by the log's order (not by each change's time alone, which is its
    writer's clock), what is rebuilt is a policy that really stood."""
    return [restriction for _, restriction in _known_at(session, moment)]


def _known_at(session: Session, moment: datetime) -> list[tuple[int, Restriction]]:
    entries: dict[int, Restriction] = {}
    for change in session.exec(select(PolicyChange).order_by(PolicyChange.seq)).all():
        if as_utc(change.at) > moment:
            break
        opened = entries.get(change.entry_id)
        if change.action == "end" and opened is not None:  # an end keeps the entry's reason
            entries[change.entry_id] = replace(opened, until=change.until)
        else:
            entries[change.entry_id] = Restriction(change.subject, change.kind, change.since,
                                                   change.until, change.reason)
    return [(entry_id, entries[entry_id]) for entry_id in sorted(entries)]


def _standing(session: Session) -> list[tuple[int, Restriction]]:
    rows = session.exec(select(PolicyEntry).order_by(PolicyEntry.id)).all()
    return [(r.id or 0, Restriction(r.subject, r.kind, r.since, r.until, r.reason))
            for r in rows]


def recorded(session: Session, day: date) -> dict[int, dict[str, Any]]:
    """When each entry was recorded (its first change: ``seed`` or ``add``) and whether that
    was after ``day`` ended: by the log's order, as ``known_at`` of that day's end reads it,
    so an entry marked is exactly one the policy as recorded that day did not hold."""
    moment = datetime.combine(day, time.max, tzinfo=UTC)
    later, first = False, {}
    for change in session.exec(select(PolicyChange).order_by(PolicyChange.seq)).all():
        later = later or as_utc(change.at) > moment
        if change.entry_id not in first:
            first[change.entry_id] = {"recorded_at": iso(change.at), "recorded_after": later}
    return first


def listing(session: Session, subject_key: str, as_of: date | None,
            recorded_at: datetime | None = None) -> list[dict[str, Any]]:
    """The restrictions (as they stand, or as recorded at ``recorded_at``), those in force on
    ``as_of`` if given. Those in force on ``as_of`` say when they were recorded
    (``recorded_at``) and whether that was after the day (``recorded_after``: back-dated, so
    unknown on it; None for an entry the policy log does not name)."""
    rows = _standing(session) if recorded_at is None else _known_at(session, recorded_at)
    if as_of is None:
        return [entry_dict(r, subject_key) for _, r in rows]
    when = recorded(session, as_of)
    unknown = {"recorded_at": None, "recorded_after": None}
    return [{**entry_dict(r, subject_key), **when.get(entry_id, unknown)}
            for entry_id, r in rows if r.in_force_on(as_of)]


def changes(session: Session, subject_key: str) -> list[dict[str, Any]]:
    rows = session.exec(select(PolicyChange).order_by(PolicyChange.seq)).all()
    return [
        {
            "seq": c.seq,
            "entry_id": c.entry_id,
            "action": c.action,
            subject_key: c.subject,
            "kind": c.kind,
            "since": c.since.isoformat(),
            "until": c.until.isoformat() if c.until else None,
            "actor": c.actor,
            "at": iso(c.at),
            "reason": c.reason,
            "after_row": c.after_row,
        }
        for c in rows
    ]
