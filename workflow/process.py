"""How a process is declared: fields, events, who may fire them, and the rules that guard them.

Plain data and small functions only. A process module (such as ``states``) builds a
:class:`Process` from these classes; the engine runs any such process unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from workflow.errors import InvalidInput
from workflow.values import quoted

# the name of the rule a process's separation map stands for (see ``Process.separation``)
SEPARATION_RULE = "separation-of-duties"


@dataclass(frozen=True)
class Restriction:
    """One dated entry of the policy: ``subject`` may not be dealt with from ``since`` on."""

    subject: str
    kind: str
    since: date
    until: date | None
    reason: str

    def in_force_on(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)

    def describe(self) -> str:
        text = f"{self.kind} since {self.since.isoformat()}"
        if self.until is not None:
            text += f" until {self.until.isoformat()}"
        return text


class PolicyView:
    """The policy as of one day; remembers which subjects a decision consulted."""

    def __init__(self, entries: list[Restriction], day: date) -> None:
        self.day = day
        self._entries = entries
        self.consulted: dict[str, list[Restriction]] = {}

    def in_force(self, subject: str) -> list[Restriction]:
        """The subject's entries in force that day; every entry on record for it is noted as
        consulted, so the history shows what was looked at, in force or not."""
        on_record = [e for e in self._entries if e.subject == subject]
        self.consulted[subject] = on_record
        return [e for e in on_record if e.in_force_on(self.day)]

    def consulted_record(self) -> dict[str, Any]:
        """What the history row keeps: the day, and each consulted subject's entries."""
        return {
            "as_of": self.day.isoformat(),
            "restrictions": {
                subject: [{"kind": e.kind, "since": e.since.isoformat(),
                           "until": e.until.isoformat() if e.until else None,
                           "in_force": e.in_force_on(self.day)} for e in entries]
                for subject, entries in self.consulted.items()
            },
        }


@dataclass(frozen=True)
class Context:
    """Everything a rule may look at when an event is fired (or previewed)."""

    ref: str
    state: str
    fields: Mapping[str, Any]
    actor: str
    roles: frozenset[str]
    drafter: str
    participants: Mapping[str, tuple[str, ...]]
    today: date
    policy: PolicyView
    reason: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)

    def fired_by(self, event: str) -> tuple[str, ...]:
        """Everyone who has fired ``event`` on this record so far."""
        return self.participants.get(event, ())


Check = Callable[[Context], str | None]


@dataclass(frozen=True)
class Rule:
    """A named guard: ``check`` returns None when it holds, else the reason it refuses.

    ``uses_args`` marks rules that read the reason or the event's arguments; a preview of what a
    caller may do skips them, since the arguments are not known yet.
    """

    name: str
    check: Check
    uses_args: bool = False


@dataclass(frozen=True)
class Permit:
    """One way to be allowed to fire an event: hold ``role`` (and, if ``own``, be the drafter)."""

    role: str
    own: bool = False

    def admits(self, actor: str, roles: frozenset[str], drafter: str) -> bool:
        return self.role in roles and (not self.own or actor == drafter)

    def describe(self, drafter: str) -> str:
        if self.own:  # the role too: a drafter who lost it is refused, and told why
            return f"its drafter ({drafter}) holding the {self.role} role"
        article = "an" if self.role[0] in "aeiou" else "a"
        return f"{article} {self.role}"


def admitted_as(permits: Iterable[Permit], roles: Collection[str], own_record: bool
                ) -> list[str]:
    """The roles (sorted) under which someone holding ``roles`` is admitted by ``permits``;
    ``own_record``: they drafted the record. Empty: not admitted."""
    return sorted({p.role for p in permits if p.role in roles and (own_record or not p.own)})


@dataclass(frozen=True)
class FieldSpec:
    """A field of the record: its value kind, and whether people set it or only events do."""

    name: str
    kind: str
    help: str
    required: bool = False
    editable: bool = True


@dataclass(frozen=True)
class Event:
    name: str
    sources: tuple[str, ...]
    dest: str
    permits: tuple[Permit, ...]
    rules: tuple[Rule, ...] = ()
    args: Mapping[str, str] = field(default_factory=dict)
    defaults: Callable[[Context], Mapping[str, Any]] | None = None
    effect: Callable[[Context], Mapping[str, Any]] | None = None
    sets: tuple[str, ...] = ()  # the fields its effect may set (verification holds rows to it)
    # each argument's field: where its effect records it, so that verification can judge a row
    # by its rules again (an event whose arguments are not all recorded is judged without the
    # rules that read them)
    recorded: Mapping[str, str] = field(default_factory=dict)
    help: str = ""
    # what a history row of it says someone did, in the past tense: "{ref}" and a field's name
    # in braces stand for the request and the field's value once the row was written (the
    # separation-of-duties report says with it why a row is a breach)
    done: str = ""

    def check_arguments(self, given: Mapping[str, Any], label: Mapping[str, str] | None = None
                        ) -> None:
        """Refuse arguments this event does not take, naming them as the caller typed them."""
        for name, value in given.items():
            if value is not None and name not in self.args:
                shown = (label or {}).get(name, repr(name))
                takes = ", ".join((label or {}).get(a, a) for a in self.args) or "no arguments"
                raise InvalidInput(f"{self.name} does not take {shown} (it takes {takes})")

    def who(self, drafter: str) -> str:
        return " or ".join(p.describe(drafter) for p in self.permits)


