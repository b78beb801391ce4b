"""Options shared by every command that reads history rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from cli.output import say
from cli.types import SINCE, UNTIL, ProcessName
from states import PROCESS
from workflow.values import quoted


def filters(command: Callable[..., Any]) -> Callable[..., Any]:
    """--actor, --event, --state, --since, --until: shared by `history` and `audit log`."""
    options = [
        click.option("--actor", metavar="NAME", help="Only rows by this user."),
        click.option("--event", "events", multiple=True,
                     type=ProcessName(PROCESS, "logged-event"),
                     help="Only this event (or create, edit); repeat it for rows of any of "
                          "several."),
        click.option("--state", type=ProcessName(PROCESS, "state"),
                     help="Only rows entering or leaving this state."),
        click.option("--since", type=SINCE, help="From this moment (YYYY-MM-DD or ISO 8601)."),
        click.option("--until", type=UNTIL,
                     help="Up to the end of this moment (a bare date its whole day, 10:30 its "
                          "whole minute)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def history_filters(values: dict[str, Any]) -> dict[str, Any]:
    """The filters as the API takes them: the events given, if any, as ``event``."""
    events = values.pop("events")
    return {**values, "event": list(events) if events else None}


def note_unknown_actor(users: Callable[[], list[dict[str, Any]]], actor: str | None,
                       found: bool) -> None:
    """Where --actor found nothing and names no user, say so on stderr, suggesting the user
    whose name differs from it only in case (no two users' names differ only so)."""
    if actor is None or found:
        return
    names = [user["name"] for user in users()]
    if actor in names:
        return
    twin = next((name for name in names if name.lower() == actor.lower()), None)
    hint = f"; did you mean {twin}?" if twin else ""
    say(f"note: no user is named {quoted(actor)}{hint}")


def note_unknown_rule(rules: Callable[[], list[str]], rule: str | None, found: bool) -> None:
    """Where --rule found nothing and names no rule this program knows, say so on stderr,
    naming those it knows (rows of earlier process versions may carry others, so such a name
    is not refused)."""
    if rule is None or found or rule.strip() in rules():
        return
    say(f"note: no refusal names rule {quoted(rule.strip())}, nor is it a rule of this "
        f"program; its rules: {', '.join(rules())}")


def note_unknown_ref(get: Callable[[str], Any], ref: str | None, found: bool) -> None:
    """Where --ref found nothing and no request has that reference, say so on stderr (a
    refused attempt may name one, so it is no error)."""
    if ref is None or found:
        return
    from workflow.errors import NotFound

    try:
        get(ref)
    except NotFound as error:
        say(f"note: {error}")
