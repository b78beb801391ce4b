"""Every history row judged again by its process's rules, as they stood when it was written.

The program refuses a firing whose rules do not hold, but a row can reach the log by other
ways: appended by a login with write rights, or written by the program over a request or a
restriction changed behind its back a moment before. Each row of the process version in use is
judged again here in the context it was written in: the request's fields and who fired what as
the rows before it leave them, its actor and roles, its own day, its reason, its arguments as its
changes record them (:attr:`workflow.process.Event.recorded`) and the restrictions it says it
consulted, which must be exactly those its rules read (and which ``audit verify`` holds to the
policy log at the row's place).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from workflow import values
from workflow.checks import WRITES_WITHOUT_EVENT, AuditFailure
from workflow.errors import InvalidInput, stored_json
from workflow.fastpath import moment_out
from workflow.process import Context, Event, PolicyView, Process, Restriction
from workflow.views import field_values


def check_rules(histories: Iterable[list[tuple[Any, ...]]], process: Process,
                first: int | None, progress: Callable[[int], None] | None = None) -> int:
    """Judge every row of ``process``'s version from row ``first`` on (None: none), see
    :meth:`workflow.scan.Scanner.histories`: the values it sets, and the rules of its event;
    returns how many were judged, raises :class:`AuditFailure` naming the first row a rule
    refuses. Rows before ``first`` were written by older versions of the program, whose rules
    and values may have been other: they are replayed, not judged."""
    events = {event.name: event for event in process.events}
    judged = 0
    for rows in histories:
        judged += _judge_request(rows, process, events, sys.maxsize if first is None else first)
        if progress:
            progress(len(rows))
    return judged


def _judge_request(rows: list[tuple[Any, ...]], process: Process, events: dict[str, Event],
                   first: int) -> int:
    data: dict[str, Any] = {}
    participants: dict[str, list[str]] = {}
    drafter = rows[0][4]
    judged = 0
    for seq, ref, event, source, actor, roles, at, reason, changes, consulted, version in rows:
        try:
            changed = stored_json(changes) if isinstance(changes, str) else changes
            after = {**data, **{name: new for name, (_old, new) in changed.items()}}
        except (TypeError, ValueError, AttributeError):
            raise AuditFailure("its changes are not readable (the row was altered)", seq,
                               ref) from None
        spec = events.get(event)
        if version == process.version and seq >= first:
            wrong = _wrong_values(process, changed) or (spec and _wrong(
                spec, process, ref, source, actor, roles, at, reason, consulted, data, after,
                participants, drafter))
            if wrong:
                raise AuditFailure(wrong, seq, ref)
            judged += 1
        data = after
        if event not in WRITES_WITHOUT_EVENT and actor not in participants.setdefault(event, []):
            participants[event].append(actor)
    return judged


def _wrong_values(process: Process, changed: dict[str, Any]) -> str | None:
    """What is wrong with the values a row sets, if anything: each one a value the program
    takes for its field (a field the process does not have is named by ``audit verify``)."""
    for name, (_old, new) in sorted(changed.items()):
        try:
            kind = process.field(name).kind
        except InvalidInput:
            continue
        if new is None:
            continue
        try:
            values.parse(kind, name, new)
        except InvalidInput as bad:
            return f"it sets a value the program does not take ({bad})"
    return None


def _wrong(spec: Event, process: Process, ref: str, source: str, actor: str, roles: Any,
           at: Any, reason: str | None, consulted: Any, before: dict[str, Any],
           after: dict[str, Any], participants: dict[str, list[str]], drafter: str
           ) -> str | None:
    """What the rules of ``spec`` say against the row, if anything."""
    try:
        day = moment_out(at).date()
        held = stored_json(roles) if isinstance(roles, str) else roles
        seen = stored_json(consulted) if isinstance(consulted, str) else consulted
        restrictions = _restrictions(seen)
        fields = field_values(process, before)
    except (TypeError, ValueError, AttributeError, KeyError):
        return "its values are not readable (the row was altered)"
    args: dict[str, Any] = {}
    for name, field_name in spec.recorded.items():
        value = after.get(field_name)
        if value is None:
            continue
        try:
            args[name] = values.parse(spec.args[name], name, value)
        except InvalidInput as bad:
            return f"{spec.name} records an argument the program does not take: {bad}"
    policy = PolicyView(restrictions, day)
    ctx = Context(ref=ref, state=source, fields=fields, actor=actor,
                  roles=frozenset(map(str, held)), drafter=drafter,
                  participants={k: tuple(v) for k, v in participants.items()}, today=day,
                  policy=policy, reason=reason, args=args)
    every_arg_recorded = spec.recorded.keys() == spec.args.keys()
    skipped = False
    for rule in spec.rules:
        if rule.uses_args and not every_arg_recorded:
            skipped = True  # it reads what no field records
            continue
        refused = rule.check(ctx)
        if refused:
            return f"{spec.name} breaks the rule {rule.name}: {refused}"
    listed = set((seen.get("restrictions") or {}) if seen else ())
    # the rules skipped may have read more than those judged
    if not set(policy.consulted) <= listed if skipped else set(policy.consulted) != listed:
        read = ", ".join(sorted(policy.consulted)) or "none"
        return (f"it says it consulted the restrictions on {', '.join(sorted(listed)) or 'none'}"
                f", but its rules read those on {read}")
    return None


def _restrictions(consulted: Any) -> list[Restriction]:
    """The restrictions a row says it consulted, as the policy its rules are judged by."""
    if not consulted:
        return []
    entries = []
    for subject, listed in consulted["restrictions"].items():
        for entry in listed:
            until = entry["until"]
            entries.append(Restriction(subject, entry["kind"], date.fromisoformat(entry["since"]),
                                       None if until is None else date.fromisoformat(until), ""))
    return entries