@dataclass(frozen=True)
class Process:
    name: str
    version: str
    ref_prefix: str
    states: tuple[str, ...]
    initial: str
    finals: tuple[str, ...]
    events: tuple[Event, ...]
    fields: tuple[FieldSpec, ...]
    roles: tuple[str, ...]
    create_roles: tuple[str, ...]
    edit_permits: tuple[Permit, ...]
    edit_states: tuple[str, ...]
    due_state: str | None = None
    due_field: str | None = None
    decisions: tuple[str, ...] = ()
    # decision event -> the events whose actors may not take it ("create" is the drafter): what
    # its rule named SEPARATION_RULE refuses, as data the report reads
    separation: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # what drafting a record is called, as ``Event.done`` words it
    create_done: str = "created {ref}"
    policy_subject: str = "subject"
    policy_subject_kind: str = "text"  # the value kind a subject is (see workflow.values)
    policy_kinds: tuple[str, ...] = ()
    seed_policy: tuple[Restriction, ...] = ()
    # the versions of this process before this one: their rows are replayed, not judged by this
    # version's rules; a row of a version the process never had was altered
    earlier_versions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = {spec.name for spec in self.fields}
        for event in self.events:
            unknown = sorted(set(event.sets) - names)
            if unknown:  # a slip in the process table shows when it is loaded
                raise ValueError(f"{event.name} sets {', '.join(unknown)}, which is no field")
            if not (event.recorded.keys() <= event.args.keys()
                    and set(event.recorded.values()) <= set(event.sets)):
                raise ValueError(f"{event.name} records arguments it does not take, or in "
                                 "fields it does not set")

    def event(self, name: str) -> Event:
        for event in self.events:
            if event.name == name:
                return event
        known = ", ".join(e.name for e in self.events)
        raise InvalidInput(f"unknown event {quoted(name)}; the process has: {known}")

    def done(self, name: str) -> str:
        """What a history row of event ``name`` says its actor did (see ``Event.done``)."""
        if name == "create":
            return self.create_done
        if name == "edit":
            return "edited {ref}"
        found = next((e.done for e in self.events if e.name == name), "")
        return found or f"fired {name} on {{ref}}"

    def logged_event(self, name: str) -> str:
        """An event a history row may name: drafting and editing besides the process's own."""
        if name in ("create", "edit"):
            return name
        if any(event.name == name for event in self.events):
            return name
        known = ", ".join(["create", "edit", *(e.name for e in self.events)])
        raise InvalidInput(f"unknown event {quoted(name)}; history rows name: {known}")

    def check_state(self, name: str) -> str:
        if name not in self.states:
            raise InvalidInput(f"unknown state {quoted(name)}; the process has: "
                               f"{', '.join(self.states)}")
        return name

    def check_role(self, name: str) -> str:
        for role in self.roles:
            if role == name:
                return role
        raise InvalidInput(f"unknown role {quoted(name)}; roles are: {', '.join(self.roles)}")

    @property
    def arguments(self) -> tuple[str, ...]:
        """Every event argument name, in the order the events declare them."""
        return tuple(dict.fromkeys(a for e in self.events for a in e.args))

    def read_only(self, role: str) -> bool:
        """A role that may fire, create and edit nothing (it only reads)."""
        permits = [p for e in self.events for p in e.permits] + list(self.edit_permits)
        return (role not in self.create_roles and role != "admin"
                and all(p.role != role for p in permits))

    def admission(self) -> dict[str, Any]:
        """Who each write admits and where it leads, as plain data (verification reads it, in
        worker processes too): the process's name, this version and those before it, for each
        event (``create`` and ``edit`` included) its permits as ``[role, own]`` pairs and the
        fields it may set, and the moves: the initial state, the states edits are allowed in,
        each event's ``[sources, destination]``; and what the user and policy changes are held
        to: the roles, the policy's kinds and the value kind of its subjects."""
        events = {e.name: [[p.role, p.own] for p in e.permits] for e in self.events}
        events["create"] = [[role, False] for role in self.create_roles]
        events["edit"] = [[p.role, p.own] for p in self.edit_permits]
        sets = {e.name: list(e.sets) for e in self.events}
        sets["create"] = list(self.field_names)
        sets["edit"] = [spec.name for spec in self.fields if spec.editable]
        return {"name": self.name, "version": self.version,
                "earlier_versions": list(self.earlier_versions), "events": events,
                "initial": self.initial, "edit_states": list(self.edit_states),
                "transitions": {e.name: [list(e.sources), e.dest] for e in self.events},
                "sets": sets, "roles": list(self.roles), "policy_kinds": list(self.policy_kinds),
                "policy_subject_kind": self.policy_subject_kind}

    def check_policy_subject(self, value: Any) -> str:
        """A policy subject in its canonical form (a country code upper-cased, say), so that an
        entry always names what the rules look up."""
        from workflow import values

        return str(values.parse(self.policy_subject_kind, self.policy_subject, value))

    def check_policy_kind(self, name: str) -> str:
        for kind in self.policy_kinds:
            if kind == name:
                return kind
        kinds = ", ".join(self.policy_kinds)
        raise InvalidInput(f"unknown restriction kind {quoted(name)}; kinds are: {kinds}")

    @cached_property
    def _fields_by_name(self) -> dict[str, FieldSpec]:
        return {spec.name: spec for spec in self.fields}

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields)

    @cached_property
    def date_fields(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.fields if spec.kind == "date")

    def field(self, name: str) -> FieldSpec:
        spec = self._fields_by_name.get(name)
        if spec is None:
            raise InvalidInput(f"unknown field {quoted(name)}")
        return spec
