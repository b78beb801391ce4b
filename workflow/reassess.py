"""What the policy in force on a day says of requests already decided or still pending.

New facts (a restriction added, or one starting) can touch requests: decisions already granted
that their rules would refuse today, to be reassessed (as licensing authorities reassess granted
licences when new facts appear), and pending decisions those rules will refuse. Each request is
judged by the rules of its events that read the policy, with its fields as they stand. Rules
that read a firing's arguments are left out: the record does not keep the arguments of a firing
still to come.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from workflow.fastpath import RecordRow
from workflow.machine import Machinery
from workflow.process import Context, Event, PolicyView, Process, Restriction
from workflow.views import field_values

GRANTED = "granted"
PENDING = "pending"


@dataclass(frozen=True)
class Finding:
    """One decision a restriction in force touches: ``standing`` is :data:`GRANTED` (fired on
    the request, by ``by``) or :data:`PENDING` (the request's state allows it)."""

    record_id: int
    ref: str
    state: str
    standing: str
    event: str
    rule: str
    reason: str
    restrictions: tuple[Restriction, ...]
    by: tuple[str, ...] = ()


def _judged(spec: Event, record: RecordRow, fields: dict[str, object], actor: str,
            restrictions: list[Restriction], day: date) -> Iterator[tuple[str, str,
                                                                         list[Restriction]]]:
    """Each rule of ``spec`` that the policy in force on ``day`` makes refuse: its name, its
    reason and the restrictions in force it read."""
    participants = {event: tuple(names) for event, names in record.participants.items()}
    for rule in spec.rules:
        if rule.uses_args:
            continue
        view = PolicyView(restrictions, day)
        reason = rule.check(Context(
            ref=record.ref, state=record.state, fields=fields, actor=actor, roles=frozenset(),
            drafter=record.created_by, participants=participants, today=day, policy=view))
        in_force = [e for entries in view.consulted.values() for e in entries
                    if e.in_force_on(day)]
        if reason and in_force:
            yield rule.name, reason, in_force


def findings(process: Process, machinery: Machinery, records: Iterable[RecordRow],
             restrictions: list[Restriction], day: date,
             subjects: frozenset[str] | None = None) -> Iterator[Finding]:
    """The decisions the restrictions in force on ``day`` touch, request by request; with
    ``subjects``, only those touched by a restriction on one of them."""
    if not any(e.in_force_on(day) for e in restrictions):
        return  # nothing in force: no rule that reads the policy can refuse
    for record in records:
        fields = field_values(process, record.data)
        for spec in process.events:
            standings = []
            fired = tuple(record.participants.get(spec.name, ()))
            if spec.name in process.decisions and fired:
                standings.append((GRANTED, fired[-1], fired))
            if record.state not in process.finals and machinery.allows(record.state, spec.name):
                standings.append((PENDING, "", ()))
            for standing, actor, by in standings:
                for rule, reason, in_force in _judged(spec, record, fields, actor,
                                                      restrictions, day):
                    if subjects is None or any(e.subject in subjects for e in in_force):
                        yield Finding(record.id, record.ref, record.state, standing,
                                      spec.name, rule, reason, tuple(in_force), by)
