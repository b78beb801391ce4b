"""The names a refusal can carry: the process's events and rules, and the engine's own.

`audit refusals --event` is checked against them (a name no refusal can carry is a slip); a
`--rule` is not, since rows written under an earlier version of the process keep that
version's rule names: one this program does not know only gets a note when nothing matched.
"""

from __future__ import annotations

from workflow.access import ADMIN_COMMANDS
from workflow.errors import InvalidInput, UnknownUser
from workflow.process import Process
from workflow.values import quoted

# what the engine itself tries and refuses, besides drafting, editing and the process's events:
# a read by someone who may not read (``access``), a batch refused as a whole, admin commands
ENGINE_EVENTS = ("access", "batch", *ADMIN_COMMANDS)
# the rules the engine itself enforces, besides the process's own
ENGINE_RULES = ("state", "role", "conflict", UnknownUser.rule, "active-user", "database-login",
                "database-permission", "reason-required", "already-restricted",
                "end-before-start", "unique-name", "last-admin")


def events(process: Process) -> list[str]:
    return ["create", "edit", *(e.name for e in process.events), *ENGINE_EVENTS]


def rules(process: Process) -> list[str]:
    named = [rule.name for event in process.events for rule in event.rules]
    return list(dict.fromkeys([*named, *ENGINE_RULES]))


def refused_event(process: Process, name: str) -> str:
    """``name`` if a refusal can carry it as its event, else InvalidInput naming those that can."""
    if name in events(process):
        return name
    raise InvalidInput(f"unknown event {quoted(name)}; refusals name: "
                       f"{', '.join(events(process))}")
