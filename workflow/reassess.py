"""What the policy in force on a day says of requests already decided or still pending.

New facts (a restriction added, or one starting) can touch requests: decisions already granted
that their rules would refuse today, to be reassessed (as licensing authorities reassess granted
licences when new facts appear), and events still to come that those rules will refuse. Each
request is judged by the rules of its events that read the policy, with its fields as they
stand. Rules that read a firing's arguments are left out: the record does not keep the
arguments of a firing still to come.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from workflow.fastpath import RecordRow
from workflow.machine import Machinery
from workflow.process import Context, PolicyView, Process, Restriction, Rule
from workflow.views import field_values

GRANTED = "granted"
PENDING = "pending"


@dataclass(frozen=True)
class Finding:
    """One decision a restriction in force touches: ``standing`` is :data:`GRANTED` (fired on
    the request) or :data:`PENDING` (the request's state allows it)."""

    record_id: int
    ref: str
    state: str
    standing: str
    event: str
    rule: str
    reason: str
    restrictions: tuple[Restriction, ...]


def _judged(rules: tuple[Rule, ...], ctx: Context, day: date
            ) -> Iterator[tuple[str, str, list[Restriction]]]:
    """Each of ``rules`` that the policy in force on ``day`` makes refuse: its name, its
    reason and the restrictions in force it read."""
    for rule in rules:
        ctx.policy.consulted.clear()  # what this rule reads, not the rules before it
        reason = rule.check(ctx)
        in_force = [e for entries in ctx.policy.consulted.values() for e in entries
                    if e.in_force_on(day)]
        if reason and in_force:
            yield rule.name, reason, in_force


def findings(process: Process, machinery: Machinery, records: Iterable[RecordRow],
             restrictions: list[Restriction], day: date,
             subjects: frozenset[str] | None = None) -> Iterator[Finding]:
    """The decisions the restrictions in force on ``day`` touch, request by request; with
    ``subjects``, only those touched by a restriction on one of them. The rules are judged as
    they read the policy and the request (no actor: who fires is no restriction's concern)."""
    if not any(e.in_force_on(day) for e in restrictions):
        return  # nothing in force: no rule that reads the policy can refuse
    judged = [(spec, rules) for spec in process.events
              if (rules := tuple(rule for rule in spec.rules if not rule.uses_args))]
    for record in records:
        ctx = Context(ref=record.ref, state=record.state,
                      fields=field_values(process, record.data), actor="", roles=frozenset(),
                      drafter=record.created_by,
                      participants={k: tuple(v) for k, v in record.participants.items()},
                      today=day, policy=PolicyView(restrictions, day))
        for spec, rules in judged:
            standings = []
            if spec.name in process.decisions and ctx.fired_by(spec.name):
                standings.append(GRANTED)
            if record.state not in process.finals and machinery.allows(record.state, spec.name):
                standings.append(PENDING)
            for standing in standings:
                for rule, reason, in_force in _judged(rules, ctx, day):
                    if subjects is None or any(e.subject in subjects for e in in_force):
                        yield Finding(record.id, record.ref, record.state, standing,
                                      spec.name, rule, reason, tuple(in_force))
