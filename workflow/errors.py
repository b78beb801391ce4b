"""The small error hierarchy every caller (CLI, tests, scripts) relies on.

Each error carries a one-line message meant for a person; the CLI maps the class to an exit code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class WorkflowError(Exception):
    """Base of every expected failure."""

    exit_code = 1

    def annotate(self, note: str) -> None:
        """Say more on the same line (why a refusal could not be recorded, say)."""
        self.args = (f"{self} {note}",)


class InvalidInput(WorkflowError):
    """A malformed value: reported before anything is looked up."""

    exit_code = 2


class NotFound(WorkflowError):
    """An unknown reference, user or policy entry."""


class UnknownUser(NotFound):
    """Someone not registered tried to act: refused like any attempt, and recorded as one."""

    rule = "registered-user"


class Refused(WorkflowError):
    """A rule, a role or the current state refused the attempt.

    ``rule`` names the rule (``state``, ``role``, or a rule of the process); the message says why.
    """

    def __init__(self, event: str, rule: str, reason: str) -> None:
        self.event = event
        self.rule = rule
        self.reason = reason
        super().__init__(f"{event} refused: {reason} [rule: {rule}]")

    def annotate(self, note: str) -> None:
        """The note joins the reason, which is also shown alone, ahead of the rule."""
        self.reason = f"{self.reason} {note}"
        self.args = (f"{self.event} refused: {self.reason} [rule: {self.rule}]",)

    def tried(self, event: str) -> None:
        """Who may act at all is checked before what they tried is known (its refusal's event
        is ``access``); the command that was refused names it once known."""
        if self.event == "access":
            self.event = event
            self.args = (f"{self.event} refused: {self.reason} [rule: {self.rule}]",)


class Conflict(WorkflowError):
    """Someone else changed the record between reading and writing it: refused, and recorded,
    under the rule ``conflict``, which its message names as every refusal's does."""

    rule = "conflict"

    def __init__(self, ref: str, found: int | None = None, expected: int | None = None) -> None:
        self.ref = ref
        if expected is None:
            self.reason = f"{ref} was changed by someone else; reload and retry"
        elif found is not None and expected > found:  # no version it could have read
            self.reason = (f"{ref} is at version {found}, not {expected} as expected: no such "
                           "version was ever written; give the version it was read at")
        else:  # the caller said which version it read
            self.reason = (f"{ref} is at version {found}, not {expected} as expected: it was "
                           "changed since it was read; reload and retry")
        super().__init__(f"{self.reason} [rule: {self.rule}]")

    def annotate(self, note: str) -> None:
        """The note joins the reason, ahead of the rule (as a refusal's does)."""
        self.reason = f"{self.reason} {note}"
        self.args = (f"{self.reason} [rule: {self.rule}]",)


class NotInitialised(WorkflowError):
    """The database holds no workflow schema (or does not exist yet)."""


class Busy(WorkflowError):
    """Another writer held the database longer than the busy timeout (and the retries)."""


class Replan(Busy):
    """A prepared statement was lost in the middle of a transaction (deallocated, or a column
    it returns changed type): the transaction was rolled back, to be tried again from the
    start with its statements prepared afresh."""


class Unreadable(WorkflowError, ValueError):
    """A value stored in the database cannot be decoded: changed behind the program. A
    ValueError too, so that checks which judge unreadable values as altered still do."""


def stored_json(text: str | bytes, decode: Callable[[str | bytes], Any] = json.loads) -> Any:
    """Stored JSON text decoded; text nested past what the decoder can follow is unreadable
    too, not a crash."""
    try:
        return decode(text)
    except (ValueError, RecursionError):
        raise Unreadable("a JSON value stored in the database is not readable (changed behind "
                         "the program: `workflow audit verify` names where)") from None


def stored_changes(value: Any) -> dict[str, Any]:
    """A history row's changes as decoded: each field's ``[old, new]``; anything else stored
    there is unreadable, not a crash."""
    if isinstance(value, dict) and all(
            isinstance(pair, list) and len(pair) == 2 for pair in value.values()):
        return value
    raise Unreadable("a history row's changes stored in the database are not readable (changed "
                     "behind the program: `workflow audit verify` names where)")
